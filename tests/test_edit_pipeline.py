"""The tiny Fashion-RAG pipeline end to end on CPU: retrieval, conditioning, paste-back, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
import torch
from PIL import Image

from fashionrag import stores
from fashionrag.core.errors import CatalogError, InvalidImageError, InvalidInputError
from fashionrag.pipelines.edit import FashionRAGPipeline
from fashionrag.reports.edit_sheet import edit_sheet
from fashionrag.retrieval.retriever import Retriever

STEPS = 2


class FixedEncoder:
    """Query encoder stub: every text maps to one direction (retrieval order is then set by the vectors)."""

    name = "fixed"
    dim = 4

    def encode_texts(self, texts, **_):
        return np.tile(np.array([[1, 0, 0, 0]], np.float32), (len(texts), 1))


def _body_kp() -> np.ndarray:
    kp = np.zeros((18, 3), np.float32)
    for i, (x, y) in {0: (75, 25), 1: (75, 55), 2: (50, 55), 5: (100, 55), 3: (42, 90), 6: (108, 90),
                      8: (58, 120), 11: (92, 120), 9: (58, 160), 12: (92, 160), 10: (58, 190), 13: (92, 190)}.items():
        kp[i] = (x, y, 1)
    return kp


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 150, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    d = tmp_path_factory.mktemp("garments")
    store = stores.create("faiss", dim=4, encoder="fixed")
    rows = [("red-top", "Topwear", (220, 20, 20), [1, 0, 0, 0]), ("blue-top", "Topwear", (20, 20, 220), [0.9, 0.43, 0, 0]),
            ("green-top", "Topwear", (20, 200, 20), [0.8, 0, 0.6, 0]), ("jeans", "Bottomwear", (30, 30, 120), [1, 0, 0, 0])]
    vecs, metas = [], []
    for gid, sub, colour, v in rows:
        path = d / f"{gid}.png"
        Image.new("RGB", (48, 64), colour).save(path)
        vecs.append(np.asarray(v, np.float32) / np.linalg.norm(v))
        metas.append({"id": gid, "image_path": str(path), "title": gid, "subcategory": sub})
    store.upsert([r[0] for r in rows], np.stack(vecs), metas)
    return store


@pytest.fixture(scope="module")
def pipe(catalog) -> FashionRAGPipeline:
    # tests give keypoints; a photo without them has "no person"
    return FashionRAGPipeline.from_profile("tiny", device="cpu", retriever=Retriever(catalog, FixedEncoder()),
                                           pose_estimator=lambda rgb: None)


def _run(pipe, photo, **kw):
    kw.setdefault("keypoints", _body_kp())
    kw.setdefault("num_inference_steps", STEPS)
    kw.setdefault("seed", 0)
    return pipe(photo, "red top", category="upper_body", **kw)


def test_end_to_end_keeps_pixels_outside_the_mask(pipe, photo):
    out = _run(pipe, photo, k=2)
    assert out.image.size == photo.size and out.mask_image.size == photo.size
    a, src, m = np.asarray(out.image), np.asarray(photo), np.asarray(out.mask_image) > 0
    assert m.any() and (~m).any()
    assert np.array_equal(a[~m], src[~m])  # exactly the input outside the mask
    assert (a[m] != src[m]).mean() > 0.5  # and repainted inside
    assert [g.id for g in out.retrieved] == ["red-top", "blue-top"]  # category filter: no jeans
    assert out.prompt.count("$") == 32 and out.mask_source == "auto-bbox" and out.pose_source == "user"
    sheet = edit_sheet(out, height=64)
    assert sheet.height == 64 and sheet.width > 5 * 40


def test_user_mask_overrides_and_bounds_the_edit(pipe, photo):
    user = np.zeros((200, 150), np.uint8)
    user[10:40, 20:60] = 255
    out = _run(pipe, photo, k=1, mask=user)
    a, src = np.asarray(out.image), np.asarray(photo)
    assert out.mask_source == "user"
    changed = (a != src).any(-1)
    assert changed[10:40, 20:60].any() and not changed[~(user > 0)].any()


def test_seeds_reproduce(pipe, photo):
    a = np.asarray(_run(pipe, photo, k=1, seed=7).image)
    b = np.asarray(_run(pipe, photo, k=1, seed=7).image)
    c = np.asarray(_run(pipe, photo, k=1, seed=8).image)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_changing_the_garment_changes_conditioning_and_output(pipe, photo, catalog):
    red = Image.open(catalog.get("red-top")["image_path"]).convert("RGB")
    green = Image.open(catalog.get("green-top")["image_path"]).convert("RGB")
    with torch.no_grad():
        e_red, _ = pipe.encode_conditioning("red top", "upper_body", [red])
        e_green, _ = pipe.encode_conditioning("red top", "upper_body", [green])
    assert not torch.allclose(e_red, e_green)
    a = np.asarray(_run(pipe, photo, garments=[red]).image)
    b = np.asarray(_run(pipe, photo, garments=[green]).image)
    assert not np.array_equal(a, b)
    # excluding the top hit retrieves the next one, which changes the output as well
    out = _run(pipe, photo, k=1, exclude_ids=["red-top"])
    assert [g.id for g in out.retrieved] == ["blue-top"]


def test_k0_is_text_only(pipe, photo):
    retriever = pipe.retriever
    pipe.retriever = None  # no index needed at all
    try:
        out = _run(pipe, photo, k=0, prompt_mode="caption")
    finally:
        pipe.retriever = retriever
    # the reference's text-only noun-chunk prompt is the text itself (no trailing period)
    assert out.retrieved == [] and "$" not in out.prompt and out.prompt == "red top"
    assert out.image.size == photo.size


def test_bad_inputs_give_clear_errors(pipe, photo, tmp_path):
    bogus = tmp_path / "not_an_image.jpg"
    bogus.write_text("hello")
    with pytest.raises(InvalidImageError, match="not_an_image.jpg"):
        pipe(bogus, "red top", keypoints=_body_kp(), num_inference_steps=1)
    with pytest.raises(InvalidInputError, match="the photo is 150x200"):
        _run(pipe, photo, k=0, mask=np.ones((10, 10), np.uint8))
    with pytest.raises(InvalidInputError, match="no person found"):
        pipe(photo, "red top", k=0, num_inference_steps=1)
    with pytest.raises(InvalidInputError, match="between 0 and 4"):
        _run(pipe, photo, k=5)
    with pytest.raises(InvalidInputError, match="category"):
        pipe(photo, "x", category="shoes", keypoints=_body_kp())
    with pytest.raises(CatalogError, match="no dresses garments"):
        pipe(photo, "a dress", category="dresses", k=1, keypoints=_body_kp(), num_inference_steps=1)


def test_save_and_load_roundtrip(pipe, photo, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    again = FashionRAGPipeline.from_pretrained(tmp_path / "p", device="cpu")
    a = _run(pipe, photo, k=0)
    b = _run(again, photo, k=0)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_segmentation_mask_and_missing_person_paths(pipe, photo):
    person = np.zeros((200, 150), np.float32)
    person[20:195, 40:110] = 0.9
    old = pipe.person_segmenter
    pipe.person_segmenter = lambda rgb: person
    try:
        seg = _run(pipe, photo, k=0, mask_style="segmentation", num_inference_steps=1)
    finally:
        pipe.person_segmenter = old
    box = _run(pipe, photo, k=0, num_inference_steps=1)
    s, b = np.asarray(seg.mask_image) > 0, np.asarray(box.mask_image) > 0
    assert seg.mask_source == "auto-segmentation" and s.any() and s.sum() < b.sum() and not (s & ~b).any()
    # a user mask but no person found: the edit runs with zero pose heatmaps
    user = np.zeros((200, 150), np.uint8)
    user[50:120, 40:110] = 1
    out = pipe(photo, "red top", k=0, mask=user * 255, num_inference_steps=1, seed=0)
    assert out.pose_source == "none" and out.keypoints is None and out.mask_source == "user"
