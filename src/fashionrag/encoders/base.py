"""The encoder interface and its registry."""

from __future__ import annotations

import abc
from typing import Callable, Sequence

import numpy as np

from ..core.errors import ModelUnavailableError
from ..core.images import ImageInput


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


# name prefix -> factory(spec, **kwargs). "hf:org/model" is dispatched on "hf", "lite" on "lite".
_REGISTRY: dict[str, Callable[..., Encoder]] = {}


def register(prefix: str) -> Callable[[Callable[..., Encoder]], Callable[..., Encoder]]:
    def deco(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        _REGISTRY[prefix] = factory
        return factory

    return deco


def _load_builtin_backends() -> None:
    # Imported lazily so that `import fashionrag` stays light.
    from . import hf, lite, openclip, tiny  # noqa: F401


def available() -> list[str]:
    _load_builtin_backends()
    return sorted(_REGISTRY)


def create(name: str, *, device: str | None = None, **kwargs) -> Encoder:
    """Create an encoder from its registry name.

    ``lite`` (default, offline), ``tiny`` / ``tiny-clip`` / ``tiny-siglip`` / ``tiny-openclip`` (random,
    tests), ``hf:<hub id or local dir>`` (transformers CLIP or SigLIP), ``openclip:<hf-hub id or dir>``.
    """
    _load_builtin_backends()
    prefix, _, spec = name.partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None:
        raise ModelUnavailableError(
            f"unknown encoder {name!r}; known: {', '.join(sorted(_REGISTRY))} "
            "(use 'hf:<model id or dir>' or 'openclip:<model id or dir>' for hub models)"
        )
    return factory(spec or prefix, device=device, **kwargs)
