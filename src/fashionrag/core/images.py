"""Safe image loading: one place that turns a path or bytes into an RGB PIL image.

Handles EXIF orientation, 16-bit / CMYK / palette / alpha / grayscale modes, truncated files and
decompression bombs (refused above a configurable pixel limit) and reports every failure as an
:class:`InvalidImageError` that names the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

#: Default pixel limit (width*height). 64 MP covers any camera photo; override with the
#: FASHIONRAG_MAX_PIXELS environment variable or the ``max_pixels`` argument.
DEFAULT_MAX_PIXELS = 64_000_000


#: Shortest side (px) below which a photo is refused by the command line: a 1x1 or 8x8 image holds nothing to
#: retrieve or describe, yet it would get confident-looking hits and captions. Library calls have no minimum
#: unless they ask (``min_side=``) or run inside :func:`minimum_side`; FASHIONRAG_MIN_SIDE overrides both.
CLI_MIN_SIDE = 32
_min_side = 0


def min_side_default() -> int:
    value = os.environ.get("FASHIONRAG_MIN_SIDE")
    if value:
        try:
            return int(value)
        except ValueError as exc:
            raise InvalidImageError(f"FASHIONRAG_MIN_SIDE must be an integer, got {value!r}") from exc
    return _min_side


@contextmanager
def minimum_side(pixels: int):
    """Within the block, :func:`load_image` refuses images whose shorter side is below ``pixels`` (the CLI
    wraps every command in ``minimum_side(CLI_MIN_SIDE)``); the previous default comes back afterwards."""
    global _min_side
    previous, _min_side = _min_side, int(pixels)
    try:
        yield
    finally:
        _min_side = previous


def max_pixels_default() -> int:
    value = os.environ.get("FASHIONRAG_MAX_PIXELS")
    if value:
        try:
            return int(value)
        except ValueError as exc:  # pragma: no cover - trivial
            raise InvalidImageError(f"FASHIONRAG_MAX_PIXELS must be an integer, got {value!r}") from exc
    return DEFAULT_MAX_PIXELS


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, compositing transparency over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0.0
        scale = 255.0 / hi if hi > 255 else 1.0
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        img = Image.fromarray(((arr - lo) / span * 255).astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def load_image(source: ImageInput, *, max_pixels: int | None = None, name: str | None = None,
               min_side: int | None = None) -> Image.Image:
    """Open ``source`` as an upright 8-bit RGB image.

    Raises :class:`InvalidImageError` (naming the file) for anything that is not a readable image,
    for images whose pixel count exceeds ``max_pixels``, and for images whose shorter side is below ``min_side``
    (default :func:`min_side_default`: none for library calls, :data:`CLI_MIN_SIDE` on the command line).
    """
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    smallest = min_side_default() if min_side is None else int(min_side)
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<image>")

    if isinstance(source, Image.Image):
        img = source
        _check_dimensions(img.size, limit, label, smallest)
        return _to_rgb(ImageOps.exif_transpose(img) or img)
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise InvalidImageError(f"{label}: expected an HxWx3 array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        _check_dimensions((arr.shape[1], arr.shape[0]), limit, label, smallest)
        return _to_rgb(Image.fromarray(arr))

    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidImageError(f"{label}: file not found")
        if path.is_dir():
            raise InvalidImageError(f"{label}: is a directory, not an image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidImageError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise InvalidImageError(f"{label}: empty file")

    # PIL's own bomb check uses a global; we do our own with the configured limit instead.
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_dimensions(img.size, limit, label, smallest)
            img.load()  # decode now so truncation is detected here, not later
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
    except InvalidImageError:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"{label}: not a recognised image format (is it really an image?)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"{label}: corrupt or truncated image ({exc})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def _check_dimensions(size: tuple[int, int], limit: int, label: str, min_side: int = 0) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise InvalidImageError(f"{label}: image has zero size {w}x{h}")
    if limit and w * h > limit:
        raise InvalidImageError(
            f"{label}: {w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} "
            "(if the image is genuine, raise the limit with --max-pixels N, or FASHIONRAG_MAX_PIXELS=N outside "
            "the command line)"
        )
    if min_side and min(w, h) < min_side:
        raise InvalidImageError(
            f"{label}: {w}x{h} is too small to retrieve or describe anything (shorter side below {min_side} px); "
            "use a larger photo, or set FASHIONRAG_MIN_SIDE=N to accept smaller images"
        )


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Content hash of a file, used as the embedding-cache key."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()
