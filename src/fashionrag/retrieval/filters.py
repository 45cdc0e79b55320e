"""Search filters: ``FIELD=VALUE[,VALUE]`` words and mappings parsed into store filters.

Field names are case-insensitive here (``Gender=`` is ``gender=``); values are matched case-insensitively against
the index's own spellings by :meth:`fashionrag.retrieval.retriever.Retriever.match_filters`.

Queries themselves go through :class:`fashionrag.retrieval.retriever.Retriever`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..core.errors import InvalidInputError
from ..core.schemas import FILTERABLE_FIELDS

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
        low = k.lower().replace(" ", "")
        k = FILTER_ALIASES.get(low) or (low if low in FILTERABLE_FIELDS or low in ("id", "split", "title") else k)
        if k not in FILTERABLE_FIELDS and not k.startswith("attributes.") and k not in ("id", "split", "title"):
            raise InvalidInputError(
                f"unknown filter field {key!r}; use one of {', '.join(FILTERABLE_FIELDS)}, split, or attributes.<name>"
            )
        values = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
        out.setdefault(k, []).extend(str(v).strip() for v in values if str(v).strip())
    return out
