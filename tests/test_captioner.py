"""The supervised caption baseline: a tiny decoder through the real training loop, loader and writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fashionrag import encoders, writers
from fashionrag.core.errors import ModelUnavailableError
from fashionrag.core.evidence import ColourEvidence, EvidencePack, GarmentEvidence
from fashionrag.core.schemas import Product
from fashionrag.models.captioner import BOS, EOS, CaptionDecoder, WordTokenizer, batch_ids
from fashionrag.train.captioner import (CaptionerTrainSettings, attribute_sentence, fit_decoder, train_captioner,
                                        training_texts)

TINY = dict(d_model=32, n_layers=1, n_heads=2, ff_dim=64, prefix_tokens=2, max_len=10, min_word_count=1,
            batch_size=8, lr=3e-3, threads=1)


def _data(n=24, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, dim)).astype(np.float32)
    texts = [(i, "men blue shirt" if feats[i, 0] > 0 else "women red dress") for i in range(n)]
    return feats, texts


def test_tokenizer_round_trip_and_unknowns():
    tok = WordTokenizer.fit(["Men Navy-Blue Shirt", "men shirt, casual"], min_count=1)
    ids = tok.encode("men navy-blue jacket", 10)
    assert ids[0] == BOS and ids[-1] == EOS
    assert tok.decode(ids[1:]) == "men navy-blue"  # the unknown 'jacket' is dropped
    assert tok.decode(tok.encode("men shirt, casual", 10)[1:]) == "men shirt, casual"
    assert batch_ids(tok, ["men", "men shirt casual"], 10).shape == (2, 5)


def test_training_loop_learns_a_tiny_task_and_is_seeded():
    feats, texts = _data()
    model, tok, losses = fit_decoder(feats, texts, CaptionerTrainSettings(epochs=40, **TINY))
    assert losses[-1] < 0.35 * losses[0]
    said = [tok.decode(ids) for ids in model.generate(torch.from_numpy(feats))]
    right = sum(s == t for s, (_, t) in zip(said, texts))
    assert right >= 20, list(zip(said, texts))
    mask = tok.word_mask()
    for ids in model.generate(torch.from_numpy(feats), no_repeat=mask):
        words = [i for i in ids if i < len(mask) and mask[i]]
        assert len(words) == len(set(words))  # no word twice (greedy decoding loops otherwise)
    again, _, losses2 = fit_decoder(feats, texts, CaptionerTrainSettings(epochs=40, **TINY))
    assert losses2 == losses  # same seed, same run


def test_save_and_load_give_the_same_captions(tmp_path):
    feats, texts = _data()
    model, tok, _ = fit_decoder(feats, texts, CaptionerTrainSettings(epochs=10, **TINY))
    model.save_pretrained(tmp_path / "cap", tok, half=False)
    loaded, tok2 = CaptionDecoder.from_pretrained(tmp_path / "cap")
    x = torch.from_numpy(feats)
    assert loaded.generate(x) == model.generate(x) and tok2.itos == tok.itos
    with pytest.raises(ModelUnavailableError, match="train captioner"):
        CaptionDecoder.from_pretrained(tmp_path / "missing")


def test_attribute_sentences_and_texts():
    p = Product(id="1", title="Turtle Men Navy Blue Shirt", article_type="Shirts", colour="Navy Blue",
                gender="Men", usage="Casual", season="Fall")
    assert attribute_sentence(p) == "men navy blue shirts, casual, fall"
    assert training_texts([p]) == [(0, "Turtle Men Navy Blue Shirt"), (0, "men navy blue shirts, casual, fall")]


class _Catalog:
    def __init__(self, products):
        self.products = products


def test_train_captioner_end_to_end_and_the_writer_keeps_its_own_text(tmp_path):
    products = []
    for i in range(12):
        colour = (200, 30, 30) if i % 2 else (30, 30, 200)
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (48, 48), colour).save(path)
        products.append(Product(id=str(i), image_path=str(path), split="val" if i == 11 else "train",
                                title=f"Acme Men {'Red' if i % 2 else 'Blue'} Tshirt", article_type="Tshirts",
                                colour="Red" if i % 2 else "Blue", gender="Men"))
    enc = encoders.create("tiny")
    res = train_captioner(_Catalog(products), tmp_path / "model",
                          CaptionerTrainSettings(epochs=3, encoder="tiny", **TINY), encoder=enc, progress=False,
                          log=lambda s: None)
    assert res.train_images == 11 and res.train_texts == 22 and len(res.losses) == 3  # the val row is not used
    assert (tmp_path / "model" / "model.safetensors").is_file() and res.file_bytes < 1_000_000

    w = writers.create("captioner", model=str(tmp_path / "model"), encoder="tiny")
    # evidence that contradicts anything the captioner may say: its text is kept and the guard reports
    ev = EvidencePack(gender="Women", garments=[GarmentEvidence(
        region="product", article_type="Jeans", colours=[ColourEvidence(name="Green", hex="#00aa00", share=1.0)])])
    r = w.write(ev, style="product", seed=0, image=Image.open(products[0].image_path))
    assert r.used_writer == "captioner" and r.fallback_reason is None and r.caption
    assert "template_fallback" not in r.guard_report.actions
    assert r.guard_report.passed == (not r.guard_report.violations)
    # without the photo it cannot write: the policy falls back and says why
    r2 = w.write(ev, style="product", seed=0)
    assert r2.used_writer == "template" and "needs the photo" in r2.fallback_reason
