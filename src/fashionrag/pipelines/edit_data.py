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
from ..core.vocabulary import EDIT_CATEGORIES, SUBCATEGORY_TO_EDIT_CATEGORY
from ..vision import keypoints as kpts
from .edit_inputs import Letterbox, bbox_mask, segmentation_mask

log = logging.getLogger(__name__)

#: Dress Code (SCHP/ATR-style) label-map classes.
DC_LABELS = {
    "background": 0, "hat": 1, "hair": 2, "sunglasses": 3, "upper_clothes": 4, "skirt": 5, "pants": 6, "dress": 7,
    "belt": 8, "left_shoe": 9, "right_shoe": 10, "head": 11, "left_leg": 12, "right_leg": 13, "left_arm": 14,
    "right_arm": 15, "bag": 16, "scarf": 17,
}


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
    image_path: Optional[str] = None  # the photo's file (the evaluation's leak guard hashes it)


class DressCodeDataset(torch.utils.data.Dataset):
    """The Dress Code layout: ``ROOT/<category>/{images,keypoints,label_maps}``, ``<phase>_pairs.txt``
    (``<model>_0.jpg <garment>_1.jpg`` per line; the test split uses ``test_pairs_paired.txt``) and the
    MGD captions ``ROOT/fine_captions.json`` (garment id -> noun chunks)."""

    def __init__(self, root: str | Path, phase: str = "train", categories: Sequence[str] = EDIT_CATEGORIES,
                 size: tuple[int, int] = (512, 384), mask_style: str = "mask"):
        self.root, self.size, self.mask_style = Path(root), size, mask_style
        captions_file = self.root / "fine_captions.json"
        self.captions: dict[str, list[str]] = json.loads(captions_file.read_text()) if captions_file.is_file() else {}
        self.items: list[tuple[str, str, str]] = []
        for cat in categories:
            if cat not in EDIT_CATEGORIES:
                raise InvalidInputError(f"unknown Dress Code category {cat!r}; use {', '.join(EDIT_CATEGORIES)}")
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
            raw = np.asarray(json.loads(kp_file.read_text())["keypoints"], np.float32).reshape(-1, 4)
            kp = kpts.from_dresscode(raw, size=(w, h))
        labels = np.asarray(Image.open(d / "label_maps" / f"{stem}_4.png").resize((w, h), Image.NEAREST))
        mask = self._mask(labels, kp, cat)
        words = self.captions.get(c_name.split("_")[0], [])
        return EditSample(image=image, mask=mask, keypoints=kp, caption=", ".join(words), category=cat,
                          garments=[garment], id=f"{cat}/{im_name}", garment_id=Path(c_name).stem,
                          image_path=str(d / "images" / im_name))

    def _mask(self, labels: np.ndarray, kp: Optional[np.ndarray], cat: str) -> np.ndarray:
        """Always the reference's masks: ``mask`` / ``segmentation`` -> its ``mask_type="mask"``,
        ``bounding_box`` / ``bbox`` -> its ``mask_type="bounding_box"``."""
        if self.mask_style not in ("mask", "segmentation", "bounding_box", "bbox"):
            raise InvalidInputError(f"unknown Dress Code mask style {self.mask_style!r}; use mask or bounding_box")
        if kp is None:
            kp = kpts.empty()  # no arm band, no neck line: the garment labels alone
        return dresscode_inpaint_mask(labels, kp, cat, bounding_box=self.mask_style in ("bounding_box", "bbox"))


def dresscode_inpaint_mask(labels: np.ndarray, kp: np.ndarray, category: str, *, bounding_box: bool = False) -> np.ndarray:
    """The reference's Dress Code inpainting mask (1 = repaint), built the way its ``dataset/dresscode.py`` does.

    The garment's labels (dresses and lower body include the legs) plus, for tops and dresses, a 45 px band along
    the arms (wrist-elbow-shoulder-shoulder-elbow-wrist) and the neck under the shoulder line, dilated (5x5 kernel,
    5 times; band width and dilation scale with the height, the reference works at 512 only); never hair, hat, sunglasses, scarf, bag, shoes, the face above the shoulder line, or the hands (arm
    pixels outside the band); for tops also never skirt or trousers, for lower body never the top or the arms.
    ``bounding_box=True`` repaints the mask's whole box except those fixed parts (the reference's
    ``mask_type="bounding_box"``). ``labels`` and ``kp`` are at the working size (``kp`` in the canonical form).
    """
    import cv2
    from PIL import ImageDraw

    L = DC_LABELS
    labels = np.asarray(labels)
    h, w = labels.shape
    scale = h / 512.0
    fixed = np.isin(labels, [L["hair"], L["left_shoe"], L["right_shoe"], L["hat"], L["sunglasses"], L["scarf"], L["bag"]])
    head = np.isin(labels, [L["hat"], L["hair"], L["sunglasses"], L["head"]])
    arms = np.isin(labels, [L["left_arm"], L["right_arm"]])
    if category == "dresses":
        garment = np.isin(labels, [L["dress"], L["left_leg"], L["right_leg"]])
    elif category == "upper_body":
        garment = labels == L["upper_clothes"]
        fixed |= np.isin(labels, [L["skirt"], L["pants"]])
    elif category == "lower_body":
        garment = np.isin(labels, [L["pants"], L["left_leg"], L["right_leg"]])
        fixed |= np.isin(labels, [L["upper_clothes"], L["left_arm"], L["right_arm"]])
    else:
        raise InvalidInputError(f"unknown Dress Code category {category!r}; use {', '.join(EDIT_CATEGORIES)}")
    changeable = (labels == L["background"]) | ((labels > 0) & ~fixed)

    def pt(i: int) -> Optional[tuple[float, float]]:
        return (float(kp[i, 0]), float(kp[i, 1])) if kp[i, 2] > 0 else None

    if category in ("upper_body", "dresses"):
        sl, sr, el, er, wl, wr = (pt(i) for i in (kpts.L_SHOULDER, kpts.R_SHOULDER, kpts.L_ELBOW, kpts.R_ELBOW,
                                                   kpts.L_WRIST, kpts.R_WRIST))
        # the reference's chain: a missing wrist drops that side's wrist (and its elbow when that is missing too)
        chain = [wl, el, sl, sr, er, wr]
        if wr is None:
            chain = [wl, el, sl, sr] if er is None else [wl, el, sl, sr, er]
        elif wl is None:
            chain = [sl, sr, er, wr] if el is None else [el, sl, sr, er, wr]
        pts = [p for p in chain if p is not None]
        band = Image.new("L", (w, h))
        if len(pts) >= 2:
            ImageDraw.Draw(band).line(pts, fill=255, width=max(1, round(45 * scale)), joint="curve")
        band_px = np.asarray(band) > 0
        garment |= band_px
        fixed |= arms & ~band_px  # the hands
        # the neck: head pixels below the line through the shoulders (20 px slack at 512) are repainted
        below = np.zeros_like(head)
        if sl is not None and sr is not None and abs(sl[0] - sr[0]) > 1e-6:
            m = (sl[1] - sr[1]) / (sl[0] - sr[0])
            c = sl[1] - m * sl[0]
            cols = np.arange(w)
            start = np.clip((cols * m + c - 20 * scale).astype(int), 0, h)
            below = np.arange(h)[:, None] >= start[None, :]
        face = head & ~below
        fixed |= face
        garment |= head & below
    else:
        fixed |= head
    grown = cv2.dilate(garment.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=max(1, round(5 * scale))) > 0
    keep = (changeable & ~grown) | fixed
    inpaint = ~keep
    if bounding_box and inpaint.any():
        ys, xs = np.nonzero(inpaint)
        box = np.zeros_like(inpaint)
        box[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] = True
        inpaint = box & ~fixed
    return inpaint.astype(np.uint8)


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
        from ..vision.person import default_person_segmenter, default_pose_estimator

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
        kp = kpts.from_mediapipe(landmarks, bounds=photo.size)
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
                          category=cat, garments=[garment], id=str(p.id), garment_id=str(p.id),
                          image_path=str(p.image_path))


def _category_of(product: Any) -> Optional[str]:
    for value in (getattr(product, "subcategory", None), getattr(product, "article_type", None)):
        if value and value.lower() in SUBCATEGORY_TO_EDIT_CATEGORY:
            return SUBCATEGORY_TO_EDIT_CATEGORY[value.lower()]
    return None


def collate_samples(batch: list[Optional[EditSample]]) -> list[EditSample]:
    """Keep samples as objects (garment counts vary); drop the ``None`` of skipped items."""
    return [b for b in batch if b is not None]
