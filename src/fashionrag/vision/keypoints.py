"""The one keypoint type: OpenPose-18 (COCO order) body points, shared by inference, editor training and vision.

A keypoint set is an ``(18, 3)`` float32 array of rows ``(x, y, confidence)`` in pixels of the image it belongs
to. **A missing point is the all-zero row** ``(0, 0, 0)`` — OpenPose's own convention — and presence is
``confidence > 0``. Every reader below (MediaPipe landmarks, Dress Code keypoint files, a user's JSON list)
returns this form, so nothing downstream has to know where the points came from.

- :func:`from_mediapipe`: MediaPipe Pose's 33 landmarks -> OpenPose-18 (the neck is the shoulders' midpoint);
- :func:`from_dresscode`: Dress Code ``keypoints/*_2.json`` rows ``(x, y, score, id)`` on its 384x512 grid;
- :func:`parse_keypoints`: a user's JSON (18 ``[x, y(, conf)]`` points, or either file format above).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.errors import InvalidInputError

#: OpenPose-18 (COCO) keypoint order, as in Dress Code's keypoint files.
OPENPOSE18_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
NUM_KEYPOINTS = 18
NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(8)
R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = range(8, 14)

#: OpenPose index -> MediaPipe Pose (33 landmarks) index; the neck (1) has none: it is the shoulders' midpoint.
MEDIAPIPE_TO_OPENPOSE18 = {
    0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25, 13: 27,
    14: 5, 15: 2, 16: 8, 17: 7,
}

#: Dress Code keypoints are stored on a 384x512 (w x h) grid.
DRESSCODE_GRID = (384, 512)


def empty() -> np.ndarray:
    """A keypoint set with every point missing."""
    return np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)


def present(kp: np.ndarray) -> np.ndarray:
    """(18,) bool: which points exist."""
    return np.asarray(kp)[:, 2] > 0


def validate(kp: Any, label: str = "keypoints") -> np.ndarray:
    """An (18, 2) or (18, 3) array as the canonical (18, 3) form (2 columns: a point is present when x > 0 or
    y > 0, OpenPose's rule; negative coordinates also mean missing)."""
    arr = np.asarray(kp, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != NUM_KEYPOINTS or arr.shape[1] not in (2, 3):
        raise InvalidInputError(f"{label} must be (18, 2) or (18, 3) OpenPose-COCO points, got shape {arr.shape}")
    if arr.shape[1] == 2:
        arr = np.concatenate([arr, np.ones((NUM_KEYPOINTS, 1), np.float32)], 1)
    out = arr.copy()
    missing = (out[:, 2] <= 0) | (out[:, 0] < 0) | (out[:, 1] < 0) | ((out[:, 0] <= 0) & (out[:, 1] <= 0))
    out[missing] = 0.0
    return out


def from_mediapipe(
    landmarks: np.ndarray, *, image_size: tuple[int, int] | None = None, min_visibility: float = 0.5,
    bounds: tuple[int, int] | None = None, margin: float = 0.02,
) -> np.ndarray:
    """Map MediaPipe's 33 pose landmarks to OpenPose-18 keypoints.

    ``landmarks``: (33, 3) / (33, 4) rows ``(x, y, [z,] visibility)``, or (33, 5) ``(x, y, z, visibility,
    presence)`` as :class:`fashionrag.vision.pose.Pose` holds them (the smaller of the two counts). With
    ``image_size=(w, h)`` x and y are MediaPipe's normalised [0, 1] coordinates and are scaled to pixels;
    otherwise they are pixels already. Landmarks below ``min_visibility`` are missing, and so are those outside
    ``bounds=(w, h)`` (with a ``margin`` share of slack) when given. The neck exists only when both shoulders do.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 33 or lm.shape[1] not in (3, 4, 5):
        raise InvalidInputError(f"expected (33, 3|4|5) MediaPipe landmarks, got shape {lm.shape}")
    xy = lm[:, :2].copy()
    vis = np.minimum(lm[:, 3], lm[:, 4]) if lm.shape[1] == 5 else lm[:, -1]
    if image_size is not None:
        xy *= np.asarray(image_size, dtype=np.float64)
    ok = vis >= min_visibility
    if bounds is not None:
        w, h = bounds
        ok &= (xy[:, 0] >= -margin * w) & (xy[:, 0] <= (1 + margin) * w)
        ok &= (xy[:, 1] >= -margin * h) & (xy[:, 1] <= (1 + margin) * h)
    out = empty()
    for op, mp in MEDIAPIPE_TO_OPENPOSE18.items():
        if ok[mp]:
            out[op] = (xy[mp, 0], xy[mp, 1], vis[mp])
    if out[R_SHOULDER, 2] > 0 and out[L_SHOULDER, 2] > 0:
        out[NECK, :2] = (out[R_SHOULDER, :2] + out[L_SHOULDER, :2]) / 2
        out[NECK, 2] = min(out[R_SHOULDER, 2], out[L_SHOULDER, 2])
    return out


def from_dresscode(rows: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """Dress Code keypoint rows ``(x, y, score, id)`` (or ``(x, y[, score])``) on the 384x512 grid -> the
    canonical form, scaled to ``size=(w, h)`` when given. A point is present when x > 0 or y > 0 — the rule the
    reference's heatmaps use (``np.any(kpoint > 0)``); missing points are stored as (0, 0) or (-1, -1)."""
    arr = np.asarray(rows, dtype=np.float32)
    if arr.ndim == 1 and arr.size in (36, 54, 72):
        arr = arr.reshape(NUM_KEYPOINTS, -1)
    if arr.ndim != 2 or arr.shape[0] < NUM_KEYPOINTS or arr.shape[1] < 2:
        raise InvalidInputError(f"expected 18 Dress Code keypoints [x, y, score, id], got shape {arr.shape}")
    arr = arr[:NUM_KEYPOINTS]
    out = empty()
    here = (arr[:, 0] > 0) | (arr[:, 1] > 0)
    sx, sy = (1.0, 1.0) if size is None else (size[0] / DRESSCODE_GRID[0], size[1] / DRESSCODE_GRID[1])
    out[here, 0] = arr[here, 0] * sx
    out[here, 1] = arr[here, 1] * sy
    out[here, 2] = 1.0  # Dress Code's score column is not a calibrated confidence
    return out


def parse_keypoints(data: Any, label: str = "keypoints") -> np.ndarray:
    """A decoded JSON value: 18 ``[x, y(, conf)]`` points, a flat list of 36/54/72 numbers, or a Dress Code /
    OpenPose file (``{"keypoints": ...}`` / ``{"pose_keypoints_2d": ...}``)."""
    if isinstance(data, dict):
        if "keypoints" in data:
            return from_dresscode(data["keypoints"])
        if "pose_keypoints_2d" in data:
            return validate(np.asarray(data["pose_keypoints_2d"], np.float32).reshape(-1, 3)[:NUM_KEYPOINTS], label)
        raise InvalidInputError(f"{label}: expected a list of 18 points or a file with a 'keypoints' entry")
    try:
        arr = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{label}: keypoints must be numbers ({exc})") from exc
    if arr.ndim == 1 and arr.size in (36, 54, 72):
        arr = arr.reshape(NUM_KEYPOINTS, -1)
    if arr.ndim == 2 and arr.shape[0] == NUM_KEYPOINTS and arr.shape[1] == 4:
        return from_dresscode(arr)
    if arr.ndim != 2 or arr.shape[0] != NUM_KEYPOINTS or arr.shape[1] < 2:
        raise InvalidInputError(f"{label}: expected 18 keypoints [x, y(, conf)], got shape {arr.shape}")
    return validate(arr[:, :3], label)


def read_keypoints(path: str | Path) -> np.ndarray:
    """:func:`parse_keypoints` of a JSON file, with a one-line error naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: cannot read keypoints JSON ({exc})") from exc
    return parse_keypoints(data, label=str(path))


def point(kp: np.ndarray, i: int) -> Optional[np.ndarray]:
    """The (x, y) of point ``i``, or None when it is missing."""
    return kp[i, :2] if kp[i, 2] > 0 else None
