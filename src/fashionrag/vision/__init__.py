"""Vision components: pose, person/product segmentation, garment detectors and colour science.

``create_detector("pose")`` is the entry point; the models are MediaPipe's ``.tflite`` files run
with LiteRT (see :mod:`.litert`), loaded on first use. Names below are imported lazily, so importing
``fashionrag.vision.detectors`` (the CLI's choices) does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "GarmentDetector": "garments",
    "PoseGarmentDetector": "garments",
    "decode_mask": "garments",
    "encode_mask": "garments",
    "garment_mask": "garments",
    "available_detectors": "detectors",
    "create_detector": "detectors",
    "register_detector": "detectors",
    "DETECTORS": "detectors",
    "OPENPOSE18_NAMES": "pose",
    "Pose": "pose",
    "PoseEstimator": "pose",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
