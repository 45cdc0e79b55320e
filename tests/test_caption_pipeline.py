"""The caption pipeline end to end (tiny encoder, real pose models), its CLI batch mode and its evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders, writers
from fashionrag.retrieval.catalog import load_catalog
from fashionrag.cli import main
from fashionrag.retrieval.indexing import Indexer
from fashionrag.retrieval.retriever import Retriever
from fashionrag.pipelines.caption import CaptionConfig, CaptionPipeline
from fashionrag.vision.garments import create_detector

TOPWEAR = {"Tshirts", "Shirts", "Kurtas", "Tops", "Sweaters", "Sweatshirts", "Jackets", "Kurtis", "Tunics", "Dupatta",
           "Waistcoat", "Shrug", "Bra", "Kurta Sets"}


@pytest.fixture(scope="module")
def small_index(kagl_dir, tmp_path_factory):
    cat = load_catalog(kagl_dir, split="train")
    by_sub: dict[str, list] = {}
    for p in cat.products:
        by_sub.setdefault(p.subcategory, []).append(p.id)
    ids = [i for sub in ("Topwear", "Bottomwear", "Shoes", "Dress", "Bags") for i in by_sub.get(sub, [])[:15]]
    enc = encoders.create("tiny")
    root = tmp_path_factory.mktemp("capidx")
    store, _ = Indexer(enc, cache_path=root / "c.sqlite", progress=False).build(cat.subset(ids=ids), root / "idx")
    return enc, store, root / "idx"


@pytest.fixture(scope="module")
def pipe(small_index):
    enc, store, _ = small_index
    return CaptionPipeline(create_detector("pose"), Retriever(store, enc), writers.create("template"), CaptionConfig())


def _val_photo(kagl_dir, article_type):
    cat = load_catalog(kagl_dir, split="val")
    return next(p for p in cat.products if p.article_type == article_type)


def test_worn_top_is_captioned_within_its_region(pipe, kagl_dir):
    p = _val_photo(kagl_dir, "Tshirts")
    result, analysis = pipe.run(p.image_path, seed=3)
    ev = result.evidence
    assert ev.garments, "a worn T-shirt photo must yield at least one garment"
    assert result.caption and 1 <= result.caption.count(".") + result.caption.count("!") <= 4
    assert len(result.hashtags) == 15 and len(set(h.lower() for h in result.hashtags)) == 15
    for a in analysis.garments:
        # region constraint applied inside the search: an upper-body garment only has topwear neighbours
        if a.garment.region == "upper_body":
            assert all(h.metadata["subcategory"] in ("Topwear", "Innerwear", "Apparel Set") for h in a.neighbours)
            assert a.evidence.article_type in TOPWEAR | {None}
        if a.garment.region == "lower_body":
            assert all(h.metadata["subcategory"] == "Bottomwear" for h in a.neighbours)
    assert result.guard_report.passed
    # deterministic for a seed
    again, _ = pipe.run(p.image_path, seed=3)
    assert again.caption == result.caption and again.hashtags == result.hashtags


def test_every_evidence_value_comes_from_votes_or_measurement(pipe, kagl_dir):
    p = _val_photo(kagl_dir, "Casual Shoes")
    result, analysis = pipe.run(p.image_path)
    for a in analysis.garments:
        raw, ev = a.raw_evidence, a.evidence
        for field in ("article_type", "gender", "fabric", "usage", "season"):
            vote = a.votes[field]
            assert getattr(raw, field) == vote.value           # the best guess is the vote's winner
            # what may be said: the winner when its share reaches the threshold, else nothing
            confident = vote.value is not None and vote.confidence >= pipe.config.threshold(field)
            assert getattr(ev, field) == (vote.value if confident else None)
        assert [c.name for c in raw.colours] == [c.name for c in a.garment.colours if c.name][:2]
        assert [c.name for c in ev.colours] in ([c.name for c in raw.colours], [])
    assert len(result.evidence.style_examples) <= pipe.config.n_style_examples


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_garment_gives_an_honest_empty_result(pipe, kind):
    rng = np.random.default_rng(0)
    arr = np.full((256, 256, 3), 255, np.uint8) if kind == "blank" else (rng.random((256, 256, 3)) * 255).astype(np.uint8)
    result, _ = pipe.run(arr)
    assert result.evidence.garments == []
    assert result.caption == "" and result.hashtags == []


def test_tiny_and_huge_images(pipe):
    tiny_result, _ = pipe.run(np.full((8, 8, 3), 128, np.uint8))
    assert tiny_result.caption == "" or tiny_result.evidence.garments
    big = np.full((3000, 4000, 3), 255, np.uint8)
    big[900:2100, 1400:2600] = (200, 20, 20)  # a red product on white
    result, analysis = pipe.run(big)
    assert [g.region for g in result.evidence.garments] == ["product"]
    x0, y0, x1, y1 = result.evidence.garments[0].box
    assert abs(x0 - 1400) < 60 and abs(y1 - 2100) < 60  # box in input-image pixels
    assert result.evidence.garments[0].colours[0].name in ("Red", "Maroon")


def test_batch_skips_corrupt_file_and_resumes(small_index, kagl_dir, tmp_path, capsys):
    _, _, idx = small_index
    folder = tmp_path / "photos"
    folder.mkdir()
    val = load_catalog(kagl_dir, split="val").products
    for p in val[:2]:
        (folder / f"{p.id}.jpg").write_bytes(open(p.image_path, "rb").read())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "caps.jsonl"
    sheet = tmp_path / "sheet.html"
    args = ["caption", str(folder), "--index", str(idx), "--out", str(out), "--sheet", str(sheet), "--quiet", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 2 and len(summary["errors"]) == 1 and "broken.jpg" in summary["errors"][0]["error"]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum("error" in r for r in records) == 1 and sum("caption" in r for r in records) == 2
    html = sheet.read_text()
    assert html.count("class='card'") == 2 and "data:image/jpeg;base64," in html
    assert main(args) == 0  # resume: the two good photos are not redone
    again = json.loads(capsys.readouterr().out)
    assert again["already_done"] == 2 and again["written"] == 0
    # ... and the sheet still shows every caption in the JSONL, not only this run's (none)
    html = sheet.read_text()
    assert again["sheet_cards"] == 2 and html.count("class='card'") == 2 and "data:image/jpeg;base64," in html
    # one more photo: the sheet shows the two old captions and the new one
    (folder / f"{val[2].id}.jpg").write_bytes(open(val[2].image_path, "rb").read())
    assert main(args) == 0
    third = json.loads(capsys.readouterr().out)
    assert third["written"] == 1 and third["already_done"] == 2 and sheet.read_text().count("class='card'") == 3


def test_batch_out_that_is_a_directory_is_a_clear_error(small_index, kagl_dir, tmp_path, capsys):
    _, _, idx = small_index
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in load_catalog(kagl_dir, split="val").products[:2]:
        (folder / f"{p.id}.jpg").write_bytes(open(p.image_path, "rb").read())
    code = main(["caption", str(folder), "--index", str(idx), "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "is a directory" in err and "Traceback" not in err
    assert list(tmp_path.glob("*.jsonl")) == []


def test_mask_outline_keeps_the_photos_colours(pipe, kagl_dir):
    """The contact sheet outlines masks instead of tinting them: pixels inside a mask keep their colour."""
    import base64
    import io

    from PIL import Image

    from fashionrag.reports.sheets import overlay
    from fashionrag.vision.garments import garment_mask

    p = _val_photo(kagl_dir, "Tshirts")
    result, analysis = pipe.run(p.image_path)
    uri = overlay(p.image_path, analysis, result, max_side=10_000)
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")).astype(int)
    photo = np.asarray(Image.open(p.image_path).convert("RGB")).astype(int)
    mask = garment_mask(analysis.garments[0].garment)
    assert mask is not None and mask.sum() > 1000
    from PIL import ImageFilter

    interior = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(15))) > 0
    # JPEG noise only: the interior is the photo's own colours (a 40 % tint would move them by tens of levels)
    assert np.abs(shown[interior] - photo[interior]).mean() < 4


def test_single_image_cli_and_eval_caption(small_index, kagl_dir, capsys):
    _, _, idx = small_index
    p = _val_photo(kagl_dir, "Shirts")
    assert main(["caption", p.image_path, "--index", str(idx), "--style", "minimal", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["style"] == "minimal" and res["writer"] == "template" and res["evidence"]["garments"]
    code = main(["eval", "caption", "--catalog", str(kagl_dir), "--index-catalog", str(kagl_dir), "--split", "val",
                 "--index", str(idx), "--limit", "4", "--json", "--quiet"])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("n_images", "category_accuracy", "category_hit", "color_accuracy", "gender_accuracy",
                "hashtag_coverage_mean", "contradiction_rate", "distinct_1", "distinct_2", "bleu4", "meteor",
                "rouge_l", "cider", "clip_score", "images_per_s"):
        assert key in rep
    assert rep["n_images"] == 4 and set(rep["coverage_at"]) == {"0.5", "0.6", "0.7"}
    assert 0.0 <= rep["category_hit"] <= 1.0 and rep["category_accuracy"] <= rep["category_hit"]


def test_eval_caption_prints_the_risk_coverage_curve_and_strict_states_less(small_index, kagl_dir, capsys):
    _, _, idx = small_index
    args = ["eval", "caption", "--catalog", str(kagl_dir), "--index-catalog", str(kagl_dir), "--split", "val",
            "--index", str(idx), "--limit", "6", "--quiet", "--json"]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    curve = {pt["name"]: pt for pt in rep["risk_coverage"]}
    assert {"level 0", "level 0.95", "this config", "strict"} <= set(curve)
    # stating less can only keep or lower what is stated, level by level
    assert curve["level 0"]["type_stated"] >= curve["level 0.95"]["type_stated"]
    assert curve["level 0"]["colour_stated"] >= curve["level 0.95"]["colour_stated"]
    assert curve["level 0"]["colour_stated"] == 1.0
    assert rep["stated"]["colour_stated"] == curve["this config"]["colour_stated"]
    assert main(args + ["--strict", "--no-curve"]) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["risk_coverage"] == []
    assert strict["stated"]["colour_stated"] == curve["strict"]["colour_stated"]
    assert main(args[:-1]) == 0
    assert "risk-coverage" in capsys.readouterr().out
