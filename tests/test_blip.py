"""The BLIP baseline at tiny size: build, caption, fine-tune (loss goes down), save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from fashionrag.core.errors import InvalidInputError, ModelUnavailableError

WORDS = "a black white red navy blue shirt dress jeans for men women".split()


@pytest.fixture(scope="module")
def tiny_blip_dir(tmp_path_factory):
    from fashionrag.baselines.blip import BlipCaptioner

    return BlipCaptioner.build_tiny(tmp_path_factory.mktemp("tiny_blip"), WORDS)


def _images():
    rng = np.random.default_rng(0)
    dark = (rng.integers(0, 40, (48, 40, 3))).astype(np.uint8)
    light = (215 + rng.integers(0, 40, (40, 48, 3))).astype(np.uint8)
    return [dark, light]


def test_caption_finetune_and_round_trip(tiny_blip_dir, tmp_path):
    from fashionrag.baselines.blip import BlipCaptioner

    cap = BlipCaptioner.from_pretrained(tiny_blip_dir, max_new_tokens=8)
    images = _images()
    before = cap.caption(images)
    assert len(before) == 2 and all(isinstance(c, str) for c in before)

    pairs = [(images[0], "a black shirt for men"), (images[1], "a white dress for women")]
    losses = cap.finetune(pairs, steps=15, lr=5e-3, batch_size=2)
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])  # it learns the two captions

    after = cap.caption(images)
    assert all(set(c.split()) <= set(WORDS) for c in after)
    out = cap.save_pretrained(tmp_path / "finetuned")
    again = BlipCaptioner.from_pretrained(out, max_new_tokens=8)
    assert again.caption(images) == after


def test_bad_inputs(tiny_blip_dir, tmp_path):
    from fashionrag.baselines.blip import BlipCaptioner

    with pytest.raises(ModelUnavailableError, match="offline"):
        BlipCaptioner.from_pretrained(tmp_path / "missing")
    cap = BlipCaptioner.from_pretrained(tiny_blip_dir)
    with pytest.raises(InvalidInputError):
        cap.finetune([], steps=1)
    assert cap.caption([]) == []


def test_finetune_on_real_catalog_rows(tiny_blip_dir, kagl_dir, tmp_path):
    from fashionrag.baselines.blip import BlipCaptioner, finetune_on_catalog

    report = finetune_on_catalog(tiny_blip_dir, kagl_dir, tmp_path / "ft", split="train", steps=3, lr=1e-3,
                                 batch_size=2, limit=4, progress=False)
    assert report.n_pairs == 4 and report.steps == 3 and len(report.losses) == 3
    assert BlipCaptioner.from_pretrained(report.model_out, max_new_tokens=4).caption([_images()[0]])
