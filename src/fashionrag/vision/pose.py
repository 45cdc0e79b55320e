"""Body pose from one photo: MediaPipe's BlazePose detector + landmark model, run with LiteRT.

Pipeline (the same as MediaPipe's pose graph, written for still photos of several people):

1. the **pose detector** (SSD, 224x224, 2254 anchors) finds people and four keypoints each
   (mid-hip, a point giving body size and rotation, mid-shoulder, upper-body size);
2. each detection becomes a rotated square **ROI** (centre mid-hip, side 2.5x the hip->size-point
   distance, rotated so the body is upright);
3. the **landmark model** (256x256) turns the ROI into 33 landmarks (+2 auxiliary ones that give a
   refined ROI), a pose-presence score and a person segmentation of the ROI.

The detector is face-based, and catalog photos of trousers or skirts often show no face. When it
finds nobody we fall back to ROIs from the selfie-segmentation person mask (and the whole image),
refine each once from the auxiliary landmarks, and accept the pose only if the landmark model's
own presence score is high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from . import keypoints as _kp
from .keypoints import OPENPOSE18_NAMES  # noqa: F401 - re-exported (fashionrag.vision.OPENPOSE18_NAMES)
from .litert import TFLiteModel, load_model, model_path, pose_landmark_path

#: MediaPipe's 33 pose landmarks, in model order.
LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
LM = {name: i for i, name in enumerate(LANDMARK_NAMES)}



def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


@dataclass
class Roi:
    """A rotated square region of the image, in pixels (rotation in radians, clockwise on screen)."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    def crop_matrix(self, out: int) -> np.ndarray:
        """2x3 affine matrix mapping crop pixels (0..out) to image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / out
        return np.array(
            [[c * k, -s * k, self.cx - (c - s) * self.size / 2],
             [s * k, c * k, self.cy - (s + c) * self.size / 2]],
            dtype=np.float64,
        )


@dataclass
class Pose:
    """One person's pose, in image pixels.

    ``landmarks`` is (33, 5): x, y, z (relative depth, pixels), visibility, presence.
    ``mask`` is the landmark model's person segmentation (H, W) in 0..1 (None if not computed).
    """

    landmarks: np.ndarray
    score: float
    roi: Roi
    source: str
    mask: Optional[np.ndarray] = field(default=None, repr=False)

    def point(self, name: str) -> np.ndarray:
        return self.landmarks[LM[name], :2]

    def visible(self, name: str, image_size: tuple[int, int], threshold: float = 0.5, margin: float = 0.02) -> bool:
        """True when the landmark is predicted present, visible and inside the image."""
        w, h = image_size
        x, y, _, vis, pres = self.landmarks[LM[name]]
        inside = -margin * w <= x <= (1 + margin) * w and -margin * h <= y <= (1 + margin) * h
        return bool(inside and vis >= threshold and pres >= threshold)

    def upright(self, name: str) -> np.ndarray:
        """The landmark in the ROI's upright frame (pixels; y grows towards the feet), so anatomy
        checks work for people photographed sideways too."""
        c, s = math.cos(self.roi.rotation), math.sin(self.roi.rotation)
        d = self.landmarks[LM[name], :2] - np.array([self.roi.cx, self.roi.cy])
        return np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])

    def box(self) -> tuple[float, float, float, float]:
        pts = self.landmarks[:, :2]
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())

    def openpose18(self, image_size: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
        """(18, 3) OpenPose-COCO keypoints in the one convention of :mod:`fashionrag.vision.keypoints`
        (hidden or out-of-frame points are all-zero rows)."""
        return _kp.from_mediapipe(self.landmarks, min_visibility=threshold, bounds=image_size)


# ----------------------------------------------------------------------------- detector

def _ssd_anchors() -> np.ndarray:
    """Anchor centres of MediaPipe's pose detector (224 px, strides 8/16/32/32/32, fixed size).

    Layers that share a stride are merged; each layer contributes two anchors per cell (aspect 1.0
    plus the interpolated scale), so a cell has 2 anchors at stride 8 and 16 and 6 at stride 32.
    """
    rows = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = math.ceil(224 / stride)
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        rows.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(rows).astype(np.float32)


def _letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Fit ``image`` into a size x size square (zero border); returns tensor, scale, pad_x, pad_y."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py:py + nh, px:px + nw] = resized
    return out, scale, px, py


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, iou_threshold: float):
    """MediaPipe's 'weighted' NMS: overlapping detections are averaged, weighted by score."""
    order = np.argsort(-scores)
    keep = []
    remaining = order
    while remaining.size:
        best = remaining[0]
        b = boxes[best]
        others = boxes[remaining]
        ix0 = np.maximum(b[0], others[:, 0])
        iy0 = np.maximum(b[1], others[:, 1])
        ix1 = np.minimum(b[2], others[:, 2])
        iy1 = np.minimum(b[3], others[:, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        area = (b[2] - b[0]) * (b[3] - b[1])
        areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
        iou = inter / np.maximum(area + areas - inter, 1e-9)
        group = remaining[iou > iou_threshold]
        w = scores[group][:, None]
        keep.append((float(scores[best]), (boxes[group] * w).sum(0) / w.sum(), (extra[group] * w).sum(0) / w.sum()))
        remaining = remaining[iou <= iou_threshold]
    return keep


class PoseEstimator:
    """Find every person in a photo and their 33 landmarks (see module docstring).

    ``min_detection_score`` and ``min_presence`` follow MediaPipe's defaults (0.5); ROIs that do not
    come from the detector (the no-face fallback) must reach ``fallback_min_presence`` instead.
    """

    def __init__(
        self,
        complexity: str = "full",
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
        fallback_min_presence: float = 0.9,
        max_people: int = 4,
        num_threads: Optional[int] = None,
        refine: bool = True,
    ):
        self.detector: TFLiteModel = load_model(model_path("pose_detection"), num_threads)
        self.landmarker: TFLiteModel = load_model(pose_landmark_path(complexity), num_threads)
        self.num_threads = num_threads
        self.min_detection_score = min_detection_score
        self.min_presence = min_presence
        self.fallback_min_presence = fallback_min_presence
        self.max_people = max_people
        self.refine = refine
        self._anchors = _ssd_anchors()
        self._segmenter = None

    # -- detection ------------------------------------------------------------------------
    def detect_people(self, image: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """Detector pass: list of (score, box x0y0x1y1 px, keypoints (4, 2) px)."""
        h, w = image.shape[:2]
        square, scale, px, py = _letterbox(image, 224)
        raw_boxes, raw_scores = self.detector(square.astype(np.float32) / 127.5 - 1.0)
        raw = raw_boxes[0]
        scores = _sigmoid(np.clip(raw_scores[0, :, 0], -100, 100))
        idx = np.nonzero(scores >= self.min_detection_score)[0]
        if idx.size == 0:
            return []
        a = self._anchors[idx]
        r = raw[idx] / 224.0
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = r[:, 4:12].reshape(-1, 4, 2) + a[:, None, :]
        merged = _weighted_nms(boxes, scores[idx], kps.reshape(-1, 8), 0.3)
        people = []
        for score, box, kp in merged[: self.max_people]:
            # letterboxed unit square -> image pixels
            box_px = (box * 224 - np.array([px, py, px, py])) / scale
            kp_px = (kp.reshape(4, 2) * 224 - np.array([px, py])) / scale
            box_px = np.clip(box_px, 0, [w, h, w, h])
            people.append((score, box_px, kp_px))
        return people

    @staticmethod
    def roi_from_keypoints(centre: np.ndarray, scale_point: np.ndarray) -> Roi:
        """MediaPipe's alignment ROI: centre, side 2 x |centre->scale point| x 1.25, upright rotation."""
        dx, dy = scale_point[0] - centre[0], scale_point[1] - centre[1]
        size = 2.0 * math.hypot(dx, dy) * 1.25
        rotation = math.pi / 2 - math.atan2(-dy, dx)
        rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
        return Roi(float(centre[0]), float(centre[1]), max(size, 8.0), rotation)

    # -- landmarks ------------------------------------------------------------------------
    def landmarks_in(self, image: np.ndarray, roi: Roi, with_mask: bool = True):
        """Run the landmark model on one ROI: (landmarks (39, 5) px, presence, mask or None)."""
        h, w = image.shape[:2]
        m = roi.crop_matrix(256)
        crop = cv2.warpAffine(image, m, (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        outputs = self.landmarker(crop.astype(np.float32) / 255.0)
        raw_lm, flag, seg = outputs[0], outputs[1], outputs[2]
        presence = float(np.asarray(flag).ravel()[0])
        if presence < 0 or presence > 1:  # a logit, in case a model variant leaves the sigmoid out
            presence = float(_sigmoid(np.array(presence)))
        lm = raw_lm.reshape(39, 5).astype(np.float64)
        xy1 = np.concatenate([lm[:, :2], np.ones((39, 1))], axis=1)
        out = np.empty((39, 5), dtype=np.float32)
        out[:, :2] = xy1 @ m.T
        out[:, 2] = lm[:, 2] * roi.size / 256.0
        out[:, 3] = _sigmoid(lm[:, 3])
        out[:, 4] = _sigmoid(lm[:, 4])
        mask = None
        if with_mask:
            logits = cv2.warpAffine(seg[0, :, :, 0], m, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=-20.0)
            mask = _sigmoid(logits).astype(np.float32)
        return out, presence, mask

    def _pose_from_roi(self, image: np.ndarray, roi: Roi, source: str, threshold: float) -> Optional[Pose]:
        lm, presence, mask = self.landmarks_in(image, roi)
        if presence < threshold:
            return None
        return Pose(landmarks=lm[:33], score=presence, roi=roi, source=source, mask=mask)

    # -- the whole thing ------------------------------------------------------------------
    def __call__(self, image: np.ndarray, person_mask: Optional[np.ndarray] = None) -> list[Pose]:
        """All people in an RGB uint8 image, best first; ``person_mask`` feeds the no-face fallback."""
        h, w = image.shape[:2]
        if min(h, w) < 16:
            return []
        poses: list[Pose] = []
        for score, _box, kp in self.detect_people(image):
            roi = self.roi_from_keypoints(kp[0], kp[1])
            if abs(roi.rotation) > math.pi / 4 and score < 0.8:
                continue  # a sideways "person" must be a confident detection (shoes fire weakly)
            pose = self._pose_from_roi(image, roi, "detector", self.min_presence)
            if pose is not None and plausible_body(pose, (w, h)) and not _duplicate(pose, poses):
                poses.append(pose)
        if poses:
            return poses
        # No-face fallback: try each guessed ROI once (cheap, no mask), then refine the best one
        # from its own auxiliary landmarks and keep it only if it still looks like a body.
        rois = self._fallback_rois(image, person_mask)
        if not rois:
            return []
        tries = [(self.landmarks_in(image, roi, with_mask=False), roi) for roi in rois]
        tries.sort(key=lambda t: -t[0][1])
        for (lm, presence, _), roi in tries[:2]:
            if presence < self.min_presence:
                break
            candidates = [self.roi_from_keypoints(lm[33, :2], lm[34, :2]), roi] if self.refine else [roi]
            for candidate in candidates:
                pose = self._pose_from_roi(image, candidate, "fallback", self.fallback_min_presence)
                if pose is not None and plausible_legs(pose, (w, h)):
                    return [pose]
        return []

    def _fallback_rois(self, image: np.ndarray, person_mask: Optional[np.ndarray]) -> list[Roi]:
        """Guesses of where a face-less body is: the mask's box as a whole body, as legs seen from
        the waist down (hips near its top, so the ROI reaches far above the image), and the image."""
        h, w = image.shape[:2]
        rois = []
        if person_mask is not None and (person_mask > 0.5).mean() > 0.02:
            ys, xs = np.nonzero(person_mask > 0.5)
            x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
            bh, cx = float(y1 - y0), (x0 + x1) / 2
            if bh < 0.8 * (x1 - x0):  # wide objects (shoes, bags, folded clothes) are not standing legs
                return []
            rois.append(Roi(cx, (y0 + y1) / 2, max(bh, x1 - x0) * 1.25, 0.0))
            rois.append(Roi(cx, y0 + 0.05 * bh, 2.4 * bh, 0.0))
        else:
            rois.append(Roi(w / 2, h * 0.05, 2.4 * h, 0.0))
        rois.append(Roi(w / 2, h / 2, max(w, h) * 1.1, 0.0))
        return rois


def plausible_body(pose: Pose, image_size: tuple[int, int]) -> bool:
    """A person seen from the shoulders (:func:`plausible_upper`) or the legs (:func:`plausible_legs`)."""
    return plausible_upper(pose, image_size) or plausible_legs(pose, image_size)


def plausible_upper(pose: Pose, image_size: tuple[int, int]) -> bool:
    """Shoulders visible and wide enough for the ROI, nose above them, hips (if seen) well below.

    Guards against the detector firing on shoes and other products (their landmarks clump).
    """
    if not (pose.visible("left_shoulder", image_size) and pose.visible("right_shoulder", image_size)):
        return False
    ls, rs = pose.upright("left_shoulder"), pose.upright("right_shoulder")
    width = float(np.linalg.norm(ls - rs))
    if width < 0.1 * pose.roi.size:
        return False
    mid_y = (ls[1] + rs[1]) / 2
    # people measure 0.3..0.6 (nose height) and 1.3..1.6 (torso) shoulder widths; allow turned bodies
    if pose.visible("nose", image_size) and not 0.15 * width <= mid_y - pose.upright("nose")[1] <= 1.2 * width:
        return False
    if pose.visible("left_hip", image_size) and pose.visible("right_hip", image_size):
        hip_y = (pose.upright("left_hip")[1] + pose.upright("right_hip")[1]) / 2
        if not 0.8 * width <= hip_y - mid_y <= 3.0 * width:
            return False
    return True


def plausible_legs(pose: Pose, image_size: tuple[int, int]) -> bool:
    """Anatomy check for fallback poses: the presence score alone also fires on shoes and bags.

    Both hips and at least one knee must be visible, knees clearly below hips (thigh longer than
    0.8x the hip width and 12% of the image height), and visible ankles below the knees.
    """
    w, h = image_size
    if not (pose.visible("left_hip", image_size) and pose.visible("right_hip", image_size)):
        return False
    hip_l, hip_r = pose.upright("left_hip"), pose.upright("right_hip")
    hip_y = (hip_l[1] + hip_r[1]) / 2
    hip_width = float(np.linalg.norm(hip_l - hip_r))
    ok = False
    for side in ("left", "right"):
        if not pose.visible(f"{side}_knee", image_size):
            continue
        knee = pose.upright(f"{side}_knee")
        thigh = knee[1] - hip_y
        if thigh < max(0.8 * hip_width, 0.12 * h):
            return False
        if pose.visible(f"{side}_ankle", image_size) and pose.upright(f"{side}_ankle")[1] - knee[1] < 0.5 * thigh:
            return False
        ok = True
    return ok


def _duplicate(pose: Pose, others: list[Pose]) -> bool:
    """Two ROIs on the same person: their landmark boxes overlap mostly."""
    b = pose.box()
    for other in others:
        o = other.box()
        ix = max(0.0, min(b[2], o[2]) - max(b[0], o[0]))
        iy = max(0.0, min(b[3], o[3]) - max(b[1], o[1]))
        inter = ix * iy
        union = (b[2] - b[0]) * (b[3] - b[1]) + (o[2] - o[0]) * (o[3] - o[1]) - inter
        if union > 0 and inter / union > 0.5:
            return True
    return False
