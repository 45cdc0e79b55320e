"""The one device helper: which torch device and dtype a model runs on.

``None`` picks CUDA when available, else Apple's MPS, else the CPU; fp16 is used only on CUDA, where it is fast
and safe (CPU half precision is slow and lossy). torch is imported lazily so that importing this is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(device: "str | torch.device | None" = None) -> "torch.device":
    import torch

    if device is not None and str(device):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: "torch.device", fp16: bool = True) -> "torch.dtype":
    import torch

    return torch.float16 if fp16 and device.type == "cuda" else torch.float32
