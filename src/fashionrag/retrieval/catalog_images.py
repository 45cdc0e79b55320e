"""A plain folder of images as a catalog: id = path relative to the folder, without the extension."""

from __future__ import annotations

from pathlib import Path

from ..core import vocabulary
from ..core.schemas import Product


def read_image_folder(path: str | Path) -> list[Product]:
    """Every image under ``path`` (recursively), sorted by path; the title comes from the file name."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and vocabulary.is_image_file(p.name))
    return [
        Product(id=f.relative_to(path).with_suffix("").as_posix(), image_path=str(f.resolve()),
                title=f.stem.replace("_", " ").replace("-", " "))
        for f in files
    ]
