"""Garment localisation: pose backend on real KAGL photos, product fallback, bad input, yolo adapter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionrag.core.errors import InvalidImageError, InvalidInputError, ModelUnavailableError
from fashionrag.core.schemas import Garment
from fashionrag.vision import create_detector, decode_mask, encode_mask, garment_mask
from fashionrag.vision.litert import INSTALL_HINT, model_path
from fashionrag.vision.pose import LM, Pose, Roi, _ssd_anchors
from fashionrag.vision.yolo import YoloGarmentDetector, parse_class_map, region_for, results_to_garments

KAGL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kagl"
if not KAGL.exists():
    KAGL = Path("/work/shared/datasets/kagl")
#: val photos of models wearing the item: two tops with faces, one pair of trousers seen from the waist down
TOP_IDS = ("10044", "10065")
TROUSERS_ID = "11234"


def _models_available() -> bool:
    try:
        model_path("pose_detection")
        model_path("selfie_segmentation")
        return True
    except ModelUnavailableError:
        return False


needs_models = pytest.mark.skipif(not _models_available(), reason="mediapipe .tflite files not installed")
needs_kagl = pytest.mark.skipif(not (KAGL / "images").is_dir(), reason="KAGL photos not available")


@pytest.fixture(scope="module")
def detector():
    if not _models_available():
        pytest.skip("mediapipe .tflite files not installed")
    return create_detector("pose")


def _photo(item_id: str) -> np.ndarray:
    return np.asarray(Image.open(KAGL / "images" / f"{item_id}.jpg").convert("RGB"))


def _centre_y(g: Garment) -> float:
    return (g.box[1] + g.box[3]) / 2


# ----------------------------------------------------------------------------- models

def test_missing_models_raise_with_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_MEDIAPIPE_DIR", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps mediapipe==0.10.21"):
        model_path("pose_detection")
    with pytest.raises(ModelUnavailableError):
        model_path("no_such_model")
    assert "ai-edge-litert" in INSTALL_HINT


def test_detector_anchor_layout_matches_the_model():
    anchors = _ssd_anchors()
    assert anchors.shape == (2254, 2)  # 28*28*2 + 14*14*2 + 7*7*6, the model's output rows
    assert anchors.min() > 0 and anchors.max() < 1


def test_roi_crop_matrix_maps_centre_and_rotates():
    roi = Roi(100.0, 50.0, 80.0, 0.0)
    m = roi.crop_matrix(256)
    assert m @ [128, 128, 1] == pytest.approx([100, 50])
    assert m @ [0, 0, 1] == pytest.approx([60, 10])
    turned = Roi(100.0, 50.0, 80.0, math.pi / 2).crop_matrix(256)
    # the crop's "down" (towards larger v) points to the image's -x after a quarter turn
    assert turned @ [128, 256, 1] == pytest.approx([60, 50])


def test_openpose18_mapping_uses_shoulder_midpoint_as_neck():
    lm = np.zeros((33, 5), dtype=np.float32)
    lm[:, 3:] = 0.9
    lm[:, 0], lm[:, 1] = np.arange(33) + 10, 50
    lm[LM["left_shoulder"], :2] = (60, 40)
    lm[LM["right_shoulder"], :2] = (40, 44)
    lm[LM["left_ankle"], 3] = 0.1  # hidden
    pose = Pose(landmarks=lm, score=1.0, roi=Roi(50, 50, 100), source="test")
    kp = pose.openpose18((200, 200))
    assert kp.shape == (18, 3)
    assert kp[1, :2] == pytest.approx([50, 42])  # neck
    assert kp[2, :2] == pytest.approx([40, 44])  # right shoulder
    assert kp[13].tolist() == [0, 0, 0]  # left ankle hidden -> zeros


def _standing(top_to: int, top=(230, 200, 40), bottom=(40, 70, 160)):
    """A flat standing person on white (w 200, h 300): a top from the shoulders down to row ``top_to`` over
    trousers from the waist (row 140) down, skin arms hanging beside the hips; with its 33 landmarks."""
    from PIL import ImageDraw

    img = Image.new("RGB", (200, 300), (255, 255, 255))
    d = ImageDraw.Draw(img)
    skin = (205, 150, 120)
    d.ellipse([80, 8, 120, 52], fill=skin)
    d.rectangle([75, 140, 125, 285], fill=bottom)
    d.polygon([(66, 56), (134, 56), (128, top_to), (72, top_to)], fill=top)
    for sh, el, wr in (((70, 60), (58, 105), (62, 150)), ((130, 60), (142, 105), (138, 150))):
        d.line([sh, el, wr], fill=skin, width=12)
    lm = np.zeros((33, 5), np.float32)
    for name, xy in {"left_shoulder": (130, 60), "right_shoulder": (70, 60), "left_elbow": (142, 105),
                     "right_elbow": (58, 105), "left_wrist": (138, 150), "right_wrist": (62, 150),
                     "left_hip": (120, 150), "right_hip": (80, 150), "left_knee": (115, 210), "right_knee": (85, 210),
                     "left_ankle": (112, 280), "right_ankle": (88, 280)}.items():
        lm[LM[name]] = (*xy, 0, 0.99, 0.99)
    rgb = np.asarray(img)
    person = (rgb.astype(int).sum(-1) < 750).astype(np.float32)
    return rgb, Pose(landmarks=lm, score=1.0, roi=Roi(100, 150, 300), source="test", mask=person)


def _stub_detector(pose):
    from fashionrag.vision.garments import PoseGarmentDetector

    det = PoseGarmentDetector.__new__(PoseGarmentDetector)
    det.estimator = lambda work, prob: [pose]
    det.segmenter = lambda work: np.ones(work.shape[:2], np.float32)
    det.max_side, det.min_area, det.colours, det.namer = 1024, 0.003, False, None
    det.regions = ("upper_body", "lower_body")
    return det


def test_top_and_bottom_masks_split_where_the_garments_meet():
    """The bands are geometry (the top's runs below the hips, the bottom's starts above them): a tee over jeans
    gives each garment's pixels to its own region, and the forearms beside the thighs leave the jeans' mask; a
    kurta down to the knees (the thighs wear its colours) keeps its whole band."""
    rgb, pose = _standing(top_to=134)
    masks = {g.region: decode_mask(g.mask) for g in _stub_detector(pose).detect(rgb)}
    tee = (np.abs(rgb.astype(int) - (230, 200, 40)).sum(-1) == 0)
    jeans = (np.abs(rgb.astype(int) - (40, 70, 160)).sum(-1) == 0)
    arms = (np.abs(rgb.astype(int) - (205, 150, 120)).sum(-1) == 0) & (np.arange(300)[:, None] > 120)
    upper, lower = masks["upper_body"], masks["lower_body"]
    assert upper[tee].mean() > 0.97 and lower[jeans].mean() > 0.97
    assert (upper & jeans).sum() == 0  # the band reaches row 154: the jeans' waist is not the tee's
    assert (lower & tee).sum() == 0  # the bottom's band starts at row 136: the tee's hem is not the jeans'
    assert (lower & arms).sum() < 0.05 * arms.sum()  # the forearms beside the hips are not the jeans either
    rgb, pose = _standing(top_to=230)  # a kurta over the same trousers
    masks = {g.region: decode_mask(g.mask) for g in _stub_detector(pose).detect(rgb)}
    kurta = (np.abs(rgb.astype(int) - (230, 200, 40)).sum(-1) == 0)
    band = np.zeros_like(kurta)
    band[:155] = True
    assert masks["upper_body"][kurta & band].mean() > 0.97  # its whole band, down to below the hips


def test_mask_rle_round_trip():
    rng = np.random.default_rng(0)
    for mask in (rng.random((7, 9)) > 0.5, np.ones((3, 4), bool), np.zeros((5, 2), bool)):
        rle = encode_mask(mask)
        assert rle.size == list(mask.shape) and sum(rle.counts) == mask.size
        assert np.array_equal(decode_mask(rle), mask)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="pose"):
        create_detector("sam")


# ----------------------------------------------------------------------------- pose backend on real photos

@needs_models
@needs_kagl
@pytest.mark.parametrize("item_id", TOP_IDS)
def test_person_photo_gives_upper_body_garment_with_landmarks(detector, item_id):
    img = _photo(item_id)
    garments = detector.detect(img)
    upper = [g for g in garments if g.region == "upper_body"]
    assert len(upper) == 1
    g = upper[0]
    assert g.person == 0 and g.source == "pose" and 0.5 <= g.score <= 1
    assert g.landmarks is not None and len(g.landmarks) == 33
    nose_y, hip_y = g.landmarks[LM["nose"]][1], g.landmarks[LM["left_hip"]][1]
    shoulder_y = g.landmarks[LM["left_shoulder"]][1]
    assert nose_y < shoulder_y < hip_y  # upright person
    mask = garment_mask(g)
    assert mask.shape == img.shape[:2]
    # the mask follows the body: it fills much less than its box, and nothing outside the box
    x0, y0, x1, y1 = map(int, g.box)
    assert mask[y0:y1, x0:x1].sum() == mask.sum()
    assert 0.3 < mask.sum() / ((x1 - x0) * (y1 - y0)) < 0.98
    assert g.colours and g.colours[0].name
    for other in garments:
        if other.region in ("lower_body", "footwear"):
            assert _centre_y(g) < _centre_y(other)


@needs_models
@needs_kagl
def test_legs_without_face_found_by_fallback(detector):
    garments = detector.detect(_photo(TROUSERS_ID))  # waist-down photo: no face for the detector
    regions = {g.region: g for g in garments}
    assert "lower_body" in regions and "upper_body" not in regions
    assert regions["lower_body"].colours[0].name in ("Black", "Charcoal", "Grey", "Navy Blue")
    if "footwear" in regions:
        assert regions["lower_body"].box[1] < regions["footwear"].box[1]


@needs_models
@needs_kagl
def test_two_people_side_by_side(detector):
    img = np.hstack([_photo(TOP_IDS[0]), _photo(TOP_IDS[1])])
    upper = [g for g in detector.detect(img) if g.region == "upper_body"]
    assert sorted(g.person for g in upper) == [0, 1]
    left, right = sorted(upper, key=lambda g: g.box[0])
    assert left.box[2] <= right.box[0] + 10  # masks stay with their own person


@needs_models
@needs_kagl
def test_huge_image_is_processed_downscaled_and_answered_in_input_pixels(detector):
    small = _photo(TOP_IDS[0])
    big = np.asarray(Image.fromarray(small).resize((2240, 2240), Image.BILINEAR))
    g_small = [g for g in detector.detect(small) if g.region == "upper_body"][0]
    g_big = [g for g in detector.detect(big) if g.region == "upper_body"][0]
    assert g_big.mask.size == [2240, 2240]
    assert np.allclose(np.array(g_big.box) / 10, g_small.box, atol=8)


# ----------------------------------------------------------------------------- products and bad input

@needs_models
def test_product_on_white_is_one_product_garment(detector):
    img = np.full((240, 320, 3), 255, dtype=np.uint8)
    yy, xx = np.mgrid[0:240, 0:320]
    inside = ((xx - 160) / 110) ** 2 + ((yy - 130) / 60) ** 2 <= 1
    img[inside] = (190, 25, 35)
    garments = detector.detect(img)
    assert len(garments) == 1
    g = garments[0]
    assert g.region == "product" and g.person is None and g.landmarks is None and g.source == "product"
    assert g.box == pytest.approx([50, 70, 271, 191], abs=3)
    assert np.logical_xor(garment_mask(g), inside).mean() < 0.01
    assert len(g.colours) == 1 and g.colours[0].name == "Red" and g.colours[0].share == 1.0
    json.loads(g.model_dump_json())  # serialisable as is


@needs_models
@pytest.mark.parametrize("kind", ["blank", "black", "noise", "tiny"])
def test_no_garment_is_an_honest_empty_result(detector, kind):
    rng = np.random.default_rng(0)
    img = {
        "blank": np.full((300, 300, 3), 255, np.uint8),
        "black": np.zeros((200, 300, 3), np.uint8),
        "noise": rng.integers(0, 256, (300, 300, 3)).astype(np.uint8),
        "tiny": rng.integers(0, 256, (8, 8, 3)).astype(np.uint8),
    }[kind]
    assert detector.detect(img) == []


@needs_models
def test_not_an_image_is_a_clear_error(detector, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InvalidImageError):
        detector.detect(bad)


# ----------------------------------------------------------------------------- yolo adapter

def test_class_map_parsing_yaml_json_and_errors(tmp_path):
    y = tmp_path / "map.yaml"
    y.write_text("short sleeve top: upper_body\n3: lower_body\nlong sleeve dress: {region: full_length, label: dress}\n")
    m = parse_class_map(y)
    assert m["short sleeve top"] == {"region": "upper_body", "label": None}
    assert m["3"]["region"] == "lower_body" and m["long sleeve dress"]["label"] == "dress"
    j = tmp_path / "map.json"
    j.write_text(json.dumps({"classes": {"Shoe": "footwear"}}))
    assert parse_class_map(j) == {"shoe": {"region": "footwear", "label": None}}
    with pytest.raises(InvalidInputError, match="not a region"):
        parse_class_map({"hat": "head"})
    with pytest.raises(InvalidInputError):
        parse_class_map(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(InvalidInputError):
        parse_class_map(bad)


def test_region_lookup_by_name_id_and_keywords():
    m = parse_class_map({"tee": "upper_body", "7": "footwear"})
    assert region_for(0, "Tee", m) == ("upper_body", "Tee")
    assert region_for(7, "whatever", m) == ("footwear", "whatever")
    assert region_for(1, "trousers", m) is None  # a map is given: unmapped classes are skipped
    assert region_for(1, "trousers", {}) == ("lower_body", "trousers")
    assert region_for(2, "long sleeve dress", {}) == ("full_length", "long sleeve dress")
    assert region_for(3, "person", {}) is None


class _Boxes:
    def __init__(self, xyxy, conf, cls):
        self.xyxy, self.conf, self.cls = np.array(xyxy, float), np.array(conf, float), np.array(cls, float)

    def __len__(self):
        return len(self.xyxy)


class _Masks:
    def __init__(self, xy):
        self.xy = xy


class _Result:
    def __init__(self, boxes, names, masks=None):
        self.boxes, self.names, self.masks = boxes, names, masks


class _FakeYolo:
    """Stands in for ultralytics.YOLO: records the call, returns fixed results."""

    def __init__(self, result):
        self.result, self.calls = result, []

    def predict(self, source, **kwargs):
        self.calls.append((source.shape, kwargs))
        return [self.result]


def test_results_to_garments_boxes_polygons_and_skips():
    names = {0: "short sleeve top", 1: "trousers", 2: "person"}
    boxes = _Boxes([[10, 10, 50, 40], [12, 45, 48, 95], [0, 0, 60, 100]], [0.9, 0.8, 0.7], [0, 1, 2])
    poly = [np.array([[10, 10], [50, 10], [30, 40]], float), np.zeros((0, 2)), np.zeros((0, 2))]
    out = results_to_garments(_Result(boxes, names, _Masks(poly)), {}, (60, 100))
    assert [g.region for g, _ in out] == ["upper_body", "lower_body"]  # "person" skipped
    (top, top_mask), (trousers, trousers_mask) = out
    assert top.source == "yolo" and top.label == "short sleeve top" and top.score == 0.9
    assert top_mask.sum() < 0.7 * 40 * 30  # polygon (triangle), not the box
    assert trousers_mask[45:95, 12:48].all() and trousers_mask.sum() == 50 * 36  # no polygon: the box
    assert np.array_equal(garment_mask(trousers), trousers_mask)
    assert results_to_garments(_Result(_Boxes(np.zeros((0, 4)), [], []), names), {}, (60, 100)) == []


def test_yolo_detector_runs_end_to_end_with_a_fake_model():
    img = np.full((100, 60, 3), 255, np.uint8)
    img[10:40, 10:50] = (20, 30, 120)
    fake = _FakeYolo(_Result(_Boxes([[10, 10, 50, 40]], [0.9], [0]), {0: "shirt"}))
    det = YoloGarmentDetector(model=fake, class_map={"shirt": "upper_body"}, namer=None)
    garments = det.detect(img)
    assert len(garments) == 1 and garments[0].region == "upper_body" and garments[0].colours
    shape, kwargs = fake.calls[0]
    assert shape == (100, 60, 3)
    assert kwargs["imgsz"] == 640 and kwargs["conf"] == 0.35 and kwargs["iou"] == 0.6  # the paper's settings


def test_yolo_backend_without_ultralytics_or_weights_is_a_clear_error(tmp_path):
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        with pytest.raises(ModelUnavailableError, match="pip install"):
            create_detector("yolo", weights=tmp_path / "w.pt")
    with pytest.raises(InvalidInputError):
        create_detector("yolo")


@needs_models
@needs_kagl
def test_sideways_photo_still_gives_the_upper_body(detector):
    img = np.ascontiguousarray(np.rot90(_photo(TOP_IDS[0]), 1))  # person lying along the x axis
    upper = [g for g in detector.detect(img) if g.region == "upper_body"]
    assert len(upper) == 1
    x0, y0, x1, y1 = upper[0].box
    assert x1 - x0 > 0.5 * img.shape[1]  # the torso band spans across the image, not down it


@needs_models
def test_white_product_on_white_background_is_still_found(detector):
    img = np.full((200, 200, 3), 255, dtype=np.uint8)
    img[50:150, 60:140] = (238, 238, 236)  # an off-white shirt on a studio-white background
    garments = detector.detect(img)
    assert len(garments) == 1 and garments[0].region == "product"
    assert garments[0].box == pytest.approx([60, 50, 140, 150], abs=3)
