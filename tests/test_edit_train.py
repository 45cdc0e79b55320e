"""`train editor`: a few steps on tiny models over a synthetic Dress Code layout, and the catalog loader."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
pytest.importorskip("accelerate", reason="the edit extra (diffusers, accelerate) is not installed")
import torch
from PIL import Image

from fashionrag.core.errors import CatalogError
from fashionrag.core.schemas import Product
from fashionrag.pipelines.edit import FashionRAGPipeline
from fashionrag.pipelines.edit_profiles import tiny_pipeline_dir
from fashionrag.cli.train_editor import register_editor
from fashionrag.pipelines.edit_data import CatalogEditDataset, DressCodeDataset
from fashionrag.train.editor import EditorTrainSettings, train_editor

KP = [[192, 60], [192, 120], [152, 120], [140, 180], [135, 240], [232, 120], [244, 180], [250, 240], [165, 260],
      [165, 360], [165, 470], [219, 260], [219, 360], [219, 470], [0, 0], [0, 0], [0, 0], [0, 0]]


@pytest.fixture(scope="module")
def dresscode(tmp_path_factory):
    """Two upper-body pairs in the Dress Code layout (384x512 photos, label maps, keypoints, captions)."""
    root = tmp_path_factory.mktemp("dresscode")
    d = root / "upper_body"
    for sub in ("images", "keypoints", "label_maps"):
        (d / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(2):
        stem = f"0{i}0000"
        Image.fromarray(rng.integers(0, 255, (512, 384, 3), dtype=np.uint8)).save(d / "images" / f"{stem}_0.jpg")
        Image.new("RGB", (384, 512), (200, 30 * i, 30)).save(d / "images" / f"{stem}_1.jpg")
        labels = np.zeros((512, 384), np.uint8)
        labels[120:270, 140:250] = 4  # upper clothes
        Image.fromarray(labels).save(d / "label_maps" / f"{stem}_4.png")
        (d / "keypoints" / f"{stem}_2.json").write_text(json.dumps({"keypoints": [[x, y, 0.9, j] for j, (x, y) in enumerate(KP)]}))
        lines.append(f"{stem}_0.jpg {stem}_1.jpg")
    (d / "train_pairs.txt").write_text("\n".join(lines) + "\n")
    (root / "fine_captions.json").write_text(json.dumps({"000000": ["red shirt", "short sleeves"], "010000": ["pink top"]}))
    return root


def test_dresscode_loader(dresscode):
    ds = DressCodeDataset(dresscode, "train", ["upper_body"], size=(128, 96))
    assert len(ds) == 2
    ex = ds[0]
    assert ex.image.size == (96, 128) and ex.mask.shape == (128, 96) and ex.category == "upper_body"
    assert ex.caption == "red shirt, short sleeves" and len(ex.garments) == 1
    assert ex.mask[55, 48] == 1 and ex.mask[5, 5] == 0  # the garment (dilated), not the background
    assert ex.keypoints[2].tolist() == pytest.approx([38.0, 30.0, 1.0]) and ex.keypoints[14, 2] == 0
    with pytest.raises(CatalogError, match="no Dress Code pairs"):
        DressCodeDataset(dresscode, "test", ["upper_body"])


def test_a_few_training_steps_change_unet_and_adapter(dresscode, tmp_path):
    ds = DressCodeDataset(dresscode, "train", ["upper_body"], size=(128, 96))
    settings = EditorTrainSettings(max_steps=3, batch_size=2, warmup_steps=1, lr=1e-3, text_drop=0.5, uncond_prob=0.0, k=3)
    result = train_editor(ds, tmp_path / "run", settings, base="tiny", device="cpu", progress=False)
    assert result.steps == 3 and result.samples == 6 and all(np.isfinite(result.losses))
    trained = FashionRAGPipeline.from_pretrained(result.output, device="cpu")
    base = FashionRAGPipeline.from_pretrained(tiny_pipeline_dir(), device="cpu")
    assert not torch.equal(trained.unet.conv_in.weight, base.unet.conv_in.weight)
    assert not torch.equal(trained.inversion_adapter.layers[0].weight, base.inversion_adapter.layers[0].weight)
    assert torch.equal(trained.vae.decoder.conv_out.weight, base.vae.decoder.conv_out.weight)  # frozen
    assert torch.equal(trained.text_encoder.get_input_embeddings().weight, base.text_encoder.get_input_embeddings().weight)


def test_train_editor_cli(dresscode, tmp_path):
    parser = argparse.ArgumentParser()
    register_editor(parser.add_subparsers())
    args = parser.parse_args(["editor", "--dresscode", str(dresscode), "--out", str(tmp_path / "o"), "--max-steps", "1",
                              "--batch-size", "1", "--device", "cpu", "--json"])
    result = args.func(args)
    assert result.steps == 1 and (tmp_path / "o" / "final" / "fashionrag_edit.json").is_file()


def test_catalog_loader_uses_automatic_pose(tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 384, 3), dtype=np.uint8)).save(photo)
    products = [Product(id="1", image_path=str(photo), title="red shirt", subcategory="Topwear"),
                Product(id="2", image_path=str(photo), title="belt", subcategory="Belts")]
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 0.9
    for mp, (x, y) in {11: (232, 120), 12: (152, 120), 23: (219, 260), 24: (165, 260), 13: (244, 180), 14: (140, 180)}.items():
        lm[mp, :2] = (x, y)
    ds = CatalogEditDataset(products, size=(128, 96), pose_estimator=lambda rgb: lm)
    assert len(ds) == 1  # the belt is not an editable garment
    ex = ds[0]
    assert ex.category == "upper_body" and ex.caption == "red shirt" and ex.mask.any() and ex.garments[0].width > 10
    assert CatalogEditDataset(products, pose_estimator=lambda rgb: None)[0] is None  # no person: skipped
