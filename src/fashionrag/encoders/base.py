"""The encoder interface and its registry."""

from __future__ import annotations

import abc
from typing import Sequence

import numpy as np

from ..core.errors import ModelUnavailableError
from ..core.images import ImageInput
from ..core.registry import Registry


class Encoder(abc.ABC):
    """Maps images and texts into one space. Outputs are L2-normalised float32 arrays of shape (n, dim)."""

    #: Registry name that re-creates this encoder (recorded in index manifests).
    name: str
    #: Embedding dimension.
    dim: int

    @abc.abstractmethod
    def encode_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed images (paths, bytes, PIL images or HxWx3 arrays)."""

    @abc.abstractmethod
    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Embed texts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


#: name prefix -> factory(spec, **kwargs). "hf:org/model" is dispatched on "hf", "lite" on "lite".
ENCODERS: Registry[Encoder] = Registry(
    "encoder",
    builtins=("fashionrag.encoders.hf", "fashionrag.encoders.lite", "fashionrag.encoders.lite2", "fashionrag.encoders.openclip", "fashionrag.encoders.tiny"),
    error=ModelUnavailableError,
    hint="(use 'hf:<model id or dir>' or 'openclip:<model id or dir>' for hub models)",
)
register = ENCODERS.register


def available() -> list[str]:
    return ENCODERS.names()


def create(name: str, *, device: str | None = None, **kwargs) -> Encoder:
    """Create an encoder from its registry name.

    ``lite`` (default, offline), ``tiny`` / ``tiny-clip`` / ``tiny-siglip`` / ``tiny-openclip`` (random,
    tests), ``hf:<hub id or local dir>`` (transformers CLIP or SigLIP), ``openclip:<hf-hub id or dir>``.
    """
    prefix, _, spec = name.partition(":")
    return ENCODERS.get(prefix)(spec or prefix, device=device, **kwargs)
