"""Catalog loading: CSV (with a column mapping, KAGL preset built in), JSONL and plain image folders.

Every rejected row is reported as a :class:`~fashionrag.core.schemas.RowIssue` that names the file, the row and
the column; nothing is dropped silently. A catalog without a fabric column gets ``fabric`` from title keywords.

>>> cat = load_catalog("../shared/datasets/kagl")        # styles.csv + images/ -> KAGL preset
>>> cat = load_catalog("products.csv", mapping={"id": "sku", "image_path": "photo"})
>>> cat = load_catalog("photos/")                         # a folder of images, ids from file names
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..core import vocabulary
from ..core.errors import CatalogError
from ..core.schemas import Product, RowIssue

IMAGE_EXTENSIONS = vocabulary.IMAGE_EXTENSIONS

#: Fabric words recognised in titles -> canonical fabric name: the project's one synonym table.
FABRIC_KEYWORDS = vocabulary.FABRIC_SYNONYMS
_FABRIC_RE = re.compile(r"\b(" + "|".join(sorted(FABRIC_KEYWORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def fabric_from_title(title: str | None) -> str | None:
    """The first fabric word in a title, canonicalised ('Men Blue Denim Jacket' -> 'Denim'), else None."""
    if not title:
        return None
    m = _FABRIC_RE.search(title)
    return FABRIC_KEYWORDS[m.group(1).lower()] if m else None


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
    ``required`` names the fields (not columns) that must be non-empty in every row.
    """

    columns: Mapping[str, str]
    image_template: str | None = None
    image_root: str | None = None
    required: tuple[str, ...] = ("id",)

    def __post_init__(self) -> None:
        unknown = (set(self.columns) | set(self.required)) - set(MAPPABLE_FIELDS)
        if unknown:
            raise CatalogError(
                f"column mapping names unknown product field(s) {sorted(unknown)}; valid: {', '.join(MAPPABLE_FIELDS)}"
            )


#: The Kaggle "Fashion Product Images" layout (styles.csv + images/<id>.jpg).
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
)


@dataclass
class Catalog:
    """A loaded catalog: valid products plus a report of everything rejected."""

    products: list[Product]
    issues: list[RowIssue] = field(default_factory=list)
    source: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        self._by_id = {p.id: p for p in self.products}

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def get(self, id: str) -> Product | None:
        return self._by_id.get(str(id))

    @property
    def fingerprint(self) -> str:
        """sha256 over the products' metadata and image file sizes: changes whenever the catalog does."""
        h = hashlib.sha256()
        for p in sorted(self.products, key=lambda p: p.id):
            h.update(p.model_dump_json().encode())
            if p.image_path:
                try:
                    st = Path(p.image_path).stat()
                    h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
                except OSError:
                    h.update(b"|missing")
        return h.hexdigest()

    def subset(self, split: str | Sequence[str] | None = None, ids: Iterable[str] | None = None) -> "Catalog":
        """A catalog restricted to one or more splits and/or ids (issues are kept)."""
        products = self.products
        if split is not None:
            wanted = {split} if isinstance(split, str) else set(split)
            products = [p for p in products if p.split in wanted]
        if ids is not None:
            keep = {str(i) for i in ids}
            products = [p for p in products if p.id in keep]
        suffix = f"[split={split}]" if split is not None else ""
        return Catalog(products=list(products), issues=list(self.issues), source=self.source + suffix, kind=self.kind)

    def vocabulary(self, field_name: str) -> list[str]:
        """Sorted distinct non-empty values of a field ('colour', 'article_type', ...)."""
        return sorted({str(v) for p in self.products if (v := p.field_value(field_name)) not in (None, "")})

    def issues_summary(self, limit: int = 10) -> str:
        lines = [_format_issue(i) for i in self.issues[:limit]]
        more = len(self.issues) - limit
        if more > 0:
            lines.append(f"... and {more} more")
        return "\n".join(lines)


def _format_issue(issue: RowIssue) -> str:
    where = issue.source
    if issue.row is not None:
        where += f" row {issue.row}"
    if issue.column:
        where += f" column {issue.column!r}"
    if issue.item_id:
        where += f" (id {issue.item_id})"
    return f"{where}: {issue.reason}"


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _resolve_columns(header: Sequence[str], mapping: ColumnMapping | None) -> dict[str, str]:
    """Field -> column, from an explicit mapping or by recognising common column names."""
    if mapping is not None:
        return dict(mapping.columns)
    lower = {h.lower().strip(): h for h in header}
    resolved = {}
    for fld, names in DEFAULT_COLUMN_NAMES.items():
        for n in names:
            if n in lower:
                resolved[fld] = lower[n]
                break
    return resolved


def _product_from_record(
    record: Mapping[str, Any],
    columns: Mapping[str, str],
    *,
    image_root: Path,
    image_template: str | None,
    source: str,
    row: int,
) -> tuple[Product | None, list[RowIssue]]:
    issues: list[RowIssue] = []
    values: dict[str, Any] = {}
    for fld, col in columns.items():
        values[fld] = _clean(record.get(col))
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
    attributes = {k: v for k, v in record.items() if k not in used_cols and _clean(v) is not None and k is not None}
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
    return product, issues


def _dedupe(products: list[tuple[int, Product]], source: str) -> tuple[list[Product], list[RowIssue]]:
    seen: dict[str, int] = {}
    out: list[Product] = []
    issues: list[RowIssue] = []
    for row, p in products:
        if p.id in seen:
            issues.append(
                RowIssue(
                    source=source,
                    row=row,
                    column="id",
                    item_id=p.id,
                    reason=f"duplicate id (first seen at row {seen[p.id]}); this row was skipped",
                )
            )
            continue
        seen[p.id] = row
        out.append(p)
    return out, issues


def load_csv(
    path: str | Path, mapping: ColumnMapping | None = None, *, split: str | Sequence[str] | None = None
) -> Catalog:
    """Load a CSV catalog. Without ``mapping``, common column names are recognised (see DEFAULT_COLUMN_NAMES)."""
    path = Path(path)
    source = str(path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot open catalog file ({exc.strerror or exc})") from exc
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if not header:
            raise CatalogError(f"{path}: empty CSV (no header row); a catalog needs at least an id column")
        columns = _resolve_columns(header, mapping)
        if "id" not in columns:
            raise CatalogError(
                f"{path}: no id column found (columns are: {', '.join(header)}); "
                "name it with a mapping, e.g. --map id=<column>"
            )
        required_fields = list(dict.fromkeys(["id", *(mapping.required if mapping is not None else ())]))
        for fld in required_fields:
            if fld not in columns:
                raise CatalogError(f"{path}: required field {fld!r} has no column; map it with --map {fld}=<column>")
        if mapping is None or mapping.image_template is None:
            if "image_path" not in columns:
                raise CatalogError(
                    f"{path}: no image column found (columns are: {', '.join(header)}); "
                    "name it with --map image_path=<column> or use --image-template '{id}.jpg'"
                )
        for fld, col in columns.items():
            if col not in header:
                raise CatalogError(
                    f"{path}: column {col!r} (mapped to {fld}) is missing; columns are: {', '.join(header)}"
                )
        root = path.parent
        if mapping is not None and mapping.image_root:
            root = Path(mapping.image_root)
            if not root.is_absolute():
                root = path.parent / root
        elif (path.parent / "images").is_dir():
            root = path.parent / "images"
        image_template = mapping.image_template if mapping is not None else None

        rows: list[tuple[int, Product]] = []
        issues: list[RowIssue] = []
        wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
        for i, record in enumerate(reader, start=1):
            if None in record:  # more fields than header columns
                issues.append(RowIssue(source=source, row=i, reason="row has more fields than the header; skipped"))
                continue
            missing = [columns[f] for f in required_fields if not _clean(record.get(columns[f]))]
            if missing:
                issues.append(
                    RowIssue(
                        source=source,
                        row=i,
                        column=missing[0],
                        item_id=_clean(record.get(columns["id"])),
                        reason=f"empty required value in column(s) {', '.join(missing)}",
                    )
                )
                continue
            if wanted is not None and "split" in columns and _clean(record.get(columns["split"])) not in wanted:
                continue
            product, row_issues = _product_from_record(
                record, columns, image_root=root, image_template=image_template, source=source, row=i
            )
            issues.extend(row_issues)
            if product is not None:
                rows.append((i, product))
    products, dup_issues = _dedupe(rows, source)
    return _finish(Catalog(products=products, issues=issues + dup_issues, source=source, kind="csv"))


def load_jsonl(path: str | Path, *, split: str | Sequence[str] | None = None) -> Catalog:
    """Load a JSONL catalog: one object per line with Product field names (unknown keys go to ``attributes``)."""
    path = Path(path)
    source = str(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot open catalog file ({exc.strerror or exc})") from exc
    root = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    columns = {f: f for f in MAPPABLE_FIELDS}
    rows: list[tuple[int, Product]] = []
    issues: list[RowIssue] = []
    wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(RowIssue(source=source, row=i, reason=f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            issues.append(RowIssue(source=source, row=i, reason="line is not a JSON object"))
            continue
        extra = obj.pop("attributes", None)
        if wanted is not None and _clean(obj.get("split")) not in wanted:
            continue
        product, row_issues = _product_from_record(
            obj, columns, image_root=root, image_template=None, source=source, row=i
        )
        issues.extend(row_issues)
        if product is not None:
            if isinstance(extra, dict):
                product.attributes.update(extra)
            rows.append((i, product))
    products, dup_issues = _dedupe(rows, source)
    return _finish(Catalog(products=products, issues=issues + dup_issues, source=source, kind="jsonl"))


def load_image_folder(path: str | Path) -> Catalog:
    """A folder of images (searched recursively): id = path relative to the folder without extension."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    products = []
    for f in files:
        rel = f.relative_to(path).with_suffix("")
        pid = rel.as_posix()
        products.append(Product(id=pid, image_path=str(f.resolve()), title=f.stem.replace("_", " ").replace("-", " ")))
    return _finish(Catalog(products=products, source=str(path), kind="images"))


def _finish(catalog: Catalog) -> Catalog:
    if not catalog.products:
        detail = f"; first problems:\n{catalog.issues_summary(5)}" if catalog.issues else ""
        raise CatalogError(f"{catalog.source}: the catalog has no usable products{detail}")
    return catalog


def detect_kind(path: str | Path) -> str:
    """'kagl', 'csv', 'jsonl' or 'images' for a catalog path."""
    p = Path(path)
    if not p.exists():
        raise CatalogError(f"{p}: catalog path does not exist")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in (".jsonl", ".ndjson"):
            return "jsonl"
        raise CatalogError(f"{p}: unsupported catalog file type {suffix!r}; use .csv, .jsonl or a folder")
    if (p / "styles.csv").is_file() and (p / "images").is_dir():
        return "kagl"
    if (p / "catalog.csv").is_file():
        return "csv"
    if (p / "catalog.jsonl").is_file():
        return "jsonl"
    return "images"


def load_catalog(
    path: str | Path,
    *,
    mapping: ColumnMapping | Mapping[str, str] | None = None,
    split: str | Sequence[str] | None = None,
    image_template: str | None = None,
) -> Catalog:
    """Load a catalog from a file or folder, recognising its layout.

    - a folder with ``styles.csv`` and ``images/``: the KAGL preset (no flags needed);
    - a ``.csv`` file (or a folder with ``catalog.csv``): CSV with ``mapping`` or recognised column names;
    - a ``.jsonl`` file (or a folder with ``catalog.jsonl``): one Product object per line;
    - any other folder: every image in it is a product.
    """
    p = Path(path)
    kind = detect_kind(p)
    if isinstance(mapping, Mapping):
        mapping = ColumnMapping(columns=dict(mapping), image_template=image_template)
    elif mapping is None and image_template is not None:
        mapping = None  # resolved below after reading the header
    if kind == "kagl":
        cat = load_csv(p / "styles.csv", mapping or KAGL_PRESET, split=split)
        cat.kind = "kagl"
        return cat
    if kind == "csv":
        csv_path = p if p.is_file() else p / "catalog.csv"
        if mapping is None and image_template is not None:
            with csv_path.open(newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
            cols = _resolve_columns(header, None)
            cols.pop("image_path", None)
            mapping = ColumnMapping(columns=cols, image_template=image_template)
        return load_csv(csv_path, mapping, split=split)
    if kind == "jsonl":
        return load_jsonl(p if p.is_file() else p / "catalog.jsonl", split=split)
    if split is not None:
        raise CatalogError(f"{p}: an image folder has no splits; drop --split")
    return load_image_folder(p)
