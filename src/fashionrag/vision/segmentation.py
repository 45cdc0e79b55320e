"""Person and product masks.

- :class:`SelfieSegmenter`: MediaPipe's selfie-segmentation model (256x256, stretched input,
  output already a 0..1 person probability).
- :func:`product_mask`: the product of a catalog shot, separated from its plain background by
  its colour distance to the border colour (catalog shots are on white or a flat colour). Returns
  None when the border is not plain (a scene, noise) or nothing stands out, so that callers give
  an honest empty answer instead of inventing a product.
- :func:`studio_silhouette`: the person on a plain backdrop: the segmenter's mask joined by what stands out from
  the backdrop and touches it.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .litert import TFLiteModel, load_model, model_path


class SelfieSegmenter:
    """Person probability per pixel (H, W) float32 in 0..1."""

    def __init__(self, num_threads: Optional[int] = None):
        self.model: TFLiteModel = load_model(model_path("selfie_segmentation"), num_threads)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA if min(h, w) > 256 else cv2.INTER_LINEAR)
        prob = self.model(small.astype(np.float32) / 255.0)[0][0, :, :, 0]
        return cv2.resize(np.clip(prob, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)


def _lab(image: np.ndarray) -> np.ndarray:
    """8-bit RGB -> CIELAB floats (L 0..100) via OpenCV (fast; colour naming uses colors.py)."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def background_colour(image: np.ndarray, border: int = 0) -> tuple[np.ndarray, float]:
    """Median Lab colour of the image border and its spread (median Lab distance to it)."""
    h, w = image.shape[:2]
    b = border or max(1, min(h, w) // 50)
    lab = _lab(image)
    ring = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3),
                           lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    med = np.median(ring, axis=0)
    spread = float(np.median(np.linalg.norm(ring - med, axis=1)))
    return med, spread


def product_mask(
    image: np.ndarray,
    threshold: float = 12.0,
    max_border_spread: float = 6.0,
    min_area: float = 0.01,
    max_area: float = 0.97,
) -> Optional[np.ndarray]:
    """Boolean mask of the object on a plain background, or None (no plain background / no object).

    A pixel is foreground when its Lab distance to the border colour exceeds ``threshold``; holes
    are filled (a white logo on a black shoe stays part of the shoe) and specks removed.
    """
    h, w = image.shape[:2]
    if min(h, w) < 4:
        return None
    bg, spread = background_colour(image)
    if spread > max_border_spread:
        return None
    dist = np.linalg.norm(_lab(image) - bg, axis=2)
    mask = _foreground(dist, threshold, min_area, max_area)
    if mask is None and spread < 2.0:
        # a perfectly plain studio background: a white shirt on white differs by only a few units
        mask = _foreground(dist, 4.0, min_area, max_area)
    return mask


def _foreground(dist: np.ndarray, threshold: float, min_area: float, max_area: float) -> Optional[np.ndarray]:
    h, w = dist.shape
    fg = (dist > threshold).astype(np.uint8)
    k = max(1, min(h, w) // 100)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, dtype=bool)
    keep[1:] = areas >= max(areas.max() * 0.05, h * w * 0.002)
    fg = keep[labels].astype(np.uint8)
    fg = _fill_holes(fg)
    area = fg.mean()
    if area < min_area or area > max_area:
        return None
    return fg.astype(bool)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill regions enclosed by the mask (flood fill of the background from the border)."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = padded.copy()
    ff_mask = np.zeros((h + 4, w + 4), dtype=np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return (mask.astype(bool) | holes).astype(np.uint8)


def studio_silhouette(image: np.ndarray, person_prob: np.ndarray, threshold: float = 12.0,
                      max_border_spread: float = 6.0, min_person_share: float = 0.2) -> np.ndarray:
    """The person's silhouette (H, W) bool: ``person_prob > 0.5``, and on a plain backdrop also every pixel that
    stands out from it (Lab distance > ``threshold``) in a part that touches that mask.

    MediaPipe's selfie model is trained on faces and upper bodies: on a catalog photo cut below the head (trousers,
    jeans) it loses whole legs and arms, and a garment mask bounded by it loses them too. The backdrop says where
    the person is there. Nothing is added on a busy background, nothing is hole-filled (the backdrop between an
    arm and the body stays out), a white garment on a white backdrop keeps the segmenter's word, and when the
    segmenter saw under ``min_person_share`` of the result (a folded shirt on which the pose model saw a person)
    its own mask is returned: a product's foreground does not become a person."""
    person = np.asarray(person_prob) > 0.5
    bg, spread = background_colour(image)
    if spread > max_border_spread or not person.any():
        return person
    fg = (np.linalg.norm(_lab(image) - bg, axis=2) > threshold).astype(np.uint8)
    k = max(1, min(fg.shape) // 100)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    _, labels = cv2.connectedComponents(fg | person.astype(np.uint8), connectivity=8)
    hit = np.unique(labels[person])
    out = person | (np.isin(labels, hit[hit > 0]) & fg.astype(bool))
    return out if person.sum() >= min_person_share * out.sum() else person
