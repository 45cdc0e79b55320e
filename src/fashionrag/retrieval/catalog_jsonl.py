"""JSONL catalogs: one object per line with Product field names; unknown keys go to ``attributes``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..core.schemas import Product, RowIssue
from .catalog_csv import Rows
from .catalog_mapping import MAPPABLE_FIELDS, clean, product_from_record
from .catalog_text import read_catalog_text


def read_jsonl(path: str | Path, *, split: str | Sequence[str] | None = None) -> Rows:
    path = Path(path)
    source = str(path)
    text, warnings = read_catalog_text(path)
    root = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    columns = {f: f for f in MAPPABLE_FIELDS}
    rows: list[tuple[int, Product]] = []
    issues: list[RowIssue] = []
    wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            # exc.msg can end in "at" ("Unterminated string starting at"): say where once, in our own words.
            issues.append(RowIssue(source=source, row=i,
                                   reason=f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            issues.append(RowIssue(source=source, row=i, reason="line is not a JSON object"))
            continue
        extra = obj.pop("attributes", None)
        if wanted is not None and clean(obj.get("split")) not in wanted:
            continue
        product, row_issues = product_from_record(obj, columns, image_root=root, image_template=None, source=source,
                                                  row=i)
        issues.extend(row_issues)
        if product is not None:
            if isinstance(extra, dict):
                product.attributes.update(extra)
            rows.append((i, product))
    return rows, issues, warnings
