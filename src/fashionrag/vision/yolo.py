"""Optional Ultralytics YOLO garment detector (``pip install 'fashionrag[yolo]'``).

Any user-supplied weights file (detection or segmentation model) plus a class map that says which
of its classes is which garment region. Defaults are the paper's settings: 640 px, confidence
0.35, NMS IoU 0.6. ``ultralytics`` is imported only when a detector is built.

Class map (YAML or JSON file, or a dict): class name (or id) -> region, or -> {region, label}::

    short sleeve top: upper_body
    trousers: lower_body
    long sleeve dress: {region: full_length, label: dress}

Without a class map, common garment names (DeepFashion2, ModaNet, Fashionpedia) are mapped by
keyword; a class nobody maps is skipped rather than guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

import cv2
import numpy as np

from ..core.errors import InvalidInputError, ModelUnavailableError
from ..core.images import ImageInput, load_image
from ..core.schemas import GARMENT_REGIONS, Garment

YOLO_HINT = "pip install 'fashionrag[yolo]'  (or: pip install ultralytics)"

#: Keyword -> region for class names of common fashion datasets, checked in this order (dresses
#: first, then tops, so "short sleeve dress" and "short sleeve top" do not become shorts).
KEYWORD_REGIONS = (
    ("dress", "full_length"), ("jumpsuit", "full_length"), ("romper", "full_length"), ("kurta", "full_length"),
    ("saree", "full_length"), ("gown", "full_length"), ("coat", "upper_body"),
    ("shoe", "footwear"), ("boot", "footwear"), ("sandal", "footwear"), ("sneaker", "footwear"),
    ("footwear", "footwear"), ("heel", "footwear"),
    ("top", "upper_body"), ("shirt", "upper_body"), ("outwear", "upper_body"), ("jacket", "upper_body"),
    ("sweater", "upper_body"), ("vest", "upper_body"), ("sling", "upper_body"), ("blouse", "upper_body"),
    ("cardigan", "upper_body"), ("hoodie", "upper_body"), ("upper", "upper_body"),
    ("trouser", "lower_body"), ("pant", "lower_body"), ("jean", "lower_body"), ("short", "lower_body"),
    ("skirt", "lower_body"), ("legging", "lower_body"), ("bottom", "lower_body"),
    ("bag", "product"), ("hat", "product"), ("belt", "product"), ("watch", "product"), ("glasses", "product"),
)


def parse_class_map(source: Union[None, str, Path, dict]) -> dict[str, dict[str, Optional[str]]]:
    """Normalise a class map to ``{class name or id (str): {"region": ..., "label": ...}}``."""
    if source is None:
        return {}
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"class map {path} not found: give a YAML or JSON file mapping class -> region")
        text = path.read_text()
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError
            raise InvalidInputError(f"class map {path} is not valid {path.suffix[1:] or 'YAML'}: {exc}") from exc
    else:
        data = source
    if isinstance(data, dict) and isinstance(data.get("classes"), dict):
        data = data["classes"]
    if not isinstance(data, dict) or not data:
        raise InvalidInputError("a class map must be a non-empty mapping of class name (or id) -> region")
    out: dict[str, dict[str, Optional[str]]] = {}
    for key, value in data.items():
        entry = {"region": value, "label": None} if isinstance(value, str) else dict(value or {})
        region = entry.get("region")
        if region not in GARMENT_REGIONS:
            raise InvalidInputError(
                f"class map: {key!r} -> {region!r} is not a region; use one of {', '.join(GARMENT_REGIONS)}")
        out[str(key).strip().lower()] = {"region": region, "label": entry.get("label")}
    return out


def region_for(class_id: int, class_name: str, class_map: dict) -> Optional[tuple[str, str]]:
    """(region, label) of a detected class, or None when it should be skipped."""
    name = class_name.strip().lower()
    for key in (name, str(class_id)):
        if key in class_map:
            entry = class_map[key]
            return entry["region"], entry["label"] or class_name
    if class_map:
        return None
    for keyword, region in KEYWORD_REGIONS:
        if keyword in name:
            return region, class_name
    return None


def _array(value: Any) -> np.ndarray:
    """Tensor (any device) or array -> numpy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def results_to_garments(result: Any, class_map: dict, image_size: tuple[int, int]) -> list[tuple[Garment, np.ndarray]]:
    """Convert one Ultralytics ``Results`` (boxes, optional masks) into (Garment, mask) pairs.

    Masks come from the result's polygons (``masks.xy``, already in image pixels) when the model
    segments, else the box is the mask.
    """
    from .garments import encode_mask

    w, h = image_size
    boxes = getattr(result, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return []
    xyxy = _array(boxes.xyxy).reshape(-1, 4)
    conf = _array(boxes.conf).reshape(-1)
    cls = _array(boxes.cls).reshape(-1).astype(int)
    names = getattr(result, "names", {}) or {}
    polygons = getattr(getattr(result, "masks", None), "xy", None)
    out = []
    for i in range(len(xyxy)):
        mapped = region_for(int(cls[i]), str(names.get(int(cls[i]), cls[i])), class_map)
        if mapped is None:
            continue
        x0, y0, x1, y1 = np.clip(xyxy[i], 0, [w, h, w, h]).tolist()
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        mask = np.zeros((h, w), dtype=np.uint8)
        if polygons is not None and i < len(polygons) and len(polygons[i]) >= 3:
            cv2.fillPoly(mask, [np.round(_array(polygons[i])).astype(np.int32)], 1)
        if not mask.any():
            mask[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = 1
        region, label = mapped
        garment = Garment(region=region, label=label, box=[round(v, 1) for v in (x0, y0, x1, y1)],
                          score=round(float(conf[i]), 4), mask=encode_mask(mask.astype(bool)), source="yolo")
        out.append((garment, mask.astype(bool)))
    return out


class YoloGarmentDetector:
    """Garments from a YOLO model: ``detect(image) -> list[Garment]`` with colours like ``pose``."""

    name = "yolo"

    def __init__(
        self,
        weights: Union[str, Path, None] = None,
        class_map: Union[None, str, Path, dict] = None,
        imgsz: int = 640,
        conf: float = 0.35,
        iou: float = 0.6,
        device: Optional[str] = None,
        colours: bool = True,
        namer: Any = "default",
        model: Any = None,
    ):
        self.class_map = parse_class_map(class_map)
        self.imgsz, self.conf, self.iou, self.device = imgsz, conf, iou, device
        self.colours = colours
        if namer == "default":
            from .colors import load_default_namer

            namer = load_default_namer()
        self.namer = namer
        if model is not None:  # an already-built ultralytics model (tests, notebooks)
            self.model = model
            return
        if weights is None:
            raise InvalidInputError("the yolo detector needs weights=PATH (a YOLO .pt file) and usually a class map")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ModelUnavailableError(f"the yolo detector needs ultralytics: {YOLO_HINT}") from exc
        path = Path(weights)
        if not path.is_file():
            raise ModelUnavailableError(f"YOLO weights {path} not found (no download here): give a local .pt file")
        self.model = YOLO(str(path))

    def detect(self, image: ImageInput) -> list[Garment]:
        from .garments import garment_colours

        arr = np.asarray(load_image(image))
        h, w = arr.shape[:2]
        results = self.model.predict(arr[:, :, ::-1].copy(), imgsz=self.imgsz, conf=self.conf, iou=self.iou,
                                     device=self.device, verbose=False)  # ultralytics takes BGR arrays
        garments = []
        for garment, mask in results_to_garments(results[0], self.class_map, (w, h)):
            if self.colours:
                garment.colours = garment_colours(arr, mask, garment.region, self.namer)
            garments.append(garment)
        return garments

    __call__ = detect
