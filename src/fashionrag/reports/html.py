"""Self-contained HTML pages (thumbnails inlined as base64) for demo and contact-sheet output."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..core.errors import InvalidImageError
from ..core.images import ImageInput, load_image


def jpeg_data_uri(img, max_side: int, quality: int = 80) -> str:
    """A PIL image shrunk to ``max_side`` as an inline JPEG data URI (pages stay self-contained)."""
    img = img.copy()
    img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def thumbnail_data_uri(image: ImageInput, size: int = 128) -> str:
    """A small JPEG data URI of an image, or an empty string when it cannot be read."""
    try:
        return jpeg_data_uri(load_image(image), size)
    except InvalidImageError:
        return ""


@dataclass
class Tile:
    image: ImageInput | None
    caption: str = ""
    detail: str = ""


@dataclass
class Section:
    heading: str
    query: Tile | None = None
    tiles: list[Tile] = field(default_factory=list)
    note: str = ""


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px} h2{font-size:16px;margin:24px 0 8px}
.row{display:flex;gap:10px;align-items:flex-start;flex-wrap:wrap}
.tile{width:140px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;font-size:11px}
.tile img{width:128px;height:128px;object-fit:contain;display:block;margin:auto}
.query{border:2px solid #2a6df4}
.note{color:#a33;font-size:13px}
.detail{color:#666}
"""


def _tile(t: Tile, cls: str = "tile") -> str:
    uri = thumbnail_data_uri(t.image) if t.image is not None else ""
    img = f'<img src="{uri}" alt="">' if uri else ""
    return (
        f'<div class="{cls}">{img}<div>{html.escape(t.caption)}</div>'
        f'<div class="detail">{html.escape(t.detail)}</div></div>'
    )


def render_page(title: str, sections: Sequence[Section], intro: str = "") -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p class='note'>{html.escape(intro)}</p>")
    for s in sections:
        parts.append(f"<h2>{html.escape(s.heading)}</h2>")
        if s.note:
            parts.append(f"<p class='note'>{html.escape(s.note)}</p>")
        parts.append("<div class='row'>")
        if s.query is not None:
            parts.append(_tile(s.query, "tile query"))
        parts.extend(_tile(t) for t in s.tiles)
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(path: str | Path, title: str, sections: Sequence[Section], intro: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_page(title, sections, intro), encoding="utf-8")
    tmp.replace(path)
    return path
