"""`eval edit`: metric functions on known inputs, and the k-ablation run on the tiny pipeline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
from PIL import Image

from fashionrag import encoders, stores
from fashionrag.eval.edit import frechet_distance, kernel_distance, masked_psnr, masked_ssim, run_edit_eval
from fashionrag.pipelines.edit import FashionRAGPipeline
from fashionrag.pipelines.edit_data import DressCodeDataset
from fashionrag.retrieval.retriever import Retriever

KP = [[192, 60], [192, 120], [152, 120], [140, 180], [135, 240], [232, 120], [244, 180], [250, 240], [165, 260],
      [165, 360], [165, 470], [219, 260], [219, 360], [219, 470], [0, 0], [0, 0], [0, 0], [0, 0]]


def test_metrics_on_known_inputs():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 1
    b = a.copy()
    assert masked_psnr(a, b, mask) == math.inf and masked_ssim(a, b, mask) == pytest.approx(1.0)
    b[mask > 0] = np.clip(a[mask > 0].astype(int) + 10, 0, 255)
    b[0, 0] = 0  # outside the mask: ignored
    err = (b[mask > 0].astype(float) - a[mask > 0]) ** 2
    assert masked_psnr(a, b, mask) == pytest.approx(10 * math.log10(255**2 / err.mean()))
    assert masked_ssim(a, rng.integers(0, 255, (32, 32, 3)), mask) < 0.5
    x = rng.normal(size=(200, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(x, x + 1.0) == pytest.approx(8.0, rel=1e-3)  # |mean shift|^2 = 8
    assert abs(kernel_distance(x, rng.normal(size=(200, 8)), subset_size=100)) < 0.05
    assert kernel_distance(x, x + 2.0, subset_size=100) > 0.5


@pytest.fixture(scope="module")
def dresscode_test(tmp_path_factory):
    root = tmp_path_factory.mktemp("dresscode_test")
    d = root / "upper_body"
    for sub in ("images", "keypoints", "label_maps"):
        (d / sub).mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = []
    for i in range(3):
        stem = f"0{i}0000"
        Image.fromarray(rng.integers(0, 255, (512, 384, 3), dtype=np.uint8)).save(d / "images" / f"{stem}_0.jpg")
        Image.new("RGB", (384, 512), (60 * i, 120, 200)).save(d / "images" / f"{stem}_1.jpg")
        labels = np.zeros((512, 384), np.uint8)
        labels[120:270, 140:250] = 4
        Image.fromarray(labels).save(d / "label_maps" / f"{stem}_4.png")
        (d / "keypoints" / f"{stem}_2.json").write_text(json.dumps({"keypoints": [[x, y, 1, j] for j, (x, y) in enumerate(KP)]}))
        lines.append(f"{stem}_0.jpg {stem}_1.jpg")
    (d / "test_pairs_paired.txt").write_text("\n".join(lines))
    (root / "fine_captions.json").write_text(json.dumps({"000000": ["red shirt"], "010000": ["blue top"], "020000": ["tee"]}))
    return root


class Recorder:
    """Wraps the pipeline to record what each edit excluded and retrieved."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []
        self.retriever = pipe.retriever

    def __call__(self, *a, **kw):
        out = self.pipe(*a, **kw)
        self.calls.append((kw["k"], list(kw["exclude_ids"]), [g.id for g in out.retrieved]))
        return out


def test_k_ablation_excludes_the_ground_truth(dresscode_test, tmp_path):
    enc = encoders.create("tiny")
    images = sorted((dresscode_test / "upper_body" / "images").glob("*_1.jpg"))
    store = stores.create("faiss", dim=enc.dim, encoder=enc.name)
    store.upsert([p.stem for p in images], enc.encode_images([str(p) for p in images]),
                 [{"id": p.stem, "image_path": str(p), "subcategory": "upper_body"} for p in images])
    pipe = FashionRAGPipeline.from_profile("tiny", device="cpu", retriever=Retriever(store, enc))
    rec = Recorder(pipe)
    ds = DressCodeDataset(dresscode_test, "test", ["upper_body"], size=(128, 96))
    res = run_edit_eval(rec, ds, k_values=(0, 1), limit=2, steps=1, metric_encoder=enc, out_dir=tmp_path, progress=False)
    assert [r.k for r in res.rows] == [0, 1] and res.samples == 2 and res.gt_excluded
    assert res.fid_backend == "encoder:tiny-clip" and "not Inception FID" in res.note
    r0, r1 = res.rows
    assert r0.clip_i is None and r1.clip_i is not None and -1 <= r1.clip_i <= 1
    for r in res.rows:
        assert np.isfinite([r.fd_encoder, r.kd_encoder, r.clip_t, r.psnr_mask, r.ssim_mask]).all()
    for k, excluded, got in rec.calls:
        assert len(got) == k and not set(got) & set(excluded)
    # exactly the ground truth's garment ids were excluded, sample by sample, for every k
    gt = [ds[i].garment_id for i in range(2)]
    assert gt == ["000000_1", "010000_1"]
    assert [c[1] for c in rec.calls] == [[g] for g in gt] * 2
    assert all(g not in got for (_, _, got), g in zip(rec.calls[2:], gt))  # and never retrieved at k = 1
    assert len(list((tmp_path / "k1").glob("*.png"))) == 2
    assert res.paste_back and res.protocol == "ours" and "one KID on all 2" in res.kid


def test_paper_protocol_keeps_the_ground_truth_and_skips_paste_back(dresscode_test, tmp_path):
    enc = encoders.create("tiny")
    images = sorted((dresscode_test / "upper_body" / "images").glob("*_1.jpg"))
    store = stores.create("faiss", dim=enc.dim, encoder=enc.name)
    store.upsert([p.stem for p in images], enc.encode_images([str(p) for p in images]),
                 [{"id": p.stem, "image_path": str(p), "subcategory": "upper_body"} for p in images])
    rec = Recorder(FashionRAGPipeline.from_profile("tiny", device="cpu", retriever=Retriever(store, enc)))
    ds = DressCodeDataset(dresscode_test, "test", ["upper_body"], size=(128, 96))
    res = run_edit_eval(rec, ds, k_values=(1,), limit=2, steps=1, metric_encoder=enc, out_dir=tmp_path, progress=False,
                        protocol="paper")
    assert res.protocol == "paper" and not res.paste_back and not res.gt_excluded and "no paste-back" in res.note
    assert [c[1] for c in rec.calls] == [[], []]


def test_leak_guard_finds_evaluated_photos_by_id_and_by_content(dresscode_test, tmp_path):
    import shutil

    from fashionrag.eval.leaks import ReferenceOverlapError

    enc = encoders.create("tiny")
    d = dresscode_test / "upper_body" / "images"
    copy = tmp_path / "renamed.jpg"
    shutil.copy(d / "010000_0.jpg", copy)  # an evaluated person photo under another name and id
    garments = sorted(d.glob("*_1.jpg"))

    def gallery(extra):
        rows = [(p.stem, p) for p in garments] + extra
        store = stores.create("faiss", dim=enc.dim, encoder=enc.name)
        store.upsert([r[0] for r in rows], enc.encode_images([str(r[1]) for r in rows]),
                     [{"id": r[0], "image_path": str(r[1]), "subcategory": "upper_body"} for r in rows])
        return Recorder(FashionRAGPipeline.from_profile("tiny", device="cpu", retriever=Retriever(store, enc)))

    ds = DressCodeDataset(dresscode_test, "test", ["upper_body"], size=(128, 96))
    # byte-identical image under another id: always found, kept out of retrieval, reported
    rec = gallery([("other-id", copy)])
    res = run_edit_eval(rec, ds, k_values=(1,), limit=2, steps=1, metric_encoder=enc, out_dir=tmp_path, progress=False)
    assert res.leak_check.same_image == 1 and res.leak_check.dropped == ["other-id"] and "dropped 1" in res.note
    assert all("other-id" in excluded for _, excluded, _ in rec.calls)
    # an evaluated sample's own id in the gallery: an error naming the count and the fix, unless allowed
    rec = gallery([("upper_body/000000_0.jpg", d / "000000_0.jpg")])
    with pytest.raises(ReferenceOverlapError, match=r"1 of the 2 evaluated .*--allow-overlap"):
        run_edit_eval(rec, ds, k_values=(1,), limit=2, steps=1, metric_encoder=enc, out_dir=tmp_path, progress=False)
    res = run_edit_eval(rec, ds, k_values=(1,), limit=2, steps=1, metric_encoder=enc, out_dir=tmp_path, progress=False,
                        allow_overlap=True)
    assert res.leak_check.allowed and res.leak_check.same_id == 1 and "not a held-out evaluation" in res.note


def test_kid_is_one_kid_or_proper_subsets():
    from fashionrag.core.errors import InvalidInputError
    from fashionrag.eval.edit import kid_settings

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 0.5
    with pytest.raises(InvalidInputError, match="one KID repeated"):
        kernel_distance(a, b, subsets=10, subset_size=40)
    assert kid_settings(40) == (1, 40, "KID: one KID on all 40 (too few images for subsets)")
    assert kid_settings(300)[:2] == (10, 150)
    one = kernel_distance(a, b)
    sub = kernel_distance(a, b, subsets=10, subset_size=20)
    assert one > 0 and sub != one  # subsets are really different draws
