"""Encoder backends (hf, openclip, tiny) exercised at tiny size: no downloads, real loading code."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders
from fashionrag.core.errors import InvalidImageError, ModelUnavailableError
from fashionrag.encoders import tiny as tiny_mod

TINY = ["tiny-clip", "tiny-siglip", "tiny-siglip2", "tiny-openclip"]
LOADER = {"tiny-clip": "hf", "tiny-siglip": "hf", "tiny-siglip2": "hf", "tiny-openclip": "openclip"}
TEXTS = ["a red summer dress", "blue denim jeans", "black leather ankle boots with a small heel", "watch", "",
         "navy", "women's white cotton t-shirt, short sleeves", "SPORTS SHOES!"]


@pytest.fixture(scope="module", autouse=True)
def _isolated_home(tmp_path_factory):
    """Tiny models are built into a throwaway FASHIONRAG_HOME, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHIONRAG_HOME", str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Eight distinct small images: even ones as PNG paths, odd ones as PIL images."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("imgs")
    out = []
    for i in range(8):
        arr = rng.integers(0, 256, size=(24 + 4 * i, 40, 3), dtype=np.uint8)
        if i % 2 == 0:
            path = root / f"img{i}.png"
            Image.fromarray(arr).save(path)
            out.append(str(path))
        else:
            out.append(Image.fromarray(arr))
    return out


@pytest.fixture(scope="module", params=TINY)
def enc(request):
    return encoders.create(request.param, device="cpu")


def test_registry_lists_backends():
    names = encoders.available()
    for n in ["hf", "openclip", "tiny", *TINY]:
        assert n in names


def test_tiny_alias_is_tiny_clip():
    a, b = encoders.create("tiny"), encoders.create("tiny-clip")
    assert a.name == b.name == "tiny-clip"
    np.testing.assert_array_equal(a.encode_texts(TEXTS[:3]), b.encode_texts(TEXTS[:3]))


def test_shapes_dtype_norms_and_dims(enc, images):
    img = enc.encode_images(images)
    txt = enc.encode_texts(TEXTS)
    assert img.shape == (len(images), enc.dim) and txt.shape == (len(TEXTS), enc.dim)
    assert img.dtype == np.float32 and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(img).all() and np.isfinite(txt).all()


def test_different_inputs_give_different_vectors(enc, images):
    # Guards against pooling a pad token or ignoring the pixels: every row must differ.
    for vecs in (enc.encode_images(images), enc.encode_texts(TEXTS)):
        sims = vecs @ vecs.T
        off_diag = sims[~np.eye(len(vecs), dtype=bool)]
        assert off_diag.max() < 0.9999


def test_same_input_same_output(enc, images):
    np.testing.assert_array_equal(enc.encode_images(images[:3]), enc.encode_images(images[:3]))
    np.testing.assert_array_equal(enc.encode_texts(TEXTS), enc.encode_texts(TEXTS))


def test_two_created_encoders_agree(enc, images):
    other = encoders.create(enc.name, device="cpu")  # the name re-creates the encoder
    assert other.name == enc.name and other.dim == enc.dim
    np.testing.assert_allclose(other.encode_images(images[:3]), enc.encode_images(images[:3]), atol=1e-6)
    np.testing.assert_allclose(other.encode_texts(TEXTS), enc.encode_texts(TEXTS), atol=1e-6)


def test_batch_size_does_not_change_vectors(enc, images):
    np.testing.assert_allclose(enc.encode_images(images, batch_size=1), enc.encode_images(images, batch_size=8),
                               atol=1e-5)
    np.testing.assert_allclose(enc.encode_texts(TEXTS, batch_size=1), enc.encode_texts(TEXTS, batch_size=8),
                               atol=1e-5)
    # order is kept across batch boundaries
    np.testing.assert_allclose(enc.encode_texts(TEXTS[::-1], batch_size=3), enc.encode_texts(TEXTS)[::-1], atol=1e-5)


def test_path_pil_ndarray_and_bytes_inputs_agree(enc, images):
    path = images[0]
    arr = np.asarray(Image.open(path).convert("RGB"))
    data = open(path, "rb").read()
    vecs = enc.encode_images([path, Image.open(path), arr, data], progress=True)
    for row in vecs[1:]:
        np.testing.assert_allclose(row, vecs[0], atol=1e-5)


def test_bad_image_raises_naming_the_file(enc, images, tmp_path):
    bad = tmp_path / "broken_photo.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(InvalidImageError, match="broken_photo.jpg"):
        enc.encode_images([images[0], str(bad)])
    with pytest.raises(InvalidImageError, match="missing_photo.png"):
        enc.encode_images([str(tmp_path / "missing_photo.png")])
    with pytest.raises(InvalidImageError, match="#1"):  # non-file inputs are named by position
        enc.encode_images([images[1], np.zeros((4, 4, 7), dtype=np.uint8)])


def test_empty_and_long_inputs(enc):
    assert enc.encode_images([]).shape == (0, enc.dim)
    assert enc.encode_texts([]).shape == (0, enc.dim)
    long = enc.encode_texts(["very long description " * 200])  # truncated to the context length, not a crash
    assert long.shape == (1, enc.dim)


def test_save_and_load_round_trip_through_the_real_loader(enc, images, tmp_path):
    saved = enc.save_pretrained(tmp_path / "saved model")
    prefix = LOADER[enc.name]
    loaded = encoders.create(f"{prefix}:{saved}", device="cpu")
    assert loaded.name == f"{prefix}:{saved.resolve()}"
    assert loaded.dim == enc.dim
    np.testing.assert_allclose(loaded.encode_images(images[:2]), enc.encode_images(images[:2]), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_texts(TEXTS), enc.encode_texts(TEXTS), atol=1e-6)
    # and its name re-creates it
    again = encoders.create(loaded.name)
    np.testing.assert_allclose(again.encode_texts(TEXTS[:2]), loaded.encode_texts(TEXTS[:2]), atol=1e-6)


@pytest.mark.parametrize("kind", ["clip", "siglip", "siglip2", "openclip"])
def test_tiny_build_is_seeded(kind, tmp_path):
    """Building the tiny model again from scratch gives the very same weights (and so the same vectors)."""
    fresh_dir = tiny_mod.tiny_dir(kind, root=tmp_path)
    assert (fresh_dir / "fashionrag_tiny.json").is_file()
    prefix = "openclip" if kind == "openclip" else "hf"
    fresh = encoders.create(f"{prefix}:{fresh_dir}")
    cached = encoders.create(f"tiny-{kind}")
    np.testing.assert_allclose(fresh.encode_texts(TEXTS[:3]), cached.encode_texts(TEXTS[:3]), atol=1e-6)


def test_unknown_encoder_names():
    with pytest.raises(ModelUnavailableError, match="unknown encoder"):
        encoders.create("no-such-encoder")
    with pytest.raises(ModelUnavailableError):
        encoders.create("tiny-nope")


def test_hub_model_missing_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="fashionrag-tests/no-such-model") as info:
        encoders.create("hf:fashionrag-tests/no-such-model")
    msg = str(info.value)
    assert "HF_HUB_OFFLINE" in msg and "local directory" in msg and "\n" not in msg
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        encoders.create("openclip:hf-hub:fashionrag-tests/no-such-model")


def test_local_dirs_that_are_not_models(tmp_path):
    with pytest.raises(ModelUnavailableError, match="config.json"):
        encoders.create(f"hf:{tmp_path}")
    with pytest.raises(ModelUnavailableError, match="open_clip_config.json"):
        encoders.create(f"openclip:{tmp_path}")
    with pytest.raises(ModelUnavailableError):
        encoders.create(f"hf:{tmp_path / 'does-not-exist'}")
    with pytest.raises(ModelUnavailableError, match="hf:<hub id or local dir>"):
        encoders.create("hf:")


def test_hf_rejects_models_that_are_not_dual_encoders(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    with pytest.raises(ModelUnavailableError, match="bert"):
        encoders.create(f"hf:{tmp_path}")


def test_device_choice(monkeypatch):
    import torch

    from fashionrag.encoders._torch_utils import pick_device, pick_dtype

    assert pick_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device(None).type == "cpu"
    assert pick_dtype(torch.device("cpu"), fp16=True) == torch.float32  # no half precision on CPU
    assert encoders.create("tiny", fp16=True).encode_texts(["x"]).dtype == np.float32


def test_bytes_io_image(enc, images):
    buf = io.BytesIO()
    Image.open(images[0]).save(buf, format="PNG")
    assert enc.encode_images([buf.getvalue()]).shape == (1, enc.dim)
