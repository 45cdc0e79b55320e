"""How a catalog's columns (or JSON keys) become :class:`~fashionrag.core.schemas.Product` fields.

One record -> one Product (or the :class:`RowIssue` that says why not), whatever the file format: the CSV and JSONL
loaders both end here. The Kaggle "Fashion Product Images" layout is a built-in preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..core.errors import CatalogError
from ..core.schemas import Product, RowIssue
from .fabric import fabric_from_title

#: Product fields a column mapping can fill. ``image_path`` may be a file name relative to the image root.
MAPPABLE_FIELDS = (
    "id",
    "image_path",
    "title",
    "description",
    "category",
    "subcategory",
    "article_type",
    "gender",
    "colour",
    "fabric",
    "season",
    "usage",
    "split",
)

#: Column names recognised without a mapping (case-insensitive), per field.
DEFAULT_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "product_id", "sku", "item_id"),
    "image_path": ("image_path", "image", "image_file", "file", "filename", "path"),
    "title": ("title", "name", "product_name", "productdisplayname"),
    "description": ("description", "desc"),
    "category": ("category", "mastercategory", "master_category"),
    "subcategory": ("subcategory", "sub_category"),
    "article_type": ("article_type", "articletype", "type", "product_type"),
    "gender": ("gender",),
    "colour": ("colour", "color", "basecolour", "base_colour", "basecolor"),
    "fabric": ("fabric", "material"),
    "season": ("season",),
    "usage": ("usage", "occasion"),
    "split": ("split",),
}


@dataclass(frozen=True)
class ColumnMapping:
    """How the columns of a CSV map onto :class:`Product` fields.

    ``columns`` maps a Product field to a CSV column. When ``image_template`` is set, the image file name is
    built from it (``"{id}.jpg"``) instead of read from a column. Relative image paths resolve against
    ``image_root`` (default: the CSV's folder, or its ``images/`` sub-folder when that exists).
    ``required`` names the fields (not columns) that must be non-empty in every row. ``optional`` names the fields
    whose column may be absent from the file (the field is then unknown for every row); any other mapped column
    that is absent is an error, since it is most likely a typo.
    """

    columns: Mapping[str, str]
    image_template: str | None = None
    image_root: str | None = None
    required: tuple[str, ...] = ("id",)
    optional: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = (set(self.columns) | set(self.required) | set(self.optional)) - set(MAPPABLE_FIELDS)
        if unknown:
            raise CatalogError(
                f"column mapping names unknown product field(s) {sorted(unknown)}; valid: {', '.join(MAPPABLE_FIELDS)}"
            )


#: The Kaggle "Fashion Product Images" layout (styles.csv + images/<id>.jpg). The original download has no
#: ``split`` column (only this project's developer copy does), so every column but the required ones is optional.
KAGL_PRESET = ColumnMapping(
    columns={
        "id": "id",
        "title": "productDisplayName",
        "category": "masterCategory",
        "subcategory": "subCategory",
        "article_type": "articleType",
        "gender": "gender",
        "colour": "baseColour",
        "season": "season",
        "usage": "usage",
        "split": "split",
    },
    image_template="{id}.jpg",
    image_root="images",
    required=("id", "title", "article_type"),
    optional=("category", "subcategory", "gender", "colour", "season", "usage", "split"),
)


def clean(value: Any) -> str | None:
    """A stripped string, or None for a missing or blank value."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def resolve_columns(header: Sequence[str], mapping: ColumnMapping | None) -> dict[str, str]:
    """Field -> column, from an explicit mapping or by recognising common column names."""
    if mapping is not None:
        present = set(header)
        return {f: c for f, c in mapping.columns.items() if c in present or f not in mapping.optional}
    lower = {h.lower().strip(): h for h in header}
    resolved = {}
    for fld, names in DEFAULT_COLUMN_NAMES.items():
        for n in names:
            if n in lower:
                resolved[fld] = lower[n]
                break
    return resolved


def product_from_record(
    record: Mapping[str, Any],
    columns: Mapping[str, str],
    *,
    image_root: Path,
    image_template: str | None,
    source: str,
    row: int,
) -> tuple[Product | None, list[RowIssue]]:
    """One record (CSV row as a dict, or a JSON object) -> a Product, or the issue that rejected it."""
    values: dict[str, Any] = {fld: clean(record.get(col)) for fld, col in columns.items()}
    pid = values.get("id")
    if not pid:
        return None, [RowIssue(source=source, row=row, column=columns.get("id", "id"), reason="missing id")]
    if image_template:
        image_rel = image_template.format(id=pid, **{k: v for k, v in values.items() if k != "id"})
    else:
        image_rel = values.get("image_path")
    image_path: str | None = None
    if image_rel:
        p = Path(image_rel)
        if not p.is_absolute():
            p = image_root / p
        if not p.is_file():
            col = columns.get("image_path") if not image_template else None
            return None, [
                RowIssue(source=source, row=row, column=col, item_id=pid, reason=f"image file not found: {p}")
            ]
        image_path = str(p.resolve())
    used_cols = set(columns.values())
    attributes = {k: v for k, v in record.items() if k not in used_cols and clean(v) is not None and k is not None}
    fabric, fabric_source = values.get("fabric"), "column" if values.get("fabric") else None
    if fabric is None:
        fabric = fabric_from_title(values.get("title"))
        fabric_source = "title" if fabric else None
    try:
        product = Product(
            id=pid,
            image_path=image_path,
            title=values.get("title") or "",
            description=values.get("description") or "",
            category=values.get("category"),
            subcategory=values.get("subcategory"),
            article_type=values.get("article_type"),
            gender=values.get("gender"),
            colour=values.get("colour"),
            fabric=fabric,
            fabric_source=fabric_source,
            season=values.get("season"),
            usage=values.get("usage"),
            split=values.get("split"),
            attributes=attributes,
        )
    except Exception as exc:  # pydantic validation: report, do not crash the load
        return None, [RowIssue(source=source, row=row, item_id=pid, reason=f"invalid row: {exc}")]
    return product, []
