"""Saying only what the evidence supports: per-fact confidences, thresholds, coarser words, risk-coverage.

The pipeline runs for real (votes, colour fusion, gating, template writer, guard); only the detector and the
retriever are replaced by fakes whose neighbours are chosen by hand, so every share below is worked out exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashionrag import writers
from fashionrag.core.schemas import Garment, GarmentColour, Product
from fashionrag.eval.caption import truth_pack
from fashionrag.eval.risk_coverage import risk_coverage_curve, stated_report
from fashionrag.pipelines.caption import CaptionConfig, CaptionPipeline, colour_confidence
from fashionrag.retrieval.votes import Vote
from fashionrag.stores.base import StoreHit
from fashionrag.writers import guard

COLOUR_WORDS = ("navy", "blue", "black", "grey", "white", "red", "green")


class FakeDetector:
    def __init__(self, colour: str, scores: dict | None = None):
        self.colour = colour
        self.scores = scores or {}

    def detect(self, image):
        return [Garment(region="product", box=[0, 0, 64, 64], score=0.9,
                        colours=[GarmentColour(name=self.colour, hex="#1f2a44", lab=[20.0, 5.0, -20.0], share=1.0,
                                               name_scores=self.scores)])]


class FakeRetriever:
    """Every query gets the same hand-made neighbours (all at similarity 1.0, so each one weighs the same)."""

    encoder = None
    store = None

    def __init__(self, neighbours: list[dict]):
        self.neighbours = neighbours

    def region_filters(self, regions=None):
        return {}

    def embed_images(self, images):
        v = np.ones((len(images), 4), np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def nearest(self, vectors, *, k, filters=None):
        return [[StoreHit(id=str(i), score=1.0, metadata=m) for i, m in enumerate(self.neighbours[:k])]]


def _row(article="Tshirts", colour="Navy Blue", gender="Men", title="Brand Men Solid Tshirt", sub="Topwear"):
    return {"article_type": article, "subcategory": sub, "category": "Apparel", "colour": colour, "gender": gender,
            "usage": "Casual", "season": "Summer", "title": title}


def _pipe(neighbours, measured: str = "Navy Blue", scores: dict | None = None, use_scores: bool = False,
          **thresholds) -> CaptionPipeline:
    base = {"article_type": 0.9, "article_group": 0.7, "colour": 0.7, "colour_family": 0.7, "gender": 0.8,
            "detail": 0.4, "fabric": 0.5, "usage": 0.6, "season": 0.6, "subcategory": 0.5, "category": 0.5}
    cfg = CaptionConfig(k=10, tau=10.0, colour_vote_weight=0.5, scene_weight=0.0, thresholds={**base, **thresholds},
                        colour_name_scores=use_scores)
    return CaptionPipeline(FakeDetector(measured, scores), FakeRetriever(neighbours), writers.create("template"), cfg)


def _colour_words(text: str) -> set[str]:
    return {m.word for m in guard.find_mentions(text) if m.kind == "colour"}


IMG = Image.new("RGB", (64, 64), (30, 40, 70))


def test_a_low_confidence_colour_is_not_stated_anywhere():
    # pixels say Navy Blue, 8 of 10 neighbours say Red, 2 say Green. Fusion: Navy Blue (1-0.5)*1 = 0.5 beats
    # Red 0.5*0.8 = 0.4, so the best guess is Navy Blue with confidence 0.5 < 0.7; its hue family (blue) has
    # 0.5 + 0.5*0 = 0.5 < 0.7 too: nothing about colour may be said
    rows = [_row(colour="Red")] * 8 + [_row(colour="Green")] * 2
    pipe = _pipe(rows)
    result, analysis = pipe.run(IMG, style="product")
    raw = analysis.raw_evidence.garments[0]
    assert raw.colours[0].name == "Navy Blue"
    assert raw.colours[0].confidence == pytest.approx(0.5)
    stated = result.evidence.garments[0]
    assert stated.colours == []
    assert _colour_words(result.caption) == set()
    assert not [m for m in guard.find_tag_mentions(result.hashtags) if m.kind == "colour"]
    # with the colour thresholds at 0 the same photo states its best guess
    loose = pipe.gate(analysis, {"colour": 0.0})
    assert loose.garments[0].colours[0].name == "Navy Blue"


def test_a_confident_colour_is_stated_and_counted():
    rows = [_row(colour="Navy Blue")] * 9 + [_row(colour="Black")]
    result, analysis = _pipe(rows).run(IMG, style="product")
    g = result.evidence.garments[0]
    assert g.colours[0].name == "Navy Blue"
    assert g.colours[0].confidence == pytest.approx(0.5 + 0.5 * 0.9)
    assert "navy blue" in result.caption.lower()
    assert "#NavyBlue" in result.hashtags


def test_an_unsure_exact_colour_backs_off_to_its_family():
    # Navy Blue measured, neighbours split between Blue (6) and Navy Blue (3) and Black (1): exact Navy Blue
    # 0.5 + 0.5*0.3 = 0.65 < 0.7, Blue wins the fusion? 0.5*0.6 = 0.3 < 0.65, so Navy Blue stays the best guess;
    # its family 'blue' has 0.5 + 0.5*0.9 = 0.95 >= 0.7 -> the caption says 'blue', which is right for both
    rows = [_row(colour="Blue")] * 6 + [_row(colour="Navy Blue")] * 3 + [_row(colour="Black")]
    result, analysis = _pipe(rows).run(IMG, style="product")
    assert analysis.raw_evidence.garments[0].colours[0].name == "Navy Blue"
    g = result.evidence.garments[0]
    assert g.colours[0].name == "Blue"
    assert g.colours[0].confidence == pytest.approx(0.95)
    assert "navy" not in result.caption.lower() and "blue" in result.caption.lower()
    truth = Product(id="1", title="x", article_type="Tshirts", colour="Navy Blue", gender="Men")
    assert not guard.check(truth_pack(truth, result.evidence), result.caption, result.hashtags)


def test_an_unsure_type_is_said_with_a_broader_word_that_the_guard_keeps_broad():
    rows = [_row("Tshirts")] * 5 + [_row("Shirts")] * 3 + [_row("Tops")] * 2
    result, analysis = _pipe(rows).run(IMG, style="product")
    assert analysis.raw_evidence.garments[0].article_type == "Tshirts"
    g = result.evidence.garments[0]
    assert g.article_type is None and g.article_word == "top" and g.article_word_confidence == pytest.approx(1.0)
    words = {m.word for m in guard.find_mentions(result.caption) if m.kind == "article"}
    assert words == {"top"}
    assert "#Tops" in result.hashtags and not any("Shirt" in t for t in result.hashtags)
    # 'top' licenses broad words only: a writer that says 'shirt' on this evidence is caught
    assert [v.word for v in guard.check(result.evidence, "A navy blue shirt.", [])] == ["shirt"]
    # and the truth pack does not inherit the predicted group: a true Shirts photo accepts 'top' too
    truth = Product(id="1", title="x", article_type="Shirts", colour="Navy Blue", gender="Men")
    assert not [v for v in guard.check(truth_pack(truth, result.evidence), result.caption, result.hashtags)
                if v.kind == "article"]


def test_gender_below_its_threshold_is_left_out():
    rows = [_row(gender="Men")] * 7 + [_row(gender="Women")] * 3
    result, _ = _pipe(rows).run(IMG, style="product")
    assert result.evidence.gender is None
    assert not [m for m in guard.find_mentions(result.caption) + guard.find_tag_mentions(result.hashtags)
                if m.kind == "gender"]
    sure, _ = _pipe([_row(gender="Men")] * 10).run(IMG, style="product")
    assert sure.evidence.gender == "Men"


def test_colour_confidence_is_the_fused_score():
    vote = Vote("Blue", 0.6, {"Blue": 0.6, "Navy Blue": 0.4})
    assert colour_confidence("Navy Blue", "Navy Blue", vote, 0.5) == pytest.approx(0.7)
    assert colour_confidence("Blue", "Navy Blue", vote, 0.5) == pytest.approx(0.3)
    assert colour_confidence("Blue", "Navy Blue", vote, 0.0) == 0.0


def test_risk_coverage_curve_trades_contradictions_for_coverage():
    # measured Black, 6 neighbours Black and 4 Navy Blue: Black at 0.5 + 0.5*0.6 = 0.8; the truth is Navy Blue
    rows = [_row(colour="Black")] * 6 + [_row(colour="Navy Blue")] * 4
    pipe = _pipe(rows, measured="Black")
    _, analysis = pipe.run(IMG, style="product")
    truth = Product(id="1", title="Brand Men Solid Tshirt", article_type="Tshirts", colour="Navy Blue", gender="Men")
    points = {p.name: p for p in risk_coverage_curve(pipe, [(truth, analysis)], levels=(0.0, 0.95))}
    loose, tight = points["level 0"], points["level 0.95"]
    assert loose.contradiction_rate == 1.0 and loose.colour_stated == 1.0
    assert tight.contradiction_rate == 0.0 and tight.colour_stated == 0.0
    assert tight.hashtag_coverage_mean < loose.hashtag_coverage_mean + 1e-9


def test_stated_report_counts_family_hits():
    rows = [
        {"truth": {"article_type": "Tshirts", "colour": "Navy Blue", "gender": "Men"},
         "stated": {"article_type": None, "article_word": "top", "colour": "Blue", "gender": "Men", "details": {}}},
        {"truth": {"article_type": "Jeans", "colour": "Black", "gender": "Women"},
         "stated": {"article_type": "Jeans", "article_word": None, "colour": "Grey", "gender": None, "details": {}}},
    ]
    rep = stated_report(rows)
    assert rep["type_stated"] == 0.5 and rep["type_precision"] == 1.0
    assert rep["broader_word_stated"] == 0.5 and rep["broader_word_precision"] == 1.0
    assert rep["colour_exact_precision"] == 0.0 and rep["colour_family_precision"] == 0.5
    assert rep["gender_stated"] == 0.5 and rep["gender_precision"] == 1.0


def _says_no_colour(result) -> bool:
    return not _colour_words(result.caption) and not [
        m for m in guard.find_tag_mentions(result.hashtags) if m.kind == "colour"]


def test_an_unsure_namer_keeps_a_dark_colour_out_of_the_caption():
    # a dark garment: the namer calls it Black at 0.55 and Navy Blue at 0.40; 6 neighbours say Black, 4 Navy Blue.
    # With the namer's probabilities: Black 0.5*0.55 + 0.5*0.6 = 0.575 < 0.7, and its family (black, Black only)
    # has the same 0.575 < 0.7: no colour at all. Counting the measured name as certain instead gives Black
    # 0.5*1 + 0.5*0.6 = 0.8 >= 0.7, which would be stated (the confident black-for-navy mistake).
    rows = [_row(colour="Black")] * 6 + [_row(colour="Navy Blue")] * 4
    scores = {"Black": 0.55, "Navy Blue": 0.40, "Blue": 0.05}
    result, analysis = _pipe(rows, measured="Black", scores=scores, use_scores=True).run(IMG, style="product")
    main = analysis.raw_evidence.garments[0].colours[0]
    assert main.name == "Black" and main.confidence == pytest.approx(0.575)
    assert result.evidence.garments[0].colours == []
    assert _says_no_colour(result)
    assert analysis.garments[0].votes["colour_measured"].distribution == scores
    blunt, _ = _pipe(rows, measured="Black", scores=scores, use_scores=False).run(IMG, style="product")
    assert blunt.evidence.garments[0].colours[0].name == "Black" and "black" in blunt.caption.lower()


def test_a_navy_or_blue_split_is_said_as_blue_with_namer_scores():
    # namer Navy Blue 0.5 / Blue 0.4 / Black 0.1; neighbours 5 Navy Blue, 5 Blue. Exact Navy Blue:
    # 0.5*0.5 + 0.5*0.5 = 0.5 < 0.7; its family blue: 0.5*(0.5+0.4) + 0.5*1.0 = 0.95 >= 0.7 -> 'blue'
    rows = [_row(colour="Navy Blue")] * 5 + [_row(colour="Blue")] * 5
    scores = {"Navy Blue": 0.5, "Blue": 0.4, "Black": 0.1}
    result, analysis = _pipe(rows, scores=scores, use_scores=True).run(IMG, style="product")
    assert analysis.raw_evidence.garments[0].colours[0].confidence == pytest.approx(0.5)
    g = result.evidence.garments[0]
    assert g.colours[0].name == "Blue" and g.colours[0].confidence == pytest.approx(0.95)
    assert "navy" not in result.caption.lower() and "blue" in result.caption.lower()
    for truth_colour in ("Navy Blue", "Blue"):
        truth = Product(id="1", title="x", article_type="Tshirts", colour=truth_colour, gender="Men")
        assert not guard.check(truth_pack(truth, result.evidence), result.caption, result.hashtags)


def test_namer_scores_can_overrule_the_measured_name():
    # the namer's second choice backed by every neighbour wins the fusion: Navy Blue 0.5*0.45 + 0.5*1 = 0.725
    # beats Black 0.5*0.5 + 0 = 0.25
    rows = [_row(colour="Navy Blue")] * 10
    result, analysis = _pipe(rows, measured="Black", scores={"Black": 0.5, "Navy Blue": 0.45},
                             use_scores=True).run(IMG, style="product")
    main = analysis.raw_evidence.garments[0].colours[0]
    assert main.name == "Navy Blue" and main.confidence == pytest.approx(0.725)
    assert "navy blue" in result.caption.lower()
    assert colour_confidence("Black", "Black", Vote("Navy Blue", 1.0, {"Navy Blue": 1.0}), 0.5,
                             {"Black": 0.5, "Navy Blue": 0.45}) == pytest.approx(0.25)


def test_garment_colours_carry_the_learned_namers_probabilities():
    from fashionrag.vision.colors import PaletteNamer, fit_colour_namer, measure_colours
    from fashionrag.vision.garments import garment_colours

    rng = np.random.default_rng(0)
    mask = np.ones((40, 40), bool)

    def photo(rgb):  # a garment of one colour with a white stripe (15 %), a little sensor noise
        image = np.empty((40, 40, 3))
        image[:, :] = rgb
        image[:, 34:] = (240, 240, 240)
        return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)

    refs = {"Navy Blue": (25, 35, 80), "Black": (15, 15, 15), "Red": (200, 30, 40)}
    items, labels = [], []
    for name, rgb in refs.items():
        for _ in range(6):
            items.append(measure_colours(photo(np.array(rgb) + rng.normal(0, 5, 3)), mask, k=4))
            labels.append(name)
    namer = fit_colour_namer(items, labels, method="knn", k=5)
    image = photo((25, 35, 80))
    colours = garment_colours(image, mask, "product", namer)
    main = colours[0]
    assert main.name == "Navy Blue"
    assert max(main.name_scores, key=main.name_scores.get) == "Navy Blue"
    assert 0.5 < main.name_scores["Navy Blue"] <= 1.0 and sum(main.name_scores.values()) <= 1.0 + 1e-6
    assert all(c.name_scores == {} for c in colours[1:])
    # the palette has no probabilities: no scores, and the pipeline then treats the measured name as certain
    assert garment_colours(image, mask, "product", PaletteNamer())[0].name_scores == {}


class SplitRetriever(FakeRetriever):
    """The whole photo (first embedded image) gets ``scene`` neighbours; every garment crop gets ``neighbours``."""

    def __init__(self, neighbours: list[dict], scene: list[dict]):
        super().__init__(neighbours)
        self.scene = scene

    def embed_images(self, images):
        v = np.zeros((len(images), 4), np.float32)
        v[0, 0] = 1.0
        v[1:, 1] = 1.0
        return v

    def nearest(self, vectors, *, k, filters=None):
        rows = self.scene if np.asarray(vectors).reshape(-1)[0] > 0.5 else self.neighbours
        return [[StoreHit(id=str(i), score=1.0, metadata=m) for i, m in enumerate(rows[:k])]]


def _split_pipe(garment_rows, scene_rows, **cfg):
    base = {"article_type": 0.9, "article_group": 0.7, "colour": 0.7, "colour_family": 0.7, "gender": 0.8,
            "detail": 0.4, "fabric": 0.5, "usage": 0.6, "season": 0.6, "subcategory": 0.5, "category": 0.5}
    config = CaptionConfig(k=10, tau=10.0, colour_vote_weight=0.5, scene_weight=0.0, thresholds=base, **cfg)
    return CaptionPipeline(FakeDetector("Navy Blue"), SplitRetriever(garment_rows, scene_rows),
                           writers.create("template"), config)


def _gender_words(result) -> set[str]:
    return {c for m in guard.find_mentions(result.caption) + guard.find_tag_mentions(result.hashtags)
            if m.kind == "gender" for c in m.claims}


def test_the_look_gender_can_come_from_the_whole_photo_and_is_said_once():
    garment = [_row(gender="Men")] * 6 + [_row(gender="Women")] * 4
    scene = [_row(gender="Women")] * 10
    # garment neighbours only: Men 0.6 < 0.8, nothing about gender is said
    plain, analysis = _split_pipe(garment, scene).run(IMG, style="product")
    assert analysis.raw_evidence.gender == "Men" and analysis.raw_evidence.gender_confidence == pytest.approx(0.6)
    assert plain.evidence.gender is None and _gender_words(plain) == set()
    # half and half: Women 0.5*0.4 + 0.5*1.0 = 0.7 < 0.8 -> still nothing
    half, analysis = _split_pipe(garment, scene, gender_scene_weight=0.5).run(IMG, style="product")
    assert analysis.raw_evidence.gender == "Women"
    assert analysis.raw_evidence.gender_confidence == pytest.approx(0.7)
    assert _gender_words(half) == set()
    # the whole photo only: Women 1.0 -> said, and never a second gender from the garment's own (Men) vote
    scene_only, analysis = _split_pipe(garment, scene, gender_scene_weight=1.0, garment_genders=False).run(
        IMG, style="product")
    assert analysis.raw_evidence.garments[0].gender == "Men"  # the garment's own vote, kept for the record
    assert scene_only.evidence.gender == "Women"
    assert all(g.gender is None for g in scene_only.evidence.garments)
    assert _gender_words(scene_only) == {"Women"}
