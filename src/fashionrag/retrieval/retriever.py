"""The one retriever: an encoder and the store it built, shared by search, captioning and editing.

>>> r = Retriever.open()                                  # the default index; its manifest names the encoder
>>> r.search("navy check shirt", k=5, filters={"gender": ["Men"]})
>>> r.search(image="photo.jpg")
>>> r.search("red", image="dress.jpg", text_weight=0.3)
>>> r.garments("a red floral dress", "dresses", k=3, exclude_ids=["048393_1"])   # Fashion-RAG retrieval

The encoder/index mismatch is checked once, here; category -> sub-category filters come from
:mod:`fashionrag.core.vocabulary` and are kept only when the index holds such products (probed once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .. import encoders, stores
from ..core import config, vocabulary
from ..core.errors import CatalogError, IndexMismatchError, InvalidInputError
from ..core.images import ImageInput, load_image
from ..core.schemas import Product, SearchHit, SearchResult
from ..encoders.base import Encoder, l2_normalize
from ..stores.base import StoreHit, VectorStore
from .filters import parse_filters
from .query import RELAX_ORDER, QueryParser


#: Filter fields matched exactly as written (identifiers, not words).
_EXACT_FIELDS = frozenset({"id", "image_path"})


class Retriever:
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
        self._present: dict[tuple[str, tuple[str, ...]], bool] = {}
        self._values: dict[str, tuple[int, list[str] | None]] = {}
        self._parser: tuple[int, QueryParser] | None = None

    @classmethod
    def open(cls, index_dir: str | Path | VectorStore | None = None, encoder: Encoder | str | None = None
             ) -> "Retriever":
        """The index at ``index_dir`` with its own encoder: a FAISS directory (default:
        :func:`config.default_index_dir`), a store URI (``milvus:./x.db``, ``milvus://host:port``) or an open store."""
        expect = encoder if isinstance(encoder, str) else (encoder.name if encoder is not None else None)
        if isinstance(index_dir, VectorStore):
            store = index_dir
        else:
            store = stores.open_store(index_dir or config.default_index_dir(), expect_encoder=expect)
        if isinstance(encoder, str):
            encoder = encoders.create(encoder)
        return cls(store, encoder)

    def __len__(self) -> int:
        return len(self.store)

    # -- embedding -----------------------------------------------------------------------------------------------
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

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        return self.encoder.encode_images(list(images))

    # -- search --------------------------------------------------------------------------------------------------
    def nearest(self, vectors: np.ndarray, *, k: int, filters: Mapping[str, Sequence[str]] | None = None
                ) -> list[list[StoreHit]]:
        """Top-k store hits for each row of ``vectors`` (already embedded by :attr:`encoder`)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        return self.store.search(vectors, k=k, filters=self.match_filters(filters) if filters else None)

    # -- filter values: case-insensitive matching and "which values exist" ----------------------------------------
    def field_values(self, field: str) -> list[str] | None:
        """Distinct values of ``field`` in the index (None when the store cannot tell), cached per store size."""
        lister = getattr(self.store, "field_values", None)
        if lister is None:
            return None
        size = len(self.store)
        cached = self._values.get(field)
        if cached is None or cached[0] != size:
            cached = self._values[field] = (size, lister(field))
        return cached[1]

    def match_filters(self, filters: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """Filter values spelled as the index spells them: ``gender=men`` matches ``Men`` (case-insensitive; a value
        that exists as written is kept as is). Ids and paths are matched exactly."""
        out: dict[str, list[str]] = {}
        for field, wanted in filters.items():
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            known = None if field in _EXACT_FIELDS else self.field_values(field)
            if not known:
                out[field] = list(wanted)
                continue
            exact = set(known)
            folded: dict[str, list[str]] = {}
            for value in known:
                folded.setdefault(value.casefold(), []).append(value)
            values: list[str] = []
            for v in map(str, wanted):
                values.extend([v] if v in exact else folded.get(v.casefold(), [v]))
            out[field] = list(dict.fromkeys(values))
        return out

    def filter_hint(self, filters: Mapping[str, Sequence[str]], limit: int = 20) -> str | None:
        """Why a filtered search found nothing, in one line: which filter matches no product, and which values
        that field has in this index. None when every filter matches something on its own."""
        parts = []
        for field, wanted in self.match_filters(filters).items():
            known = self.field_values(field)
            if known is None or set(wanted) & set(known):
                continue
            shown = ", ".join(known[:limit]) + (f", ... ({len(known) - limit} more)" if len(known) > limit else "")
            parts.append(f"no product has {field}={'|'.join(wanted)}; "
                         + (f"{field} values in this index: {shown}" if known else f"no product has a {field}"))
        if parts:
            return "; ".join(parts)
        if len(filters) > 1:
            return "each filter matches some products, but no product matches all of them"
        return None

    def search(
        self,
        text: str | None = None,
        image: ImageInput | None = None,
        *,
        text_weight: float = 0.5,
        k: int = 10,
        filters: Sequence[str] | Mapping[str, object] | None = None,
        parse_query: bool = False,
    ) -> SearchResult:
        """Text, image or text+image search with attribute filters, as a typed :class:`SearchResult`.

        ``parse_query`` reads the colour, article type and gender the text names against this index's own values
        ("navy blue check shirt" -> colour Navy Blue, article type Shirts) and applies them as filters inside the
        search, beside the explicit ``filters`` (which win). When nothing matches, parsed filters are relaxed one at
        a time (gender, then type, then colour) and ``notes`` say so."""
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        flt = parse_filters(filters)
        flt = self.match_filters(flt) if flt else flt
        q = self.embed_query(text, image, text_weight=text_weight)
        parsed: dict[str, list[str]] = {}
        notes: list[str] = []
        if parse_query and text:
            found = self.query_parser().parse(text).filters()
            parsed = {f: v for f, v in found.items() if f not in flt}
            if found:
                notes.append("parsed from the text: " + ", ".join(f"{f}={'/'.join(v)}" for f, v in found.items())
                             + ("" if len(parsed) == len(found) else " (explicit filters win)"))
        while True:
            combined = {**parsed, **flt}
            hits = self.nearest(q, k=k, filters=combined or None)[0]
            drop = next((f for f in RELAX_ORDER if f in parsed), None)
            if hits or drop is None:
                break
            notes.append(f"nothing matches {drop}={'/'.join(parsed[drop])} with the other filters: relaxed it")
            del parsed[drop]
        return SearchResult(
            query_text=text,
            query_image=str(image) if isinstance(image, (str, Path)) else (None if image is None else "<image>"),
            text_weight=text_weight if (text is not None and image is not None) else None,
            filters=combined,
            parsed_filters=parsed,
            k=k,
            encoder=self.encoder.name,
            hits=[
                SearchHit(rank=r + 1, id=h.id, score=float(h.score), product=Product.model_validate(h.metadata))
                for r, h in enumerate(hits)
            ],
            notes=notes,
        )

    def query_parser(self) -> QueryParser:
        """A :class:`QueryParser` over this index's colours, article types and genders (cached per store size)."""
        size = len(self.store)
        if self._parser is None or self._parser[0] != size:
            values = {f: self.field_values(f) for f in ("colour", "article_type", "gender")}
            if any(v is None for v in values.values()):  # the store cannot list values: read the metadata
                parser = QueryParser.from_metadata(self.store.get(i) or {} for i in self.store.ids())
            else:
                parser = QueryParser(values["colour"], values["article_type"], values["gender"])
            self._parser = (size, parser)
        return self._parser[1]

    # -- category filters read from the vocabulary ---------------------------------------------------------------
    def has_any(self, field: str, values: Sequence[str]) -> bool:
        """Whether the index holds at least one product with ``field`` in ``values`` (probed once per pair)."""
        key = (field, tuple(values))
        if key not in self._present:
            probe = l2_normalize(np.ones((1, self.store.dim), dtype=np.float32))
            try:
                self._present[key] = bool(self.store.search(probe, k=1, filters={field: list(values)})[0])
            except InvalidInputError:  # the index has no such field at all
                self._present[key] = False
        return self._present[key]

    def region_filters(self, regions: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict[str, list[str]]]:
        """Region -> store filter for the regions whose allowed sub-categories exist in the index; a region
        whose values are absent (another catalog's vocabulary) is not restricted."""
        regions = vocabulary.REGION_SUBCATEGORIES if regions is None else regions
        return {r: {"subcategory": list(subs)} for r, subs in regions.items()
                if subs and self.has_any("subcategory", subs)}

    def category_filter(self, category: str) -> dict[str, list[str]]:
        """The store filter of a Fashion-RAG editing category (``upper_body``, ``lower_body``, ``dresses``)."""
        subs = vocabulary.EDIT_CATEGORY_SUBCATEGORIES.get(category)
        if subs is None:
            raise InvalidInputError(
                f"unknown garment category {category!r}; use one of: {', '.join(vocabulary.EDIT_CATEGORIES)}"
            )
        return {"subcategory": list(subs)}

    def garments(self, text: str, category: str, k: int, *, exclude_ids: Sequence[str] = (),
                 filters: Mapping[str, Sequence[str]] | None = None, spare: int = 4) -> list[StoreHit]:
        """The top garments of ``category`` for ``text`` (at most ``k + len(exclude_ids) + spare``, best first,
        ``exclude_ids`` removed), for editing; extra ``filters`` (e.g. gender) narrow the search further."""
        if k <= 0:
            return []
        flt = self.category_filter(category)
        flt.update({f: list(v) for f, v in (filters or {}).items()})
        exclude = set(map(str, exclude_ids))
        query = self.encoder.encode_texts([text or category.replace("_", " ")])
        hits = self.nearest(query, k=k + len(exclude) + spare, filters=flt)[0]
        if not hits:
            raise CatalogError(
                f"the index has no {category} garments ({', '.join(f'{f}={v}' for f, v in flt.items())}); "
                "index a catalog that has some, choose another --category, or use --k 0 for text only"
            )
        return [h for h in hits if h.id not in exclude]
