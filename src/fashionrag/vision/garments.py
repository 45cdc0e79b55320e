"""Garment localisation behind one interface: ``detect(image) -> list[Garment]``.

Backends are created by name (``create_detector("pose")``, ``create_detector("yolo", weights=...)``).

The default ``pose`` backend needs no garment detector: it finds each person (:mod:`.pose`), takes
that person's segmentation mask and cuts it into bands along the body axis between landmarks:

=============  =============================================  ==========================
region         band (along shoulders -> hips axis)            emitted when visible
=============  =============================================  ==========================
upper_body     just above the shoulders .. just below hips    both shoulders
lower_body     a little above the hips .. ankles              hips and a knee
full_length    shoulders .. ankles (or below the knees)       shoulders, hips and a knee
footwear       ankles .. below heels / toes                   an ankle and a foot point
=============  =============================================  ==========================

so masks follow the body, not a box. ``full_length`` (dresses, kurtas) overlaps the upper and
lower regions of the same person on purpose: only the catalog (retrieval) can tell a dress from a
top and a skirt, so consumers keep whichever region the retrieved category supports.
When nobody is found, a product on a plain background is one garment with region ``product``;
a photo with neither (a blank or noisy image, a scene) gives an honest empty list.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

import cv2
import numpy as np

from .colors import measure_colours, skin_mask, srgb_to_lab, top_colours
from ..core.images import ImageInput, load_image
from ..core.schemas import Garment, GarmentColour, MaskRLE
from .detectors import available_detectors, create_detector, register_detector  # noqa: F401 - re-exported here
from .pose import LM, Pose, PoseEstimator
from .segmentation import SelfieSegmenter, background_colour, product_mask


class GarmentDetector(Protocol):
    """What every backend provides."""

    name: str

    def detect(self, image: ImageInput) -> list[Garment]: ...


# ----------------------------------------------------------------------------- registry

# The registry lives in .detectors (light to import); this module registers the built-in backends.


# ----------------------------------------------------------------------------- masks

def encode_mask(mask: np.ndarray) -> MaskRLE:
    """Row-major run lengths, starting with a (possibly empty) run of zeros."""
    flat = np.asarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return MaskRLE(size=[int(mask.shape[0]), int(mask.shape[1])], counts=[int(r) for r in runs])


def decode_mask(rle: MaskRLE) -> np.ndarray:
    h, w = rle.size
    values = np.zeros(len(rle.counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, rle.counts).reshape(h, w)


def garment_mask(garment: Garment) -> Optional[np.ndarray]:
    """The garment's boolean mask at input-image size (None when the backend gave none)."""
    return None if garment.mask is None else decode_mask(garment.mask)


def _box(mask: np.ndarray) -> Optional[list[float]]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# ----------------------------------------------------------------------------- colour helper

def default_colour_namer():
    """The committed KAGL namer when present, else the CIEDE2000 palette."""
    from .colors import load_default_namer

    return load_default_namer()


def garment_colours(
    image: np.ndarray,
    mask: np.ndarray,
    region: str,
    namer=None,
    skin_samples: Optional[np.ndarray] = None,
    background: Optional[np.ndarray] = None,
    exclude_skin: bool = True,
) -> list[GarmentColour]:
    """Top two colours of one garment (its own pixels, skin excluded), named by ``namer``."""
    skin = skin_mask(image, skin_samples) if exclude_skin and region != "product" else None
    clusters = measure_colours(image, mask, k=4, exclude=skin)
    if not clusters:
        return []
    top = top_colours(clusters, min_share=0.06, top=2, background=background)
    names: list[Optional[str]] = [None] * len(top)
    scores: dict[str, float] = {}
    if namer is not None:
        names = namer.name_clusters(clusters, top, region=region)
        if hasattr(namer, "predict_proba"):  # the learned namer: how sure it is of the main colour's name
            proba = namer.predict_proba([list(clusters)], [region])[0]
            scores = {namer.names[j]: round(float(proba[j]), 4) for j in np.argsort(-proba) if proba[j] >= 0.02}
    return [
        GarmentColour(name=n, hex=c.hex, lab=[round(float(v), 2) for v in c.lab], share=round(c.share, 4),
                      name_scores=scores if i == 0 else {})
        for i, (c, n) in enumerate(zip(top, names))
    ]


# ----------------------------------------------------------------------------- pose backend

class PoseGarmentDetector:
    """Person mask + landmarks -> garment regions (see module docstring)."""

    name = "pose"

    def __init__(
        self,
        complexity: str = "full",
        max_side: int = 1024,
        min_area: float = 0.003,
        colours: bool = True,
        namer: Any = "default",
        regions: tuple[str, ...] = ("upper_body", "lower_body", "full_length", "footwear"),
        max_people: int = 4,
        num_threads: Optional[int] = None,
    ):
        self.estimator = PoseEstimator(complexity=complexity, max_people=max_people, num_threads=num_threads)
        self.segmenter = SelfieSegmenter(num_threads=num_threads)
        self.max_side = max_side
        self.min_area = min_area
        self.colours = colours
        self.namer = default_colour_namer() if namer == "default" else namer
        self.regions = regions

    def detect(self, image: ImageInput) -> list[Garment]:
        pil = load_image(image)
        full = np.asarray(pil)
        height, width = full.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        work = full if scale == 1.0 else cv2.resize(
            full, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        h, w = work.shape[:2]

        product = product_mask(work)
        poses: list[Pose] = []
        if min(h, w) >= 32:
            person_prob = product.astype(np.float32) if product is not None else self.segmenter(work)
            poses = self.estimator(work, person_prob)

        found: list[tuple[str, np.ndarray, float, Optional[int], Optional[Pose]]] = []
        for index, pose in enumerate(poses):
            person = pose.mask > 0.5 if pose.mask is not None else np.ones((h, w), bool)
            if product is not None:
                trimmed = person & product
                if trimmed.sum() >= 0.5 * person.sum():  # keep white-on-white garments
                    person = trimmed
            hands = _hands_mask(pose, (w, h))
            bands, geo = self._bands(pose, (w, h))
            masks = {}
            for region, band, score in bands:
                mask = person & band
                if hands is not None and region != "footwear":
                    mask &= ~hands
                masks[region] = (mask, score)
            if geo is not None and ("upper_body" in masks or "lower_body" in masks):
                _split_top_and_bottom(work, masks, geo, person, hands, pose, (w, h))
            for region, (mask, score) in masks.items():
                if mask.mean() >= self.min_area and mask.sum() >= 30:
                    found.append((region, mask, score, index, pose))
        background = None
        if not found and product is not None:
            bg, _ = background_colour(work)
            background = srgb_to_lab(_lab_to_rgb_opencv(bg))
            found.append(("product", product, _product_score(work, product, bg), None, None))

        garments = []
        for region, mask, score, index, pose in found:
            colours: list[GarmentColour] = []
            if self.colours:
                samples = _skin_samples(work, pose) if pose is not None else None
                colours = garment_colours(work, mask, region, self.namer, samples, background)
            full_mask = mask if scale == 1.0 else cv2.resize(
                mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
            box = _box(full_mask)
            if box is None:
                continue
            landmarks = None
            if pose is not None:
                lm = pose.landmarks.astype(np.float64)
                landmarks = [[round(x / scale, 1), round(y / scale, 1), round(float(v), 3), round(float(p), 3)]
                             for x, y, _z, v, p in lm]
            garments.append(Garment(
                region=region, box=box, score=round(float(score), 4), person=index, landmarks=landmarks,
                mask=encode_mask(full_mask), colours=colours, source="pose" if pose is not None else "product",
            ))
        return garments

    __call__ = detect

    def _bands(self, pose: Pose, size: tuple[int, int]):
        """([(region, boolean band, score)] for each region this pose shows, the band geometry: ``s`` (each
        pixel's position along the shoulders -> hips axis), ``s_hip`` and ``length`` (shoulders to hips))."""
        w, h = size
        vis = lambda name: pose.visible(name, size)  # noqa: E731
        pt = pose.point
        shoulders = vis("left_shoulder") and vis("right_shoulder")
        hips = vis("left_hip") and vis("right_hip")
        mid_hip = (pt("left_hip") + pt("right_hip")) / 2
        if shoulders:
            mid_sh = (pt("left_shoulder") + pt("right_shoulder")) / 2
            axis = mid_hip - mid_sh
            length = float(np.linalg.norm(axis))
            if length < 1:
                return [], None
            axis = axis / length
            origin = mid_sh
        else:  # legs only: the body axis is the ROI's "down"; torso length from the thigh
            axis = np.array([-np.sin(pose.roi.rotation), np.cos(pose.roi.rotation)])
            knees = [pt(f"{s}_knee") for s in ("left", "right") if vis(f"{s}_knee")]
            thigh = float(np.mean([np.dot(k - mid_hip, axis) for k in knees])) if knees else 0.0
            length = max(thigh / 0.9, float(np.linalg.norm(pt("left_hip") - pt("right_hip"))) * 1.6, 1.0)
            origin = mid_hip - axis * length
        ys, xs = np.mgrid[0:h, 0:w]
        s = (xs - origin[0]) * axis[0] + (ys - origin[1]) * axis[1]
        proj = lambda name: float(np.dot(pt(name) - origin, axis))  # noqa: E731
        vis_mean = lambda names: float(np.mean([pose.landmarks[LM[n], 3] for n in names]))  # noqa: E731

        s_hip = proj("left_hip") / 2 + proj("right_hip") / 2 if hips else length
        knees = [proj(f"{side}_knee") for side in ("left", "right") if vis(f"{side}_knee")]
        ankles = [proj(f"{side}_ankle") for side in ("left", "right") if vis(f"{side}_ankle")]
        feet = [proj(f"{side}_{part}") for side in ("left", "right") for part in ("heel", "foot_index")
                if vis(f"{side}_{part}")]
        s_knee = float(np.mean(knees)) if knees else s_hip + 0.9 * length
        s_ankle = float(np.mean(ankles)) if ankles else s_knee + 0.85 * length
        out = []
        if shoulders and "upper_body" in self.regions:
            names = ["left_shoulder", "right_shoulder"] + (["left_hip", "right_hip"] if hips else [])
            out.append(("upper_body", (s >= -0.12 * length) & (s <= s_hip + 0.05 * length), pose.score * vis_mean(names)))
        if hips and knees and "lower_body" in self.regions:
            out.append(("lower_body", (s >= s_hip - 0.15 * length) & (s <= s_ankle + 0.05 * length),
                        pose.score * vis_mean(["left_hip", "right_hip", "left_knee", "right_knee"])))
        if shoulders and hips and knees and "full_length" in self.regions:
            end = s_ankle if ankles else s_knee + 0.4 * length
            out.append(("full_length", (s >= -0.12 * length) & (s <= end),
                        pose.score * vis_mean(["left_shoulder", "right_shoulder", "left_knee", "right_knee"])))
        if ankles and feet and "footwear" in self.regions:
            out.append(("footwear", (s >= s_ankle - 0.1 * length) & (s <= max(feet) + 0.12 * length),
                        pose.score * vis_mean(["left_ankle", "right_ankle"])))
        return out, (dict(s=s, s_hip=s_hip, length=length) if hips else None)


def _forearms_mask(pose: Pose, size: tuple[int, int]) -> Optional[np.ndarray]:
    """Bands along the visible forearms (elbow -> wrist), a quarter of the shoulder width thick (a third of the
    hips' when the shoulders are out of the frame)."""
    w, h = size
    if pose.visible("left_shoulder", size) and pose.visible("right_shoulder", size):
        span = 0.25 * float(np.linalg.norm(pose.point("left_shoulder") - pose.point("right_shoulder")))
    elif pose.visible("left_hip", size) and pose.visible("right_hip", size):
        span = 0.35 * float(np.linalg.norm(pose.point("left_hip") - pose.point("right_hip")))
    else:
        return None
    thick = max(2, int(span))
    out = np.zeros((h, w), dtype=np.uint8)
    for side in ("left", "right"):
        if pose.visible(f"{side}_elbow", size) and pose.visible(f"{side}_wrist", size):
            a, b = pose.point(f"{side}_elbow"), pose.point(f"{side}_wrist")
            cv2.line(out, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, thick)
    return out.astype(bool) if out.any() else None


def _split_top_and_bottom(image: np.ndarray, masks: dict, geo: dict, person: np.ndarray,
                          hands: Optional[np.ndarray], pose: Pose, size: tuple[int, int]) -> None:
    """Where the top and bottom bands meet, give each pixel to the garment whose colours it has (in place).

    The bands are geometry: the top's runs just below the hips and the bottom's starts a little above them, so a
    tee's band holds the jeans under its hem (or a tucked-in shirt's the trousers' waist) and the trousers' band
    holds the shirt hanging over them, plus the forearms hanging beside the thighs. The top's colours are sampled
    on the upper torso, the bottom's on the thighs (skin, hands and forearms left out); when the two samples are the
    same garment (a kurta, a dress) nothing changes. In the meeting zone a pixel clearly nearer the other garment's
    colours, and joined to where those were sampled, leaves the band; the forearms leave the bottom's."""
    from .colors import colour_centres, nearest_centre, skin_mask

    s, s_hip, length = geo["s"], geo["s_hip"], geo["length"]
    # every sample and every pixel that can leave a band lies between the upper torso and the thighs' sample
    roi = person & (s >= 0.25 * length) & (s <= s_hip + 0.45 * length)
    if roi.sum() < 100:
        return
    samples = _skin_samples(image, pose)
    skin = np.zeros(person.shape, bool)
    if samples is not None:
        rows = np.nonzero(roi.any(1))[0]
        y0, y1 = rows[0], rows[-1] + 1
        skin[y0:y1] = skin_mask(image[y0:y1], samples)
    forearms = _forearms_mask(pose, size)
    away = roi & ~skin & (~hands if hands is not None else True) & (~forearms if forearms is not None else True)
    top_area = away & (s <= s_hip - 0.25 * length)
    bottom_area = away & (s >= s_hip + 0.15 * length)
    if top_area.sum() < 50 or bottom_area.sum() < 50:
        return
    lab = np.zeros(image.shape, np.float64)
    lab[roi] = srgb_to_lab(image[roi])
    top_c, bottom_c = colour_centres(lab[top_area], k=3), colour_centres(lab[bottom_area], k=3)
    if top_c is None or bottom_c is None:
        return
    if float(np.median(nearest_centre(lab[bottom_area], top_c))) < 8.0:
        return  # the thighs wear the top's colours: one garment down to them (a kurta, a long top)
    d_top, d_bottom = np.full(person.shape, np.inf), np.full(person.shape, np.inf)
    d_top[roi], d_bottom[roi] = nearest_centre(lab[roi], top_c), nearest_centre(lab[roi], bottom_c)
    for region, zone, theirs, seed in (
        ("upper_body", s >= s_hip - 0.25 * length, (d_bottom + 3 < d_top) & (d_bottom < 15), bottom_area),
        ("lower_body", s <= s_hip + 0.2 * length, (d_top + 3 < d_bottom) & (d_top < 15), top_area),
    ):
        if region not in masks:
            continue
        mask, score = masks[region]
        leave = mask & zone & theirs
        if leave.any():
            # joined through the other garment's own pixels (between the band's end and its sample too)
            n, labels = cv2.connectedComponents(((person & zone & theirs) | seed).astype(np.uint8), connectivity=8)
            joined = np.unique(labels[seed])
            leave &= np.isin(labels, joined[joined > 0])
            mask = mask & ~leave
        if region == "lower_body" and forearms is not None:
            mask = mask & ~forearms
        masks[region] = (mask, score)


def _hands_mask(pose: Pose, size: tuple[int, int]) -> Optional[np.ndarray]:
    """Discs over visible hands (wrist, index, pinky, thumb), so garment masks leave them out."""
    w, h = size
    if not (pose.visible("left_shoulder", size) and pose.visible("right_shoulder", size)):
        if not (pose.visible("left_hip", size) and pose.visible("right_hip", size)):
            return None
        scale = 0.5 * float(np.linalg.norm(pose.point("left_hip") - pose.point("right_hip")))
    else:
        scale = 0.35 * float(np.linalg.norm(pose.point("left_shoulder") - pose.point("right_shoulder")))
    out = np.zeros((h, w), dtype=np.uint8)
    for side in ("left", "right"):
        parts = [f"{side}_{p}" for p in ("wrist", "index", "pinky", "thumb")]
        seen = [pose.point(p) for p in parts if pose.visible(p, size)]
        if len(seen) >= 2:
            cx, cy = np.mean(seen, axis=0)
            cv2.circle(out, (int(cx), int(cy)), max(2, int(scale)), 1, -1)
    return out.astype(bool) if out.any() else None


def _skin_samples(image: np.ndarray, pose: Pose) -> Optional[np.ndarray]:
    """Lab pixels of the face (nose..mouth) and hands, where the landmarks show them."""
    return skin_samples(image, pose.landmarks[:, [0, 1, 3, 4]])


#: MediaPipe landmarks whose surroundings are skin (nose, mouth corners, index fingers).
_SKIN_LANDMARKS = {"nose": 0, "mouth_left": 9, "mouth_right": 10, "left_index": 19, "right_index": 20}


def skin_samples(image: np.ndarray, landmarks) -> Optional[np.ndarray]:
    """Lab pixels of the face (nose..mouth) and hands at MediaPipe landmarks (33 rows of x, y, visibility,
    presence, in ``image`` pixels: a :class:`Garment`'s ``landmarks``), or None where none is visible."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or len(lm) < 33 or lm.shape[1] < 4:
        return None
    h, w = image.shape[:2]

    def visible(i: int, threshold: float = 0.5, margin: float = 0.02) -> bool:
        x, y, vis, pres = lm[i, :4]
        inside = -margin * w <= x <= (1 + margin) * w and -margin * h <= y <= (1 + margin) * h
        return bool(inside and vis >= threshold and pres >= threshold)

    if visible(11) and visible(12):  # both shoulders
        radius = max(2, int(0.08 * np.linalg.norm(lm[11, :2] - lm[12, :2])))
    else:
        radius = max(2, int(0.01 * max(h, w)))
    pts = [i for i in _SKIN_LANDMARKS.values() if visible(i, 0.7)]
    if not pts:
        return None
    sel = np.zeros((h, w), dtype=np.uint8)
    for i in pts:
        cv2.circle(sel, (int(lm[i, 0]), int(lm[i, 1])), radius, 1, -1)
    pixels = image[sel.astype(bool)]
    return srgb_to_lab(pixels) if len(pixels) >= 10 else None


def _lab_to_rgb_opencv(lab: np.ndarray) -> np.ndarray:
    """OpenCV float Lab (used by segmentation) back to 8-bit RGB."""
    arr = np.asarray(lab, dtype=np.float32).reshape(1, 1, 3)
    rgb = cv2.cvtColor(arr, cv2.COLOR_LAB2RGB)[0, 0]
    return np.clip(np.round(rgb * 255), 0, 255)


def _product_score(image: np.ndarray, mask: np.ndarray, bg: np.ndarray) -> float:
    """Confidence of a product cut-out: how clearly it stands out from the background."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    contrast = float(np.median(np.linalg.norm(lab[mask] - bg, axis=1)))
    return float(np.clip(contrast / 40.0, 0.0, 1.0))


def _create_yolo(**kwargs: Any):
    from .yolo import YoloGarmentDetector

    return YoloGarmentDetector(**kwargs)
