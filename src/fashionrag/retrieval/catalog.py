"""Catalogs: load a product catalog from a KAGL folder, a CSV, a JSONL file or a plain image folder.

Every rejected row is reported as a :class:`~fashionrag.core.schemas.RowIssue` that names the file, the row and
the column; nothing is dropped silently. A catalog without a fabric column gets ``fabric`` from title keywords.

>>> cat = load_catalog("../shared/datasets/kagl")        # styles.csv + images/ -> KAGL preset
>>> cat = load_catalog("products.csv", mapping={"id": "sku", "image_path": "photo"})
>>> cat = load_catalog("photos/")                         # a folder of images, ids from file names

What lives where: this module holds :class:`Catalog` and the layout detection; the formats are read by
:mod:`.catalog_csv`, :mod:`.catalog_jsonl` and :mod:`.catalog_images`, records become products in
:mod:`.catalog_mapping`, file decoding is :mod:`.catalog_text` and fabric words :mod:`.fabric`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from ..core import vocabulary
from ..core.errors import CatalogError
from ..core.schemas import Product, RowIssue
from .catalog_csv import read_csv, read_header
from .catalog_images import read_image_folder
from .catalog_jsonl import read_jsonl
from .catalog_mapping import (  # noqa: F401  (re-exported: the public names of the catalog API)
    DEFAULT_COLUMN_NAMES,
    KAGL_PRESET,
    MAPPABLE_FIELDS,
    ColumnMapping,
    resolve_columns,
)
from .fabric import FABRIC_KEYWORDS, fabric_from_title  # noqa: F401

IMAGE_EXTENSIONS = vocabulary.IMAGE_EXTENSIONS


@dataclass
class Catalog:
    """A loaded catalog: valid products plus a report of everything rejected (and any decoding warnings)."""

    products: list[Product]
    issues: list[RowIssue] = field(default_factory=list)
    source: str = ""
    kind: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {p.id: p for p in self.products}

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def get(self, id: str) -> Product | None:
        return self._by_id.get(str(id))

    @property
    def has_splits(self) -> bool:
        """Whether any product has a split; a catalog without one is a single set."""
        return any(p.split for p in self.products)

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
        return Catalog(products=list(products), issues=list(self.issues), source=self.source + suffix,
                       kind=self.kind, warnings=list(self.warnings))

    def vocabulary(self, field_name: str) -> list[str]:
        """Sorted distinct non-empty values of a field ('colour', 'article_type', ...)."""
        return sorted({str(v) for p in self.products if (v := p.field_value(field_name)) not in (None, "")})

    def issues_summary(self, limit: int = 10) -> str:
        lines = [format_issue(i) for i in self.issues[:limit]]
        more = len(self.issues) - limit
        if more > 0:
            lines.append(f"... and {more} more")
        return "\n".join(lines)


def format_issue(issue: RowIssue) -> str:
    """'catalog.csv row 3 column 'id' (id 7): reason' -- one line per rejected row, as the CLI prints it."""
    where = issue.source
    if issue.row is not None:
        where += f" row {issue.row}"
    if issue.column:
        where += f" column {issue.column!r}"
    if issue.item_id:
        where += f" (id {issue.item_id})"
    return f"{where}: {issue.reason}"


def _dedupe(products: list[tuple[int, Product]], source: str) -> tuple[list[Product], list[RowIssue]]:
    seen: dict[str, int] = {}
    out: list[Product] = []
    issues: list[RowIssue] = []
    for row, p in products:
        if p.id in seen:
            issues.append(RowIssue(source=source, row=row, column="id", item_id=p.id,
                                   reason=f"duplicate id (first seen at row {seen[p.id]}); this row was skipped"))
            continue
        seen[p.id] = row
        out.append(p)
    return out, issues


def _finish(catalog: Catalog) -> Catalog:
    if not catalog.products:
        detail = f"; first problems:\n{catalog.issues_summary(5)}" if catalog.issues else ""
        raise CatalogError(f"{catalog.source}: the catalog has no usable products{detail}")
    return catalog


def _from_rows(rows, issues, warnings, source: str, kind: str) -> Catalog:
    products, dup_issues = _dedupe(rows, source)
    return _finish(Catalog(products=products, issues=issues + dup_issues, source=source, kind=kind,
                           warnings=warnings))


def load_csv(
    path: str | Path, mapping: ColumnMapping | None = None, *, split: str | Sequence[str] | None = None
) -> Catalog:
    """Load a CSV catalog. Without ``mapping``, common column names are recognised (see DEFAULT_COLUMN_NAMES)."""
    return _from_rows(*read_csv(path, mapping, split=split), source=str(path), kind="csv")


def load_jsonl(path: str | Path, *, split: str | Sequence[str] | None = None) -> Catalog:
    """Load a JSONL catalog: one object per line with Product field names (unknown keys go to ``attributes``)."""
    return _from_rows(*read_jsonl(path, split=split), source=str(path), kind="jsonl")


def load_image_folder(path: str | Path) -> Catalog:
    """A folder of images (searched recursively): id = path relative to the folder without extension."""
    return _finish(Catalog(products=read_image_folder(path), source=str(path), kind="images"))


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

    - a folder with ``styles.csv`` and ``images/``: the KAGL preset (no flags needed; a ``split`` column is
      optional, as in the original Kaggle download);
    - a ``.csv`` file (or a folder with ``catalog.csv``): CSV with ``mapping`` or recognised column names;
    - a ``.jsonl`` file (or a folder with ``catalog.jsonl``): one Product object per line;
    - any other folder: every image in it is a product.
    """
    p = Path(path)
    kind = detect_kind(p)
    if isinstance(mapping, Mapping):
        mapping = ColumnMapping(columns=dict(mapping), image_template=image_template)
    if kind == "kagl":
        cat = load_csv(p / "styles.csv", mapping or KAGL_PRESET, split=split)
        cat.kind = "kagl"
        return cat
    if kind == "csv":
        csv_path = p if p.is_file() else p / "catalog.csv"
        if mapping is None and image_template is not None:
            cols = resolve_columns(read_header(csv_path), None)
            cols.pop("image_path", None)
            mapping = ColumnMapping(columns=cols, image_template=image_template)
        return load_csv(csv_path, mapping, split=split)
    if kind == "jsonl":
        return load_jsonl(p if p.is_file() else p / "catalog.jsonl", split=split)
    if split is not None:
        raise CatalogError(f"{p}: an image folder has no splits; drop --split")
    return load_image_folder(p)
