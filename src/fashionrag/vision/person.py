"""Default person models as plain callables, for the editors: MediaPipe pose and selfie segmentation (LiteRT).

``default_pose_estimator()(rgb) -> (33, 5) landmarks of the best person, or None`` and
``default_person_segmenter()(rgb) -> (H, W) person probabilities``. They are loaded on first call of the
factory; a missing vision extra is a :class:`ModelUnavailableError` that says what to install.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..core.errors import ModelUnavailableError


def default_pose_estimator() -> Callable[[np.ndarray], Optional[np.ndarray]]:
    """MediaPipe pose -> the best person's (33, 5) landmarks (pixels), or None."""
    try:
        from .pose import PoseEstimator
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ModelUnavailableError(
            f"automatic keypoints need the vision extra (pip install 'fashionrag[vision]'): {exc}; or pass keypoints"
        ) from exc
    estimator = PoseEstimator()

    def estimate(rgb: np.ndarray) -> Optional[np.ndarray]:
        poses = estimator(rgb)
        return poses[0].landmarks if poses else None

    return estimate


def default_person_segmenter() -> Callable[[np.ndarray], np.ndarray]:
    """MediaPipe selfie segmentation: (H, W) person probabilities in 0..1."""
    try:
        from .segmentation import SelfieSegmenter
    except ImportError as exc:  # pragma: no cover
        raise ModelUnavailableError(f"segmentation masks need the vision extra (pip install 'fashionrag[vision]'): {exc}") from exc
    return SelfieSegmenter()
