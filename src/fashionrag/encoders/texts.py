"""Multi-field text targets for contrastive training, in the spirit of Marqo's generalised contrastive
learning: besides the title, each product is described by short attribute phrases built from its catalog
fields ("navy blue", "tshirts", "navy blue tshirts", "men's tshirts", "casual wear").

Short phrases are shared by many products; the trainer treats every product with the same phrase as a
positive for it, so category- and colour-only queries pull whole groups together instead of apart.
"""

from __future__ import annotations

from typing import Callable, Optional

from ..core.schemas import Product

#: The prompt used for text-prompt classification (eval) and as one of the training phrases.
PROMPT_TEMPLATE = "a photo of a {}"


def _gender_word(gender: Optional[str]) -> Optional[str]:
    if not gender:
        return None
    g = gender.strip().lower()
    return {"men": "men's", "women": "women's", "boys": "boys'", "girls": "girls'", "unisex": "unisex"}.get(g, g)


def _join(*parts: Optional[str]) -> Optional[str]:
    if any(not p for p in parts):
        return None
    return " ".join(str(p).strip().lower() for p in parts)


#: field name -> phrase builder. A builder returns None when the product lacks what it needs.
FIELDS: dict[str, Callable[[Product], Optional[str]]] = {
    "title": lambda p: p.title.strip() or None,
    "type": lambda p: p.article_type,
    "prompt": lambda p: PROMPT_TEMPLATE.format(p.article_type) if p.article_type else None,
    "colour": lambda p: p.colour,
    "colour_type": lambda p: _join(p.colour, p.article_type),
    "gender_type": lambda p: _join(_gender_word(p.gender), p.article_type),
    "gender_colour_type": lambda p: _join(_gender_word(p.gender), p.colour, p.article_type),
    "usage": lambda p: _join(p.usage, "wear"),
    "subcategory": lambda p: p.subcategory,
}

#: Default loss weight of each field (the title and the fields the eval queries with weigh most).
DEFAULT_FIELD_WEIGHTS: dict[str, float] = {
    "title": 1.0,
    "type": 1.0,
    "prompt": 0.5,
    "colour": 1.0,
    "colour_type": 0.5,
    "gender_type": 0.5,
    "gender_colour_type": 0.5,
    "usage": 0.25,
    "subcategory": 0.25,
}


def product_texts(p: Product, fields: Optional[list[str]] = None) -> dict[str, Optional[str]]:
    """Every field's phrase for one product (None where a field is missing)."""
    return {f: FIELDS[f](p) for f in (fields or list(FIELDS))}


def build_vocabularies(products: list[Product], fields: list[str]) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """Per field: the sorted distinct phrases, and each product's index into them (-1 when missing).

    Deduplicating phrases is what makes the contrastive target multi-positive: all products that share a
    phrase point at the same vocabulary row.
    """
    vocab: dict[str, list[str]] = {}
    index: dict[str, list[int]] = {}
    for f in fields:
        phrases = [FIELDS[f](p) for p in products]
        vocab[f] = sorted({t for t in phrases if t})
        pos = {t: i for i, t in enumerate(vocab[f])}
        index[f] = [pos[t] if t else -1 for t in phrases]
    return vocab, index
