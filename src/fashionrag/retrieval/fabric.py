"""Fabric from a product title, for catalogs without a fabric column ('Men Blue Denim Jacket' -> 'Denim')."""

from __future__ import annotations

import re

from ..core import vocabulary

#: Fabric words recognised in titles -> canonical fabric name: the project's one synonym table.
FABRIC_KEYWORDS = vocabulary.FABRIC_SYNONYMS
_FABRIC_RE = re.compile(r"\b(" + "|".join(sorted(FABRIC_KEYWORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def fabric_from_title(title: str | None) -> str | None:
    """The first fabric word in a title, canonicalised ('Men Blue Denim Jacket' -> 'Denim'), else None."""
    if not title:
        return None
    m = _FABRIC_RE.search(title)
    return FABRIC_KEYWORDS[m.group(1).lower()] if m else None
