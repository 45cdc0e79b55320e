"""Automatic editing inputs on known coordinates: keypoint mapping, heatmaps, letterbox, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from fashionrag.core.errors import InvalidInputError
from fashionrag.pipelines.edit_inputs import (
    Letterbox,
    bbox_mask,
    check_mask,
    keypoint_heatmaps,
    resize_heatmaps,
    segmentation_mask,
)
from fashionrag.vision.keypoints import from_mediapipe as mediapipe_to_openpose18


def _landmarks(vis: float = 0.9) -> np.ndarray:
    lm = np.zeros((33, 4), np.float32)
    lm[:, 0] = np.arange(33) * 10.0
    lm[:, 1] = np.arange(33) * 20.0
    lm[:, 3] = vis
    return lm


def test_mediapipe_33_to_openpose_18_on_known_points():
    kp = mediapipe_to_openpose18(_landmarks())
    assert kp.shape == (18, 3)
    expect = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25, 13: 27,
              14: 5, 15: 2, 16: 8, 17: 7}
    for op, mp in expect.items():
        assert tuple(kp[op, :2]) == (mp * 10.0, mp * 20.0), op
    assert tuple(kp[1, :2]) == (115.0, 230.0)  # neck = midpoint of the shoulders (11, 12)
    # a hidden right shoulder: the shoulder and the neck are missing, the rest stays
    lm = _landmarks()
    lm[12, 3] = 0.1
    kp = mediapipe_to_openpose18(lm)
    assert kp[2, 2] == 0 and kp[1, 2] == 0 and kp[5, 2] > 0
    # normalised coordinates are scaled by the image size; (33, 5) Pose rows use min(visibility, presence)
    norm = np.zeros((33, 5), np.float32)
    norm[:, 0], norm[:, 1], norm[:, 3], norm[:, 4] = 0.5, 0.25, 0.9, 0.9
    norm[0, 4] = 0.2
    kp = mediapipe_to_openpose18(norm[:, [0, 1, 2, 3, 4]], image_size=(384, 512))
    assert tuple(kp[2, :2]) == (192.0, 128.0) and kp[0, 2] == 0
    with pytest.raises(InvalidInputError):
        mediapipe_to_openpose18(np.zeros((17, 3)))


def test_heatmaps_peak_sigma_missing_and_resize():
    kp = np.full((18, 3), -1.0, np.float32)
    kp[:, 2] = 0
    kp[2] = (100, 200, 1.0)
    kp[3] = (500, 10, 1.0)  # outside a 384-wide image
    maps = keypoint_heatmaps(kp, 512, 384)
    assert maps.shape == (18, 512, 384) and maps.dtype == np.float32
    assert maps[2].max() == pytest.approx(1.0)
    assert np.unravel_index(maps[2].argmax(), maps[2].shape) == (200, 100)
    # the reference's exp(-d^2 / sigma^2): one sigma (9 px) away is exp(-1), not exp(-1/2)
    assert maps[2, 200, 109] == pytest.approx(math.exp(-1.0), rel=1e-5)
    assert not maps[0].any() and not maps[3].any()
    small = resize_heatmaps(maps, 64, 48)
    assert small.shape == (18, 64, 48) and np.unravel_index(small[2].argmax(), (64, 48)) == (25, 12)
    # sigma scales with the working height
    assert keypoint_heatmaps(kp / [4, 4, 1], 128, 96)[2, 50, 25 + 2] == pytest.approx(math.exp(-((2 / 2.25) ** 2)), rel=1e-4)


def test_letterbox_roundtrip():
    box = Letterbox(src=(300, 200), dst=(384, 512))
    assert box.inner == (384, 256) and box.offset == (0, 128)
    kp = np.array([[0, 0, 1], [300, 200, 1], [10, 10, 0]], np.float32)
    pts = box.points(kp)
    assert tuple(pts[0, :2]) == (0, 128) and tuple(pts[1, :2]) == (384, 384) and tuple(pts[2, :2]) == (10, 10)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8))
    boxed = box.image(img)
    assert boxed.size == (384, 512) and np.asarray(boxed)[:128].min() == 255  # white padding
    back = box.invert_image(boxed)
    assert back.size == (300, 200)
    assert np.abs(np.asarray(back, float) - np.asarray(img, float)).mean() < 40
    m = np.zeros((200, 300), np.uint8)
    m[50:100, 100:200] = 1
    wm = box.mask(m)
    assert wm.shape == (512, 384) and wm[128:].any() and not wm[:128].any()


def _body() -> np.ndarray:
    kp = np.zeros((18, 3), np.float32)
    pts = {0: (192, 60), 1: (192, 120), 2: (152, 120), 5: (232, 120), 3: (140, 180), 6: (244, 180), 4: (135, 240),
           7: (250, 240), 8: (165, 260), 11: (219, 260), 9: (165, 360), 12: (219, 360), 10: (165, 470), 13: (219, 470)}
    for i, (x, y) in pts.items():
        kp[i] = (x, y, 1)
    return kp


def test_bbox_masks_follow_the_category():
    kp = _body()
    up = bbox_mask(kp, "upper_body", 384, 512)
    low = bbox_mask(kp, "lower_body", 384, 512)
    dress = bbox_mask(kp, "dresses", 384, 512)
    assert up[190, 192] and not up[400, 192] and not up[20, 192]  # torso yes, legs and head no
    assert low[400, 192] and low[465, 170] and not low[150, 192]
    assert dress[190, 192] and dress[330, 192] and not dress[20, 192]
    with pytest.raises(InvalidInputError):
        bbox_mask(kp, "shoes", 384, 512)
    missing = np.zeros((18, 3), np.float32)
    with pytest.raises(InvalidInputError, match="mask"):
        bbox_mask(missing, "upper_body", 384, 512)


def test_segmentation_mask_is_tighter_than_the_box():
    pytest.importorskip("cv2")
    kp = _body()
    person = np.zeros((512, 384), np.uint8)
    person[40:500, 140:245] = 1
    seg = segmentation_mask(kp, person, "upper_body")
    box = bbox_mask(kp, "upper_body", 384, 512)
    assert seg.any() and seg.sum() < box.sum()
    assert not (seg & ~box.astype(bool)).any()
    assert not seg[:108].any()  # nothing above the neck line (y=120, 2% slack)


def test_user_mask_checks():
    with pytest.raises(InvalidInputError, match="photo is 40x30"):
        check_mask(np.ones((20, 20), np.uint8), (40, 30))
    with pytest.raises(InvalidInputError, match="empty"):
        check_mask(np.zeros((30, 40), np.uint8), (40, 30))
    m = check_mask(Image.new("L", (40, 30), 255), (40, 30))
    assert m.dtype == np.uint8 and m.min() == 1
