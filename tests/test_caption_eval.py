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
