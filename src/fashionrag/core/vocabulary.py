"""The project's one vocabulary, read from ``vocabulary.json`` beside this file.

Regions, editing categories, caption styles, fabric synonyms, image extensions, and which catalog sub-categories
each garment region (captioning) or editing category (Fashion-RAG) may match. Every component that needs one of
these reads it from here; nothing else spells them out.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Mapping

_DATA = json.loads(resources.files("fashionrag.core").joinpath("vocabulary.json").read_text(encoding="utf-8"))

#: Garment regions the detectors produce. ``full_length`` (dresses, kurtas) overlaps the upper and lower regions.
REGIONS: tuple[str, ...] = tuple(_DATA["regions"])
#: Caption styles the writers know.
STYLES: tuple[str, ...] = tuple(_DATA["styles"])
#: File name endings read as images (lower case, with the dot).
IMAGE_EXTENSIONS: tuple[str, ...] = tuple(_DATA["image_extensions"])
#: Garment region -> catalog sub-categories it may become (empty: anything).
REGION_SUBCATEGORIES: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in _DATA["region_subcategories"].items()}
#: Fashion-RAG editing category -> catalog sub-categories a retrieved garment may have.
EDIT_CATEGORY_SUBCATEGORIES: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in _DATA["edit_categories"].items()}
#: Article types of tops that reach over the thighs (a catalog photo of one shows the garment below the hips).
LONG_TOPS: frozenset[str] = frozenset(_DATA["long_tops"])
#: Editing categories, in the reference's order.
EDIT_CATEGORIES: tuple[str, ...] = tuple(EDIT_CATEGORY_SUBCATEGORIES)
#: Lower-case sub-category (or category) -> editing category.
SUBCATEGORY_TO_EDIT_CATEGORY: Mapping[str, str] = {
    **{sub.lower(): cat for cat, subs in EDIT_CATEGORY_SUBCATEGORIES.items() for sub in subs},
    **{cat: cat for cat in EDIT_CATEGORY_SUBCATEGORIES},
}
#: Fabric word (lower case) -> canonical fabric name: one table for catalog titles and writers alike.
FABRIC_SYNONYMS: Mapping[str, str] = dict(_DATA["fabric_synonyms"])
#: Descriptive facet (pattern, neckline, sleeve, fit) -> generic seed words; a catalog's own words are learned.
TITLE_FACETS: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in _DATA["title_facets"].items() if k != "_comment"}


def canonical_fabric(name: str) -> str:
    """'spandex' -> 'Lycra'; an unknown word is title-cased."""
    return FABRIC_SYNONYMS.get(name.strip().lower(), name.strip().title())


def is_image_file(name: str) -> bool:
    return any(str(name).lower().endswith(ext) for ext in IMAGE_EXTENSIONS)
