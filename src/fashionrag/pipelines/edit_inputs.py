"""Inputs of the editor computed from one plain photo: keypoints, pose heatmaps, garment masks, letterbox.

All functions are pure (numpy/PIL in, numpy/PIL out) so that they are tested on known coordinates and
do not depend on which pose/segmentation model produced the landmarks.

Conventions: keypoints are the one keypoint type of :mod:`fashionrag.vision.keypoints` (an (18, 3) float array
of OpenPose-COCO points ``(x, y, confidence)`` in pixels; a missing point is the all-zero row).
Masks are uint8 arrays, 1 = repaint, 0 = keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..core.errors import InvalidInputError
from ..core.vocabulary import EDIT_CATEGORIES
from ..vision.keypoints import L_HIP, L_SHOULDER, NECK, R_HIP, R_SHOULDER

#: Limbs drawn on the pose preview (OpenPose pairs).
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))

#: Working resolution of the editor (height, width), as the reference.
WORK_SIZE = (512, 384)
#: Heatmap sigma in pixels at 512 px height (the reference's ``kpoint_to_heatmap(..., 9)`` at 512x384).
SIGMA_512 = 9.0


def keypoint_heatmaps(keypoints: np.ndarray, height: int = 512, width: int = 384, sigma: float | None = None) -> np.ndarray:
    """One Gaussian ``exp(-d^2 / sigma^2)`` per keypoint (the reference's ``utils/posemap.py``; note: no factor 2),
    max-normalised to peak 1, all-zero when the point is missing or outside the image.

    ``sigma`` defaults to 9 px at 512 px height, scaled with ``height``. Returns (18, height, width) float32.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 2 or kp.shape[1] not in (2, 3):
        raise InvalidInputError(f"expected (N, 2|3) keypoints, got shape {kp.shape}")
    sigma = SIGMA_512 * height / 512.0 if sigma is None else float(sigma)
    ys = np.arange(height, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]
    maps = np.zeros((kp.shape[0], height, width), dtype=np.float32)
    for i, row in enumerate(kp):
        x, y = float(row[0]), float(row[1])
        conf = float(row[2]) if kp.shape[1] == 3 else 1.0
        if conf <= 0 or not (0 <= x < width and 0 <= y < height):
            continue
        g = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / sigma**2)
        maps[i] = g / (g.max() + np.finfo(np.float32).eps)
    return maps


def resize_heatmaps(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of (C, H, W) heatmaps (to the latent size)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(maps))[None]
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0].numpy()


@dataclass(frozen=True)
class Letterbox:
    """Fit an image into ``dst`` (w, h) keeping its aspect ratio, padding the rest; and back."""

    src: tuple[int, int]
    dst: tuple[int, int]

    @property
    def scale(self) -> float:
        return min(self.dst[0] / self.src[0], self.dst[1] / self.src[1])

    @property
    def inner(self) -> tuple[int, int]:
        return max(1, round(self.src[0] * self.scale)), max(1, round(self.src[1] * self.scale))

    @property
    def offset(self) -> tuple[int, int]:
        iw, ih = self.inner
        return (self.dst[0] - iw) // 2, (self.dst[1] - ih) // 2

    def image(self, img: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
        canvas = Image.new("RGB", self.dst, fill)
        canvas.paste(img.convert("RGB").resize(self.inner, Image.BICUBIC), self.offset)
        return canvas

    def mask(self, mask: np.ndarray) -> np.ndarray:
        canvas = np.zeros((self.dst[1], self.dst[0]), dtype=np.uint8)
        m = Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).resize(self.inner, Image.NEAREST)
        ox, oy = self.offset
        canvas[oy : oy + self.inner[1], ox : ox + self.inner[0]] = (np.asarray(m) > 127).astype(np.uint8)
        return canvas

    def points(self, kp: np.ndarray) -> np.ndarray:
        out = np.asarray(kp, dtype=np.float32).copy()
        present = out[:, 2] > 0 if out.shape[1] == 3 else np.ones(len(out), bool)
        out[present, 0] = out[present, 0] * self.scale + self.offset[0]
        out[present, 1] = out[present, 1] * self.scale + self.offset[1]
        return out

    def invert_image(self, img: Image.Image) -> Image.Image:
        ox, oy = self.offset
        iw, ih = self.inner
        return img.crop((ox, oy, ox + iw, oy + ih)).resize(self.src, Image.BICUBIC)


def _pt(kp: np.ndarray, i: int) -> np.ndarray | None:
    return kp[i, :2] if kp[i, 2] > 0 else None


def _garment_box(kp: np.ndarray, category: str, width: int, height: int) -> tuple[float, float, float, float]:
    """The garment's bounding box (x0, y0, x1, y1) estimated from body keypoints."""
    if category not in EDIT_CATEGORIES:
        raise InvalidInputError(f"unknown category {category!r}; use one of {', '.join(EDIT_CATEGORIES)}")
    shoulders = [p for p in (_pt(kp, R_SHOULDER), _pt(kp, L_SHOULDER)) if p is not None]
    hips = [p for p in (_pt(kp, R_HIP), _pt(kp, L_HIP)) if p is not None]
    arms = [p for i in (3, 4, 6, 7) if (p := _pt(kp, i)) is not None]
    knees = [p for i in (9, 12) if (p := _pt(kp, i)) is not None]
    ankles = [p for i in (10, 13) if (p := _pt(kp, i)) is not None]
    if not shoulders and not hips:
        raise InvalidInputError("the keypoints have neither shoulders nor hips; pass a mask explicitly")
    ref = shoulders if len(shoulders) == 2 else hips
    body_w = max(abs(ref[0][0] - ref[-1][0]), 0.08 * width) if len(ref) == 2 else 0.25 * width
    margin = 0.25 * body_w
    torso_len = (np.mean([p[1] for p in hips]) - np.mean([p[1] for p in shoulders])) if shoulders and hips else 0.35 * height

    if category == "upper_body":
        pts = shoulders + hips + arms
        y0 = min(p[1] for p in shoulders) - 0.25 * torso_len if shoulders else min(p[1] for p in hips) - torso_len
        y1 = max(p[1] for p in hips) + 0.15 * torso_len if hips else y0 + 1.3 * torso_len
    elif category == "lower_body":
        pts = hips + knees + ankles
        y0 = min(p[1] for p in hips) - 0.15 * torso_len if hips else max(p[1] for p in shoulders) + 0.8 * torso_len
        y1 = max(p[1] for p in ankles) + 0.05 * torso_len if ankles else (max(p[1] for p in knees) + 0.6 * torso_len if knees else height)
    else:  # dresses
        pts = shoulders + hips + knees
        y0 = min(p[1] for p in shoulders) - 0.25 * torso_len if shoulders else min(p[1] for p in hips) - torso_len
        y1 = max(p[1] for p in knees) + 0.4 * torso_len if knees else (max(p[1] for p in hips) + 1.2 * torso_len if hips else height)
    x0 = min(p[0] for p in pts) - margin
    x1 = max(p[0] for p in pts) + margin
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)


def bbox_mask(keypoints: np.ndarray, category: str, width: int, height: int) -> np.ndarray:
    """The reference's bounding-box style mask: the whole box around the garment region is repainted."""
    x0, y0, x1, y1 = _garment_box(np.asarray(keypoints, np.float32), category, width, height)
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = 1
    return mask


def segmentation_mask(
    keypoints: np.ndarray, person: np.ndarray, category: str, *, dilate_px: int | None = None
) -> np.ndarray:
    """A tighter mask: the person's silhouette (dilated) inside the garment box, without the head.

    ``person`` is an (H, W) person-segmentation mask (>0 = person), e.g. MediaPipe's selfie segmenter.
    """
    import cv2

    person = (np.asarray(person) > 0).astype(np.uint8)
    h, w = person.shape
    kp = np.asarray(keypoints, np.float32)
    box = bbox_mask(kp, category, w, h)
    if dilate_px is None:
        dilate_px = max(3, int(0.02 * h))
    grown = cv2.dilate(person, np.ones((3, 3), np.uint8), iterations=dilate_px)
    mask = (grown & box).astype(np.uint8)
    if category in ("upper_body", "dresses"):
        # keep the face: nothing above the neck line (the shoulders' midpoint)
        shoulders = [p[1] for i in (R_SHOULDER, L_SHOULDER) if (p := _pt(kp, i)) is not None]
        neck = _pt(kp, NECK)
        top = neck[1] if neck is not None else (min(shoulders) if shoulders else 0.0)
        mask[: int(max(0.0, top - 0.02 * h)), :] = 0
    return mask


def pose_preview(keypoints: np.ndarray, width: int, height: int) -> Image.Image:
    """An OpenPose-style stick figure on black (for the result sheet)."""
    img = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    kp = np.asarray(keypoints, np.float32)
    lw = max(2, height // 128)
    for a, b in LIMBS:
        if kp[a, 2] > 0 and kp[b, 2] > 0:
            hue = (a * 37 + b * 53) % 255
            draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=(255, hue, 255 - hue), width=lw)
    for x, y, c in kp:
        if c > 0:
            draw.ellipse([x - 2 * lw, y - 2 * lw, x + 2 * lw, y + 2 * lw], fill=(255, 255, 0))
    return img


def check_mask(mask: np.ndarray | Image.Image, size: tuple[int, int], label: str = "mask") -> np.ndarray:
    """A user mask as a 0/1 uint8 array; its size must equal the photo's (w, h)."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"))
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr.max(axis=-1)
    if arr.ndim != 2:
        raise InvalidInputError(f"{label}: expected a single-channel mask, got shape {arr.shape}")
    if (arr.shape[1], arr.shape[0]) != tuple(size):
        raise InvalidInputError(
            f"{label}: the mask is {arr.shape[1]}x{arr.shape[0]} but the photo is {size[0]}x{size[1]}; "
            "give a mask of the photo's size (white = repaint)"
        )
    thr = 127 if arr.dtype == np.uint8 and arr.max() > 1 else 0.5
    out = (arr > thr).astype(np.uint8)
    if not out.any():
        raise InvalidInputError(f"{label}: the mask is empty (nothing to repaint); white pixels mark the region to edit")
    return out
