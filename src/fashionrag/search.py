"""Search: text -> product, image -> product and text+image (weighted) queries, with filters and top-k.

>>> s = Searcher.open()                                  # the default index; its manifest names the encoder
>>> s.search("navy check shirt", k=5, filters={"gender": ["Men"]})
>>> s.search(image="photo.jpg")
>>> s.search("red", image="dress.jpg", text_weight=0.3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import encoders, stores
from .core import config
from .core.errors import IndexMismatchError, InvalidInputError
from .core.images import ImageInput, load_image
from .core.schemas import FILTERABLE_FIELDS, Product, SearchHit, SearchResult
from .encoders.base import Encoder, l2_normalize
from .stores.base import VectorStore

#: Spellings accepted in --filter keys, mapped to Product field names.
FILTER_ALIASES = {
    "color": "colour",
    "articletype": "article_type",
    "article": "article_type",
    "type": "article_type",
    "mastercategory": "category",
    "subcategory": "subcategory",
    "sub_category": "subcategory",
    "basecolour": "colour",
    "basecolor": "colour",
}


def parse_filters(items: Sequence[str] | Mapping[str, object] | None) -> dict[str, list[str]]:
    """``["gender=Men", "colour=Navy Blue,Blue"]`` or a mapping -> ``{"gender": ["Men"], "colour": [...]}``."""
    if not items:
        return {}
    pairs: list[tuple[str, object]]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            key, sep, value = str(item).partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InvalidInputError(f"bad filter {item!r}: use FIELD=VALUE[,VALUE...], e.g. gender=Men")
            pairs.append((key, value))
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        k = key.strip()
        k = FILTER_ALIASES.get(k.lower().replace(" ", ""), k)
        if k not in FILTERABLE_FIELDS and not k.startswith("attributes.") and k not in ("id", "split", "title"):
            raise InvalidInputError(
                f"unknown filter field {key!r}; use one of {', '.join(FILTERABLE_FIELDS)}, split, or attributes.<name>"
            )
        values = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
        out.setdefault(k, []).extend(str(v).strip() for v in values if str(v).strip())
    return out


class Searcher:
    """Queries one store with the encoder that built it."""

    def __init__(self, store: VectorStore, encoder: Encoder | None = None):
        if encoder is None:
            encoder = encoders.create(store.encoder)
        if encoder.name != store.encoder:
            raise IndexMismatchError(
                f"the index was built with encoder {store.encoder!r} but the query encoder is {encoder.name!r}; "
                f"query with --encoder {store.encoder} or rebuild the index with `fashionrag index build --encoder "
                f"{encoder.name}`"
            )
        if encoder.dim != store.dim:
            raise IndexMismatchError(
                f"encoder {encoder.name!r} gives {encoder.dim}-d vectors but the index holds {store.dim}-d ones; "
                "rebuild the index with this encoder"
            )
        self.store = store
        self.encoder = encoder

    @classmethod
    def open(cls, index_dir: str | Path | None = None, encoder: Encoder | str | None = None) -> "Searcher":
        path = Path(index_dir) if index_dir else config.default_index_dir()
        expect = encoder if isinstance(encoder, str) else (encoder.name if encoder is not None else None)
        store = stores.open_store(path, expect_encoder=expect)
        if isinstance(encoder, str):
            encoder = encoders.create(encoder)
        return cls(store, encoder)

    def embed_query(
        self, text: str | None = None, image: ImageInput | None = None, *, text_weight: float = 0.5
    ) -> np.ndarray:
        """One L2-normalised query vector; text+image is the normalised weighted sum of the two embeddings."""
        if text is None and image is None:
            raise InvalidInputError("give a text query, an --image, or both")
        if text is not None and not text.strip():
            raise InvalidInputError("the text query is empty")
        if not 0.0 <= text_weight <= 1.0:
            raise InvalidInputError(f"text_weight must be in [0, 1], got {text_weight}")
        parts = []
        if text is not None:
            parts.append((text_weight if image is not None else 1.0, self.encoder.encode_texts([text])[0]))
        if image is not None:
            img = load_image(image)
            parts.append((1.0 - text_weight if text is not None else 1.0, self.encoder.encode_images([img])[0]))
        q = sum(w * v for w, v in parts)
        return l2_normalize(np.asarray(q, dtype=np.float32)[None, :])[0]

    def search(
        self,
        text: str | None = None,
        image: ImageInput | None = None,
        *,
        text_weight: float = 0.5,
        k: int = 10,
        filters: Sequence[str] | Mapping[str, object] | None = None,
    ) -> SearchResult:
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        flt = parse_filters(filters)
        q = self.embed_query(text, image, text_weight=text_weight)
        hits = self.store.search(q[None, :], k=k, filters=flt or None)[0]
        return SearchResult(
            query_text=text,
            query_image=str(image) if isinstance(image, (str, Path)) else (None if image is None else "<image>"),
            text_weight=text_weight if (text is not None and image is not None) else None,
            filters=flt,
            k=k,
            encoder=self.encoder.name,
            hits=[
                SearchHit(rank=r + 1, id=h.id, score=float(h.score), product=Product.model_validate(h.metadata))
                for r, h in enumerate(hits)
            ],
        )
