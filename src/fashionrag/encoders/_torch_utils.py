"""Helpers shared by the torch-based encoder backends (hf, openclip, tiny).

Kept apart so each backend file only holds what is specific to its model family: device choice,
batching with a progress bar, image loading that names the bad file, hub/offline checks and turning
model outputs into L2-normalised float32 numpy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..core.device import pick_device, pick_dtype  # noqa: F401 - the one device helper, re-exported for the backends
from ..core.images import ImageInput, load_image
from .base import l2_normalize

if TYPE_CHECKING:  # torch is imported lazily so `encoders.available()` stays light
    import torch
    from PIL import Image

_TRUE = {"1", "true", "yes", "on"}


def batches(items: Sequence[Any], batch_size: int, *, progress: bool, desc: str) -> Iterator[tuple[int, Sequence[Any]]]:
    """Yield ``(start, chunk)`` pairs, advancing an optional tqdm bar by the chunk size."""
    if batch_size < 1:
        from ..core.errors import InvalidInputError

        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    with tqdm(total=len(items), desc=desc, disable=not progress, unit="item") as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield start, chunk
            bar.update(len(chunk))


def load_batch(images: Sequence[ImageInput], start: int) -> list["Image.Image"]:
    """Load images as RGB PIL; a bad one raises InvalidImageError naming the file (or its batch index)."""
    out = []
    for i, img in enumerate(images):
        label = None if isinstance(img, (str, os.PathLike)) else f"<image #{start + i}>"
        out.append(load_image(img, name=label))
    return out


def features_to_numpy(out: Any) -> np.ndarray:
    """Model features (a tensor, or a transformers output with ``pooler_output``) -> normalised float32."""
    tensor = getattr(out, "pooler_output", None)
    if tensor is None:
        tensor = out[0] if isinstance(out, (tuple, list)) else out
    return l2_normalize(tensor.detach().float().cpu().numpy())


def empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


def hub_offline() -> bool:
    """True when the user asked for no network (read at call time, not at import)."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_path(spec: str) -> bool:
    """A spec that names a local directory (existing, or written the way paths are)."""
    return Path(spec).expanduser().exists() or spec.startswith(("/", "./", "../", "~", "\\")) or (
        len(spec) > 1 and spec[1] == ":"  # Windows drive
    )


def hub_hint(prefix: str) -> str:
    """The 'what to do' part of a ModelUnavailableError for a hub model."""
    return (
        "connect to the internet and unset HF_HUB_OFFLINE to download it once (it is cached afterwards), "
        f"or pass a local directory: {prefix}:/path/to/model"
    )
