"""Uploaded images: size-capped, content-sniffed (never trusting the file name or the declared type) and
pixel-capped on the event loop, before decoding; then decoded in a worker by the one safe loader
(:func:`fashionrag.core.images.load_image`)."""

from __future__ import annotations

import io
import warnings
from typing import Optional

from fastapi import UploadFile
from PIL import Image

from ..core.images import load_image
from .errors import ApiError

#: Leading bytes of the formats the service accepts.
_SIGNATURES: list[tuple[str, bytes, int]] = [
    ("jpeg", b"\xff\xd8\xff", 0),
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("gif", b"GIF87a", 0),
    ("gif", b"GIF89a", 0),
    ("webp", b"WEBP", 8),  # RIFF....WEBP
    ("bmp", b"BM", 0),
    ("tiff", b"II*\x00", 0),
    ("tiff", b"MM\x00*", 0),
]
ACCEPTED = sorted({name for name, _, _ in _SIGNATURES})


def sniff(data: bytes) -> Optional[str]:
    """The image format the bytes really are, or None."""
    for name, magic, offset in _SIGNATURES:
        if data[offset: offset + len(magic)] == magic and (name != "webp" or data[:4] == b"RIFF"):
            return name
    return None


def check_image_bytes(data: bytes, *, max_bytes: int, max_pixels: int, field: str = "image") -> bytes:
    """The cheap checks, run before a request takes a work slot: 413 too big (bytes, or pixels read from the
    header before decoding a single pixel), 415 not an image, 422 empty. Returns ``data``."""
    if len(data) > max_bytes:
        raise ApiError(413, f"{field}: the upload is larger than {max_bytes:,} bytes", code="too_large")
    if not data:
        raise ApiError(422, f"{field}: the upload is empty", code="invalid_image")
    kind = sniff(data)
    if kind is None:
        raise ApiError(415, f"{field}: not an image (accepted: {', '.join(ACCEPTED)}); the content is checked, not "
                       "the file name or the declared type", code="unsupported_media_type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, h = Image.open(io.BytesIO(data)).size
    except Image.DecompressionBombError:  # PIL's own limit (far above ours) tripped on the header
        raise ApiError(413, f"{field}: the image has more pixels than the limit of {max_pixels:,}", code="too_large")
    except Exception:
        w = h = 0  # the decoder will name the problem
    if w * h > max_pixels:
        raise ApiError(413, f"{field}: {w}x{h} = {w * h:,} pixels is more than the limit of {max_pixels:,}",
                       code="too_large")
    return data


def decode_image(data: bytes, *, max_pixels: int, field: str = "image") -> Image.Image:
    """The checked bytes as an upright RGB image (CPU work: call it in a worker thread, not on the event loop);
    a truncated or corrupt file is an InvalidImageError (422)."""
    return load_image(data, max_pixels=max_pixels, name=field)


async def read_image(upload: UploadFile, *, max_bytes: int, max_pixels: int, field: str = "image") -> bytes:
    """The upload's bytes, after the cheap checks (see :func:`check_image_bytes`)."""
    data = await upload.read(max_bytes + 1)
    return check_image_bytes(data, max_bytes=max_bytes, max_pixels=max_pixels, field=field)
