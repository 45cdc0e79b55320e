"""Colour measurement, CIEDE2000 and naming."""

from __future__ import annotations

import numpy as np
import pytest

from fashionrag.vision.colors import (
    ColourCluster,
    ColourNamer,
    PaletteNamer,
    ciede2000,
    fit_colour_namer,
    hex_to_lab,
    lab_to_hex,
    lab_to_srgb,
    load_default_namer,
    measure_colours,
    skin_mask,
    srgb_to_lab,
    top_colours,
)
from fashionrag.core.errors import InvalidInputError, ModelUnavailableError

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1 (selected pairs).
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize("lab1,lab2,expected", SHARMA)
def test_ciede2000_matches_sharma_reference_pairs(lab1, lab2, expected):
    assert float(ciede2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)
    assert float(ciede2000(lab2, lab1)) == pytest.approx(expected, abs=1e-4)  # symmetric


def test_ciede2000_broadcasts():
    a = np.array([[50, 2.6772, -79.7751], [50, 0, 0]])
    out = ciede2000(a[:, None, :], np.array([[50, 0, -82.7485], [50, -1, 2]])[None, :, :])
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(2.0425, abs=1e-4) and out[1, 1] == pytest.approx(2.3669, abs=1e-4)


def test_lab_conversions_round_trip_and_reference_white():
    assert srgb_to_lab([255, 255, 255]) == pytest.approx([100, 0, 0], abs=1e-3)
    assert srgb_to_lab([0, 0, 0]) == pytest.approx([0, 0, 0], abs=1e-3)
    rgb = np.random.default_rng(0).integers(0, 256, (200, 3))
    assert np.abs(lab_to_srgb(srgb_to_lab(rgb)).astype(int) - rgb).max() <= 1
    assert lab_to_hex(hex_to_lab("#1f2a44")) == "#1f2a44"


def _two_colour_image(share_red: float = 0.7, size: int = 100):
    img = np.zeros((size, size, 3), dtype=np.uint8)
    cut = int(size * share_red)
    img[:cut] = (200, 20, 30)
    img[cut:] = (20, 40, 160)
    return img


def test_kmeans_finds_the_two_colours_and_their_shares():
    clusters = measure_colours(_two_colour_image(0.7), k=4, seed=0)
    top = top_colours(clusters, min_share=0.06, top=2)
    assert len(top) == 2
    assert top[0].share == pytest.approx(0.7, abs=0.02) and top[1].share == pytest.approx(0.3, abs=0.02)
    assert float(ciede2000(top[0].lab, srgb_to_lab([200, 20, 30]))) < 2
    assert float(ciede2000(top[1].lab, srgb_to_lab([20, 40, 160]))) < 2
    assert top[0].hex.startswith("#") and len(top[0].hex) == 7


def test_measurement_is_deterministic_for_a_seed():
    img = np.random.default_rng(1).integers(0, 256, (60, 60, 3)).astype(np.uint8)
    a = measure_colours(img, seed=3)
    b = measure_colours(img, seed=3)
    assert [c.share for c in a] == [c.share for c in b]
    assert np.allclose(a[0].lab, b[0].lab)


def test_small_background_clusters_are_dropped_and_shares_renormalised():
    img = _two_colour_image(0.97)  # 3% blue: below the 6% threshold
    top = top_colours(measure_colours(img, k=4), min_share=0.06, top=2)
    assert len(top) == 1 and top[0].share == pytest.approx(1.0)


def test_background_like_cluster_is_dropped_even_when_large():
    img = _two_colour_image(0.6)
    img[60:] = (250, 250, 250)  # 40% "background white" leaking into the mask
    top = top_colours(measure_colours(img), background=srgb_to_lab([255, 255, 255]))
    assert len(top) == 1 and float(ciede2000(top[0].lab, srgb_to_lab([200, 20, 30]))) < 2


def test_only_masked_pixels_count():
    img = _two_colour_image(0.5)
    mask = np.zeros(img.shape[:2], dtype=bool)
    mask[60:] = True  # only the blue half
    top = top_colours(measure_colours(img, mask))
    assert len(top) == 1 and float(ciede2000(top[0].lab, srgb_to_lab([20, 40, 160]))) < 2
    assert measure_colours(img, np.zeros_like(mask)) == []


def test_skin_is_excluded_using_samples():
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    img[:, :70] = (30, 30, 120)  # navy garment
    img[:, 70:] = (224, 172, 143)  # bare arm
    samples = srgb_to_lab(np.tile([224, 172, 143], (50, 1)))
    skin = skin_mask(img, samples)
    assert skin[:, 70:].all() and not skin[:, :70].any()
    top = top_colours(measure_colours(img, exclude=skin))
    assert len(top) == 1 and float(ciede2000(top[0].lab, srgb_to_lab([30, 30, 120]))) < 2


def test_skin_coloured_garment_is_kept_when_it_is_all_there_is():
    img = np.full((50, 50, 3), (224, 172, 143), dtype=np.uint8)  # a "Skin" / "Peach" top
    top = top_colours(measure_colours(img, exclude=skin_mask(img)))
    assert len(top) == 1


@pytest.mark.parametrize("rgb,name", [
    ((0, 0, 0), "Black"), ((255, 255, 255), "White"), ((200, 20, 30), "Red"),
    ((31, 42, 68), "Navy Blue"), ((46, 125, 50), "Green"), ((242, 210, 46), "Yellow"),
])
def test_palette_namer_on_pure_colours(rgb, name):
    assert PaletteNamer().name_lab(srgb_to_lab(rgb)) == name


def _cluster(rgb, share=1.0):
    return ColourCluster(lab=srgb_to_lab(rgb), share=share)


def _synthetic_catalog(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    refs = {"Red": (200, 20, 30), "Blue": (30, 60, 190), "Black": (15, 15, 15)}
    items, labels = [], []
    for i in range(n):
        name = list(refs)[i % 3]
        base = np.clip(np.array(refs[name]) + rng.integers(-20, 21, 3), 0, 255)
        items.append([_cluster(base, 0.8), _cluster((245, 245, 245), 0.2)])
        labels.append(name)
    return items, labels


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("method,params", [("knn", {"k": 5}), ("mlp", {"hidden": 16, "max_iter": 120})])
def test_learned_namer_fits_saves_and_loads(tmp_path, method, params):
    items, labels = _synthetic_catalog()
    namer = fit_colour_namer(items, labels, ["upper_body"] * len(items), method=method, **params)
    probe = [[_cluster((210, 30, 40))], [_cluster((20, 50, 200))], [_cluster((5, 5, 5))]]
    assert namer.predict(probe) == ["Red", "Blue", "Black"]
    proba = namer.predict_proba(probe)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(1), 1)
    namer.save(tmp_path / "m")
    again = ColourNamer.load(tmp_path / "m")
    assert again.predict(probe) == ["Red", "Blue", "Black"]
    assert np.allclose(again.predict_proba(probe), proba, atol=1e-3)
    # a secondary colour is named by the palette
    names = again.name_clusters(probe[0] + [_cluster((255, 255, 255), 0.2)], probe[0] + [_cluster((255, 255, 255), 0.2)])
    assert names == ["Red", "White"]


def test_fit_rejects_bad_input(tmp_path):
    with pytest.raises(InvalidInputError):
        fit_colour_namer([], [])
    items, labels = _synthetic_catalog(9)
    with pytest.raises(InvalidInputError):
        fit_colour_namer(items, labels, method="forest")
    with pytest.raises(ModelUnavailableError):
        ColourNamer.load(tmp_path / "missing")


@pytest.mark.parametrize("rgb,name", [
    ((10, 10, 10), "Black"), ((250, 250, 250), "White"), ((190, 20, 30), "Red"), ((30, 40, 70), "Navy Blue"),
    ((240, 220, 60), "Yellow"), ((30, 120, 50), "Green"), ((40, 70, 160), "Blue"),
])
def test_committed_namer_names_pure_colours(rgb, name):
    """A plain garment of one colour, with the sensor noise and fold shading of a real photo."""
    rng = np.random.default_rng(0)
    img = np.clip(np.array(rgb) + rng.normal(0, 6, (60, 60, 3)), 0, 255)
    img = np.clip(img * np.linspace(1.0, 0.85, 60)[:, None, None], 0, 255).astype(np.uint8)
    clusters = measure_colours(img)
    namer = load_default_namer()
    assert isinstance(namer, ColourNamer), "the committed KAGL namer should be found in assets/colors"
    assert namer.name_clusters(clusters, top_colours(clusters), region="upper_body")[0] == name
