"""What every editing profile shares: garment retrieval through the one Retriever, and saving an EditResult.

Kept free of torch so the offline ``lite`` editor imports nothing of the diffusion stack.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence

from PIL import Image

from ..core.errors import CatalogError, InvalidImageError, InvalidInputError
from ..core.images import load_image
from ..core.schemas import EditGarment, EditResult
from ..core.vocabulary import EDIT_CATEGORIES

log = logging.getLogger(__name__)

#: Hard cap on retrieved garments: 4 x 16 pseudo-tokens + <bos>/<eos> + a few words fill CLIP's 77 positions.
MAX_K = 4


def check_category(category: str) -> None:
    if category not in EDIT_CATEGORIES:
        raise InvalidInputError(f"unknown category {category!r}; use one of {', '.join(EDIT_CATEGORIES)}")


def garment_from_hit(hit) -> EditGarment:
    meta = hit.metadata or {}
    return EditGarment(id=str(hit.id), score=float(hit.score), title=meta.get("title") or "",
                       image_path=meta.get("image_path"), subcategory=meta.get("subcategory"),
                       article_type=meta.get("article_type"), colour=meta.get("colour"))


def retrieve_garments(retriever, text: str, category: str, k: int, *, exclude_ids: Sequence[str] = (),
                      filters: Optional[Mapping[str, Sequence[str]]] = None, spare: int = 4
                      ) -> list[tuple[EditGarment, Image.Image]]:
    """Top-``k`` readable garments of ``category`` for ``text`` (``exclude_ids`` removed, unreadable images
    skipped) from the shared :class:`~fashionrag.retrieval.retriever.Retriever`."""
    if k <= 0:
        return []
    if retriever is None:
        raise InvalidInputError("retrieval needs an index: pass --index DIR (or garments explicitly, or --k 0)")
    hits = retriever.garments(text, category, k, exclude_ids=exclude_ids, filters=filters, spare=spare)
    out: list[tuple[EditGarment, Image.Image]] = []
    for hit in hits:
        path = (hit.metadata or {}).get("image_path")
        try:
            img = load_image(path) if path else None
        except InvalidImageError as exc:
            log.warning("skipping retrieved garment %s: %s", hit.id, exc)
            img = None
        if img is None:
            continue
        out.append((garment_from_hit(hit), img))
        if len(out) == k:
            break
    if not out:
        raise CatalogError(f"no readable {category} garment left for this request "
                           f"({len(hits)} found after excluding {len(set(exclude_ids))} ids); widen the filters or index more garments")
    return out


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """``x.png`` -> (x.png, x.mask.png, x.sheet.png)."""
    path = Path(out)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise InvalidInputError(f"--out {out}: use an image file name (.png, .jpg, .webp)")
    stem = path.with_suffix("")
    return path, Path(f"{stem}.mask.png"), Path(f"{stem}.sheet.png")


def save_edit(result: EditResult, out: str | Path, *, sheet_height: int = 256) -> EditResult:
    """Write the edited image, its mask and its sheet beside ``out``; return the result with the paths filled."""
    from ..reports.edit_sheet import edit_sheet

    out_path, mask_path, sheet_path = output_paths(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(out_path)
    result.mask_image.save(mask_path)
    edit_sheet(result, sheet_height).save(sheet_path)
    return result.model_copy(update={"output": str(out_path), "mask": str(mask_path), "sheet": str(sheet_path)})
