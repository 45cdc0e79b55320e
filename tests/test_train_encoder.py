"""The lite-encoder training loop, a few steps on a tiny model and a handful of synthetic images:
the loss goes down, the exported checkpoint round-trips through from_pretrained, and --resume continues
exactly where an interrupted run stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")

from fashionrag.retrieval.catalog import Catalog  # noqa: E402
from fashionrag.core.schemas import Product  # noqa: E402
from fashionrag.encoders.lite import LiteEncoder, prepare_image  # noqa: E402
from fashionrag.train.encoder import TrainSettings, augment, train_encoder  # noqa: E402
from fashionrag.encoders.texts import build_vocabularies, product_texts  # noqa: E402

COLOURS = {"Red": (220, 30, 30), "Blue": (30, 40, 220)}
TYPES = {"Shirts": "rect", "Caps": "ellipse"}


def _catalog(root) -> Catalog:
    """16 products: 2 colours x 2 shapes x 4 (train 12 / val 4), drawn on white like catalog photos."""
    products = []
    i = 0
    for colour, rgb in COLOURS.items():
        for kind, shape in TYPES.items():
            for j in range(4):
                img = Image.new("RGB", (64, 64), (255, 255, 255))
                d = ImageDraw.Draw(img)
                box = (8 + j, 10, 54 - j, 52)
                (d.rectangle if shape == "rect" else d.ellipse)(box, fill=rgb)
                path = root / f"{i}.jpg"
                img.save(path, quality=95)
                products.append(
                    Product(id=str(i), image_path=str(path), title=f"Brand{j} Men {colour} {kind}",
                            article_type=kind, colour=colour, gender="Men", usage="Casual", season="Fall",
                            subcategory="Topwear" if kind == "Shirts" else "Headwear",
                            split="val" if j == 3 else "train")
                )
                i += 1
    return Catalog(products=products, source=str(root))


def _settings(**kw) -> TrainSettings:
    base = dict(epochs=3, batch_size=6, lr=3e-3, image_size=32, width_mult=0.25, dim=32, dropout=0.0,
                threads=1, warmup_epochs=0.5, seed=0)
    base.update(kw)
    return TrainSettings(**base)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    return tmp_path


def test_texts_are_multi_field_and_shared_phrases_share_a_row():
    a = Product(id="1", title="Turtle Men Navy Blue Shirt", article_type="Shirts", colour="Navy Blue", gender="Men",
                usage="Casual")
    b = Product(id="2", title="Other Men Navy Blue Shirt", article_type="Shirts", colour="Navy Blue", gender="Men")
    t = product_texts(a)
    assert t["colour_type"] == "navy blue shirts" and t["gender_type"] == "men's shirts"
    assert t["usage"] == "casual wear" and t["colour"] == "Navy Blue" and t["prompt"] == "a photo of a Shirts"
    vocab, index = build_vocabularies([a, b], ["title", "colour", "usage"])
    assert index["colour"][0] == index["colour"][1]  # one row: both are positives of "Navy Blue"
    assert index["title"][0] != index["title"][1]
    assert index["usage"] == [0, -1]  # b has no usage: no target


def test_augment_keeps_colours_and_fills_white():
    img = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    img[:, 0] = 200  # a pure red-ish square filling the frame
    gen = torch.Generator().manual_seed(0)
    out = augment(img, gen, crop_scale_min=0.6, max_shift=0.3, flip=True)
    assert out.shape == (2, 3, 16, 16)
    # pixels are either the original colour, white fill, or a blend on the same R-G-B line: never a hue shift
    g_minus_b = (out[:, 1] - out[:, 2]).abs().max()
    assert float(g_minus_b) < 1e-3
    assert float(out[:, 0].min()) >= 199.0


def test_training_decreases_loss_and_exports_a_loadable_checkpoint(home):
    cat = _catalog(home)
    out = home / "run"
    result = train_encoder(cat, out, _settings(epochs=4), progress=False, cache_root=home / "cache", log=lambda s: None)
    losses = [e.loss for e in result.log]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert result.train_images == 12 and result.val_images == 4
    assert all(e.val for e in result.log) and result.final_val == result.log[-1].val  # val metrics every epoch
    log = json.loads((out / "train_log.json").read_text())
    assert [e["epoch"] for e in log] == [1, 2, 3, 4]

    enc = LiteEncoder.from_pretrained(result.model_dir)
    assert enc.dim == 32 and enc.cfg.image_size == 32 and set(enc.cfg.aux_heads) >= {"article_type", "colour"}
    paths = [p.image_path for p in cat.products[:5]]
    a = enc.encode_images(paths)
    b = LiteEncoder.from_pretrained(result.model_dir).encode_images(paths)
    assert a.shape == (5, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    arrays = np.stack([prepare_image(p, 32) for p in paths])
    np.testing.assert_allclose(enc.encode_arrays(arrays), a, atol=1e-6)
    t = enc.encode_texts(["red shirts", "blue caps"])
    assert t.shape == (2, 32)

    from fashionrag import encoders

    via_registry = encoders.create(f"lite:{result.model_dir}")
    np.testing.assert_allclose(via_registry.encode_images(paths[:2]), a[:2], atol=1e-6)
    assert via_registry.fingerprint == enc.fingerprint != "lite"

    # the last epoch's val numbers are what the exported model measures (train = reference, val = gallery)
    from fashionrag.eval.retrieval import embedding_metrics

    val = [p for p in cat.products if p.split == "val"]
    train = [p for p in cat.products if p.split == "train"]
    again = embedding_metrics(enc.encode_images([p.image_path for p in val]), val,
                              enc.encode_images([p.image_path for p in train]), train,
                              lambda texts: enc.encode_texts(list(texts)))
    assert again["knn_accuracy"] == pytest.approx(result.final_val["knn_accuracy"])
    assert again["t2i"] == pytest.approx(result.final_val["t2i"])


def test_resume_continues_exactly_where_an_interrupted_run_stopped(home):
    cat = _catalog(home)
    settings = _settings(epochs=2, eval_every=0)
    full = train_encoder(cat, home / "full", settings, progress=False, cache_root=home / "cache", log=lambda s: None)

    class Killed(Exception):
        pass

    def kill_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1:"):
            raise Killed

    with pytest.raises(Killed):
        train_encoder(cat, home / "part", settings, progress=False, cache_root=home / "cache", log=kill_after_first_epoch)
    assert not (home / "part" / "model").exists()
    resumed = train_encoder(cat, home / "part", settings, resume=True, progress=False, cache_root=home / "cache",
                            log=lambda s: None)
    assert [e.epoch for e in resumed.log] == [1, 2]
    assert resumed.log[1].loss == pytest.approx(full.log[1].loss, rel=1e-5)
    a = LiteEncoder.from_pretrained(full.model_dir).encode_images([cat.products[0].image_path])
    b = LiteEncoder.from_pretrained(resumed.model_dir).encode_images([cat.products[0].image_path])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_resume_without_checkpoint_is_a_clear_error(home):
    from fashionrag.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="no checkpoint"):
        train_encoder(_catalog(home), home / "none", _settings(), resume=True, progress=False, log=lambda s: None)


def test_cli_train_encoder_json(home, capsys, monkeypatch):
    from fashionrag.cli import main

    cat = _catalog(home)
    lines = [json.dumps(p.model_dump()) for p in cat.products]
    (home / "catalog.jsonl").write_text("\n".join(lines) + "\n")
    rc = main(["train", "encoder", "--catalog", str(home / "catalog.jsonl"), "--out", str(home / "cli"),
               "--epochs", "1", "--image-size", "32", "--width", "0.25", "--dim", "16", "--batch-size", "6",
               "--threads", "1", "--quiet", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["epochs"] == 1 and doc["train_images"] == 12
    assert (home / "cli" / "model" / "model.safetensors").is_file()


def test_val_metrics_never_use_a_train_copy_of_a_val_photo(home):
    """A train row whose image is byte-identical to a val image is left out of the per-epoch kNN reference."""
    from fashionrag.core.schemas import Product
    from fashionrag.train.encoder import prepare

    cat = _catalog(home)
    val0 = next(p for p in cat.products if p.split == "val")
    copy = Product.model_validate({**val0.model_dump(), "id": "copy-of-val", "split": "train"})
    with_copy = Catalog(products=[*cat.products, copy], issues=[], source="x", kind="jsonl")
    data = prepare(with_copy, _settings(), progress=False, cache_root=home / "cache")
    ids = [p.id for p in data.train_products]
    assert "copy-of-val" in ids and data.reference_rows is not None
    assert [data.train_products[i].id for i in data.reference_rows] == [i for i in ids if i != "copy-of-val"]
    assert prepare(cat, _settings(), progress=False, cache_root=home / "cache").reference_rows is None
