"""Every retrieval metric on hand-placed embeddings, with answers worked out by hand and asserted exactly.

A wrong metric must fail here: the vote picking the *least* similar neighbours, text->image relevance read
against the wrong titles, or prompt classification taking the *worst* prompt each change a number below.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from fashionrag.core.images import load_image
from fashionrag.core.schemas import Product
from fashionrag.encoders.base import Encoder
from fashionrag.eval import retrieval as R

E9, E8, E7 = math.exp(9), math.exp(8), math.exp(7)  # exp(tau * similarity) at tau = 10


# ------------------------------------------------------------------------------------------ text metrics
def _products12() -> list[Product]:
    """12 gallery items: titles on p0..p3 only (p0 and p1 share one), 6 Shirts / 6 Caps, 4 Red / 8 Blue."""
    titles = ["T1", "T1", "T2", "T3"] + [""] * 8
    return [Product(id=f"p{i}", title=titles[i], article_type="Shirts" if i < 6 else "Caps",
                    colour="Red" if i < 4 else "Blue") for i in range(12)]


def _row(**scores: float) -> np.ndarray:
    """A 12-long score row: with the identity as gallery embeddings, query . gallery_j = row[j]."""
    r = np.zeros(12, np.float32)
    for key, v in scores.items():
        for j in (range(int(key[1:].split("_")[0]), int(key.split("_")[1]) + 1) if "_" in key else [int(key[1:])]):
            r[j] = v
    return r


TEXTS = {
    # t2i. T1 (relevant p0, p1): p5 .9 > p1 .8 > p0 .7           -> rank 2
    "T1": _row(p5=0.9, p1=0.8, p0=0.7),
    # T2 (relevant p2): p0 and p3..p11 (10 items) at .5 above p2 .1 -> rank 11 (outside the top 10)
    "T2": _row(p0=0.5, p3_11=0.5, p2=0.1),
    # T3 (relevant p3): top                                        -> rank 1
    "T3": _row(p3=1.0),
    # category -> product. Caps: p6..p10 top, then zeros in gallery order p0..p4: P@1 1, P@10 5/10
    "Caps": _row(p6_10=0.9),
    # Shirts: a cap first (p6 1.0), then the 6 shirts, then p7 p8 p9 (zeros): P@1 0, P@10 6/10
    "Shirts": _row(p6=1.0, p0_5=0.5),
    # colour -> product. Blue: red p0 first, then p1..p9 in order (p4..p9 blue): P@1 0, P@10 6/10
    "Blue": _row(p0=1.0),
    # Red: red p3 first, then p0 p1 p2 (red) and p4..p9: P@1 1, P@10 4/10
    "Red": _row(p3=1.0),
}
# Prompt classification: predicted label = argmax over the prompts; the runner-up gets .5, the worst .1 (so argmin
# would pick the worst, which is never the truth below). Predictions: p0..p4 Shirts, p5 Caps | p6..p9 Caps, p10 Socks,
# p11 Shirts.
_PRED = ["Shirts"] * 5 + ["Caps"] + ["Caps"] * 4 + ["Socks", "Shirts"]
_WORST = ["Socks"] * 5 + ["Socks"] + ["Socks"] * 4 + ["Shirts", "Socks"]
for _label in ("Caps", "Shirts", "Socks"):
    TEXTS[f"a photo of a {_label}"] = np.array(
        [0.9 if _PRED[i] == _label else (0.1 if _WORST[i] == _label else 0.5) for i in range(12)], np.float32)


def _encode(texts):
    return np.stack([TEXTS[t] for t in texts])  # an unexpected query text is a KeyError


def test_text_metrics_by_hand():
    out = R.text_metrics(np.eye(12, dtype=np.float32), _products12(), _encode, ["Caps", "Shirts", "Socks"])
    # t2i: ranks (T1, T2, T3) = (2, 11, 1)
    assert out["t2i"] == {"r1": pytest.approx(1 / 3), "r10": pytest.approx(2 / 3),
                          "mrr": pytest.approx((1 / 2 + 1 / 11 + 1) / 3), "queries": 3, "gallery": 12}
    # strict: item queries p0 (T1 row: rank 3), p1 (rank 2), p2 (rank 11), p3 (rank 1)
    assert out["t2i_strict"] == {"r1": pytest.approx(1 / 4), "r10": pytest.approx(3 / 4),
                                 "mrr": pytest.approx((1 / 3 + 1 / 2 + 1 / 11 + 1) / 4), "queries": 4, "gallery": 12}
    assert out["category_p1"] == pytest.approx(0.5) and out["category_p10"] == pytest.approx((0.5 + 0.6) / 2)
    assert out["color_p1"] == pytest.approx(0.5) and out["color_p10"] == pytest.approx((0.6 + 0.4) / 2)
    assert out["category_queries"] == 2 and out["color_queries"] == 2
    # prompts: 9 of 12 right. Shirts: 5 right of 6 predicted, support 6 -> F1 5/6. Caps: 4 right of 5 predicted,
    # support 6 -> P 4/5, R 2/3, F1 8/11. Socks: support 0. Weighted F1 = (6 * 5/6 + 6 * 8/11) / 12 = 103/132.
    assert out["prompt_articleType_acc"] == pytest.approx(9 / 12)
    assert out["prompt_articleType_wf1"] == pytest.approx(103 / 132)
    assert out["prompt_labels"] == 3


# ------------------------------------------------------------------------------------------ kNN vote
def test_knn_metrics_weighted_vote_by_hand():
    truth = [Product(id="q0", article_type="Shirts", colour="Red", gender="Men"),
             Product(id="q1", article_type="Caps", colour=None, gender="Women")]
    neighbours = [
        [{"article_type": "Shirts", "colour": "Red", "gender": "Women"},
         {"article_type": "Tshirts", "colour": "Blue", "gender": "Men"},
         {"article_type": "Tshirts", "colour": None, "gender": "Men"}],
        [{"article_type": "Shoes", "colour": "Blue", "gender": "Women"},
         {"article_type": "Caps", "colour": "Blue", "gender": "Women"},
         {"article_type": "Caps", "colour": "Blue", "gender": None}],
    ]
    scores = [[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]]
    acc = R.knn_metrics(truth, neighbours, scores, tau=10.0)
    # q0: type Shirts e^9 > Tshirts e^8 + e^7 (right; a majority or least-similar vote says Tshirts);
    #     colour Red e^9 > Blue e^8, unknown e^7 (right); gender Women e^9 > Men e^8 + e^7 (wrong).
    # q1: type Shoes e^9 > Caps e^8 + e^7 (wrong); no colour truth (not counted); gender Women e^9 + e^8 (right).
    assert E9 > E8 + E7
    assert acc == {"articleType": 0.5, "baseColour": 1.0, "gender": 0.5}
    # at tau = 1 one nearest vote no longer outweighs two: Tshirts e^.8 + e^.7 = 4.24 > Shirts e^.9 = 2.46 (q0 wrong),
    # Caps beats Shoes (q1 right); gender: q0 Men 4.24 > Women 2.46 (right), q1 Women (right)
    assert R.knn_metrics(truth, neighbours, scores, tau=1.0) == {"articleType": 0.5, "baseColour": 1.0, "gender": 1.0}
    assert R.knn_metrics(truth[:1], neighbours[:1], scores[:1], tau=1.0)["articleType"] == 0.0


def test_embedding_metrics_neighbours_are_the_most_similar(monkeypatch):
    monkeypatch.setattr(R, "vote_tau", lambda: 10.0)
    # gallery = one-hot, so reference row j's similarity to query i is ref[j, i]
    gallery = np.eye(2, dtype=np.float32)
    sims = np.array([[0.9, 0.0], [0.8, 0.1], [0.7, 0.0], [0.0, 0.9], [0.1, 0.8], [0.2, 0.7]], np.float32)
    ref = [Product(id=f"r{j}", article_type=t, colour=c, title="")
           for j, (t, c) in enumerate([("Shirts", "Red"), ("Tshirts", "Blue"), ("Tshirts", "Blue"),
                                       ("Caps", "Blue"), ("Shoes", "Black"), ("Shoes", "Black")])]
    val = [Product(id="v0", article_type="Shirts", colour="Red", title=""),
           Product(id="v1", article_type="Caps", colour="Black", title="")]
    zero = lambda texts: np.zeros((len(texts), 2), np.float32)  # noqa: E731
    out = R.embedding_metrics(gallery, val, sims, ref, zero, k=3)
    # v0: r0 .9 Shirts, r1 .8 / r2 .7 Tshirts -> Shirts (right); the three least similar (r3 r4 r5) say Shoes.
    # v1: r3 .9 Caps, r4 .8 / r5 .7 Shoes -> Caps (right), colour Blue e^9 > Black e^8 + e^7 (wrong).
    assert out["knn_k"] == 3
    assert out["knn_accuracy"] == {"articleType": 1.0, "baseColour": 0.5}


# ------------------------------------------------------------------------------------------ end to end
def _vec(s0: float, s1: float) -> list[float]:
    return [s0, s1, math.sqrt(max(0.0, 1 - s0 * s0 - s1 * s1)), 0.0]


# id -> (split, RGB of its solid image, embedding, title, type, colour, gender, usage, season)
ROWS = {
    "v0": ("val", (10, 0, 0), [1, 0, 0, 0], "Red Shirt", "Shirts", "Red", "Men", "Casual", "Summer"),
    "v1": ("val", (20, 0, 0), [0, 1, 0, 0], "Blue Cap", "Caps", "Blue", "Women", "Casual", None),
    "t0": ("train", (30, 0, 0), _vec(0.9, 0.0), "A", "Shirts", "Red", "Men", "Casual", "Summer"),
    "t1": ("train", (40, 0, 0), _vec(0.8, 0.1), "B", "Tshirts", "Blue", "Women", "Casual", "Summer"),
    "t2": ("train", (50, 0, 0), _vec(0.7, 0.0), "C", "Tshirts", "Blue", "Women", "Formal", "Fall"),
    "t3": ("train", (60, 0, 0), _vec(0.0, 0.9), "D", "Caps", "Blue", "Women", "Sports", "Winter"),
    "t4": ("train", (70, 0, 0), _vec(0.1, 0.8), "E", "Shoes", "Black", "Men", "Sports", "Winter"),
    "t5": ("train", (80, 0, 0), _vec(0.2, 0.7), "F", "Shoes", "Black", "Men", "Casual", "Fall"),
    # the same photo as v0 under another id (KAGL has 16 such pairs): must leave the reference
    "t6": ("train", (10, 0, 0), [1, 0, 0, 0], "G", "Tshirts", "Blue", "Women", "Formal", "Fall"),
}
TEXT_VECS = {
    "Red Shirt": [0.5, 0, 0, 0],   # v0 first -> rank 1
    "Blue Cap": [0.2, 0.1, 0, 0],  # v0 .2 > v1 .1 -> v1 at rank 2
    "Caps": [0, 1, 0, 0],          # v1 first: P@1 1
    "Shirts": [0, 0.5, 0, 0],      # v1 (a cap) first: P@1 0
    "a photo of a Shirts": [1, 0, 0, 0],
    "a photo of a Caps": [0, 1, 0, 0],
    "a photo of a Shoes": [0.5, 0.5, 0, 0],
}


class HandPlaced(Encoder):
    """Images are solid colours; each colour has a hand-placed embedding. Unknown texts embed to zero."""

    name, dim, fingerprint = "hand-placed", 4, "hand-placed-v1"

    def encode_images(self, images, *, batch_size=64, progress=False):
        by_rgb = {r[1]: r[2] for r in ROWS.values()}
        return np.array([by_rgb[load_image(im).getpixel((0, 0))] for im in images], np.float32)

    def encode_texts(self, texts, *, batch_size=256, progress=False):
        return np.array([TEXT_VECS.get(t, [0.0] * 4) for t in texts], np.float32)


def write_catalog(root) -> str:
    rows = []
    for pid, (split, rgb, _, title, art, colour, gender, usage, season) in ROWS.items():
        path = root / f"{pid}.png"
        Image.new("RGB", (8, 8), rgb).save(path)
        rows.append(dict(id=pid, image_path=str(path), title=title, article_type=art, colour=colour, gender=gender,
                         usage=usage, season=season, split=split))
    # the duplicate must be byte-identical, not just the same colour
    (root / "t6.png").write_bytes((root / "v0.png").read_bytes())
    (root / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(root / "catalog.jsonl")


def test_eval_retrieval_end_to_end_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(R, "vote_tau", lambda: 10.0)
    cat = write_catalog(tmp_path)
    res = R.run_retrieval_eval(cat, cat, split="val", encoder=HandPlaced(), k=3, progress=False)
    assert res.gallery_size == 2 and res.reference_size == 6
    assert res.leak_check.same_image == 1 and res.leak_check.dropped == ["t6"] and res.leak_check.same_id == 0
    assert any("dropped 1 reference row whose image is" in n for n in res.notes)
    # v0: t0 .9 Shirts Red Men Casual Summer | t1 .8 Tshirts Blue Women Casual Summer | t2 .7 Tshirts Blue Women
    #     Formal Fall -> Shirts, Red, Men (e^9 > e^8 + e^7), Casual, Summer: all right.
    # v1: t3 .9 Caps Blue Women Sports Winter | t4 .8 Shoes Black Men Sports Winter | t5 .7 Shoes Black Men Casual
    #     -> Caps, Blue, Women (right); usage Sports e^9 + e^8 (truth Casual: wrong); no season truth.
    # The least similar neighbours would get v0 and v1 wrong everywhere; with t6 kept, v0's gender, type and
    # colour would follow a byte-identical copy of itself.
    assert res.knn_accuracy == {"articleType": 1.0, "baseColour": 1.0, "gender": 1.0, "usage": 0.5, "season": 1.0}
    assert res.knn_tau == 10.0 and res.k == 3
    # titles: Blue Cap -> v1 at rank 2, Red Shirt -> v0 at rank 1
    assert res.t2i["r1"] == pytest.approx(0.5) and res.t2i["mrr"] == pytest.approx(0.75)
    assert res.t2i_strict["r1"] == pytest.approx(0.5)
    # category: Caps -> v1 (right), Shirts -> v1 (wrong); P@10 over a gallery of 2 = 1/10 per query
    assert res.category_p1 == pytest.approx(0.5) and res.category_p10 == pytest.approx(0.1)
    # colour queries embed to zero: ties -> v0 (Red) first: Blue wrong, Red right
    assert res.color_p1 == pytest.approx(0.5)
    # prompts over Caps, Shirts, Shoes, Tshirts: v0 -> Shirts (1.0), v1 -> Caps (1.0); the worst prompt is wrong
    assert res.prompt_articleType_acc == 1.0 and res.prompt_articleType_wf1 == 1.0
    assert res.encoder_fingerprint == "hand-placed-v1"
