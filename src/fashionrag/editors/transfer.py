"""Pixel transfer of a catalog garment onto a person: align, then ``restyle`` or ``replace``.

- :func:`align` warps the retrieved garment (pixels and mask) into the person photo: a thin-plate spline through
  the two photos' matched body keypoints (shoulders, elbows, hips, knees as the category needs), or, for a product
  shot without a body, the garment's box onto the worn garment's box;
- :func:`restyle` keeps the worn garment's shape and carries the retrieved garment's colour and pattern into it,
  in linear light, multiplied by the person's own shading (folds and shadows: the worn garment's luminance over its
  median, lightly smoothed so thin prints do not survive as "shading");
- :func:`replace` paints the warped garment itself where it lands and fills what the old garment leaves uncovered
  from the surrounding pixels (arm skin, background), blending the seams over a pixel or two.

Every function returns the edited photo and the edit region; pixels outside the region are the input's, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from ..vision import keypoints as K
from .regions import ANCHORS, GarmentRegion, _fill_holes
from .warp import backward_maps, box_backward, fit_backward, remap


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    y = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)


def luminance(lin: np.ndarray) -> np.ndarray:
    return lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _box(mask: np.ndarray) -> Optional[tuple[float, float, float, float]]:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


@dataclass
class Alignment:
    """The retrieved garment warped into the person photo."""

    rgb: np.ndarray  # (H, W, 3) uint8, valid where ``mask``
    mask: np.ndarray  # (H, W) bool: where the warped garment lands
    pose_fit: float  # 0..1: how well the two bodies' keypoints agree after a similarity fit (0.5: unknown)
    shape_fit: float  # IoU of the warped garment with the worn garment
    method: str  # "tps", "affine", "similarity" or "box"
    pairs: int  # matched keypoints used
    inner: Optional[np.ndarray] = None  # the warped garment minus its outline (where its texture is trusted)

    @property
    def score(self) -> float:
        return round(0.5 * self.pose_fit + 0.5 * self.shape_fit, 4)


def _pairs(person_kp: np.ndarray, garment_kp: np.ndarray, category: str) -> tuple[np.ndarray, np.ndarray]:
    idx = [i for i in ANCHORS[category] if person_kp[i, 2] > 0 and garment_kp[i, 2] > 0]
    return person_kp[idx, :2].astype(np.float64), garment_kp[idx, :2].astype(np.float64)


def pose_fit(person_kp: np.ndarray, garment_kp: np.ndarray, category: str) -> float:
    """exp(-rms) of the keypoint residual after the best similarity map, in units of the person's torso width."""
    dst, src = _pairs(person_kp, garment_kp, category)
    if len(dst) < 3:
        return 0.0
    mu_d, mu_s = dst.mean(0), src.mean(0)
    d0, s0 = dst - mu_d, src - mu_s
    u, sig, vt = np.linalg.svd(s0.T @ d0)
    r = (u @ vt).T
    if np.linalg.det(r) < 0:
        vt[-1] *= -1
        r = (u @ vt).T
    scale = sig.sum() / max((s0**2).sum(), 1e-9)
    fitted = (s0 @ r.T) * scale + mu_d
    span = max(np.ptp(dst[:, 0]), np.ptp(dst[:, 1]) * 0.5, 1.0)
    rms = float(np.sqrt(((fitted - dst) ** 2).sum(1).mean()) / span)
    return float(np.exp(-rms * 6.0))


#: A product shot whose height/width ratio is within this factor of the worn garment's box fills that box exactly.
SAME_PROPORTIONS = 1.2


def _hung_box(worn: tuple[float, float, float, float], garment: tuple[float, float, float, float]
              ) -> tuple[float, float, float, float]:
    """Where a product shot (no keypoints) lands: the worn garment's box when the two have about the same
    proportions; else the product keeps its own, fitted to the worn box's width and hung from its top edge (shorts
    for trousers end at the thighs and a kurta for a tee reaches below the hips, instead of being stretched to
    the old garment's length)."""
    x0, y0, x1, y1 = worn
    gx0, gy0, gx1, gy1 = garment
    ratio_w = (y1 - y0) / max(x1 - x0, 1e-6)
    ratio_g = (gy1 - gy0) / max(gx1 - gx0, 1e-6)
    if 1 / SAME_PROPORTIONS <= ratio_g / max(ratio_w, 1e-6) <= SAME_PROPORTIONS:
        return worn
    return x0, y0, x1, y0 + (x1 - x0) * ratio_g


#: A keypoint warp is dropped for the box fit when the warped garment is this many times the worn one's area ...
IMPLAUSIBLE_AREA = 2.0
#: ... and this share of it lands off the person (a catalog photo's keypoints guessed outside its frame).
IMPLAUSIBLE_OFF_PERSON = 0.4


def _plausible(warped: np.ndarray, person: GarmentRegion) -> bool:
    """A keypoint warp that lands a garment about the worn one's size on the body (not one blown up over the
    backdrop, as when a photo cut at the waist has its hips and knees guessed wrongly)."""
    area = int(warped.sum())
    if area == 0:
        return False
    if person.person is None or area <= IMPLAUSIBLE_AREA * max(int(person.mask.sum()), 1):
        return True
    return float((warped & ~person.person).sum()) / area <= IMPLAUSIBLE_OFF_PERSON


def align(person: GarmentRegion, garment: GarmentRegion, garment_rgb: np.ndarray, category: str) -> Alignment:
    """Warp ``garment`` (pixels ``garment_rgb``) into the person photo: through the matched keypoints, or by its box
    onto the worn garment's (a product shot, or a keypoint warp that is not :func:`_plausible`)."""
    h, w = person.mask.shape
    method, pf, n = "box", 0.5, 0
    backward: Optional[Callable] = None
    if person.keypoints is not None and garment.keypoints is not None:
        dst, src = _pairs(person.keypoints, garment.keypoints, category)
        n = len(dst)
        if n >= 2:
            backward = fit_backward(dst, src)
            method = {2: "similarity", 3: "affine"}.get(n, "tps")
            pf = pose_fit(person.keypoints, garment.keypoints, category)

    def warp_mask(backward):
        maps = backward_maps(backward, (h, w))
        return maps, remap(garment.mask.astype(np.uint8) * 255, backward, (h, w), maps=maps) > 127

    if backward is not None:
        maps, m = warp_mask(backward)
        if not _plausible(m, person):
            backward, method, pf, n = None, "box", 0.5, 0
    if backward is None:
        pb, gb = _box(person.mask), _box(garment.mask)
        backward = box_backward(_hung_box(pb, gb), gb)
        maps, m = warp_mask(backward)
    rgb = remap(garment_rgb, backward, (h, w), maps=maps)
    # the texture comes from the garment's inside: its outline pixels are part background (a light rim otherwise)
    inner = cv2.erode(own_pixels(garment).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
    inner_w = remap(inner * 255, backward, (h, w), maps=maps) > 127
    return Alignment(rgb=rgb, mask=m, pose_fit=round(pf, 4), shape_fit=round(iou(m, person.mask), 4), method=method,
                     pairs=n, inner=inner_w if inner_w.any() else m)


def own_pixels(garment: GarmentRegion) -> np.ndarray:
    """Where a cut-out garment's photo shows the garment itself, for its texture: its mask with the holes inside it
    filled — the light or skin-toned ground of a print that the mask left out is the garment's (painted in from
    around, it smeared the print) — except the wearer's hands held in front of it (skin near the wrists)."""
    own = _fill_holes(garment.mask)
    if garment.skin is not None and garment.keypoints is not None:
        own &= ~(garment.skin & hand_discs(garment.keypoints, garment.mask.shape))
    return own


def _feather(mask: np.ndarray, px: float) -> np.ndarray:
    """1 deep inside ``mask``, falling to ~0.3 at its edge pixels, 0 outside (never reaches past the mask)."""
    if px <= 0:
        return mask.astype(np.float32)
    d = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(d / (px + 1.0), 0.0, 1.0).astype(np.float32) * mask


def _fill(rgb: np.ndarray, known: np.ndarray, region: np.ndarray, radius: int) -> np.ndarray:
    """``rgb`` with the pixels of ``region`` that are not ``known`` painted in from their surroundings."""
    holes = (region & ~known).astype(np.uint8)
    if not holes.any():
        return rgb
    return cv2.inpaint(rgb, holes, max(2, radius), cv2.INPAINT_TELEA)


def nearest_fill(rgb: np.ndarray, known: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``rgb`` with the pixels of ``region`` outside ``known`` set to their nearest known pixel, then softened
    (a hole inside the garment gets the garment's own colours, never the catalog photo's background)."""
    holes = region & ~known
    if not holes.any() or not known.any():
        return rgb
    _, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ky, kx = np.nonzero(known)
    order = np.zeros(labels.max() + 1, np.int64)
    zero_lab = labels[ky, kx]
    order[zero_lab] = np.arange(len(ky))
    out = rgb.copy()
    hy, hx = np.nonzero(holes)
    src = order[labels[hy, hx]]
    out[hy, hx] = rgb[ky[src], kx[src]]
    soft = cv2.GaussianBlur(out, (0, 0), 1.5)
    out[hy, hx] = soft[hy, hx]
    return out


def shading(rgb: np.ndarray, mask: np.ndarray, *, strength: float = 0.85) -> np.ndarray:
    """The worn garment's shading in linear light: its luminance over the median, with prints and logos taken
    out (pixels far in colour from the garment's main cluster get the luminance painted in from around them),
    median-filtered, clipped to [0.45, 1.6] and compressed by ``strength``."""
    h, w = mask.shape
    k = max(3, int(0.012 * max(h, w)) | 1)
    smooth = cv2.medianBlur(rgb, k)
    y = luminance(srgb_to_linear(smooth))
    if mask.sum() >= 50:
        from ..vision.colors import kmeans, srgb_to_lab

        lab = srgb_to_lab(smooth[mask])
        sample = lab if len(lab) <= 3000 else lab[np.random.default_rng(0).choice(len(lab), 3000, replace=False)]
        centres, labels = kmeans(sample, k=3, seed=0)
        main = centres[np.bincount(labels, minlength=len(centres)).argmax()]
        off = np.zeros(mask.shape, bool)
        off[mask] = np.linalg.norm(lab - main, axis=1) > 22.0
        if 0 < off.sum() < 0.6 * mask.sum():  # a print on a main colour: shading from the main colour only
            y8 = np.clip(np.round(np.sqrt(y) * 255), 0, 255).astype(np.uint8)
            grown = cv2.dilate(off.astype(np.uint8), np.ones((3, 3), np.uint8))
            y = (cv2.inpaint(y8, grown, max(2, k), cv2.INPAINT_TELEA).astype(np.float32) / 255.0) ** 2
    med = float(np.median(y[mask])) if mask.any() else 1.0
    s = np.clip(y / max(med, 1e-4), 0.45, 1.6)
    return np.power(s, strength).astype(np.float32)


def restyle(rgb: np.ndarray, person: GarmentRegion, al: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """Keep the worn garment's shape and shading; take colour and pattern from the aligned garment."""
    h, w = person.mask.shape
    region = person.mask
    texture = nearest_fill(al.rgb, al.inner if al.inner is not None else al.mask, region)
    tex = srgb_to_linear(texture)
    ty = luminance(tex)
    # flatten the catalog garment's own large-scale lighting: keep its pattern, not its shadows
    sigma = 0.08 * max(h, w)
    wsum = cv2.GaussianBlur(region.astype(np.float32), (0, 0), sigma) + 1e-6
    base = cv2.GaussianBlur(ty * region, (0, 0), sigma) / wsum
    med = float(np.median(ty[region])) if region.any() else 1.0
    flat = tex * np.clip(med / np.maximum(base, 1e-4), 0.6, 1.6)[..., None]
    shade = shading(rgb, region)
    inside = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    if inside.any():  # the outline's pixels mix in the backdrop: take their shading from just inside
        shade = nearest_fill(shade, inside, region)
    out_lin = flat * shade[..., None]
    edited = linear_to_srgb(out_lin)
    # no feathering into the old colour: the region already reaches one pixel into the outline
    out = np.where(region[..., None], edited, rgb).astype(np.uint8)
    return out, region.copy()


def _limbs(kp: np.ndarray, shape: tuple[int, int], chains, width: float) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    t = max(2, int(round(width)))
    for chain in chains:
        pts = [kp[i, :2] for i in chain if kp[i, 2] > 0]
        if kp[chain[0], 2] <= 0:
            continue
        for a, b in zip(pts[:-1], pts[1:]):
            cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1, t)
    return out.astype(bool)


def body_parts(kp: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Rough body parts from OpenPose keypoints: ``torso`` (shoulders to hips, the hips widened to the body's
    outline), ``neck`` (the base of the neck between the shoulders, where a collar or a higher neckline sat),
    ``arms`` (shoulder -> elbow -> wrist), ``legs`` (hip -> knee -> ankle, or straight down from the hips) and
    ``hands`` (discs at the wrists)."""
    h, w = shape
    rs, ls, rh, lh = (kp[i, :2] if kp[i, 2] > 0 else None for i in (K.R_SHOULDER, K.L_SHOULDER, K.R_HIP, K.L_HIP))
    width = _shoulder_width(kp, w)
    parts = {k: np.zeros(shape, bool) for k in ("torso", "neck", "arms", "legs", "hands")}
    if rs is not None and ls is not None:
        mid, across = (rs + ls) / 2, (ls - rs) / max(width, 1e-6)
        up = np.array([across[1], -across[0]])  # perpendicular to the shoulder line, towards the head
        if up[1] > 0:
            up = -up
        quad = [mid - 0.22 * width * across + 0.3 * width * up, mid + 0.22 * width * across + 0.3 * width * up,
                mid + 0.35 * width * across - 0.08 * width * up, mid - 0.35 * width * across - 0.08 * width * up]
        t = np.zeros(shape, np.uint8)
        cv2.fillPoly(t, [np.round(np.array(quad)).astype(np.int32)], 1)
        parts["neck"] = t.astype(bool)
    if rs is not None and ls is not None and rh is not None and lh is not None:
        d = (lh - rh) * 0.3
        quad = np.round(np.array([rs, ls, lh + d, rh - d])).astype(np.int32)
        t = np.zeros(shape, np.uint8)
        cv2.fillPoly(t, [quad], 1)
        parts["torso"] = t.astype(bool)
    parts["arms"] = _limbs(kp, shape, ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST)),
                           0.3 * width)
    legs = np.zeros(shape, np.uint8)
    hip_span = float(np.linalg.norm(lh - rh)) if rh is not None and lh is not None else None
    for hip, knee, ankle, other in ((K.R_HIP, K.R_KNEE, K.R_ANKLE, K.L_HIP), (K.L_HIP, K.L_KNEE, K.L_ANKLE, K.R_HIP)):
        if kp[hip, 2] <= 0:
            continue
        pts = [kp[hip, :2].astype(np.float64)] + [kp[i, :2].astype(np.float64) for i in (knee, ankle) if kp[i, 2] > 0]
        if len(pts) == 1:
            pts.append(kp[hip, :2] + [0.0, 2.0 * width])
        widths = [0.45 * width] * len(pts)
        if hip_span is not None and kp[other, 2] > 0:
            # a thigh fills the hips from the body's middle to its outline (the torso's widened hip), so two legs
            # meet at the crotch and taper to the knees and ankles instead of standing apart as two straight bands
            out_dir = (kp[hip, :2] - kp[other, :2]) / max(hip_span, 1e-6)
            mid = (kp[hip, :2] + kp[other, :2]) / 2
            outer = kp[hip, :2] + 0.3 * hip_span * out_dir
            pts[0] = (mid + outer) / 2
            widths = [0.8 * hip_span] + [0.45 * width, 0.33 * width][: len(pts) - 1]
        for (a, wa), (b, wb) in zip(zip(pts[:-1], widths[:-1]), zip(pts[1:], widths[1:])):
            d = b - a
            n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
            quad = np.round([a + n * wa / 2, a - n * wa / 2, b - n * wb / 2, b + n * wb / 2]).astype(np.int32)
            cv2.fillPoly(legs, [quad], 1)
            cv2.circle(legs, tuple(np.round(b).astype(int)), max(1, int(wb / 2)), 1, -1)
    parts["legs"] = legs.astype(bool)
    parts["hands"] = hand_discs(kp, shape, width)
    return parts


def _shoulder_width(kp: np.ndarray, w: int) -> float:
    rs, ls = (kp[i, :2] if kp[i, 2] > 0 else None for i in (K.R_SHOULDER, K.L_SHOULDER))
    return float(np.linalg.norm(rs - ls)) if rs is not None and ls is not None else 0.2 * w


def hand_discs(kp: np.ndarray, shape: tuple[int, int], width: Optional[float] = None) -> np.ndarray:
    """Discs at the visible wrists, 0.3 shoulder widths across (``width``: the shoulder width, when known)."""
    width = _shoulder_width(kp, shape[1]) if width is None else width
    hands = np.zeros(shape, np.uint8)
    for wr in (K.R_WRIST, K.L_WRIST):
        if kp[wr, 2] > 0:
            cv2.circle(hands, tuple(np.round(kp[wr, :2]).astype(int)), max(2, int(0.3 * width)), 1, -1)
    return hands.astype(bool)


def _background(rgb: np.ndarray, person: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The plain backdrop's colour (median of the border when it is nearly uniform), else None."""
    b = max(1, min(rgb.shape[:2]) // 50)
    ring = np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3), rgb[:, :b].reshape(-1, 3),
                           rgb[:, -b:].reshape(-1, 3)]).astype(np.float32)
    med = np.median(ring, axis=0)
    return med if float(np.median(np.abs(ring - med).max(1))) < 8.0 else None


def replace(rgb: np.ndarray, person: GarmentRegion, al: Alignment, category: str = "upper_body"
            ) -> tuple[np.ndarray, np.ndarray]:
    """Paint the aligned garment over its whole warped extent, and turn what the old garment leaves uncovered
    into what is under it: the new garment where the torso is (no body is see-through), skin along the arms and
    at the base of the neck (and the legs under a dress or shorts), the other garment along the legs under a top,
    the backdrop elsewhere. The region (the old garment plus the new one) is returned as the mask; every pixel
    outside it is the input's."""
    h, w = person.mask.shape
    kp = person.keypoints
    new = _fill_holes(al.mask)  # a holed cut-out would show the old garment through it
    parts = body_parts(kp, (h, w)) if kp is not None else None
    skin = person.skin if person.skin is not None else np.zeros((h, w), bool)
    if kp is not None:
        # never paint over the face (skin above the shoulders) nor over the hands in front of the garment
        sh = [kp[i, 1] for i in (K.R_SHOULDER, K.L_SHOULDER) if kp[i, 2] > 0]
        if sh:
            face = skin.copy()
            face[int(max(0, min(sh) - 0.02 * h)):] = False
            new &= ~face
        new &= ~(skin & parts["hands"])
    old = person.mask
    region = old | new
    # the new garment's texture everywhere it lands (its outline and filled holes from just inside)
    tex = nearest_fill(al.rgb, al.inner if al.inner is not None else al.mask, new)
    out = rgb.copy()
    uncovered = old & ~new
    if uncovered.any():
        if parts is not None:
            torso = parts["torso"] & uncovered
            # a collar or higher neckline the new garment leaves uncovered is the wearer's neck, not backdrop
            neck = parts["neck"] & uncovered & ~torso if category != "lower_body" else np.zeros((h, w), bool)
            arms = (parts["arms"] & uncovered & ~torso) | neck
            legs = parts["legs"] & uncovered & ~torso & ~arms
        else:
            torso = arms = legs = np.zeros((h, w), bool)
        rest = uncovered & ~torso & ~arms & ~legs
        bg = _background(rgb, person.person)
        # the backdrop: its plain colour, or painted in from the pixels outside the person
        if rest.any():
            if bg is not None:
                out[rest] = np.round(bg).astype(np.uint8)
            else:
                out = _fill(out, ~rest, rest, int(0.03 * max(h, w)))
        skin_px = rgb[skin & ~old] if (skin & ~old).sum() >= 10 else None
        skin_rgb = np.median(skin_px, axis=0) if skin_px is not None else None
        limb_skin = arms | (legs if category != "upper_body" else np.zeros_like(legs))
        if limb_skin.any():
            if skin_rgb is not None:
                # the wearer's own skin tone, with the photo's large-scale light
                lum = luminance(srgb_to_linear(cv2.GaussianBlur(rgb, (0, 0), 0.03 * max(h, w))))
                gain = np.clip(lum / max(float(np.median(lum[old])), 1e-4), 0.8, 1.15)
                base = srgb_to_linear(np.round(skin_rgb).astype(np.uint8)[None, None])[0, 0]
                out[limb_skin] = linear_to_srgb(base[None] * gain[limb_skin][:, None])
            else:
                out = _fill(out, ~limb_skin, limb_skin, int(0.03 * max(h, w)))
        if category == "upper_body" and legs.any():
            # the other garment (trousers, leggings) continued up under the shorter top: taken from below the hips
            other = (person.person if person.person is not None else np.ones((h, w), bool)) & ~old & ~skin & ~new
            hips = [kp[i, 1] for i in (K.R_HIP, K.L_HIP) if kp[i, 2] > 0]
            if hips:
                other[: int(np.mean(hips))] = False
            if other.sum() >= 20:
                # its own colour, with the photo's large-scale light (its copied edge rows would streak)
                px = srgb_to_linear(rgb[other])
                base = np.median(px, axis=0)
                lum = luminance(srgb_to_linear(cv2.GaussianBlur(rgb, (0, 0), 0.04 * max(h, w))))
                gain = np.clip(lum / max(float(np.median(lum[old])), 1e-4), 0.85, 1.1)
                out[legs] = linear_to_srgb(base[None] * gain[legs][:, None])
            else:
                out = _fill(out, ~legs, legs, int(0.03 * max(h, w)))
        if torso.any():
            if category == "lower_body":
                other = (person.person if person.person is not None else np.ones((h, w), bool)) & ~old & ~skin & ~new
                out = nearest_fill(out, other, torso) if other.any() else out
            else:
                tex = nearest_fill(tex, new, torso) if new.any() else tex
                new = new | torso
        # soften the seams between the filled parts
        soft = cv2.GaussianBlur(out, (0, 0), 1.0)
        seam = uncovered & ~new
        out[seam] = soft[seam]
    a = _feather(new, 1.0)[..., None]
    out = np.where(new[..., None], np.round(a * tex + (1 - a) * out), out)
    out = np.where(region[..., None], out, rgb).astype(np.uint8)
    return out, region


def upscale_edit(full: np.ndarray, work: np.ndarray, edited: np.ndarray, region: np.ndarray, *,
                 detail: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """An edit made on a downscaled copy (``work`` -> ``edited``, ``region``) carried back to the full photo.

    The region is upsampled smoothly and thresholded; inside it the edit is upsampled and, with ``detail``
    (restyle: the garment is the person's own), multiplied by the photo's full-resolution luminance detail
    (full luminance over the upsampled working luminance, in linear light) so folds and edges stay crisp. Outside
    the region every pixel is the full photo's."""
    h, w = full.shape[:2]
    m = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    up = cv2.resize(edited, (w, h), interpolation=cv2.INTER_CUBIC)
    if detail:
        y_full = luminance(srgb_to_linear(full))
        y_up = cv2.resize(luminance(srgb_to_linear(work)), (w, h), interpolation=cv2.INTER_LINEAR)
        ratio = np.power(np.clip(y_full / np.maximum(y_up, 1e-4), 0.75, 1.33), 0.85).astype(np.float32)
        up = linear_to_srgb(srgb_to_linear(up) * ratio[..., None])
    return np.where(m[..., None], up, full).astype(np.uint8), m
