"""Editing data: Dress Code pairs and on-model catalog photos as :class:`EditSample` items at the working size.

Read by ``train editor`` (training) and ``eval edit`` (evaluation), so both see the same inputs:

- :class:`DressCodeDataset` reads the Dress Code layout (``<category>/images``, ``keypoints``,
  ``label_maps``, ``<phase>_pairs.txt`` and the MGD noun-chunk captions ``fine_captions.json``);
- :class:`CatalogEditDataset` takes catalog products whose photos are on-model shots and computes pose
  and masks automatically (items without a person are skipped).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from ..core.errors import CatalogError, InvalidImageError, InvalidInputError
from ..core.images import load_image
from .edit_inputs import (
    CATEGORIES,
    Letterbox,
    bbox_mask,
    mediapipe_to_openpose18,
    segmentation_mask,
)

log = logging.getLogger(__name__)

#: Dress Code label-map classes of each garment (and the arms, repainted with tops and dresses).
DRESSCODE_LABELS = {"upper_body": (4, 14, 15), "lower_body": (5, 6), "dresses": (7, 14, 15)}
#: Catalog subcategories -> editing categories.
SUBCATEGORY_TO_CATEGORY = {"topwear": "upper_body", "bottomwear": "lower_body", "dress": "dresses", "dresses": "dresses",
                           "upper_body": "upper_body", "lower_body": "lower_body"}


@dataclass
class EditSample:
    """One training example at the working size (``image`` is W x H = 384 x 512 by default)."""

    image: Image.Image
    mask: np.ndarray  # (H, W) uint8, 1 = repaint
    keypoints: Optional[np.ndarray]  # (18, 3) in working pixels
    caption: str
    category: str
    garments: list[Image.Image] = field(default_factory=list)  # own garment first, then retrieved ones
    id: str = ""
    garment_id: str = ""  # the ground-truth garment's catalog id (excluded from retrieval in evaluation)


class DressCodeDataset(torch.utils.data.Dataset):
    """The Dress Code layout: ``ROOT/<category>/{images,keypoints,label_maps}``, ``<phase>_pairs.txt``
    (``<model>_0.jpg <garment>_1.jpg`` per line; the test split uses ``test_pairs_paired.txt``) and the
    MGD captions ``ROOT/fine_captions.json`` (garment id -> noun chunks)."""

    def __init__(self, root: str | Path, phase: str = "train", categories: Sequence[str] = CATEGORIES,
                 size: tuple[int, int] = (512, 384), mask_style: str = "segmentation"):
        self.root, self.size, self.mask_style = Path(root), size, mask_style
        captions_file = self.root / "fine_captions.json"
        self.captions: dict[str, list[str]] = json.loads(captions_file.read_text()) if captions_file.is_file() else {}
        self.items: list[tuple[str, str, str]] = []
        for cat in categories:
            if cat not in CATEGORIES:
                raise InvalidInputError(f"unknown Dress Code category {cat!r}; use {', '.join(CATEGORIES)}")
            pairs = next((p for p in (self.root / cat / f"{phase}_pairs.txt", self.root / cat / f"{phase}_pairs_paired.txt") if p.is_file()), None)
            if pairs is None:
                continue
            for line in pairs.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self.items.append((cat, parts[0], parts[1]))
        if not self.items:
            raise CatalogError(f"{self.root}: no Dress Code pairs for phase {phase!r} (expected <category>/{phase}_pairs.txt)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> EditSample:
        cat, im_name, c_name = self.items[i]
        d = self.root / cat
        h, w = self.size
        image = load_image(d / "images" / im_name).resize((w, h), Image.BICUBIC)
        garment = load_image(d / "images" / c_name)
        stem = im_name.rsplit("_", 1)[0]
        kp = None
        kp_file = d / "keypoints" / f"{stem}_2.json"
        if kp_file.is_file():
            raw = np.asarray(json.loads(kp_file.read_text())["keypoints"], np.float32).reshape(-1, 4)[:18]
            present = (raw[:, 0] > 1) & (raw[:, 1] > 1)  # Dress Code keypoints live on a 384x512 grid
            kp = np.zeros((18, 3), np.float32)
            kp[:, 0], kp[:, 1], kp[:, 2] = raw[:, 0] * w / 384.0, raw[:, 1] * h / 512.0, present
        labels = np.asarray(Image.open(d / "label_maps" / f"{stem}_4.png").resize((w, h), Image.NEAREST))
        garment_px = np.isin(labels, DRESSCODE_LABELS[cat]).astype(np.uint8)
        mask = self._mask(garment_px, kp, cat)
        words = self.captions.get(c_name.split("_")[0], [])
        return EditSample(image=image, mask=mask, keypoints=kp, caption=", ".join(words), category=cat,
                          garments=[garment], id=f"{cat}/{im_name}", garment_id=Path(c_name).stem)

    def _mask(self, garment_px: np.ndarray, kp: Optional[np.ndarray], cat: str) -> np.ndarray:
        import cv2

        grown = cv2.dilate(garment_px, np.ones((5, 5), np.uint8), iterations=5)
        if self.mask_style == "bbox" and grown.any():
            ys, xs = np.nonzero(grown)
            out = np.zeros_like(grown)
            out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = 1
            return out
        if not grown.any() and kp is not None:
            return bbox_mask(kp, cat, garment_px.shape[1], garment_px.shape[0])
        return grown


class CatalogEditDataset(torch.utils.data.Dataset):
    """Catalog products with on-model photos; pose and mask are computed from each photo.

    The conditioning garment is the photo's own garment region (the mask's bounding box), the caption the
    product title. Photos where no person is found yield ``None`` (dropped by the collate function).
    """

    def __init__(self, products: Sequence[Any], *, size: tuple[int, int] = (512, 384), mask_style: str = "bbox",
                 pose_estimator: Callable[[np.ndarray], Optional[np.ndarray]] | None = None,
                 person_segmenter: Callable[[np.ndarray], np.ndarray] | None = None):
        self.products = [p for p in products if _category_of(p) and getattr(p, "image_path", None)]
        if not self.products:
            raise CatalogError("no catalog product is a top, bottom or dress with an image (subcategory Topwear/Bottomwear/Dress)")
        self.size, self.mask_style = size, mask_style
        self.pose_estimator, self.person_segmenter = pose_estimator, person_segmenter

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, i: int) -> Optional[EditSample]:
        from .edit import default_person_segmenter, default_pose_estimator

        p = self.products[i]
        cat = _category_of(p)
        try:
            photo = load_image(p.image_path)
        except InvalidImageError as exc:
            log.warning("skipping %s: %s", p.id, exc)
            return None
        rgb = np.asarray(photo)
        if self.pose_estimator is None:
            self.pose_estimator = default_pose_estimator()
        landmarks = self.pose_estimator(rgb)
        if landmarks is None:
            return None
        kp = mediapipe_to_openpose18(landmarks)
        try:
            if self.mask_style == "segmentation":
                if self.person_segmenter is None:
                    self.person_segmenter = default_person_segmenter()
                mask = segmentation_mask(kp, np.asarray(self.person_segmenter(rgb)) > 0.5, cat)
            else:
                mask = bbox_mask(kp, cat, photo.width, photo.height)
        except InvalidInputError:
            return None
        if not mask.any():
            return None
        ys, xs = np.nonzero(mask)
        garment = photo.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
        h, w = self.size
        box = Letterbox(src=photo.size, dst=(w, h))
        return EditSample(image=box.image(photo), mask=box.mask(mask), keypoints=box.points(kp), caption=p.title or "",
                          category=cat, garments=[garment], id=str(p.id), garment_id=str(p.id))


def _category_of(product: Any) -> Optional[str]:
    for value in (getattr(product, "subcategory", None), getattr(product, "article_type", None)):
        if value and value.lower() in SUBCATEGORY_TO_CATEGORY:
            return SUBCATEGORY_TO_CATEGORY[value.lower()]
    return None


def collate_samples(batch: list[Optional[EditSample]]) -> list[EditSample]:
    """Keep samples as objects (garment counts vary); drop the ``None`` of skipped items."""
    return [b for b in batch if b is not None]


# ------------------------------------------------------------------------------------------ training



def work_size(base: str, weights: str | Path | None) -> tuple[int, int]:
    """(height, width) the pipeline works at: from a saved pipeline's config, else the profile's."""
    from .edit import CONFIG_NAME, TINY_SIZE, EditConfig

    if weights is not None:
        cfg_file = Path(weights) / CONFIG_NAME
        if cfg_file.is_file():
            cfg = EditConfig(**json.loads(cfg_file.read_text()))
            return cfg.height, cfg.width
    return TINY_SIZE if base == "tiny" else (512, 384)
