"""Caption contact sheets: photo with garment boxes and masks, colour swatches, evidence, caption, hashtags."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageDraw

from ..core.evidence import CaptionResult
from ..core.errors import InvalidImageError
from ..core.images import load_image
from .html import jpeg_data_uri

#: Overlay colour per region.
REGION_COLOURS = {
    "upper_body": (230, 60, 60),
    "lower_body": (40, 110, 230),
    "full_length": (160, 60, 200),
    "footwear": (30, 170, 90),
    "product": (240, 150, 20),
}


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The mask's border, ``width`` pixels wide (the pixels inside stay the photo's own colours)."""
    from PIL import ImageFilter

    m = Image.fromarray(mask.astype(np.uint8) * 255)
    size = 2 * max(1, width // 2) + 1
    outer = np.asarray(m.filter(ImageFilter.MaxFilter(size))) > 0
    inner = np.asarray(m.filter(ImageFilter.MinFilter(size))) > 0
    return outer & ~inner


def overlay(image_path: str, analysis=None, result: CaptionResult | None = None, max_side: int = 320) -> str:
    """The photo in its true colours with each garment's mask outlined and its box drawn, as a JPEG data URI.

    Without an analysis (a caption read back from a JSONL file) the boxes come from the result's evidence.
    Masks are outlined, never tinted: a tint would change the colour the swatch beside it names."""
    from ..vision.garments import garment_mask

    img = load_image(image_path).convert("RGB")
    base = np.asarray(img).copy()
    line = max(2, img.width // 150)
    boxes: list[tuple[str, tuple, str]] = []
    for a in getattr(analysis, "garments", None) or []:
        colour = REGION_COLOURS.get(a.garment.region, (250, 250, 0))
        mask = garment_mask(a.garment)
        if mask is not None and mask.shape == base.shape[:2] and mask.any():
            base[_outline(mask, line)] = colour
        boxes.append((a.garment.region, tuple(a.garment.box), a.evidence.article_type or "unknown"))
    if analysis is None and result is not None and result.evidence is not None:
        boxes = [(g.region, tuple(g.box), g.article_type or "unknown") for g in result.evidence.garments]
    out = Image.fromarray(base)
    draw = ImageDraw.Draw(out)
    for region, box, kind in boxes:
        colour = REGION_COLOURS.get(region, (250, 250, 0))
        draw.rectangle([float(v) for v in box], outline=colour, width=max(1, line // 2))
        draw.text((box[0] + 3, box[1] + 2), f"{region}: {kind}", fill=colour)
    return jpeg_data_uri(out, max_side, quality=82)


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f6f6;color:#222}
.card{display:flex;gap:16px;background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:12px 0}
.card img{max-width:320px;border-radius:4px}
.sw{display:inline-block;width:14px;height:14px;border:1px solid #999;vertical-align:middle;margin-right:4px}
table{border-collapse:collapse;font-size:12px} td,th{padding:2px 6px;border-bottom:1px solid #eee;text-align:left}
.tags{color:#2a6df4} .warn{color:#a33} .caption{font-size:15px;margin:6px 0}
"""


def card(image_path: str, result: CaptionResult, analysis=None) -> str:
    """One photo's card; ``analysis`` (masks) is optional: a caption read back from JSONL shows its boxes."""
    try:
        img = overlay(image_path, analysis, result)
    except InvalidImageError:  # the photo moved since it was captioned: the card still shows the text
        img = ""
    rows = []
    for g in (result.evidence.garments if result.evidence else []):
        sw = "".join(
            f'<span class="sw" style="background:{c.hex}"></span>{html.escape(c.name)} {c.share:.0%} ' for c in g.colours
        )
        rows.append(
            "<tr>" + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (g.region, f"{g.article_type or 'unknown'} ({g.article_confidence:.2f})", "", g.gender or "unknown",
                          g.fabric or "unknown", g.usage or "unknown", g.season or "unknown")
            ).replace("<td></td>", f"<td>{sw}</td>", 1) + "</tr>"
        )
    table = (
        "<table><tr><th>region</th><th>type</th><th>colours</th><th>gender</th><th>fabric</th><th>usage</th>"
        "<th>season</th></tr>" + "".join(rows) + "</table>"
    ) if rows else "<p class='warn'>no garment found: nothing to caption</p>"
    notes = []
    if result.fallback_reason:
        notes.append(f"fallback: {result.fallback_reason}")
    if result.guard_report.violations:
        notes.append("guard: " + ", ".join(f"{v.kind} '{v.word}'" for v in result.guard_report.violations))
    note_html = "".join(f"<div class='warn'>{html.escape(n)}</div>" for n in notes)
    img_html = f'<img src="{img}" alt="">' if img else ""
    return (
        f"<div class='card'><div>{img_html}</div><div>"
        f"<div><b>{html.escape(Path(image_path).name)}</b> — writer {html.escape(result.used_writer)}, style "
        f"{html.escape(result.style)}</div><div class='caption'>{html.escape(result.caption)}</div>"
        f"<div class='tags'>{html.escape(' '.join(result.hashtags))}</div>{note_html}{table}</div></div>"
    )


def write_sheet(path: str | Path, cards: Iterable[str], title: str = "fashionrag captions") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(cards)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>",
        encoding="utf-8",
    )
    tmp.replace(path)
    return path
