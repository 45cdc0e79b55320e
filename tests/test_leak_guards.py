"""Leak guards: every evaluation checks its reference against the evaluated rows, by id and by image bytes,
whatever paths it was given, and refuses a same-id overlap unless told otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashionrag.core.errors import FashionRAGError
from fashionrag.core.schemas import Garment, Product
from fashionrag.eval.leaks import ReferenceOverlapError, find_overlap, guard_reference


def _catalog(root, rows, name="catalog.jsonl"):
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / name


def _rows(img_dir, n_train=8, n_val=4, dup_of_val=True):
    """train t0.., val v0..; with ``dup_of_val`` the last train row is v0's photo byte for byte under id t-dup."""
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_train + n_val):
        split, pid = ("train", f"t{i}") if i < n_train else ("val", f"v{i - n_train}")
        path = img_dir / f"{pid}.png"
        Image.new("RGB", (32, 32), (40 + 10 * i, 90, 200 - 10 * i)).save(path)
        rows.append(dict(id=pid, image_path=str(path), title=f"Men Blue Shirt {i}", article_type="Shirts",
                         colour="Blue", gender="Men", usage="Casual", season="Fall", split=split,
                         subcategory="Topwear", category="Apparel"))
    if dup_of_val:
        (img_dir / "t-dup.png").write_bytes((img_dir / "v0.png").read_bytes())
        rows.append({**rows[0], "id": "t-dup", "image_path": str(img_dir / "t-dup.png")})
    return rows


def _products(rows):
    return [Product.model_validate(r) for r in rows]


# ------------------------------------------------------------------------------------------ the guard itself
def test_guard_counts_same_ids_and_same_bytes(tmp_path):
    rows = _rows(tmp_path)
    val = _products([r for r in rows if r["split"] == "val"])
    ref = _products(rows)  # the whole catalog: every val id, plus t-dup (v0's bytes)
    same_id, same_image, n, unhashed = find_overlap(val, ref)
    assert sorted(same_id) == ["v0", "v1", "v2", "v3"] and same_image == ["t-dup"] and n == 13 and unhashed == 0
    with pytest.raises(ReferenceOverlapError) as err:
        guard_reference(val, ref, reference_name="the index X")
    msg = str(err.value)
    assert "4 of the 4 evaluated products are also in the index X" in msg and "--allow-overlap" in msg
    assert isinstance(err.value, FashionRAGError) and err.value.exit_code == 2

    allowed = guard_reference(val, ref, allow_overlap=True)
    assert allowed.same_id == 4 and allowed.same_image == 1 and allowed.dropped == [] and allowed.allowed
    assert any("not a held-out evaluation" in n for n in allowed.notes())

    train_only = guard_reference(val, _products([r for r in rows if r["split"] == "train"]))
    assert train_only.same_id == 0 and train_only.dropped == ["t-dup"]
    assert any("dropped 1 reference row whose image is" in n for n in train_only.notes())


def test_guard_with_unreadable_reference_images_still_checks_ids(tmp_path):
    rows = _rows(tmp_path, dup_of_val=False)
    val = _products([r for r in rows if r["split"] == "val"])
    ghost = Product(id="ghost", image_path=str(tmp_path / "missing.png"))
    check = guard_reference(val, [ghost])
    assert check.unhashed_reference == 1 and check.dropped == []
    with pytest.raises(ReferenceOverlapError, match="1 of the 4"):
        guard_reference(val, [Product(id="v2", image_path=str(tmp_path / "missing.png"))])


# ------------------------------------------------------------------------------------------ eval retrieval
def test_eval_retrieval_refuses_a_reference_folder_that_holds_the_eval_rows(tmp_path, monkeypatch):
    """Two different paths (the old guard only ran when both were the same folder)."""
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.eval.retrieval import run_retrieval_eval

    rows = _rows(tmp_path / "img")
    eval_cat = _catalog(tmp_path / "eval", [r for r in rows if r["split"] == "val"])
    everything = _catalog(tmp_path / "all", rows)
    with pytest.raises(ReferenceOverlapError, match="4 of the 4 evaluated products"):
        run_retrieval_eval(eval_cat, everything, encoder="tiny", k=3, progress=False)
    res = run_retrieval_eval(eval_cat, everything, encoder="tiny", k=3, allow_overlap=True, progress=False)
    assert res.leak_check.same_id == 4 and res.leak_check.allowed and res.reference_size == 13
    assert any("not a held-out evaluation" in n for n in res.notes)


def test_eval_retrieval_same_folder_drops_byte_identical_reference_images(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.eval.retrieval import run_retrieval_eval

    cat = _catalog(tmp_path / "cat", _rows(tmp_path / "img"))
    res = run_retrieval_eval(cat, cat, encoder="tiny", k=3, progress=False)
    assert res.reference_split == ["train"] and res.reference_size == 8  # 9 train rows less t-dup
    assert res.leak_check.dropped == ["t-dup"]
    kept = run_retrieval_eval(cat, cat, encoder="tiny", k=3, allow_overlap=True, progress=False)
    assert kept.reference_size == 9 and kept.leak_check.same_image == 1


def test_cli_overlap_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.cli import main

    rows = _rows(tmp_path / "img")
    eval_cat = _catalog(tmp_path / "eval", [r for r in rows if r["split"] == "val"])
    everything = _catalog(tmp_path / "all", rows)
    rc = main(["eval", "retrieval", "--catalog", str(eval_cat), "--index-catalog", str(everything), "--encoder",
               "tiny", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "4 of the 4 evaluated products" in err and "--allow-overlap" in err


# ------------------------------------------------------------------------------------------ eval caption
class OneProductDetector:
    """The whole photo is one product (no vision models needed)."""

    def detect(self, image):
        w, h = image.size
        return [Garment(region="product", box=[0.0, 0.0, float(w), float(h)], score=1.0, source="product")]


def _built_index(cat, out, split=None):
    from fashionrag import encoders
    from fashionrag.retrieval.catalog import load_catalog
    from fashionrag.retrieval.indexing import Indexer

    c = load_catalog(cat)
    Indexer(encoders.create("tiny"), progress=False).build(c.subset(split) if split else c, out)
    return out


def test_eval_caption_with_an_index_over_the_whole_catalog_refuses(tmp_path, monkeypatch, capsys):
    """The README's own `index build` over the developer set, then `eval caption --index`: val would leak in."""
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.cli import main
    from fashionrag.eval.caption import run_caption_eval

    cat = _catalog(tmp_path / "cat", _rows(tmp_path / "img"))
    index = _built_index(cat, tmp_path / "index")
    with pytest.raises(ReferenceOverlapError, match="4 of the 4 evaluated products are also in the index"):
        run_caption_eval(cat, cat, split="val", index=index, detector=OneProductDetector(), progress=False)
    rc = main(["eval", "caption", "--catalog", str(cat), "--index-catalog", str(cat), "--split", "val", "--index",
               str(index), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--allow-overlap" in err and "Traceback" not in err


def test_eval_caption_drops_byte_identical_images_from_a_prebuilt_index_in_memory_only(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag import stores
    from fashionrag.eval.caption import TuningSet, run_caption_eval

    cat = _catalog(tmp_path / "cat", _rows(tmp_path / "img"))
    index = _built_index(cat, tmp_path / "index", split="train")
    report, rows = run_caption_eval(cat, cat, split="val", index=index, detector=OneProductDetector(),
                                    tuning=TuningSet(), progress=False)
    assert report.leak_check.dropped == ["t-dup"] and report.index_size == 8 and report.n_images == 4
    assert len(stores.open_store(index)) == 9  # the index on disk is untouched
    assert any("dropped 1 reference row whose image is" in n for n in report.notes)
    # built from the catalog instead: the same drop
    built, _ = run_caption_eval(cat, cat, split="val", encoder="tiny", detector=OneProductDetector(),
                                tuning=TuningSet(), progress=False)
    assert built.leak_check.dropped == ["t-dup"] and built.index_size == 8


# ------------------------------------------------------------------------------------------ the real developer set
def test_kagl_val_has_16_photos_byte_identical_to_train_photos(kagl_dir):
    from fashionrag.retrieval.catalog import load_catalog

    cat = load_catalog(kagl_dir)
    val, train = cat.subset("val").products, cat.subset("train").products
    check = guard_reference(val, train)
    assert check.same_id == 0 and check.same_image == 16 and len(check.dropped) == 16
    assert not set(check.dropped) & {p.id for p in val}
    assert np.all([cat.get(i).split == "train" for i in check.dropped])
