"""CSV catalogs: header row, then one product per row, through a :class:`ColumnMapping`.

Why ``csv.reader`` in strict mode with our own field count: a broken row must be reported with the line it is on
and skipped, never crash the load nor vanish. Two shapes are common in real exports: a title with an unquoted comma
(one field too many: the Kaggle ``styles.csv`` has such rows) and a quote that is opened and never closed (the rest
of the file would be read as one value, so that one stops the load and names the line where the quote opens).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from ..core.errors import CatalogError
from ..core.schemas import Product, RowIssue
from .catalog_mapping import ColumnMapping, clean, product_from_record, resolve_columns
from .catalog_text import read_catalog_text

#: Products with the data row they came from, the rows rejected, and decoding warnings.
Rows = tuple[list[tuple[int, Product]], list[RowIssue], list[str]]


def _records(path: Path, text: str):
    """(first line, fields) per non-blank record; malformed records come back as (line, csv.Error)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise CatalogError(
                    f"{path} line {start}: a quoted value opens on this line and is never closed, so the rest of "
                    'the file would be read as one value; close or remove the stray " and load it again'
                ) from None
            yield start, exc
            continue
        if fields:
            yield start, fields


def read_csv(path: str | Path, mapping: ColumnMapping | None = None, *,
             split: str | Sequence[str] | None = None) -> Rows:
    """Rows of a CSV catalog. Without ``mapping``, common column names are recognised (see DEFAULT_COLUMN_NAMES)."""
    path = Path(path)
    source = str(path)
    text, warnings = read_catalog_text(path)
    records = _records(path, text)
    first = next(records, None)
    if first is None or isinstance(first[1], csv.Error):
        raise CatalogError(f"{path}: empty CSV (no header row); a catalog needs at least an id column")
    header = [h.strip() for h in first[1]]
    columns = resolve_columns(header, mapping)
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
            raise CatalogError(f"{path}: column {col!r} (mapped to {fld}) is missing; columns are: {', '.join(header)}")
    wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
    if wanted is not None and "split" not in columns:
        raise CatalogError(f"{path}: has no split column, so --split {','.join(sorted(wanted))} selects nothing; "
                           "drop --split to use every row")
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
    width = len(header)
    for i, (line, fields) in enumerate(records, start=1):
        if isinstance(fields, csv.Error):
            issues.append(RowIssue(source=source, row=i, reason=f"line {line}: malformed quoting ({fields}); skipped"))
            continue
        if len(fields) > width:
            pid = fields[header.index(columns["id"])].strip() or None
            issues.append(RowIssue(
                source=source, row=i, item_id=pid,
                reason=f"line {line}: {len(fields)} fields but the header has {width} (an unquoted comma in a "
                       "value? quote that value); skipped",
            ))
            continue
        record = dict(zip(header, fields + [""] * (width - len(fields))))
        missing = [columns[f] for f in required_fields if not clean(record.get(columns[f]))]
        if missing:
            issues.append(RowIssue(source=source, row=i, column=missing[0], item_id=clean(record.get(columns["id"])),
                                   reason=f"empty required value in column(s) {', '.join(missing)}"))
            continue
        if wanted is not None and clean(record.get(columns["split"])) not in wanted:
            continue
        product, row_issues = product_from_record(
            record, columns, image_root=root, image_template=image_template, source=source, row=i
        )
        issues.extend(row_issues)
        if product is not None:
            rows.append((i, product))
    return rows, issues, warnings


def read_header(path: str | Path) -> list[str]:
    """The header row of a CSV file (for building a mapping before loading)."""
    text, _ = read_catalog_text(path)
    return next(csv.reader(io.StringIO(text, newline="")), [])
