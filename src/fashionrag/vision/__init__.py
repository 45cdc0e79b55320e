"""Vision components: pose, person/product segmentation and garment detectors.

``create_detector("pose")`` is the entry point; the models are MediaPipe's ``.tflite`` files run
with LiteRT (see :mod:`.litert`), loaded on first use.
"""

from .garments import (
    GarmentDetector,
    PoseGarmentDetector,
    available_detectors,
    create_detector,
    decode_mask,
    encode_mask,
    garment_mask,
    register_detector,
)
from .pose import OPENPOSE18_NAMES, Pose, PoseEstimator

__all__ = [
    "OPENPOSE18_NAMES",
    "Pose",
    "PoseEstimator",
    "GarmentDetector",
    "PoseGarmentDetector",
    "available_detectors",
    "create_detector",
    "decode_mask",
    "encode_mask",
    "garment_mask",
    "register_detector",
]
