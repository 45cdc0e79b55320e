"""Caption evaluation arithmetic on hand-made cases with known answers (a fake pipeline, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from fashionrag.core.evidence import CaptionResult, ColourEvidence, EvidencePack, GarmentEvidence, GuardReport
from fashionrag.core.schemas import Product
from fashionrag.eval.caption import evaluate_captions, facet_coverage, truth_pack


def product(pid, art="Shirts", colour="Navy Blue", gender="Men", title="Acme Men Navy Blue Shirt", fabric=None):
    return Product(id=pid, image_path=f"/x/{pid}.jpg", title=title, article_type=art, colour=colour, gender=gender,
                   subcategory="Topwear", category="Apparel", fabric=fabric, fabric_source="title" if fabric else None)


def result(art, colour, gender, caption, tags):
    g = GarmentEvidence(region="upper_body", article_type=art, article_confidence=0.9,
                        colours=[ColourEvidence(name=colour, hex="#112244", share=0.9)] if colour else [], gender=gender)
    ev = EvidencePack(garments=[g], gender=gender)
    return CaptionResult(caption=caption, hashtags=tags, writer="template", used_writer="template",
                         guard_report=GuardReport(passed=True), evidence=ev)


class FakeEncoder:
    name, dim = "fake", 2

    def encode_images(self, paths, **kw):
        return np.tile(np.array([[1.0, 0.0]], np.float32), (len(paths), 1))

    def encode_texts(self, texts, **kw):
        return np.tile(np.array([[0.6, 0.8]], np.float32), (len(texts), 1))


class FakePipeline:
    def __init__(self, answers):
        self.answers, self.encoder, self.writer, self.store = answers, FakeEncoder(), type("W", (), {"name": "template"})(), [0] * 7

    def run(self, path, **kw):
        r = self.answers[path]
        return r, type("A", (), {"evidence": r.evidence})()


def test_truth_pack_replaces_only_the_subject():
    pred = EvidencePack(garments=[
        GarmentEvidence(region="upper_body", article_type="Tshirts",
                        colours=[ColourEvidence(name="Black", hex="#000000", share=0.7),
                                 ColourEvidence(name="White", hex="#ffffff", share=0.3)], gender="Women"),
        GarmentEvidence(region="lower_body", article_type="Jeans"),
    ], gender="Women")
    t = truth_pack(product("1"), pred)
    assert t.garments[0].article_type == "Shirts" and t.gender == "Men"
    assert [c.name for c in t.garments[0].colours] == ["Navy Blue", "White"]
    assert t.garments[1].article_type == "Jeans"


def test_facet_coverage_counts_known_facets():
    p = product("1", fabric="Cotton", title="Acme Men Navy Blue Cotton Shirt")
    full = result("Shirts", "Navy Blue", "Men", "A shirt.", ["#NavyBlueShirt", "#Menswear", "#CottonShirt"])
    assert facet_coverage(p, full) == (1.0, 1.0)
    half = result("Shirts", "Navy Blue", "Men", "A shirt.", ["#Shirt", "#Menswear"])  # no colour, no fabric
    assert facet_coverage(p, half) == (0.5, 0.5)
    syn = result("Shirts", "Navy Blue", "Men", "x.", ["#NavyShirt", "#MensFashion"])  # 'navy' is a synonym
    lenient, strict = facet_coverage(product("2"), syn)
    assert lenient == 1.0 and strict < 1.0


def test_evaluate_captions_arithmetic():
    prods = [product("a"), product("b"), product("c", art="Tshirts", colour="Black", gender="Women")]
    answers = {
        "/x/a.jpg": result("Shirts", "Navy Blue", "Men", "A navy blue shirt for men.", ["#NavyBlueShirt", "#Menswear"]),
        "/x/b.jpg": result("Tshirts", "Navy Blue", "Men", "A navy blue t-shirt for men.", ["#NavyBlueTShirt", "#Menswear"]),
        "/x/c.jpg": result("Tshirts", "Red", "Women", "A red t-shirt for women.", ["#RedTShirt", "#Womenswear"]),
    }
    report, rows = evaluate_captions(FakePipeline(answers), prods, progress=False)
    assert report.n_images == 3
    assert report.category_accuracy == pytest.approx(2 / 3, abs=1e-3)  # a, c right; b says Tshirts for a shirt
    assert report.color_accuracy == pytest.approx(2 / 3, abs=1e-3)      # c says red for black
    assert report.gender_accuracy == 1.0
    # contradictions: b names t-shirt (truth shirt), c names red (truth black)
    assert report.contradiction_rate == pytest.approx(2 / 3, abs=1e-3)
    assert report.contradictions_by_kind["colour"] == pytest.approx(1 / 3, abs=1e-3)
    assert rows[0]["contradictions"] == [] and rows[2]["contradictions"] == ["colour"]
    assert report.clip_score == pytest.approx(2.5 * 0.6)


# ------------------------------------------------------------------------------------------ every figure by hand
def multi(garments, gender, caption, tags):
    """A result with several (article, colour) garments, the first being the subject; [] = nothing found."""
    gs = [GarmentEvidence(region="upper_body", article_type=a, article_confidence=0.9,
                          colours=[ColourEvidence(name=c, hex="#112244", share=0.9)], gender=gender)
          for a, c in garments]
    return CaptionResult(caption=caption, hashtags=tags, writer="template", used_writer="template",
                         guard_report=GuardReport(passed=True), evidence=EvidencePack(garments=gs, gender=gender))


class FailingPipeline(FakePipeline):
    def run(self, path, **kw):
        from fashionrag.core.errors import InvalidImageError

        if path not in self.answers:
            raise InvalidImageError(f"{path}: not an image")
        return super().run(path, **kw)


def test_evaluate_captions_every_figure_by_hand():
    prods = [
        product("a", fabric="Cotton", title="Acme Men Navy Blue Cotton Shirt"),  # facets: type, colour, fabric, gender
        product("b", art="Tshirts", colour="Black", gender="Women"),
        product("c", art="Jeans", colour="Blue"),
        product("d", colour="White"),
        product("e"),  # unreadable: counted as failed, in no mean
    ]
    answers = {
        # all right; tags name all 4 facets -> coverage 1
        "/x/a.jpg": multi([("Shirts", "Navy Blue")], "Men", "A navy blue cotton shirt for men.",
                          ["#NavyBlueShirt", "#CottonShirt", "#Menswear"]),
        # gender wrong (and said: a gender contradiction); tags miss Women -> coverage 2/3
        "/x/b.jpg": multi([("Tshirts", "Black")], "Men", "A black t-shirt for men.", ["#BlackTShirt", "#Menswear"]),
        # subject says Shirts for jeans (category wrong, but a second garment hits); "shirt" contradicts;
        # tags miss the type -> coverage 2/3
        "/x/c.jpg": multi([("Shirts", "Blue"), ("Jeans", "Blue")], "Men", "A blue shirt for men.",
                          ["#BlueShirt", "#Menswear"]),
        # nothing found: no caption, no tags -> coverage 0, every accuracy wrong, no contradiction
        "/x/d.jpg": multi([], None, "", []),
    }
    report, rows = evaluate_captions(FailingPipeline(answers), prods, progress=False)
    assert report.n_images == 4 and report.n_failed == 1 and rows[-1] == {"id": "e", "error": "/x/e.jpg: not an image"}
    assert report.category_accuracy == 0.5      # a, b
    assert report.category_hit == 0.75          # a, b, c
    assert report.color_accuracy == 0.75        # a, b, c
    assert report.gender_accuracy == 0.5        # a, c
    assert report.hashtag_coverage_mean == pytest.approx(round(7 / 12, 4))  # (1 + 2/3 + 2/3 + 0) / 4
    assert report.hashtag_coverage_strict_mean == pytest.approx(round(7 / 12, 4))
    assert report.coverage_at == {"0.5": 0.75, "0.6": 0.75, "0.7": 0.25}
    assert report.contradiction_rate == 0.5     # b (gender), c (article)
    assert report.contradictions_by_kind == {"article": 0.25, "colour": 0.0, "gender": 0.25}
    assert [r["contradictions"] for r in rows[:4]] == [[], ["gender"], ["article"], []]
    assert report.no_garment_rate == 0.25


def test_coverage_needs_the_facet_named_not_just_any_tag():
    p = product("1")  # Shirts, Navy Blue, Men
    assert facet_coverage(p, result("Shirts", "Navy Blue", "Men", "x.", ["#Fashion", "#OOTD"])) == (0.0, 0.0)
    assert facet_coverage(p, result("Shirts", "Navy Blue", "Men", "x.", ["#Womenswear", "#RedShirt"])) == (1 / 3, 1 / 3)
    # a fabric counts only when the title names it
    col = Product(id="2", title="Acme Men Navy Blue Shirt", article_type="Shirts", colour="Navy Blue", gender="Men",
                  fabric="Cotton", fabric_source="column")
    assert facet_coverage(col, result("Shirts", "Navy Blue", "Men", "x.", ["#NavyBlueShirt", "#Menswear"])) == (1.0, 1.0)
    assert facet_coverage(Product(id="3"), result("Shirts", "Navy Blue", "Men", "x.", ["#Shirt"])) == (None, None)


# ------------------------------------------------------------------------------------------ tuning subset
def _photo(tmp_path, pid, rgb):
    from PIL import Image

    path = tmp_path / f"{pid}.png"
    Image.new("RGB", (8, 8), rgb).save(path)
    return Product(id=pid, image_path=str(path), article_type="Shirts")


def test_tuning_set_matches_id_and_bytes(tmp_path):
    from fashionrag.eval.caption import TuningSet, _image_digest, choose_subset

    a, b, c = _photo(tmp_path, "a", (1, 2, 3)), _photo(tmp_path, "b", (4, 5, 6)), _photo(tmp_path, "c", (7, 8, 9))
    other_a = _photo(tmp_path / "..", "a", (9, 9, 9))  # same id, another photo (another catalog)
    t = TuningSet(ids={"a": _image_digest(a.image_path), "b": ""})
    assert t.contains(a) and t.contains(b) and not t.contains(c) and not t.contains(other_a)
    assert choose_subset([a, b, c], t, "held-out") == ([c], 2)
    assert choose_subset([a, b, c], t, "tuning") == ([a, b], 2)
    assert choose_subset([a, b, c], t, "all") == ([a, b, c], 2)
    with pytest.raises(Exception, match="--subset"):
        choose_subset([a], t, "val")


def test_tune_ids_file_formats(tmp_path):
    from fashionrag.core.errors import InvalidInputError
    from fashionrag.eval.caption import TuningSet

    (tmp_path / "ids.txt").write_text("# tuned on\n10001\n\n10007\n")
    assert TuningSet.load(tmp_path / "ids.txt").ids == {"10001": "", "10007": ""}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="--tune-ids"):
        TuningSet.load(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        TuningSet.load(tmp_path / "missing.txt")


def test_packaged_tuning_set_is_the_seeded_300_val_sample(kagl_dir):
    """The photos the caption settings' grid ran on (`eval caption --split val --limit 300 --seed 0`), so the other
    589 val photos are held out for every caption setting."""
    from fashionrag.eval.caption import TuningSet, choose_subset, make_tuning_set
    from fashionrag.retrieval.catalog import load_catalog

    packaged = TuningSet.packaged()
    assert packaged.size == 300 and packaged.split == "val" and packaged.seed == 0
    assert make_tuning_set(kagl_dir, "val", 300, 0).ids == packaged.ids
    val = load_catalog(kagl_dir).subset("val").products
    held_out, n_tuned = choose_subset(val, packaged, "held-out")
    assert n_tuned == 300 and len(held_out) == 589
    assert packaged.chosen_on_whole_split  # the colour namer and image size were chosen on all of val: said so


def test_coverage_at_counts_a_photo_exactly_at_the_threshold():
    # 4 facets (type, colour, title fabric, gender), 2 named -> coverage exactly 0.5: in coverage_at 0.5, not 0.6
    p = product("a", fabric="Cotton", title="Acme Men Navy Blue Cotton Shirt")
    answers = {"/x/a.jpg": result("Shirts", "Navy Blue", "Men", "A shirt.", ["#Shirts", "#Menswear"])}
    report, _ = evaluate_captions(FakePipeline(answers), [p], progress=False)
    assert report.hashtag_coverage_mean == 0.5
    assert report.coverage_at == {"0.5": 1.0, "0.6": 0.0, "0.7": 0.0}
