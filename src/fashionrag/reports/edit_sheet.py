"""Edit sheets: one row of images (photo | mask | pose | garments | result) and an HTML page of many edits."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image

from ..core.schemas import EditResult
from .html import jpeg_data_uri


def image_row(images: Sequence[Optional[Image.Image]], height: int = 256, gap: int = 4) -> Image.Image:
    """The images side by side, each scaled to ``height`` (None entries are skipped)."""
    tiles = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height))
             for im in images if im is not None]
    if not tiles:
        return Image.new("RGB", (1, height), (255, 255, 255))
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), (255, 255, 255))
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + gap
    return sheet


def edit_sheet(result: EditResult, height: int = 256) -> Image.Image:
    """input | mask | pose | retrieved garments | result for one :class:`EditResult`."""
    mask = result.mask_image.convert("RGB") if result.mask_image is not None else None
    pose = result.pose_image if result.pose_source != "none" else None
    return image_row([result.input_image, mask, pose, *result.garment_images, result.image], height)


def edits_html(rows: Sequence[tuple[str, EditResult]], title: str = "fashionrag edits", height: int = 220) -> str:
    """A self-contained page: per edit a caption line (label, mode, garment used) and its sheet."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:16px}figure{margin:0 0 18px}img{max-width:100%}"
             "figcaption{font-size:13px;color:#333;margin-bottom:4px}</style>",
             f"<h1>{html.escape(title)}</h1>"]
    for label, res in rows:
        used = res.retrieved[0] if res.retrieved else None
        desc = f"{label} — “{res.text}” — {res.profile or ''} {res.mode or ''}"
        if used is not None:
            desc += f" — garment {used.id} {used.title or ''}"
        img = edit_sheet(res, height)
        parts.append(f"<figure><figcaption>{html.escape(desc)}</figcaption>"
                     f"<img src='{jpeg_data_uri(img, max(img.size))}' alt='{html.escape(label)}'></figure>")
    return "\n".join(parts)


def write_edits_html(path: str | Path, rows: Sequence[tuple[str, EditResult]], **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(edits_html(rows, **kw), encoding="utf-8")
    return path


def edits_grid(rows: Sequence[tuple[str, EditResult]], height: int = 160, columns: int = 2) -> Image.Image:
    """photo | garment used | result for many edits, in a grid (a PNG to look at)."""
    tiles = [image_row([r.input_image, r.garment_images[0] if r.garment_images else None, r.image], height)
             for _, r in rows]
    if not tiles:
        return Image.new("RGB", (1, 1), (255, 255, 255))
    tw = max(t.width for t in tiles)
    nrows = (len(tiles) + columns - 1) // columns
    grid = Image.new("RGB", (columns * (tw + 12), nrows * (height + 8)), (255, 255, 255))
    for i, t in enumerate(tiles):
        grid.paste(t, ((i % columns) * (tw + 12), (i // columns) * (height + 8)))
    return grid
