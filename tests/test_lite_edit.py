"""The offline ``lite`` editor on synthetic photos with known geometry: warps, shading, preservation, modes,
retrieval with named attributes, and each one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("cv2")

from fashionrag import stores
from fashionrag.core.errors import CatalogError, InvalidInputError
from fashionrag.retrieval.query import QueryParser
from fashionrag.editors.regions import GarmentRegion
from fashionrag.editors.transfer import align, replace, restyle
from fashionrag.editors.warp import ThinPlateSpline, backward_maps, fit_backward, remap
from fashionrag.pipelines.edit_lite import LiteEditPipeline
from fashionrag.retrieval.retriever import Retriever
from fashionrag.vision import keypoints as K

H, W = 240, 180


def _kp(dx: float = 0.0, dy: float = 0.0, s: float = 1.0) -> np.ndarray:
    kp = K.empty()
    for i, (x, y) in {K.NOSE: (90, 30), K.NECK: (90, 60), K.R_SHOULDER: (60, 60), K.L_SHOULDER: (120, 60),
                      K.R_ELBOW: (45, 100), K.L_ELBOW: (135, 100), K.R_WRIST: (40, 140), K.L_WRIST: (140, 140),
                      K.R_HIP: (70, 150), K.L_HIP: (110, 150), K.R_KNEE: (70, 200), K.L_KNEE: (110, 200)}.items():
        kp[i] = (90 + (x - 90) * s + dx, 30 + (y - 30) * s + dy, 1)
    return kp


def _person(colour=(40, 60, 160), kp=None, stripes: bool = False, shade: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat 'person' on white: skin head/arms/legs, a top between shoulders and hips; returns rgb, top, person."""
    kp = _kp() if kp is None else kp
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    skin = (205, 150, 120)
    (nx, ny), (rsx, rsy), (lsx, _), (rhx, rhy), (lhx, _) = (kp[i, :2] for i in (K.NOSE, K.R_SHOULDER, K.L_SHOULDER, K.R_HIP, K.L_HIP))
    d.ellipse([nx - 18, ny - 22, nx + 18, ny + 22], fill=skin)
    for a, b in ((K.R_SHOULDER, K.R_WRIST), (K.L_SHOULDER, K.L_WRIST)):
        d.line([tuple(kp[a, :2]), tuple(kp[K.R_ELBOW if a == K.R_SHOULDER else K.L_ELBOW, :2]), tuple(kp[b, :2])], fill=skin, width=14)
    d.rectangle([rhx - 8, rhy, lhx + 8, H], fill=(30, 30, 30))  # dark trousers
    top = Image.new("L", (W, H), 0)
    ImageDraw.Draw(top).polygon([(rsx - 6, rsy - 4), (lsx + 6, rsy - 4), (lhx + 6, rhy + 6), (rhx - 6, rhy + 6)], fill=255)
    m = np.asarray(top) > 0
    rgb = np.asarray(img).copy()
    base = np.array(colour, np.float32)
    if stripes:
        band = (np.arange(W)[None, :] // 8) % 2 == 0
        rgb[m & band] = (230, 230, 230)
        rgb[m & ~band] = base.astype(np.uint8)
    else:
        rgb[m] = base.astype(np.uint8)
    if shade:  # a vertical fold: darker band in the middle of the top
        fold = np.exp(-((np.arange(W) - 90) / 10.0) ** 2)[None, :] * np.ones((H, 1))
        rgb = np.where(m[..., None], np.clip(rgb * (1 - 0.45 * fold[..., None]), 0, 255), rgb).astype(np.uint8)
    person = np.asarray(img.convert("L")) < 250
    person = person | m
    return rgb, m, person


def _region(mask, kp, person=None) -> GarmentRegion:
    return GarmentRegion(mask=mask.astype(bool), keypoints=kp, source="on-model", person=person)


def test_tps_recovers_a_known_warp():
    rng = np.random.default_rng(0)
    src = rng.uniform(10, 170, (8, 2))
    affine = np.array([[1.1, 0.15], [-0.05, 0.9]])
    dst = src @ affine.T + [5.0, -3.0]
    tps = ThinPlateSpline.fit(dst, src)  # backward: destination -> source
    assert np.allclose(tps(dst), src, atol=1e-6)
    probe = rng.uniform(20, 160, (50, 2))
    assert np.allclose(tps(probe @ affine.T + [5.0, -3.0]), probe, atol=1e-4)  # an affine map is reproduced exactly
    # an image warped by a shift comes back shifted
    img = np.zeros((60, 80, 3), np.uint8)
    img[20:30, 30:40] = 255
    shift = fit_backward(np.array([[10.0, 10], [50, 10], [10, 50], [50, 50]]), np.array([[15.0, 12], [55, 12], [15, 52], [55, 52]]))
    out = remap(img, shift, (60, 80), maps=backward_maps(shift, (60, 80)))
    ys, xs = np.nonzero(out[..., 0] > 127)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (18, 27, 25, 34)


def test_align_maps_the_garment_onto_the_body_from_keypoints():
    kp_p = _kp()
    kp_g = _kp(dx=12, dy=-8, s=0.8)  # the catalog model stands elsewhere, smaller
    rgb_g, top_g, _ = _person((200, 30, 30), kp_g, shade=False)
    _, top_p, _ = _person(kp=kp_p)
    al = align(_region(top_p, kp_p), _region(top_g, kp_g), rgb_g, "upper_body")
    assert al.method == "tps" and al.pairs == 7 and al.pose_fit > 0.95
    assert al.shape_fit > 0.85  # the warped garment lands on the worn one
    assert (al.rgb[top_p & al.mask] == (200, 30, 30)).all(-1).mean() > 0.9


def test_restyle_keeps_the_shading_and_every_outside_pixel():
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=True)
    rgb_g, top_g, _ = _person((200, 30, 30), kp, shade=False)
    worn = _region(top, kp, person)
    al = align(worn, _region(top_g, kp), rgb_g, "upper_body")
    out, region = restyle(rgb, worn, al)
    assert np.array_equal(out[~region], rgb[~region])  # outside the edit region: the input, exactly
    assert np.array_equal(region, top)
    inside = out[top].astype(int)
    assert (inside[:, 0] > inside[:, 2]).mean() > 0.95  # now red, not blue
    # the fold survives: the middle column of the top is darker than its sides, as in the input
    row = 110
    mid, side = out[row, 90].astype(int).sum(), out[row, 70].astype(int).sum()
    assert mid < 0.8 * side
    from fashionrag.editors.transfer import luminance, srgb_to_linear

    def contrast(img):
        y = luminance(srgb_to_linear(img[row, [90, 70]]))
        return 1 - y[0] / y[1]

    assert contrast(out) > 0.6 * contrast(rgb) > 0.2  # the person's fold, in linear light, mostly kept


def test_replace_paints_the_new_shape_and_fills_what_is_uncovered():
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    worn = _region(top, kp, person)
    # a narrower garment: the old top's sides are uncovered and must be filled from around them
    narrow = np.zeros_like(top)
    narrow[60:156, 75:106] = True
    g_rgb = np.zeros_like(rgb)
    g_rgb[narrow] = (200, 30, 30)
    al = align(worn, _region(narrow, kp), g_rgb, "upper_body")
    out, region = replace(rgb, worn, al)
    assert np.array_equal(out[~region], rgb[~region])
    assert (out[al.mask & (narrow)] [:, 0] > 150).mean() > 0.9
    uncovered = top & ~al.mask
    assert uncovered.sum() > 500
    blue = (np.abs(out[uncovered].astype(int) - (40, 60, 160)).sum(-1) < 30).mean()
    assert blue < 0.2  # the old garment does not show through


def test_replace_paints_a_long_garment_below_the_old_hem():
    """A kurta for a short top: the new garment's whole warped extent is painted (the region grows and is the
    mask), not clipped to the old top's region."""
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    worn = _region(top, kp, person)
    kurta = np.zeros_like(top)
    kurta[58:205, 58:123] = True  # shoulders to below the knees' line (y = 200)
    g_rgb = np.zeros_like(rgb)
    g_rgb[kurta] = (200, 160, 20)
    al = align(worn, _region(kurta, kp), g_rgb, "upper_body")
    out, region = replace(rgb, worn, al, "upper_body")
    below = kurta & ~top  # below the old hem (over the trousers) and beside the old top
    assert below[170:].sum() > 500
    assert region[below].all()  # the reported edit region holds all of it
    inside = below.copy()
    inside[:, :61] = inside[:, 120:] = False
    inside[202:] = False  # the outline's pixels are blended over a pixel
    got = out[inside].astype(int)
    assert (np.abs(got - (200, 160, 20)).sum(-1) < 40).mean() > 0.95  # the kurta's colour, not the trousers'
    assert np.array_equal(out[~region], rgb[~region])  # and nothing outside the region moved


def _replace_with_red_top(rgb, top, old, person, kp, skin):
    """Replace the worn garment ``old`` by a red top of exactly ``top``'s shape: (out, region, alignment), with
    every pixel outside the region checked unchanged."""
    worn = GarmentRegion(mask=old, keypoints=kp, source="on-model", person=person | old, skin=skin)
    g_rgb = np.zeros_like(rgb)
    g_rgb[top] = (200, 30, 30)
    al = align(worn, _region(top, kp), g_rgb, "upper_body")
    out, region = replace(rgb, worn, al, "upper_body")
    assert np.array_equal(out[~region], rgb[~region])
    return out, region, al


def test_replace_turns_uncovered_sleeves_into_skin_and_backdrop():
    """A sleeveless top for a long-sleeved one: the old sleeves become arm skin, the old garment's flare outside
    the body becomes the backdrop; none of the old colour stays."""
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    sleeves = np.zeros(top.shape, np.uint8)
    import cv2

    for a, b in ((K.R_SHOULDER, K.R_ELBOW), (K.L_SHOULDER, K.L_ELBOW)):
        cv2.line(sleeves, tuple(int(v) for v in kp[a, :2]), tuple(int(v) for v in kp[b, :2]), 1, 16)
    flare = np.zeros_like(top)
    flare[140:156, 4:28] = True  # a wide hem far out to the side, over the backdrop
    old = top | sleeves.astype(bool) | flare
    rgb = rgb.copy()
    rgb[old] = (40, 60, 160)
    skin = np.zeros_like(top)
    skin[:50] = (np.abs(rgb[:50].astype(int) - (205, 150, 120)).sum(-1) < 10)  # the face
    skin[100:] |= (np.abs(rgb[100:].astype(int) - (205, 150, 120)).sum(-1) < 10)  # forearms
    out, region, al = _replace_with_red_top(rgb, top, old, person, kp, skin)
    arm = sleeves.astype(bool) & ~al.mask
    arm[:, 52:129] = False  # the sleeves' shoulder ends lie on the torso (the new garment goes there)
    assert arm.sum() > 200
    to_skin = np.abs(out[arm].astype(int) - (205, 150, 120)).sum(-1)
    assert (to_skin < 60).mean() > 0.8  # the arm, in the wearer's skin tone
    assert (np.abs(out[flare].astype(int) - 255).sum(-1) < 30).mean() > 0.9  # the white backdrop
    left = np.abs(out[old & ~al.mask].astype(int) - (40, 60, 160)).sum(-1) < 40
    assert left.mean() < 0.05  # the old garment does not show anywhere


def test_replace_turns_an_uncovered_collar_into_neck_skin_not_backdrop():
    """A shirt with a high collar for a top with a lower neckline: the collar the new top leaves uncovered, at the
    base of the neck inside the silhouette, becomes the wearer's skin (it was painted the white backdrop, a hole
    through the neck)."""
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    collar = np.zeros_like(top)
    collar[44:58, 76:105] = True  # above the shoulder line (y = 60), under the chin
    old = top | collar
    rgb = rgb.copy()
    rgb[old] = (40, 60, 160)
    skin = np.zeros_like(top)
    skin[:44] = (np.abs(rgb[:44].astype(int) - (205, 150, 120)).sum(-1) < 10)  # the face
    out, region, al = _replace_with_red_top(rgb, top, old, person, kp, skin)
    neck = collar & ~al.mask
    assert neck.sum() > 150
    got = out[neck].astype(int)
    assert (np.abs(got - (205, 150, 120)).sum(-1) < 60).mean() > 0.8  # the wearer's skin tone
    assert (np.abs(got - 255).sum(-1) < 30).mean() < 0.05  # not the backdrop


def test_a_catalog_kurta_is_followed_to_its_hem_when_its_article_type_says_it_is_long():
    """A catalog kurta whose lower half is a lighter shade, photographed so that only a few rows of leggings show
    under its hem: without the catalog's word the lighter half fills most of the area below the hips and is taken
    for the other garment (the kurta was cut at the waist and transferred as a short top); with
    ``covers_thighs`` (the pipeline passes it for Kurtas, Kurtis, Tunics) the kurta is kept to its hem and the
    leggings are not."""
    from fashionrag.editors.regions import worn_garment

    kp = _kp()
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([72, 8, 108, 52], fill=(205, 150, 120))
    for a, e, wr in ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST)):
        d.line([tuple(kp[a, :2]), tuple(kp[e, :2]), tuple(kp[wr, :2])], fill=(205, 150, 120), width=14)
    d.rectangle([66, 150, 114, H], fill=(30, 90, 40))  # green leggings: rows 226.. show under the hem
    kurta = Image.new("L", (W, H), 0)
    ImageDraw.Draw(kurta).polygon([(54, 56), (126, 56), (124, 225), (56, 225)], fill=255)
    k = np.asarray(kurta) > 0
    yy = np.mgrid[:H, :W][0]
    rgb = np.asarray(img).copy()
    rgb[k] = (220, 200, 60)
    rgb[k & (yy >= 150)] = (232, 214, 90)  # the lower half, 8 Lab units lighter
    person = (np.asarray(img.convert("L")) < 250) | k
    lower = np.zeros_like(k)
    lower[165:220, 62:118] = True
    legs = np.zeros_like(k)
    legs[230:H, 70:110] = True
    plain = worn_garment(rgb, kp, person, "upper_body")
    long = worn_garment(rgb, kp, person, "upper_body", covers_thighs=True)
    assert plain is not None and long is not None
    assert plain.mask[lower].mean() < 0.5  # the failure the hint mends
    assert long.mask[lower].mean() > 0.95
    assert long.mask[legs].mean() < 0.05
    assert long.mask[70:140, 70:110].mean() > 0.95


def test_a_keypoint_warp_that_blows_the_garment_up_over_the_backdrop_falls_back_to_the_box_fit():
    """A catalog photo whose keypoints were guessed squeezed together (a photo cut at the waist) maps its garment
    to several times the worn one's size, mostly over the backdrop: the warp is dropped for the box fit, which lands
    the garment on the worn garment's box."""
    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    worn = _region(top, kp, person)
    g_kp = _kp(s=0.35)  # the same joints, squeezed towards the head: the warp scales the garment up ~3x
    g_mask = np.zeros_like(top)
    g_mask[40:120, 50:130] = True
    g_rgb = np.zeros_like(rgb)
    g_rgb[g_mask] = (200, 30, 30)
    al = align(worn, _region(g_mask, g_kp), g_rgb, "upper_body")
    assert al.method == "box" and al.pairs == 0
    ys, xs = np.nonzero(top)
    inside = np.zeros_like(top)
    inside[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    assert (al.mask & ~inside).sum() < 0.02 * al.mask.sum()  # on the worn garment's box, not over the backdrop
    # the same joints unsqueezed keep their keypoint warp
    assert align(worn, _region(top, kp), g_rgb, "upper_body").method == "tps"


def test_studio_silhouette_adds_what_stands_out_from_a_plain_backdrop_and_touches_the_person():
    """The segmenter lost the legs of a photo cut below the head: on a plain backdrop the parts that stand out from
    it and touch its mask join the silhouette; a blob apart from the person does not, the backdrop between the legs
    stays out, and on a busy background the segmenter's mask is returned as it is."""
    from fashionrag.vision.segmentation import studio_silhouette

    img = np.full((H, W, 3), 250, np.uint8)
    img[20:120, 50:130] = (40, 60, 160)  # the top
    img[120:230, 55:85] = img[120:230, 95:125] = (30, 30, 35)  # two legs
    img[200:230, 150:170] = (200, 30, 30)  # something else on the floor
    prob = np.zeros((H, W), np.float32)
    prob[20:125, 50:130] = 0.9  # the segmenter saw the top only
    sil = studio_silhouette(img, prob)
    assert sil[130:225, 58:82].all() and sil[130:225, 98:122].all()  # the legs
    assert not sil[130:225, 88:92].any()  # the backdrop between them
    assert not sil[200:230, 150:170].any()  # not touching the person
    speck = np.zeros((H, W), np.float32)
    speck[60:64, 60:64] = 0.9  # the segmenter saw a speck of a product shot: its foreground is not a person
    assert np.array_equal(studio_silhouette(img, speck), speck > 0.5)
    noisy = np.random.default_rng(0).integers(0, 255, (H, W, 3)).astype(np.uint8)
    noisy[20:230, 50:130] = img[20:230, 50:130]
    assert np.array_equal(studio_silhouette(noisy, prob), prob > 0.5)


def test_a_garments_texture_keeps_the_holes_its_print_left_in_its_mask_but_not_the_wearers_hand():
    """A catalog garment's mask left out a patch of its print's skin-toned ground (inside it) and the model's hand
    held in front of it at the wrist: the texture takes the photo's own pixels in the print's patch (painting it in
    from around smeared the print) and still leaves the hand out."""
    from fashionrag.editors.transfer import own_pixels

    kp = _kp()
    rgb, top, person = _person((40, 60, 160), kp, shade=False)
    g_kp = kp.copy()
    g_kp[K.R_WRIST] = (80, 130, 1)  # the model's right hand in front of her, over the garment
    mask = top.copy()
    mask[70:88, 80:100] = False  # a patch of the print's skin-toned ground, left out of the mask
    hand = np.zeros_like(top)
    hand[124:137, 70:91] = True
    mask &= ~hand
    skin = np.zeros_like(top)
    skin[70:88, 80:100] = True  # both are skin-toned, both enclosed by the garment
    skin |= hand
    garment = GarmentRegion(mask=mask, keypoints=g_kp, source="on-model", skin=skin, person=person)
    own = own_pixels(garment)
    assert own[70:88, 80:100].all()  # the print's patch is the garment's
    assert not own[hand].any()  # the hand is not
    al = align(_region(top, kp, person), garment, rgb, "upper_body")
    assert al.inner[74:84, 84:96].all()  # the texture is taken there, not painted in


def test_a_light_sleeve_is_not_taken_for_skin():
    """A beige top close to the face's tone (the skin rule alone takes it for skin): its sleeves stay in the
    worn garment's mask; the forearms' real skin does not."""
    from fashionrag.editors.regions import worn_garment
    from fashionrag.vision.colors import skin_mask, srgb_to_lab

    kp = _kp()
    face = (205, 150, 120)
    beige = (226, 190, 158)  # 15.6 from the face in Lab, 11.4 in CIEDE2000 (the skin rule allows 14)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([72, 8, 108, 52], fill=face)
    for a, e, wr in ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST)):
        d.line([tuple(kp[e, :2]), tuple(kp[wr, :2])], fill=face, width=14)  # forearm: skin
        d.line([tuple(kp[a, :2]), tuple(kp[e, :2])], fill=beige, width=18)  # upper arm: the beige sleeve
    d.rectangle([62, 150, 118, H], fill=(30, 30, 30))  # trousers
    d.polygon([(54, 56), (126, 56), (116, 156), (64, 156)], fill=beige)
    # a small print on the chest, so the garment has a colour of its own besides the beige
    d.rectangle([80, 80, 100, 100], fill=(30, 90, 60))
    rgb = np.asarray(img)
    person = np.asarray(img.convert("L")) < 250
    sleeve = np.zeros((H, W), bool)
    for a, e in ((K.R_SHOULDER, K.R_ELBOW), (K.L_SHOULDER, K.L_ELBOW)):
        t = np.linspace(0.25, 0.75, 20)
        for x, y in kp[a, :2] * (1 - t[:, None]) + kp[e, :2] * t[:, None]:
            sleeve[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = True
    samples = srgb_to_lab(rgb[10:50, 78:102].reshape(-1, 3))
    assert skin_mask(rgb, samples)[sleeve].mean() > 0.9  # the premise: the skin-tone rule takes the sleeve
    region = worn_garment(rgb, kp, person, "upper_body")
    assert region is not None
    assert region.mask[sleeve].mean() > 0.9  # the sleeve is the garment's
    forearm = np.zeros((H, W), bool)
    for e, wr in ((K.R_ELBOW, K.R_WRIST), (K.L_ELBOW, K.L_WRIST)):
        for t in np.linspace(0.4, 0.9, 10):
            x, y = kp[e, :2] * (1 - t) + kp[wr, :2] * t
            forearm[int(y), int(x)] = True
    assert not region.mask[forearm].any()  # the forearms' skin is not


def test_query_parser_uses_the_catalog_vocabulary():
    p = QueryParser(["Navy Blue", "Blue", "Red", "Off White"], ["Shirts", "Tshirts", "Jeans", "Kurtas"], ["Men", "Women"])
    q = p.parse("navy blue check shirt")
    assert (q.colour, q.article_type, q.gender, q.patterns) == ("Navy Blue", "Shirts", None, ["check"])
    assert q.filters() == {"colour": ["Navy Blue"], "article_type": ["Shirts"]}
    q = p.parse("Off-White t-shirt for women")
    assert (q.colour, q.article_type, q.gender) == ("Off White", "Tshirts", "Women")
    assert p.parse("blue jeans").article_type == "Jeans" and p.parse("a kurta").article_type == "Kurtas"
    assert p.parse("something nice").filters() == {}


# ------------------------------------------------------------------------------ the pipeline, end to end

class FixedEncoder:
    name, dim = "fixed", 4

    def encode_texts(self, texts, **_):
        return np.tile(np.array([[1, 0, 0, 0]], np.float32), (len(texts), 1))

    def encode_images(self, images, **_):
        return np.tile(np.array([[1, 0, 0, 0]], np.float32), (len(images), 1))


def _lm_from(kp: np.ndarray) -> np.ndarray:
    """MediaPipe-style (33, 5) landmarks whose OpenPose mapping is ``kp``."""
    lm = np.zeros((33, 5), np.float32)
    for op, mp in K.MEDIAPIPE_TO_OPENPOSE18.items():
        if kp[op, 2] > 0:
            lm[mp] = (kp[op, 0], kp[op, 1], 0, 0.99, 0.99)
    return lm


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    d = tmp_path_factory.mktemp("shop")
    kp = _kp()
    persons = {}
    rows = [("red-shirt", "Red", "Shirts", "Men", (200, 30, 30), [1, 0, 0, 0]),
            ("navy-shirt", "Navy Blue", "Shirts", "Men", (20, 30, 90), [0.9, 0.43, 0, 0]),
            ("green-tee", "Green", "Tshirts", "Women", (30, 160, 40), [0.8, 0, 0.6, 0])]
    vecs, metas = [], []
    for gid, colour, art, gender, rgbc, v in rows:
        rgb, _, person = _person(rgbc, kp, shade=False)
        path = d / f"{gid}.png"
        Image.fromarray(rgb).save(path)
        persons[str(path)] = person
        vecs.append(np.asarray(v, np.float32) / np.linalg.norm(v))
        metas.append({"id": gid, "image_path": str(path), "title": f"{colour} {art}", "subcategory": "Topwear",
                      "colour": colour, "article_type": art, "gender": gender})
    store = stores.create("faiss", dim=4, encoder="fixed")
    store.upsert([r[0] for r in rows], np.stack(vecs), metas)
    photo_rgb, _, person = _person((40, 120, 200), kp, shade=True)
    photo = d / "person.png"
    Image.fromarray(photo_rgb).save(photo)
    persons[str(photo)] = person
    return d, store, photo, persons, kp


def _pipe(store, persons, kp, **kw):
    lm = _lm_from(kp)

    def seg(rgb):  # the silhouette of whichever synthetic photo this is
        return (np.asarray(rgb).astype(int).sum(-1) < 750).astype(np.float32)

    return LiteEditPipeline(Retriever(store, FixedEncoder()), pose_estimator=lambda rgb: lm, person_segmenter=seg, **kw)


def test_lite_edit_end_to_end(shop):
    d, store, photo, persons, kp = shop
    pipe = _pipe(store, persons, kp)
    res = pipe(photo, "navy blue shirt", k=2)
    assert res.profile == "lite" and res.mode in ("restyle", "replace")
    assert res.retrieved[0].id == "navy-shirt" and {g.colour for g in res.retrieved} == {"Navy Blue"}  # the colour filter
    assert res.filters["colour"] == ["Navy Blue"] and res.filters["article_type"] == ["Shirts"]
    src, out, m = np.asarray(Image.open(photo).convert("RGB")), np.asarray(res.image), np.asarray(res.mask_image) > 0
    assert res.image.size == Image.open(photo).size and m.any()
    assert np.array_equal(out[~m], src[~m])
    assert set(res.scores) == {g.id for g in res.retrieved} and res.timings["total"] > 0
    assert json.loads(res.model_dump_json())["mode"] == res.mode and "image" not in json.loads(res.model_dump_json())
    # no green shirt for men: the gender, then the type filter are relaxed (the colour holds), and the result says so
    res = pipe(photo, "green shirt", k=1)
    assert [g.id for g in res.retrieved] == ["green-tee"] and res.filters["colour"] == ["Green"]
    relaxed = [n for n in res.notes if "relaxed" in n]
    assert len(relaxed) == 2 and "gender" in relaxed[0] and "article_type" in relaxed[1]
    # the modes can be forced
    assert pipe(photo, "red shirt", k=1, mode="replace").mode == "replace"
    assert pipe(photo, "red shirt", k=1, mode="restyle").mode == "restyle"


def test_lite_errors_are_clear(shop, tmp_path):
    d, store, photo, persons, kp = shop
    pipe = _pipe(store, persons, kp)
    nobody = LiteEditPipeline(Retriever(store, FixedEncoder()), pose_estimator=lambda rgb: None,
                              person_segmenter=lambda rgb: np.zeros(rgb.shape[:2], np.float32))
    with pytest.raises(InvalidInputError, match="no person found"):
        nobody(photo, "red shirt", k=1)
    with pytest.raises(InvalidInputError, match="not visible"):
        pipe(photo, "red shirt", k=1, keypoints=_kp() * [1, 1, 0])  # no visible shoulders or hips
    blank = tmp_path / "blank.png"
    Image.new("RGB", (W, H), (255, 255, 255)).save(blank)
    with pytest.raises(InvalidInputError, match="no upper body garment found in"):
        pipe(photo, "x", garments=[str(blank)])
    with pytest.raises(CatalogError, match="dresses"):
        pipe(photo, "a dress", category="dresses", k=1)
    with pytest.raises(InvalidInputError, match="mode"):
        pipe(photo, "red shirt", k=1, mode="paint")


def test_edit_cli_flags_and_lite_default(capsys, tmp_path, monkeypatch):
    from fashionrag.cli import build_parser, main
    from fashionrag.pipelines import edit_profiles

    parser = build_parser()
    edit = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "edit")[1]
    text = edit.format_help()
    for flag in ("--no-paste-back", "--mode", "--profile", "--garment", "--no-parse-query"):
        assert flag in text
    profile = next(a for a in edit._actions if a.dest == "profile")
    assert profile.choices == ["auto", *edit_profiles.EDIT_PROFILES.names()] and {"lite", "hf", "tiny"} <= set(profile.choices)
    assert profile.default == "auto"
    monkeypatch.setattr(edit_profiles, "hf_weights_available", lambda *a: False)
    assert edit_profiles.resolve_profile("auto") == "lite"
    monkeypatch.setattr(edit_profiles, "hf_weights_available", lambda *a: True)
    assert edit_profiles.resolve_profile("auto") == "hf"
    # --json prints exactly the EditResult of a lite edit
    photo = tmp_path / "p.png"
    Image.fromarray(_person()[0]).save(photo)
    garment = tmp_path / "g.png"
    Image.fromarray(_person((200, 30, 30), shade=False)[0]).save(garment)
    lm = _lm_from(_kp())
    monkeypatch.setattr("fashionrag.vision.person.default_pose_estimator", lambda: (lambda rgb: lm))
    monkeypatch.setattr("fashionrag.vision.person.default_person_segmenter",
                        lambda: (lambda rgb: (np.asarray(rgb).astype(int).sum(-1) < 750).astype(np.float32)))
    monkeypatch.setattr(edit_profiles, "hf_weights_available", lambda *a: False)
    assert main(["edit", str(photo), "--text", "red shirt", "--garment", str(garment), "--out", str(tmp_path / "o.png"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    from fashionrag.core.schemas import EditResult

    res = EditResult.model_validate(out)
    assert res.profile == "lite" and res.mode in ("restyle", "replace") and res.output == str(tmp_path / "o.png")
    assert Image.open(res.output).size == Image.open(photo).size and Image.open(res.sheet).width > 3 * 256
    # an image with no garment given as --garment: one clear line
    blank = tmp_path / "blank.png"
    Image.new("RGB", (W, H), (255, 255, 255)).save(blank)
    assert main(["edit", str(photo), "--text", "x", "--garment", str(blank), "--out", str(tmp_path / "o2.png")]) == 2
    err = capsys.readouterr().err
    assert "no upper body garment found" in err and err.count("\n") == 1


def test_large_photos_are_edited_on_a_working_copy_and_carried_back(shop, tmp_path):
    d, store, photo, persons, kp = shop
    lm = _lm_from(kp)

    def estimate(rgb):  # the synthetic person's landmarks, at whatever size the editor works
        out = lm.copy()
        out[:, :2] *= rgb.shape[1] / W
        return out

    def seg(rgb):
        return (np.asarray(rgb).astype(int).sum(-1) < 750).astype(np.float32)

    pipe = LiteEditPipeline(Retriever(store, FixedEncoder()), pose_estimator=estimate, person_segmenter=seg)
    big = Image.open(photo).convert("RGB").resize((W * 4, H * 4), Image.BICUBIC)  # 720x960 > WORK_MAX
    res = pipe(big, "red shirt", k=1, mode="restyle")
    src, out, m = np.asarray(big), np.asarray(res.image), np.asarray(res.mask_image) > 0
    assert res.image.size == big.size == res.mask_image.size
    assert np.array_equal(out[~m], src[~m]) and 0.05 < m.mean() < 0.5
    inside = out[m].astype(int)
    assert (inside[:, 0] > inside[:, 2] + 40).mean() > 0.9  # red where the blue top was
    assert res.keypoints[K.R_SHOULDER, :2].tolist() == pytest.approx((kp[K.R_SHOULDER, :2] * 4).tolist(), abs=2)


def test_edit_demo_writes_a_restyle_and_a_replace(shop, tmp_path):
    from fashionrag.pipelines.edit_demo import run_edit_demo

    d, store, photo, persons, kp = shop
    root = tmp_path / "kagl"
    (root / "images").mkdir(parents=True)
    rows = ["id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName,split"]
    for i, colour in enumerate([(40, 120, 200), (200, 200, 40), (120, 40, 120)]):
        Image.fromarray(_person(colour, kp)[0]).save(root / "images" / f"{100 + i}.jpg")
        name = ["Blue", "Yellow", "Purple"][i]
        rows.append(f"{100 + i},Men,Apparel,Topwear,Shirts,{name},Summer,2012,Casual,Men {name} Shirt,val")
    (root / "styles.csv").write_text("\n".join(rows) + "\n")
    report = run_edit_demo(root, tmp_path / "unused-index", tmp_path / "out" / "edits.html", pipe=_pipe(store, persons, kp))
    assert {e.mode for e in report.edits} == {"restyle", "replace"} and not report.missing_modes
    page = (tmp_path / "out" / "edits.html").read_text()
    assert page.count("<figure>") == 2 and "data:image/jpeg;base64," in page
    assert (tmp_path / "out" / "edits.restyle.png").is_file() and (tmp_path / "out" / "edits.replace.png").is_file()


def test_lite_edit_eval_protocol_on_synthetic_photos(shop, tmp_path):
    """Requests come from other evaluated products, each photo's own id is excluded, and the figures follow
    from what the judge says (a judge that reads the torso's colour) and what changed."""
    from types import SimpleNamespace

    from fashionrag.core.schemas import Garment
    from fashionrag.eval.edit_lite import run_lite_edit_eval
    from fashionrag.vision.garments import encode_mask

    d, _, _, persons, kp = shop
    palette = {"Blue": (40, 60, 200), "Yellow": (220, 210, 40), "Green": (30, 160, 40)}
    root = tmp_path / "kagl"
    (root / "images").mkdir(parents=True)
    rows = ["id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName,split"]
    for i, (name, rgbc) in enumerate(palette.items()):
        Image.fromarray(_person(rgbc, kp, shade=False)[0]).save(root / "images" / f"{200 + i}.jpg")
        rows.append(f"{200 + i},Men,Apparel,Topwear,Shirts,{name},Summer,2012,Casual,Men {name} Shirt,val")
    (root / "styles.csv").write_text("\n".join(rows) + "\n")
    # the reference: garments of every colour, on other ids (train)
    ref = stores.create("faiss", dim=4, encoder="fixed")
    ids, vecs, metas = [], [], []
    for i, (name, rgbc) in enumerate(palette.items()):
        path = tmp_path / f"ref{i}.png"
        Image.fromarray(_person(rgbc, kp, shade=False)[0]).save(path)
        ids.append(f"r{i}")
        vecs.append(np.eye(4, dtype=np.float32)[0])
        metas.append({"id": f"r{i}", "image_path": str(path), "subcategory": "Topwear", "article_type": "Shirts",
                      "colour": name, "gender": "Men", "title": f"{name} Shirt"})
    ref.upsert(ids, np.stack(vecs), metas)
    retriever = Retriever(ref, FixedEncoder())
    editor = _pipe(ref, persons, kp)
    calls = []

    def pipe(photo, text, **kw):
        calls.append((Path(photo).stem, text, list(kw["exclude_ids"])))
        return editor(photo, text, **kw)

    pipe.garment_region = editor.garment_region

    def name_of(img):
        px = np.asarray(img)[110, 90].astype(int)
        return min(palette, key=lambda n: np.abs(px - palette[n]).sum())

    judge = SimpleNamespace(analyse=lambda img: SimpleNamespace(raw_evidence=SimpleNamespace(garments=[
        SimpleNamespace(region="upper_body", colours=[SimpleNamespace(name=name_of(img))], article_type="Shirts",
                        article_word_types=[])]), evidence=None))
    top = _person(kp=kp)[1]
    detector = SimpleNamespace(detect=lambda rgb: [Garment(region="upper_body", box=[0, 0, 1, 1], score=1.0,
                                                           mask=encode_mask(top))])
    res = run_lite_edit_eval(root, root, split="val", retriever=retriever, pipe=pipe, caption_pipe=judge,
                             detector=detector, progress=False, out_dir=tmp_path / "out")
    assert res.evaluated == 3 and res.colour_success == 1.0 and res.colour_ceiling == 1.0
    assert res.preservation == 1.0 and res.coverage is not None and res.coverage > 0.95
    for stem, text, excluded in calls:
        own = {"200": "Blue", "201": "Yellow", "202": "Green"}[stem]
        assert excluded == [stem] and own.lower() not in text.lower()  # another product's colour, own id excluded
    assert (tmp_path / "out" / "edits.html").is_file() and res.met["colour_success"] and res.met["preservation"]
    assert len((tmp_path / "out" / "rows.jsonl").read_text().splitlines()) == res.evaluated


def test_eval_requests_come_from_the_wearers_gender_unless_asked_for_any():
    """By default each photo's request is another product of its wearer's gender (or unisex); ``pool="any"``
    draws from both, and each request says whether it matched; an unknown pool is a clear error."""
    from fashionrag.core.schemas import Product
    from fashionrag.eval.edit_lite import build_requests

    colours = ["Red", "Blue", "Green", "Black", "White", "Pink"]
    products = [Product(id=f"{g[0]}{i}", title="t", gender=g, subcategory="Topwear", article_type=t, colour=c)
                for g, t in (("Men", "Shirts"), ("Women", "Kurtas")) for i, c in enumerate(colours)]
    products.append(Product(id="u0", title="t", gender="Unisex", subcategory="Topwear", article_type="Tshirts",
                            colour="Yellow"))
    gender = {p.id: p.gender for p in products}
    wearer = build_requests(products, seed=0)
    assert set(wearer) == set(gender)
    for pid, (cat, text, colour, art, matches) in wearer.items():
        assert cat == "upper_body" and text == f"{colour} {art}"
        assert matches is (None if pid == "u0" else True)  # a unisex photo says nothing of its wearer
        if gender[pid] == "Men":
            assert art in ("Shirts", "Tshirts")  # a man's shirt or the unisex tee, never a kurta
    mixed = {build_requests(products, seed=s, pool="any")[pid][4] for s in range(5) for pid in gender}
    assert mixed == {True, False, None}
    with pytest.raises(InvalidInputError, match="request pool"):
        build_requests(products, pool="women")


def test_coverage_reference_keeps_a_skin_toned_garment():
    """The coverage reference is the detector's garment region minus the *wearer's* skin (sampled at the face):
    a brown garment, which the general skin-tone rule takes for skin, stays in it; the arms' skin does not."""
    from fashionrag.core.schemas import Garment
    from fashionrag.eval.edit_lite import _region_mask
    from fashionrag.vision.colors import skin_mask
    from fashionrag.vision.garments import encode_mask

    face, brown = (205, 150, 120), (150, 90, 60)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([70, 6, 110, 54], fill=face)
    d.rectangle([20, 60, 160, 150], fill=face)  # bare arms and shoulders behind the top
    d.polygon([(54, 56), (126, 56), (116, 150), (64, 150)], fill=brown)
    rgb = np.asarray(img)
    region = np.zeros((H, W), bool)
    region[56:150, 20:161] = True  # the detector's band: the top and the arms beside it
    top = (np.abs(rgb.astype(int) - brown).sum(-1) == 0)
    assert skin_mask(rgb)[top].mean() > 0.9  # the premise: the general rule calls the brown top skin
    lm = np.zeros((33, 4))
    lm[:, 2:] = 0.99
    lm[:, :2] = (90, 100)
    lm[0, :2], lm[9, :2], lm[10, :2] = (90, 30), (84, 42), (96, 42)  # nose, mouth corners on the face
    lm[11, :2], lm[12, :2] = (120, 60), (60, 60)  # shoulders
    lm[19, 2:] = lm[20, 2:] = 0.0  # no hands in view

    class Detector:
        def detect(self, image):
            return [Garment(region="upper_body", box=[20, 56, 161, 150], score=0.9, landmarks=lm.tolist(),
                            mask=encode_mask(region))]

    ref = _region_mask(Detector(), Image.fromarray(rgb), "upper_body")
    assert ref[top].mean() > 0.95  # the garment is the reference
    arms = region & ~top
    arms[:, 50:130] = False
    assert ref[arms].mean() < 0.05  # the arms' skin is not


def test_a_tucked_in_top_does_not_take_the_skirt():
    """A short top tucked into a dark skirt that starts above the hips (inside the torso's core): the skirt is the
    other garment, not part of the top, even where the knees are out of the frame."""
    from fashionrag.editors.regions import worn_garment

    kp = _kp()
    kp[K.R_KNEE] = kp[K.L_KNEE] = 0  # legs cut by the frame
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([72, 8, 108, 52], fill=(205, 150, 120))
    for a, e, wr in ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST)):
        d.line([tuple(kp[a, :2]), tuple(kp[e, :2]), tuple(kp[wr, :2])], fill=(205, 150, 120), width=14)
    d.polygon([(54, 56), (126, 56), (120, 125), (60, 125)], fill=(150, 180, 230))  # light blue shirt
    d.rectangle([58, 125, 122, H], fill=(25, 25, 30))  # black skirt from the waist, above the hips (y = 150)
    rgb = np.asarray(img)
    person = np.asarray(img.convert("L")) < 250
    region = worn_garment(rgb, kp, person, "upper_body")
    assert region is not None
    assert region.mask[70:120, 70:110].mean() > 0.95  # the shirt
    assert region.mask[130:H, 62:118].mean() < 0.05  # not the skirt, not even inside the torso's core


def test_a_checked_kurta_over_dark_leggings_is_followed_to_its_hem():
    """A kurta, plain blue above and checked navy-and-white below the waist, to below the knees over navy
    leggings: the check's navy squares are the leggings' colour and touch them corner to corner, but only *solid*
    areas carry the leggings' label, so the kurta's lower half stays the kurta's (half of it was lost, and a replace
    left it on the person) while the leggings under its hem stay out."""
    from fashionrag.editors.regions import worn_garment

    kp = _kp()
    navy, light, plain = (30, 35, 80), (250, 250, 250), (60, 80, 160)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([72, 8, 108, 52], fill=(205, 150, 120))
    for a, e, wr in ((K.R_SHOULDER, K.R_ELBOW, K.R_WRIST), (K.L_SHOULDER, K.L_ELBOW, K.L_WRIST)):
        d.line([tuple(kp[a, :2]), tuple(kp[e, :2]), tuple(kp[wr, :2])], fill=(205, 150, 120), width=14)
    d.rectangle([64, 150, 116, H], fill=navy)  # leggings, showing below the hem at the shins
    kurta = Image.new("L", (W, H), 0)
    ImageDraw.Draw(kurta).polygon([(54, 56), (126, 56), (124, 208), (56, 208)], fill=255)
    k = np.asarray(kurta) > 0
    yy, xx = np.mgrid[:H, :W]
    check = ((yy // 6) + (xx // 6)) % 2 == 0
    rgb = np.asarray(img).copy()
    rgb[k] = plain
    below = k & (yy >= 114)
    rgb[below & check] = navy
    rgb[below & ~check] = light
    person = (np.asarray(img.convert("L")) < 250) | k
    region = worn_garment(rgb, kp, person, "upper_body")
    assert region is not None
    lower = below.copy()
    lower[:, :62] = lower[:, 119:] = False
    lower[204:] = False
    assert region.mask[lower].mean() > 0.95  # the checked lower half: still the kurta
    assert region.mask[216:H, 66:114].mean() < 0.05  # the leggings under its hem are not


def test_judge_reads_a_product_shot_answer():
    """When the detector finds no person in an edited photo the caption pipeline describes it as a product shot:
    that answer is still the judge's (it was scored as 'no answer')."""
    from types import SimpleNamespace

    from fashionrag.eval.edit_lite import judge

    def pipe_with(*garments):
        return SimpleNamespace(analyse=lambda img: SimpleNamespace(raw_evidence=SimpleNamespace(garments=list(garments)),
                                                                   evidence=None))

    product = SimpleNamespace(region="product", colours=[SimpleNamespace(name="Blue")], article_type="Jeans",
                              article_word_types=[])
    upper = SimpleNamespace(region="upper_body", colours=[SimpleNamespace(name="Red")], article_type="Shirts",
                            article_word_types=["Shirts", "Tshirts"])
    assert judge(pipe_with(product), None, "lower_body") == ("Blue", "Jeans", [])
    # a person's region, when there is one, comes first; a region of the wrong kind is never read
    assert judge(pipe_with(product, upper), None, "upper_body") == ("Red", "Shirts", ["Shirts", "Tshirts"])
    assert judge(pipe_with(upper), None, "lower_body") == (None, None, [])


def test_a_product_shot_keeps_its_proportions_hung_from_the_waist():
    """Product-shot shorts (no keypoints) for full-length trousers: fitted to the trousers' width and hung from
    their top edge, so they end at the thighs (the rest of the legs is uncovered, and a replace is chosen) instead
    of being stretched down to the ankles. A product of about the worn garment's proportions fills its box."""
    kp = _kp()
    worn_m = np.zeros((H, W), bool)
    worn_m[150:236, 64:116] = True  # trousers: 52 wide, 86 tall
    worn = _region(worn_m, kp)
    g_rgb = np.full((100, 120, 3), 255, np.uint8)
    shorts = np.zeros((100, 120), bool)
    shorts[20:60, 10:110] = True  # 100 wide, 40 tall (ratio 0.4 against the trousers' 1.65)
    g_rgb[shorts] = (230, 230, 240)
    al = align(worn, GarmentRegion(mask=shorts, keypoints=None, source="product"), g_rgb, "lower_body")
    ys, xs = np.nonzero(al.mask)
    assert al.method == "box"
    assert abs(ys.min() - 150) <= 1 and abs(ys.max() - (150 + 52 * 0.4)) <= 2  # hung from the waist, 0.4 x width
    assert abs(xs.min() - 64) <= 1 and abs(xs.max() - 115) <= 1
    assert al.shape_fit < 0.3  # so auto mode replaces (and the legs below get uncovered)
    jeans = np.zeros((100, 120), bool)
    jeans[5:95, 35:85] = True  # 50 wide, 90 tall: about the trousers' proportions
    al = align(worn, GarmentRegion(mask=jeans, keypoints=None, source="product"), g_rgb, "lower_body")
    assert al.shape_fit > 0.95


def test_jeans_in_the_tops_colour_below_the_hips_stay_jeans():
    """Jeans whose shins are shaded to the navy of the sweater above them: well below the hips the top's colours
    say nothing (a top that long would hide the bottom), so the shins stay the jeans' (they were left out, and
    a replace painted the new trousers over only the thighs)."""
    from fashionrag.editors.regions import worn_garment

    kp = _kp()
    navy, denim = (30, 35, 80), (70, 95, 150)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([72, 8, 108, 52], fill=(205, 150, 120))
    d.polygon([(54, 56), (126, 56), (120, 132), (60, 132)], fill=navy)  # the sweater, to the waist
    d.rectangle([62, 132, 118, H], fill=denim)
    d.rectangle([62, 200, 118, H], fill=navy)  # the shins, in shadow: the sweater's colour
    rgb = np.asarray(img)
    person = np.asarray(img.convert("L")) < 250
    region = worn_garment(rgb, kp, person, "lower_body")
    assert region is not None
    assert region.mask[150:195, 66:114].mean() > 0.95  # the thighs
    assert region.mask[205:H - 2, 66:114].mean() > 0.9  # and the shaded shins
    assert region.mask[70:120, 66:114].mean() < 0.05  # never the sweater
