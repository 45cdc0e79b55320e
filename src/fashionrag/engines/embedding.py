"""The batch-embedding worker: image paths in, L2-normalised vectors out, one encoder per worker.

>>> make_worker = image_embedder(encoder, max_pixels=None)
>>> for row in engines.create("ray").run([{"key": sha, "path": p}, ...], make_worker): ...

The factory carries the encoder itself for the local engine (no second copy) and only its *name* to a Ray actor,
which loads the same encoder once; the actor checks that what it loaded has the driver's fingerprint (the same
weights), so a cluster node with other weights fails loudly instead of mixing embeddings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import InvalidImageError, ModelUnavailableError
from ..core.images import load_image
from ..encoders.base import Encoder
from .base import ResultRow


def _fingerprint(encoder: Encoder) -> str:
    return str(getattr(encoder, "fingerprint", None) or encoder.name)


class EncoderFactory:
    """Picklable: the given encoder in this process; the same named encoder, re-created, anywhere else."""

    def __init__(self, encoder: Encoder, device: str | None = None):
        self.name = encoder.name
        self.fingerprint = _fingerprint(encoder)
        self.device = device
        self._encoder: Encoder | None = encoder

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_encoder": None}

    def __call__(self) -> Encoder:
        if self._encoder is not None:
            return self._encoder
        from .. import encoders

        enc = encoders.create(self.name, device=self.device)
        if _fingerprint(enc) != self.fingerprint:
            raise ModelUnavailableError(
                f"this worker's encoder {self.name!r} has fingerprint {_fingerprint(enc)!r}, the driver's has "
                f"{self.fingerprint!r}: install the same weights on every node"
            )
        return enc


class ImageEmbedder:
    """Worker: ``[{"key", "path"[, "name"]}, ...]`` -> ``[{"key", "error", "data": float32 bytes}, ...]``."""

    def __init__(self, encoder_factory: EncoderFactory, max_pixels: int | None = None, batch_size: int = 64):
        self.encoder = encoder_factory()
        self.max_pixels = max_pixels
        self.batch_size = batch_size

    def __call__(self, rows: list[dict]) -> list[ResultRow]:
        out: list[ResultRow] = []
        images, keys = [], []
        for row in rows:
            try:
                images.append(load_image(row["path"], max_pixels=self.max_pixels))
                keys.append(str(row["key"]))
            except InvalidImageError as exc:  # reported and skipped, as in every batch
                message = str(exc)
                if row.get("name"):  # the path as the caller knows it, not the absolute one we read
                    message = message.replace(str(row["path"]), str(row["name"]))
                out.append(ResultRow(key=str(row["key"]), error=message, data=b""))
        if images:
            vecs = np.asarray(self.encoder.encode_images(images, batch_size=self.batch_size), dtype=np.float32)
            out.extend(ResultRow(key=k, error="", data=v.tobytes()) for k, v in zip(keys, vecs))
        return out


class _EmbedderFactory:
    """A picklable ``() -> ImageEmbedder`` (a class, not a closure, so Ray ships just its fields)."""

    def __init__(self, encoder: Encoder, max_pixels: int | None, batch_size: int, device: str | None):
        self.encoder = EncoderFactory(encoder, device=device)
        self.max_pixels, self.batch_size = max_pixels, batch_size

    def __call__(self) -> ImageEmbedder:
        return ImageEmbedder(self.encoder, self.max_pixels, self.batch_size)


def image_embedder(encoder: Encoder, *, max_pixels: int | None = None, batch_size: int = 64,
                   device: str | None = None) -> _EmbedderFactory:
    """The worker factory of an embedding job with ``encoder`` (``device``: where remote workers put it)."""
    return _EmbedderFactory(encoder, max_pixels, batch_size, device)


def decode_vector(data: bytes, dim: int) -> np.ndarray:
    vec = np.frombuffer(data, dtype=np.float32)
    if vec.shape[0] != dim:
        raise ModelUnavailableError(f"a worker returned a {vec.shape[0]}-d vector, the encoder gives {dim}-d")
    return vec
