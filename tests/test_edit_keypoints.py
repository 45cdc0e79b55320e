"""The one keypoint type: every reader (MediaPipe, Dress Code files, user JSON, vision's Pose) gives the same
(18, 3) form with missing points as all-zero rows, and the editor's inference and training read it alike."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashionrag.core.errors import InvalidInputError
from fashionrag.vision import keypoints as kpts


def _landmarks() -> np.ndarray:
    lm = np.zeros((33, 5), np.float32)
    lm[:, 0], lm[:, 1] = np.arange(33) * 3.0 + 10, np.arange(33) * 5.0 + 20
    lm[:, 3:] = 0.9
    lm[14, 3] = 0.1  # right elbow hidden
    lm[27, 0] = 900.0  # left ankle out of a 200-wide frame
    return lm


def test_one_convention_for_every_reader(tmp_path):
    lm = _landmarks()
    kp = kpts.from_mediapipe(lm, bounds=(200, 300))
    assert kp.shape == (18, 3) and kp.dtype == np.float32
    assert kp[kpts.R_ELBOW].tolist() == [0, 0, 0]  # hidden -> the all-zero row
    assert kp[kpts.L_ANKLE].tolist() == [0, 0, 0]  # out of frame -> the all-zero row
    assert kp[kpts.R_SHOULDER, :2].tolist() == [12 * 3 + 10, 12 * 5 + 20]
    assert kp[kpts.NECK, :2].tolist() == pytest.approx([(12 * 3 + 10 + 11 * 3 + 10) / 2, (12 * 5 + 20 + 11 * 5 + 20) / 2])

    # vision's Pose gives exactly the same array
    from fashionrag.vision.pose import Pose, Roi

    pose = Pose(landmarks=lm, score=1.0, roi=Roi(100, 150, 200), source="test")
    assert np.array_equal(pose.openpose18((200, 300)), kp)

    # a Dress Code row set (x, y, score, id) with missing points as -1 or 0, and the same points as user JSON
    rows = [[float(x), float(y), 0.8, j] if c > 0 else [-1.0, -1.0, 0.0, j] for j, (x, y, c) in enumerate(kp)]
    rows[kpts.R_ELBOW] = [0.0, 0.0, 0.0, 3]
    dc = kpts.from_dresscode(rows)
    assert np.array_equal(dc[:, :2], kp[:, :2]) and np.array_equal(dc[:, 2] > 0, kp[:, 2] > 0)
    (tmp_path / "dc.json").write_text(json.dumps({"keypoints": rows}))
    (tmp_path / "user.json").write_text(json.dumps([[float(x), float(y)] if c > 0 else [-1, -1] for x, y, c in kp]))
    for path in ("dc.json", "user.json"):
        got = kpts.read_keypoints(tmp_path / path)
        assert np.array_equal(got[:, :2], kp[:, :2]) and np.array_equal(got[:, 2] > 0, kp[:, 2] > 0), path
    # Dress Code files scale from their 384x512 grid
    assert kpts.from_dresscode(rows, size=(96, 128))[kpts.R_SHOULDER, :2].tolist() == pytest.approx(
        [kp[kpts.R_SHOULDER, 0] / 4, kp[kpts.R_SHOULDER, 1] / 4])
    with pytest.raises(InvalidInputError, match="18"):
        kpts.parse_keypoints([[1, 2]] * 17)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidInputError, match="bad.json"):
        kpts.read_keypoints(tmp_path / "bad.json")


def test_inference_and_training_read_dresscode_keypoints_alike(tmp_path):
    pytest.importorskip("cv2")
    from PIL import Image

    from fashionrag.pipelines.edit_data import DressCodeDataset

    d = tmp_path / "upper_body"
    for sub in ("images", "keypoints", "label_maps"):
        (d / sub).mkdir(parents=True)
    Image.new("RGB", (384, 512), (90, 90, 90)).save(d / "images" / "000001_0.jpg")
    Image.new("RGB", (384, 512), (200, 0, 0)).save(d / "images" / "000001_1.jpg")
    labels = np.zeros((512, 384), np.uint8)
    labels[120:270, 140:250] = 4
    Image.fromarray(labels).save(d / "label_maps" / "000001_4.png")
    rows = [[192, 60, 1, 0], [192, 120, 1, 1], [152, 120, 1, 2], [-1, -1, 0, 3]] + [[0, 0, 0, j] for j in range(4, 18)]
    (d / "keypoints" / "000001_2.json").write_text(json.dumps({"keypoints": rows}))
    (d / "train_pairs.txt").write_text("000001_0.jpg 000001_1.jpg\n")
    train_kp = DressCodeDataset(tmp_path, "train", ["upper_body"], size=(512, 384))[0].keypoints
    cli_kp = kpts.read_keypoints(d / "keypoints" / "000001_2.json")
    assert np.array_equal(train_kp, cli_kp)
    assert train_kp[3].tolist() == [0, 0, 0] and train_kp[2].tolist() == [152, 120, 1]
