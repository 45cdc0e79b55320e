"""Garment colour: measure it (k-means in CIELAB over the garment's own pixels) and name it.

- Measuring: :func:`measure_colours` clusters the garment mask's pixels (skin excluded) into k=4
  colours; :func:`top_colours` drops clusters under 6% and keeps the top two with share, Lab, hex.
- Distances: :func:`ciede2000` (Sharma, Wu & Dalal 2005), vectorised.
- Naming: names come from the catalog's own vocabulary. :class:`ColourNamer` is *learned* from
  the measured colours of a catalog's labelled train items (``fit_colour_namer``), because a
  catalog's "Navy Blue" or "Olive" is what its photographers and labellers call so, not a fixed
  palette point; :class:`PaletteNamer` (nearest CIEDE2000 reference colour) is the fallback for
  catalogs without colour labels. The committed model for the KAGL vocabulary lives in
  ``assets/colors/`` (see its card for the command that made it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..core import vocabulary

# ----------------------------------------------------------------------------- colour spaces

_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB2XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                     [0.2126729, 0.7151522, 0.0721750],
                     [0.0193339, 0.1191920, 0.9503041]])
_XYZ2RGB = np.linalg.inv(_RGB2XYZ)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB (..., 3) -> CIELAB (D65, 2 deg) floats."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _RGB2XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) -> 8-bit sRGB (clipped to the gamut)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D65
    lin = np.clip(xyz @ _XYZ2RGB.T, 0, 1)
    c = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.round(c * 255), 0, 255).astype(np.uint8)


def lab_to_hex(lab: Sequence[float]) -> str:
    r, g, b = lab_to_srgb(np.asarray(lab))
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def hex_to_lab(value: str) -> np.ndarray:
    v = value.lstrip("#")
    return srgb_to_lab(np.array([int(v[i:i + 2], 16) for i in (0, 2, 4)]))


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, kl: float = 1.0, kc: float = 1.0, kh: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference, broadcasting over leading axes (Sharma et al. 2005)."""
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dlp = l2 - l1
    dcp = c2p - c1p
    zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(zero, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    lbp = (l1 + l2) / 2
    cbp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hbp = np.where(zero, hsum, hbp)
    t = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    dtheta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cbp ** 7 / (cbp ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc = 1 + 0.045 * cbp
    sh = 1 + 0.015 * cbp * t
    rt = -np.sin(np.radians(2 * dtheta)) * rc
    return np.sqrt((dlp / (kl * sl)) ** 2 + (dcp / (kc * sc)) ** 2 + (dhp / (kh * sh)) ** 2
                   + rt * (dcp / (kc * sc)) * (dhp / (kh * sh)))


# ----------------------------------------------------------------------------- skin

def skin_mask(image: np.ndarray, samples: Optional[np.ndarray] = None, max_distance: float = 14.0) -> np.ndarray:
    """Boolean (H, W): pixels that look like skin.

    A YCrCb skin-tone rule (Cr 135..175, Cb 85..135, some light) finds candidates; when ``samples``
    (Lab pixels taken from the face or hands, located by the landmarks) are given, a candidate must
    also lie within ``max_distance`` CIEDE2000 of the sampled skin, so a beige or tan garment
    that merely resembles skin in general is not removed.
    """
    rgb = np.asarray(image, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 128
    cb = (b - y) * 0.564 + 128
    cand = (cr >= 135) & (cr <= 175) & (cb >= 85) & (cb <= 135) & (y >= 40)
    if samples is None or len(samples) < 10 or not cand.any():
        return cand
    ref = np.median(np.asarray(samples, dtype=np.float64).reshape(-1, 3), axis=0)
    lab = srgb_to_lab(rgb[cand])
    near = ciede2000(lab, ref) <= max_distance
    out = np.zeros(cand.shape, dtype=bool)
    out[cand] = near
    return out


# ----------------------------------------------------------------------------- k-means

@dataclass
class ColourCluster:
    lab: np.ndarray
    share: float

    @property
    def hex(self) -> str:
        return lab_to_hex(self.lab)


def kmeans(points: np.ndarray, k: int = 4, seed: int = 0, iters: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means with k-means++ seeding; returns (centres (k', 3), labels). Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n = len(points)
    k = min(k, n)
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:
            break
        centres.append(points[rng.choice(n, p=d2 / total)])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(1))
    c = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    sq = (points ** 2).sum(1)
    for it in range(iters):
        dist = sq[:, None] - 2.0 * points @ c.T + (c ** 2).sum(1)[None, :]
        new = dist.argmin(1)
        if it > 0 and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=len(c))
        sums = np.stack([np.bincount(labels, weights=points[:, d], minlength=len(c)) for d in range(points.shape[1])], 1)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
    return c, labels


def colour_centres(lab: np.ndarray, k: int = 5, seed: int = 0, max_pixels: int = 2500, min_share: float = 0.03
                   ) -> Optional[np.ndarray]:
    """Lab k-means centres of ``lab`` pixels holding at least ``min_share`` of them (checks and prints have
    several), from a seeded sample of at most ``max_pixels``; None for fewer than 12 pixels."""
    if len(lab) < 12:
        return None
    if len(lab) > max_pixels:
        lab = lab[np.random.default_rng(seed).choice(len(lab), max_pixels, replace=False)]
    centres, labels = kmeans(lab, k=k, seed=seed)
    counts = np.bincount(labels, minlength=len(centres))
    return centres[counts >= max(3, min_share * len(lab))]


def nearest_centre(lab: np.ndarray, centres: Optional[np.ndarray]) -> np.ndarray:
    """Distance (Lab, Euclidean) from each pixel to its nearest centre (inf without centres)."""
    if centres is None or len(centres) == 0:
        return np.full(lab.shape[:-1], np.inf)
    flat = np.asarray(lab, np.float64).reshape(-1, 3)
    c = np.asarray(centres, np.float64)
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2: one matrix product instead of a (pixels, centres, 3) difference array
    d2 = (flat**2).sum(1)[:, None] - 2.0 * flat @ c.T + (c**2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2.min(1), 0.0)).reshape(lab.shape[:-1])


def measure_colours(
    image: np.ndarray,
    mask: Optional[np.ndarray] = None,
    k: int = 4,
    exclude: Optional[np.ndarray] = None,
    seed: int = 0,
    max_pixels: int = 3000,
) -> list[ColourCluster]:
    """All k clusters of the garment's pixels, largest share first (shares sum to 1).

    ``mask`` selects the garment's pixels (not its box); ``exclude`` (e.g. skin) is removed unless
    it would remove nearly everything (then the garment itself is skin-coloured).
    """
    img = np.asarray(image)
    sel = np.ones(img.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if exclude is not None:
        kept = sel & ~np.asarray(exclude, dtype=bool)
        if kept.sum() >= max(20, 0.2 * sel.sum()):
            sel = kept
    pixels = img[sel]
    if len(pixels) == 0:
        return []
    if len(pixels) > max_pixels:
        pixels = pixels[np.random.default_rng(seed).choice(len(pixels), max_pixels, replace=False)]
    lab = srgb_to_lab(pixels)
    centres, labels = kmeans(lab, k=k, seed=seed)
    counts = np.bincount(labels, minlength=len(centres)).astype(np.float64)
    order = np.argsort(-counts)
    return [ColourCluster(lab=centres[j], share=float(counts[j] / counts.sum())) for j in order if counts[j] > 0]


def top_colours(
    clusters: Sequence[ColourCluster],
    min_share: float = 0.06,
    top: int = 2,
    background: Optional[np.ndarray] = None,
    background_distance: float = 6.0,
) -> list[ColourCluster]:
    """Drop clusters under ``min_share`` (and ones matching ``background`` in Lab), keep the top ones.

    Shares are renormalised over the kept clusters. The largest cluster always survives.
    """
    if not clusters:
        return []
    kept = [c for c in clusters if c.share >= min_share]
    if background is not None:
        kept = [c for c in kept if float(ciede2000(c.lab, background)) > background_distance] or kept[:1]
    kept = kept or [clusters[0]]
    total = sum(c.share for c in kept)
    return [ColourCluster(lab=c.lab, share=c.share / total) for c in kept[:top]]


# ----------------------------------------------------------------------------- naming

#: Reference sRGB colours of the KAGL (Myntra) vocabulary: the palette fallback's points.
KAGL_PALETTE = {
    "Black": "#141414", "Blue": "#2f5fa8", "White": "#f4f4f4", "Grey": "#8c8c8c", "Red": "#c0272d",
    "Brown": "#6b4226", "Green": "#2e7d32", "Navy Blue": "#1f2a44", "Purple": "#6a3d9a", "Pink": "#e88fb0",
    "Maroon": "#6d1a2a", "Yellow": "#f2d22e", "Beige": "#d8c7a3", "Olive": "#6b6b2a", "Orange": "#ef7d22",
    "Cream": "#f3ead3", "Silver": "#c0c0c0", "Tan": "#c19a6b", "Charcoal": "#36454f", "Khaki": "#b5a67a",
    "Gold": "#c9a43a", "Off White": "#eeeadf", "Magenta": "#c2185b", "Steel": "#71797e", "Lavender": "#b9a6d6",
    "Peach": "#f4b98c", "Coffee Brown": "#4b3621", "Mustard": "#d4a017", "Taupe": "#8b7d6b",
    "Grey Melange": "#a3a3a3", "Teal": "#1f7a7a", "Burgundy": "#800020", "Copper": "#b87333",
    "Turquoise Blue": "#2ab7ca", "Fluorescent Green": "#7cff3a", "Sea Green": "#2e8b57", "Rust": "#b7410e",
    "Mauve": "#b784a7", "Skin": "#e0ac8f",
}

REGIONS = vocabulary.REGIONS


class PaletteNamer:
    """Nearest reference colour by CIEDE2000: the fallback for catalogs without colour labels."""

    def __init__(self, palette: Optional[dict[str, str]] = None):
        self.palette = dict(palette or KAGL_PALETTE)
        self.names = list(self.palette)
        self._labs = np.stack([hex_to_lab(v) for v in self.palette.values()])

    def name_lab(self, lab: Sequence[float]) -> str:
        return self.names[int(np.argmin(ciede2000(np.asarray(lab)[None, :], self._labs)))]

    def predict(self, items: Sequence[Sequence[ColourCluster]], regions: Optional[Sequence[Optional[str]]] = None) -> list[str]:
        return [self.name_lab(clusters[0].lab) if clusters else "Multi" for clusters in items]

    def name_clusters(self, clusters: Sequence[ColourCluster], top: Sequence[ColourCluster], region: Optional[str] = None) -> list[str]:
        return [self.name_lab(c.lab) for c in top]


def colour_features(clusters: Sequence[ColourCluster], region: Optional[str] = None, k: int = 4) -> np.ndarray:
    """Fixed-length features of a garment's measured colours (for the learned namer).

    The k clusters by share (Lab scaled to ~unit range, share), the share-weighted mean Lab, the
    main cluster's chroma, and the region one-hot.
    """
    cs = sorted(clusters, key=lambda c: -c.share)[:k] or [ColourCluster(lab=np.array([50.0, 0, 0]), share=1.0)]
    while len(cs) < k:
        cs.append(ColourCluster(lab=cs[-1].lab, share=0.0))
    feats = []
    for c in cs:
        feats.extend([c.lab[0] / 100, c.lab[1] / 100, c.lab[2] / 100, c.share])
    shares = np.array([c.share for c in cs])
    mean = (np.stack([c.lab for c in cs]) * shares[:, None]).sum(0) / max(shares.sum(), 1e-9)
    feats.extend((mean / 100).tolist())
    feats.append(float(np.hypot(cs[0].lab[1], cs[0].lab[2])) / 100)
    feats.extend([1.0 if region == r else 0.0 for r in REGIONS])
    return np.asarray(feats, dtype=np.float32)


class ColourNamer:
    """A colour-name model learned from a catalog's labelled items (kNN or a small MLP, numpy-only).

    Saved as ``namer.npz`` (arrays) + ``card.json`` (names, method, settings, how it was made and
    its validation accuracy); no pickle, so loading a model cannot run code.
    """

    def __init__(self, method: str, names: list[str], arrays: dict[str, np.ndarray], params: dict, card: Optional[dict] = None):
        self.method = method
        self.names = list(names)
        self.arrays = arrays
        self.params = dict(params)
        self.card = dict(card or {})
        self._palette = PaletteNamer()

    # -- inference -------------------------------------------------------------------------
    def _features(self, items, regions) -> np.ndarray:
        regions = regions if regions is not None else [None] * len(items)
        x = np.stack([colour_features(c, r) for c, r in zip(items, regions)])
        return (x - self.arrays["mean"]) / self.arrays["std"]

    def predict_proba(self, items: Sequence[Sequence[ColourCluster]], regions: Optional[Sequence[Optional[str]]] = None) -> np.ndarray:
        x = self._features(items, regions)
        if self.method == "knn":
            ref, labels = self.arrays["X"].astype(np.float32), self.arrays["y"]
            k = int(self.params.get("k", 20))
            d = ((x[:, None, :] - ref[None, :, :]) ** 2).sum(2)
            idx = np.argsort(d, axis=1)[:, :k]
            w = 1.0 / (np.sqrt(np.take_along_axis(d, idx, 1)) + 1e-3)
            proba = np.zeros((len(x), len(self.names)))
            for i in range(len(x)):
                np.add.at(proba[i], labels[idx[i]], w[i])
            return proba / proba.sum(1, keepdims=True)
        h = x
        n_layers = int(self.params["layers"])
        for j in range(n_layers):
            h = h @ self.arrays[f"W{j}"] + self.arrays[f"b{j}"]
            if j < n_layers - 1:
                h = np.maximum(h, 0)
        h = h - h.max(1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(1, keepdims=True)

    def predict(self, items: Sequence[Sequence[ColourCluster]], regions: Optional[Sequence[Optional[str]]] = None) -> list[str]:
        if len(items) == 0:
            return []
        proba = self.predict_proba(items, regions)
        return [self.names[int(j)] for j in proba.argmax(1)]

    def name_clusters(self, clusters: Sequence[ColourCluster], top: Sequence[ColourCluster], region: Optional[str] = None) -> list[str]:
        """Name of the garment (learned, from all its clusters) for the main colour; the palette
        names any secondary colour, since catalogs label one colour per item."""
        if not top:
            return []
        first = self.predict([list(clusters)], [region])[0]
        return [first] + [self._palette.name_lab(c.lab) for c in top[1:]]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "namer.npz", **self.arrays)
        meta = {"method": self.method, "names": self.names, "params": self.params, "card": self.card,
                "features": "colour_features v1 (4 clusters x Lab+share, mean Lab, chroma, region one-hot)"}
        (out / "card.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> "ColourNamer":
        from ..core.errors import ModelUnavailableError

        d = Path(directory)
        try:
            meta = json.loads((d / "card.json").read_text())
            with np.load(d / "namer.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(f"cannot load the colour namer from {d} ({exc}); refit it with scripts/fit_colours.py") from exc
        return cls(meta["method"], meta["names"], arrays, meta["params"], meta.get("card"))


def fit_colour_namer(
    items: Sequence[Sequence[ColourCluster]],
    labels: Sequence[str],
    regions: Optional[Sequence[Optional[str]]] = None,
    method: str = "knn",
    seed: int = 0,
    **params,
) -> ColourNamer:
    """Learn colour names from measured clusters of labelled catalog items.

    ``method='knn'`` (``k`` neighbours, inverse-distance votes) or ``'mlp'`` (one hidden layer of
    ``hidden`` units, L2 ``alpha``; fitted with scikit-learn, stored as plain arrays).
    """
    from ..core.errors import InvalidInputError

    if len(items) != len(labels) or not len(items):
        raise InvalidInputError("fit_colour_namer needs as many measured items as labels, and at least one")
    regions = list(regions) if regions is not None else [None] * len(items)
    x = np.stack([colour_features(c, r) for c, r in zip(items, regions)])
    mean, std = x.mean(0), x.std(0)
    std = np.where(std < 1e-3, 1.0, std)  # constant columns (an unused region) must not explode
    xs = (x - mean) / std
    names = sorted(set(labels))
    y = np.array([names.index(v) for v in labels])
    arrays: dict[str, np.ndarray] = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    if method == "knn":
        arrays.update(X=xs.astype(np.float16), y=y.astype(np.int16))
        return ColourNamer("knn", names, arrays, {"k": int(params.get("k", 20))})
    if method == "mlp":
        from sklearn.neural_network import MLPClassifier

        hidden = int(params.get("hidden", 64))
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=float(params.get("alpha", 1e-3)),
                            max_iter=int(params.get("max_iter", 400)), random_state=seed)
        clf.fit(xs, y)
        # sklearn orders output units by clf.classes_ (the label indices present); expand to all names
        w_out = np.zeros((hidden, len(names)), dtype=np.float32)
        b_out = np.full(len(names), -1e4, dtype=np.float32)
        w_out[:, clf.classes_] = clf.coefs_[1]
        b_out[clf.classes_] = clf.intercepts_[1]
        if len(clf.classes_) == 2:  # binary sklearn models have one logistic output
            raise InvalidInputError("fit_colour_namer(method='mlp') needs at least three colour names")
        arrays.update(W0=clf.coefs_[0].astype(np.float32), b0=clf.intercepts_[0].astype(np.float32), W1=w_out, b1=b_out)
        return ColourNamer("mlp", names, arrays, {"layers": 2, "hidden": hidden, "alpha": float(params.get("alpha", 1e-3))})
    raise InvalidInputError(f"unknown colour-namer method {method!r}: use 'knn' or 'mlp'")


#: Where the committed KAGL colour namer lives.
DEFAULT_NAMER_DIR = Path(__file__).resolve().parents[1] / "assets" / "colors"


def load_default_namer():
    """The committed learned namer, or the CIEDE2000 palette when it is absent."""
    if (DEFAULT_NAMER_DIR / "namer.npz").is_file():
        return ColourNamer.load(DEFAULT_NAMER_DIR)
    return PaletteNamer()
