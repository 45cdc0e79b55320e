"""Where a garment is in a photo: its own pixels, without skin, face, hands or background.

On-model photos: the person's silhouette (MediaPipe selfie segmentation), the body's keypoints (OpenPose-18, the
one keypoint type) and the photo's own colours. A band between body landmarks gives the region's rough extent; the
garment's colours are learned from its *core* (the torso between shoulders and hips, or the thighs), the colours
it must not take from a reference area (the legs under a top, the torso above trousers), and every candidate pixel
goes to the nearer of the two. So a long kurta is followed below the hips, jeans are left out of a top's mask, a
belt in the top's colour is not, and a white shirt on a white background stays whole (the person mask, not a
background threshold, bounds it). Skin is the face's own colour (sampled at the landmarks); hands are skin, not
discs. Product-only photos: the foreground against the plain background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..vision import keypoints as K
from ..vision.colors import colour_centres, nearest_centre, skin_mask, srgb_to_lab
from ..vision.segmentation import product_mask

#: Keypoints each category is anchored by (for warps and pose-fit scores).
ANCHORS = {
    "upper_body": (K.NECK, K.R_SHOULDER, K.L_SHOULDER, K.R_ELBOW, K.L_ELBOW, K.R_HIP, K.L_HIP),
    "lower_body": (K.R_HIP, K.L_HIP, K.R_KNEE, K.L_KNEE, K.R_ANKLE, K.L_ANKLE),
    "dresses": (K.NECK, K.R_SHOULDER, K.L_SHOULDER, K.R_HIP, K.L_HIP, K.R_KNEE, K.L_KNEE),
}


@dataclass
class GarmentRegion:
    """One garment found in one photo."""

    mask: np.ndarray  # (H, W) bool: the garment's own pixels
    keypoints: Optional[np.ndarray]  # (18, 3) OpenPose points of the wearer (None for a product shot)
    source: str  # "on-model" or "product"
    skin: Optional[np.ndarray] = None  # (H, W) bool skin of the wearer
    person: Optional[np.ndarray] = None  # (H, W) bool silhouette
    skin_lab: Optional[np.ndarray] = None  # median Lab of the wearer's skin

    @property
    def area(self) -> float:
        return float(self.mask.mean())


def _pt(kp: np.ndarray, i: int) -> Optional[np.ndarray]:
    return kp[i, :2].astype(np.float64) if kp[i, 2] > 0 else None


def _mean(points) -> Optional[np.ndarray]:
    pts = [p for p in points if p is not None]
    return np.mean(pts, axis=0) if pts else None


def _skin_samples(rgb: np.ndarray, landmarks: Optional[np.ndarray], kp: np.ndarray) -> Optional[np.ndarray]:
    """Lab pixels of the face (nose and mouth area), where the landmarks show it."""
    h, w = rgb.shape[:2]
    sh = [p for p in (_pt(kp, K.R_SHOULDER), _pt(kp, K.L_SHOULDER)) if p is not None]
    radius = max(2, int(0.06 * np.linalg.norm(sh[0] - sh[1]))) if len(sh) == 2 else max(2, int(0.012 * h))
    centres = []
    if landmarks is not None:
        lm = np.asarray(landmarks)
        vis = np.minimum(lm[:, 3], lm[:, 4]) if lm.shape[1] == 5 else lm[:, -1]
        for i in (0, 9, 10, 19, 20):  # nose, mouth corners, index fingers (a photo of trousers shows no face)
            if vis[i] >= 0.6:
                centres.append(lm[i, :2])
    elif kp[K.NOSE, 2] > 0:
        centres.append(kp[K.NOSE, :2])
    if not centres:
        return None
    sel = np.zeros((h, w), np.uint8)
    for x, y in centres:
        cv2.circle(sel, (int(x), int(y)), radius, 1, -1)
    pix = rgb[sel.astype(bool)]
    return srgb_to_lab(pix) if len(pix) >= 10 else None


def _plain_background(lab: np.ndarray) -> Optional[np.ndarray]:
    """The border's median Lab colour when the border is plain (a studio backdrop), else None."""
    b = max(1, min(lab.shape[:2]) // 50)
    ring = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3),
                           lab[:, -b:].reshape(-1, 3)])
    med = np.median(ring, axis=0)
    return med if float(np.median(np.linalg.norm(ring - med, axis=1))) < 4.0 else None


def _polygon(shape: tuple[int, int], pts: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    if len(pts) >= 3:
        cv2.fillPoly(out, [np.round(np.asarray(pts)).astype(np.int32)], 1)
    return out.astype(bool)


def _shrink(pts: list[np.ndarray], f: float) -> list[np.ndarray]:
    c = np.mean(pts, axis=0)
    return [c + (p - c) * f for p in pts]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    h, w = m.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = m
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def _keep_touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    hit = np.unique(labels[seed & mask])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


def _solid_touching(mask: np.ndarray, seed: np.ndarray, radius: int) -> np.ndarray:
    """The parts of ``mask`` joined to ``seed`` through *solid* areas: the mask is opened with a disc of
    ``radius`` first, so a print's dark squares chained corner to corner (a checked kurta over dark leggings) do not
    carry the leggings' label up into the garment; what the opening shaved off is given back within ``radius`` of
    what is kept. Falls back to plain connectivity when nothing solid touches the seed (a sliver of leggings)."""
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    solid = _keep_touching(cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ker).astype(bool), seed)
    if not (solid & seed).any():
        return _keep_touching(mask, seed)
    return mask & cv2.dilate(solid.astype(np.uint8), ker).astype(bool)


def body_frame(kp: np.ndarray, shape: tuple[int, int]) -> Optional[dict]:
    """Landmark rows and widths the region rules use (None when neither shoulders nor hips are visible)."""
    h, w = shape
    rs, ls, rh, lh = (_pt(kp, i) for i in (K.R_SHOULDER, K.L_SHOULDER, K.R_HIP, K.L_HIP))
    sh, hp = _mean([rs, ls]), _mean([rh, lh])
    if sh is None and hp is None:
        return None
    width = float(np.linalg.norm(rs - ls)) if rs is not None and ls is not None else (
        float(np.linalg.norm(rh - lh)) * 1.4 if rh is not None and lh is not None else 0.25 * w)
    torso = float(hp[1] - sh[1]) if sh is not None and hp is not None else 1.5 * width
    torso = max(torso, 0.5 * width, 4.0)
    sh_y = sh[1] if sh is not None else hp[1] - torso
    hip_y = hp[1] if hp is not None else sh_y + torso
    knee = _mean([_pt(kp, K.R_KNEE), _pt(kp, K.L_KNEE)])
    ankle = _mean([_pt(kp, K.R_ANKLE), _pt(kp, K.L_ANKLE)])
    knee_y = knee[1] if knee is not None else hip_y + 0.9 * torso
    ankle_y = ankle[1] if ankle is not None else knee_y + 0.85 * torso
    return dict(rs=rs, ls=ls, rh=rh, lh=lh, width=width, torso=torso, sh_y=sh_y, hip_y=hip_y, knee_y=knee_y,
                ankle_y=ankle_y, cx=float((sh if sh is not None else hp)[0]))


def _core(kp: np.ndarray, f: dict, category: str, shape: tuple[int, int]) -> np.ndarray:
    """The part of the body surely covered by the garment: its colours are learned here."""
    h, w = shape
    half = 0.5 * f["width"]
    cx = f["cx"]
    if category in ("upper_body", "dresses"):
        top, bot = f["sh_y"] + 0.12 * f["torso"], f["hip_y"] - 0.08 * f["torso"]
        quad = [np.array([cx - 0.7 * half, top]), np.array([cx + 0.7 * half, top]),
                np.array([cx + 0.6 * half, bot]), np.array([cx - 0.6 * half, bot])]
        core = _polygon(shape, quad)
        if category == "dresses":
            core |= _polygon(shape, [np.array([cx - 0.45 * half, f["hip_y"] + 0.1 * f["torso"]]),
                                     np.array([cx + 0.45 * half, f["hip_y"] + 0.1 * f["torso"]]),
                                     np.array([cx + 0.4 * half, f["hip_y"] + 0.45 * f["torso"]]),
                                     np.array([cx - 0.4 * half, f["hip_y"] + 0.45 * f["torso"]])])
        return core
    # lower body: the two thighs below the hips
    core = np.zeros(shape, bool)
    for hip, knee in ((f["rh"], _pt(kp, K.R_KNEE)), (f["lh"], _pt(kp, K.L_KNEE))):
        if hip is None:
            continue
        end = knee if knee is not None else hip + np.array([0.0, 0.6 * f["torso"]])
        a, b = hip + 0.2 * (end - hip), hip + 0.8 * (end - hip)
        line = np.zeros(shape, np.uint8)
        cv2.line(line, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1,
                 max(2, int(0.25 * f["width"])))
        core |= line.astype(bool)
    return core


def _not_the_garment(lab: np.ndarray, skin: np.ndarray, core: np.ndarray, skin_ref: np.ndarray) -> np.ndarray:
    """The skin-tone pixels that are nearer the wearer's skin than any of the garment's own non-skin colours.

    A print, check or beige panel in skin-like tones is the garment's, not skin: the garment's colours are
    clustered from its core *with* those pixels, the clusters that are not skin-like (>= 12 from the sampled skin)
    compete with the skin colour for each candidate, and specks of a few pixels are dropped."""
    if not skin.any():
        return skin
    centres = colour_centres(lab[core], k=6, min_share=0.02)
    if centres is None:
        return skin
    cloth = centres[np.linalg.norm(centres - skin_ref, axis=1) >= 12.0]
    if len(cloth) == 0:
        return skin
    ys, xs = np.nonzero(skin)
    pix = lab[ys, xs]
    keep = np.linalg.norm(pix - skin_ref, axis=1) < nearest_centre(pix, cloth)
    out = np.zeros(skin.shape, bool)
    out[ys[keep], xs[keep]] = True
    n, labels, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
    small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < max(6, int(0.0004 * skin.size)))[0]
    small = small[small > 0]
    if len(small):
        out &= ~np.isin(labels, small)
    return out


def _reference_area(f: dict, category: str, shape: tuple[int, int]) -> np.ndarray:
    """Where the *other* garment is (colours the region must not take)."""
    h, w = shape
    ys = np.arange(h)[:, None] * np.ones((1, w))
    xs = np.ones((h, 1)) * np.arange(w)[None, :]
    near = np.abs(xs - f["cx"]) <= 0.8 * f["width"]
    if category == "upper_body":
        # the shins when they show: a kurta or a long top covers the thighs, so its own colours would be sampled
        shins = near & (ys >= f["knee_y"] + 0.15 * f["torso"]) & (ys <= f["ankle_y"])
        if min(f["ankle_y"], h) - (f["knee_y"] + 0.15 * f["torso"]) >= 0.12 * f["torso"]:
            return shins
        return near & (ys >= f["hip_y"] + 0.35 * f["torso"]) & (ys <= f["ankle_y"])
    if category == "lower_body":
        return near & (ys >= f["sh_y"] + 0.15 * f["torso"]) & (ys <= f["hip_y"] - 0.2 * f["torso"])
    return near & (ys >= f["ankle_y"] - 0.15 * f["torso"])  # dresses: below the hem (shins, shoes)


def _torso(f: dict, category: str, shape: tuple[int, int]) -> Optional[np.ndarray]:
    """The body between the garment's anchor joints (shoulders and hips; hips and knees for bottoms)."""
    if category in ("upper_body", "dresses"):
        pts = [f["rs"], f["ls"], f["lh"], f["rh"]]
    else:
        knee_y = f["knee_y"]
        pts = [f["rh"], f["lh"], None if f["lh"] is None else np.array([f["lh"][0], knee_y]),
               None if f["rh"] is None else np.array([f["rh"][0], knee_y])]
    if any(p is None for p in pts):
        return None
    return _polygon(shape, _shrink([np.asarray(p, np.float64) for p in pts], 1.1))


def _limb_bands(kp: np.ndarray, chains, width: int, shape: tuple[int, int]) -> np.ndarray:
    """Bands ``width`` px thick along each chain of keypoints whose first point (shoulder or hip) is visible."""
    out = np.zeros(shape, np.uint8)
    for chain in chains:
        pts = [kp[i, :2] for i in chain if kp[i, 2] > 0]
        if len(pts) < 2 or kp[chain[0], 2] <= 0:
            continue
        for a, b in zip(pts[:-1], pts[1:]):
            cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1, width)
    return out.astype(bool)


def _arms(kp: np.ndarray, f: dict, shape: tuple[int, int]) -> np.ndarray:
    """Bands along both arms (shoulder -> elbow -> wrist), about a fifth of the shoulder width thick."""
    chains = ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST))
    return _limb_bands(kp, chains, max(2, int(0.22 * f["width"])), shape)


def _legs(kp: np.ndarray, f: dict, shape: tuple[int, int]) -> np.ndarray:
    """Bands along both legs (hip -> knee -> ankle), about a third of the shoulder width thick."""
    chains = ((K.R_HIP, K.R_KNEE, K.R_ANKLE), (K.L_HIP, K.L_KNEE, K.L_ANKLE))
    return _limb_bands(kp, chains, max(2, int(0.3 * f["width"])), shape)


def _band(f: dict, category: str, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Rows the garment may occupy, and the row below which pixels must be clearly the garment's colour."""
    h, w = shape
    ys = np.arange(h)[:, None] * np.ones((1, w), bool)
    t = f["torso"]
    if category == "upper_body":
        return (ys >= f["sh_y"] - 0.12 * t) & (ys <= f["knee_y"] + 0.2 * t), f["hip_y"] + 0.12 * t
    if category == "lower_body":
        return (ys >= f["hip_y"] - 0.3 * t) & (ys <= f["ankle_y"] + 0.12 * t), f["ankle_y"] + 1.0
    return (ys >= f["sh_y"] - 0.12 * t) & (ys <= f["ankle_y"] + 0.12 * t), f["knee_y"] + 0.2 * t


def worn_garment(rgb: np.ndarray, kp: np.ndarray, person: np.ndarray, category: str, *,
                 landmarks: Optional[np.ndarray] = None, covers_thighs: bool = False) -> Optional[GarmentRegion]:
    """The garment of ``category`` worn by the person (None when that region is not visible).

    ``covers_thighs``: the garment is known to be a long top (a catalog kurta, whose article type says so): the
    area below the hips is then read as the garment's own lower part wherever it wears the garment's colours,
    however much of that area they fill (a kurta photographed to the knees leaves few rows of leggings, and its
    lower half in a lighter shade or a printed border would otherwise be taken for the other garment)."""
    h, w = rgb.shape[:2]
    f = body_frame(kp, (h, w))
    if f is None:
        return None
    if category in ("upper_body", "dresses") and (f["rs"] is None or f["ls"] is None):
        return None
    if category == "lower_body" and (f["rh"] is None or f["lh"] is None):
        return None
    person = np.asarray(person, bool)
    lab = srgb_to_lab(rgb.reshape(-1, 3)).reshape(h, w, 3)
    bg = _plain_background(lab)
    samples = _skin_samples(rgb, landmarks, kp)
    skin = skin_mask(rgb, samples) if samples is not None else np.zeros((h, w), bool)
    core = _core(kp, f, category, (h, w)) & person
    if core.sum() < 12:
        return None
    if samples is not None:
        skin = _not_the_garment(lab, skin, core, np.median(samples, axis=0))
    if (core & ~skin).sum() < 0.5 * core.sum():  # a skin-coloured garment: do not remove "skin" from it
        skin = skin & ~_polygon((h, w), _shrink([p for p in (f["rs"], f["ls"], f["lh"], f["rh"]) if p is not None], 1.2))
    learn = core & ~skin
    if category == "upper_body":
        # the colours are learned from the core's upper part: a short or tucked-in top can leave a skirt or
        # trousers' waist in the core's lower rows (they would then count as the top's own colours)
        top_rows = np.arange(h)[:, None] < f["sh_y"] + 0.12 * f["torso"] + 0.55 * (0.8 * f["torso"])
        if (learn & top_rows).sum() >= 12:
            learn = learn & top_rows
    g = colour_centres(lab[learn])
    if g is None:
        return None
    ref_area = _reference_area(f, category, (h, w)) & person & ~skin
    if ref_area.sum() < 30 and category == "upper_body":  # legs out of frame: whatever shows below the hips
        ref_area = person & ~skin & (np.arange(h)[:, None] >= f["hip_y"] + 0.15 * f["torso"]) & ~core
    o = None
    if ref_area.sum() >= 30:
        ref_pix = lab[ref_area]
        share = 0.03
        d_ref = nearest_centre(ref_pix, g)
        if category != "lower_body" and (covers_thighs or (d_ref < 6.0).mean() > 0.5):
            # the area is mostly the garment's own colours: a long top or kurta covers it; the other garment is
            # what there is *not* the garment's colours (leggings, trousers, shoes) and in a real share of the
            # area (a print's odd shades are not a garment), else nothing
            left = ref_pix[d_ref >= 10.0]
            share = min(1.0, 0.1 * len(ref_pix) / max(len(left), 1))
            ref_pix = left
        o = colour_centres(ref_pix, min_share=share) if len(ref_pix) >= 30 else None
        o = o if o is not None and len(o) else None
    band, strict_row = _band(f, category, (h, w))
    # the face stays: nothing above the shoulder line for tops and dresses
    if category in ("upper_body", "dresses"):
        band &= np.arange(h)[:, None] >= (min(f["rs"][1], f["ls"][1]) - 0.1 * f["torso"])
    cand = person & band & ~skin
    ys, xs = np.nonzero(cand)
    pix = lab[ys, xs]
    dg, do = nearest_centre(pix, g), nearest_centre(pix, o)
    if category == "lower_body" and o is not None:
        # the top's colours say nothing well below the hips (a top that long hides the bottom anyway); and when
        # the thighs' own colours are the top's (dark jeans under a navy sweater) colour cannot draw the line, so
        # the waist does: a little above the hip joints
        alike = float(np.median(nearest_centre(lab[learn], o))) < 12.0
        limit = f["hip_y"] - 0.1 * f["torso"] if alike else f["hip_y"] + 0.2 * f["torso"]
        do = np.where(ys > limit, np.inf, do)
    nearer_other = do + 2 < dg
    strict = (dg < 16) & (dg + 3 < do)
    if o is not None:
        # the other garment's colours are known (sampled where it shows): it is what is close to them *and*
        # joins up with where they were sampled (dark print inside a kurta near the leggings' colour is not the
        # leggings); below the strict row everything that is neither that garment nor the backdrop continues
        # the garment (a kurta's printed lower half or border in colours its core lacks), when it is connected
        # to it (see _keep_touching below)
        other = (do < 14.0) & ~(dg + 3 < do)
        if category != "lower_body":
            om = np.zeros((h, w), bool)
            om[ys[other], xs[other]] = True
            om = _solid_touching(om, ref_area, max(2, int(0.04 * f["torso"])))
            other &= om[ys, xs]
            nearer_other &= om[ys, xs]
        backdrop = np.linalg.norm(pix - bg, axis=1) <= 8 if bg is not None else np.zeros(len(pix), bool)
        strict = ((dg < 24) & (dg + 3 < do)) | (~other & ~backdrop & (dg < 45))
    loose = (dg < 30) & ~nearer_other  # above the strict row: the garment unless nearer the other garment
    keep = np.where(ys < strict_row, loose, strict)
    # inside the torso (shoulders to hips) every pixel is the garment's unless it is nearer the other garment's
    # colours: prints, logos and checks in colours the core sample missed stay part of it
    torso = _torso(f, category, (h, w))
    if torso is not None:
        keep |= torso[ys, xs] & ~(nearer_other & (do < 14.0))
        if category in ("upper_body", "dresses"):  # well above the hips no other garment can be: all of it
            keep |= torso[ys, xs] & (ys < f["hip_y"] - 0.2 * f["torso"]) & ~(nearer_other & (do < 8.0) & (do + 10 < dg))
    if category == "lower_body":
        # along the legs, hips to ankles, whatever is not skin nor the other garment is the trousers' (faded or
        # washed denim, prints, pockets the thighs' colours miss)
        keep |= _legs(kp, f, (h, w))[ys, xs] & ~(nearer_other & (do < 14.0))
    if category in ("upper_body", "dresses"):
        # along the arms whatever is not skin is the sleeve, whatever its colour (a print-heavy core can miss it)
        keep |= _arms(kp, f, (h, w))[ys, xs] & (ys < f["hip_y"] - 0.2 * f["torso"])
    if bg is not None and nearest_centre(bg[None], g)[0] > 15:  # not a white-on-white garment: drop the background halo
        # only along the person's outline: inside it a white print or panel is the garment's
        rim = max(2, int(0.015 * max(h, w)))
        outline = cv2.distanceTransform(person.astype(np.uint8), cv2.DIST_L2, 3) <= rim
        keep &= ~outline[ys, xs] | (np.linalg.norm(pix - bg, axis=1) > 6)
    mask = np.zeros((h, w), bool)
    mask[ys[keep], xs[keep]] = True
    theirs = np.zeros((h, w), bool)  # clearly the other garment (a skirt's waist inside a tucked-in top's core)
    theirs[ys[nearer_other & (do < 14.0)], xs[nearer_other & (do < 14.0)]] = True
    mask |= core & ~skin & ~theirs
    k = max(1, int(0.012 * max(h, w)))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ker).astype(bool)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, ker).astype(bool) & person
    mask = _keep_touching(mask, core)
    mask = _fill_holes(mask) & ~(skin & ~mask)
    # take in the anti-aliased outline (a rim of the old colour otherwise): one pixel into the person's edge
    edge = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    grown_person = cv2.dilate(person.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    mask |= edge & grown_person & ~skin & band
    return GarmentRegion(mask=mask, keypoints=kp, source="on-model", skin=skin, person=person,
                         skin_lab=np.median(samples, axis=0) if samples is not None else None)


def product_garment(rgb: np.ndarray) -> Optional[GarmentRegion]:
    """A product-only shot: the foreground against the plain background."""
    m = product_mask(rgb)
    if m is None or m.mean() < 0.02:
        return None
    return GarmentRegion(mask=m, keypoints=None, source="product")
