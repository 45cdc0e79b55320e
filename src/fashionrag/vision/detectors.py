"""The garment-detector registry (light to import: the backends load on first use).

``create_detector("pose")`` is the offline default (MediaPipe pose + selfie segmentation); ``yolo`` wraps
Ultralytics weights. A new backend is one file that calls ``DETECTORS.register(name, factory)`` plus its module
name in ``builtins`` below.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core.registry import Registry

#: Detector names -> factory(**options). The built-in names are registered here with factories that import their
#: backend when called, so listing them (the CLI's choices) loads neither OpenCV nor the models, and works even
#: where the vision extra is not installed.
DETECTORS: Registry = Registry("garment detector")


@DETECTORS.register("pose")
def _pose(**kwargs: Any):
    from .garments import PoseGarmentDetector

    return PoseGarmentDetector(**kwargs)


@DETECTORS.register("yolo")
def _yolo(**kwargs: Any):
    from .garments import _create_yolo

    return _create_yolo(**kwargs)


def register_detector(name: str, factory: Callable[..., Any]) -> None:
    DETECTORS.register(name, factory)


def create_detector(name: str = "pose", **kwargs: Any):
    """A detector backend by name: ``pose`` (default, offline) or ``yolo`` (Ultralytics weights)."""
    return DETECTORS.create(name, **kwargs)


def available_detectors() -> list[str]:
    return DETECTORS.names()
