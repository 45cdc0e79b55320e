"""Caption settings per image tower: the pipeline uses the thresholds chosen for the encoder of the index it votes on
(falling back to the top-level ones), `--strict` applies after that block, and `eval caption`'s default encoder is
the tower the caption config names as its reference."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from fashionrag import writers
from fashionrag.core import config as core_config
from fashionrag.core.schemas import Garment, GarmentColour
from fashionrag.eval.caption import TuningSet, default_encoder, run_caption_eval
from fashionrag.pipelines.caption import CaptionConfig, CaptionPipeline, EncoderSettings
from fashionrag.stores.base import StoreHit


def _config(**kw) -> CaptionConfig:
    base = CaptionConfig(thresholds={"colour": 0.5, "colour_family": 0.5, "gender": 0.8, "article_type": 0.9},
                         strict_thresholds={"colour": 0.7, "gender": 0.9}, colour_vote_weight=0.5, tuned_for="lite",
                         colour_name_scores=True)
    return base.model_copy(update=kw)


TWO = {"two": EncoderSettings(thresholds={"colour": 0.95, "article_type": 0.6}, strict_thresholds={"colour": 0.99},
                              colour_vote_weight=0.0, chosen_on="grid for two")}


def test_for_encoder_uses_the_block_of_that_tower_else_the_top_level():
    cfg = _config(per_encoder=TWO)
    two = cfg.for_encoder("two")
    assert two.thresholds == {"colour": 0.95, "colour_family": 0.5, "gender": 0.8, "article_type": 0.6}
    assert two.colour_vote_weight == 0.0 and two.tuned_for == "two" and two.chosen_on == "grid for two"
    assert two.per_encoder == {} and two.for_encoder("lite") == two  # resolved once: stays what it is
    assert cfg.for_encoder("two:variant").thresholds["colour"] == 0.95  # 'name:variant' by its name
    for other in ("lite", "clip", None):
        plain = cfg.for_encoder(other)
        assert plain.thresholds == cfg.thresholds and plain.colour_vote_weight == 0.5 and plain.tuned_for == "lite"


def test_strict_applies_after_the_towers_block():
    cfg = _config(per_encoder=TWO)
    assert cfg.strict().for_encoder("two").thresholds == {"colour": 0.99, "colour_family": 0.5, "gender": 0.9,
                                                          "article_type": 0.6}
    assert cfg.strict().for_encoder("lite").thresholds["colour"] == 0.7
    assert cfg.for_encoder("two").strict().thresholds == cfg.strict().for_encoder("two").thresholds
    assert cfg.for_encoder("two").operating_point == "shipped" and cfg.strict().for_encoder("two").operating_point == "strict"


class _Detector:
    def detect(self, image):
        return [Garment(region="product", box=[0, 0, 64, 64], score=0.9,
                        colours=[GarmentColour(name="Navy Blue", hex="#1f2a44", lab=[20.0, 5.0, -20.0], share=1.0,
                                               name_scores={"Navy Blue": 0.8, "Blue": 0.2})])]


class _Store:
    def __init__(self, encoder):
        self.encoder = encoder


class _Retriever:
    """Ten neighbours, all navy men's T-shirts at similarity 1; the store says which tower built it."""

    encoder = None

    def __init__(self, encoder_name):
        self.store = _Store(encoder_name)

    def region_filters(self, regions=None):
        return {}

    def embed_images(self, images):
        return np.ones((len(images), 4), np.float32) / 2.0

    def nearest(self, vectors, *, k, filters=None):
        row = {"article_type": "Tshirts", "subcategory": "Topwear", "category": "Apparel", "colour": "Navy Blue",
               "gender": "Men", "usage": "Casual", "season": "Summer", "title": "Brand Men Navy Blue Tshirt"}
        return [[StoreHit(id=str(i), score=1.0, metadata=row) for i in range(min(k, 10))]]


def test_the_pipeline_states_what_the_block_of_its_indexs_tower_allows():
    img = Image.new("RGB", (64, 64), (30, 40, 70))
    cfg = _config(per_encoder=TWO)
    # colour confidence: (1 - 0.5) * 0.8 + 0.5 * 1.0 = 0.9 with the top-level weight, 0.8 with tower two's (w = 0)
    lite = CaptionPipeline(_Detector(), _Retriever("lite"), writers.create("template"), cfg)
    two = CaptionPipeline(_Detector(), _Retriever("two"), writers.create("template"), cfg)
    assert lite.config.tuned_for == "lite" and two.config.tuned_for == "two"
    said_lite, said_two = lite(img, style="product"), two(img, style="product")
    g_lite, g_two = said_lite.evidence.garments[0], said_two.evidence.garments[0]
    assert g_lite.colours[0].name == "Navy Blue" and g_lite.colours[0].confidence == 0.9
    # tower two: 0.8 < its colour threshold 0.95 -> only the hue family (its confidence 1.0 >= 0.5) is said
    assert g_two.colours[0].name == "Blue"
    assert "navy" in (said_lite.caption + " ".join(said_lite.hashtags)).lower()
    assert "navy" not in (said_two.caption + " ".join(said_two.hashtags)).lower()


def test_eval_caption_default_encoder_is_the_caption_configs_reference_tower():
    assert default_encoder(_config(reference_encoder="two")) == "two"
    assert default_encoder(_config(reference_encoder=None)) == core_config.default_encoder()
    packaged = CaptionConfig.default()
    assert default_encoder() == (packaged.reference_encoder or core_config.default_encoder())
    # the packaged reference tower has thresholds chosen for it (its own block, or the top level's tower)
    ref = default_encoder()
    assert packaged.for_encoder(ref).tuned_for == ref.split(":", 1)[0]


def test_run_caption_eval_builds_its_reference_with_the_reference_tower(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    rows = []
    for i in range(6):
        split, pid = ("train", f"t{i}") if i < 4 else ("val", f"v{i}")
        path = tmp_path / f"{pid}.png"
        Image.new("RGB", (32, 32), (40 + 30 * i, 90, 200 - 30 * i)).save(path)
        rows.append(dict(id=pid, image_path=str(path), title=f"Men Blue Shirt {i}", article_type="Shirts",
                         colour="Blue", gender="Men", usage="Casual", season="Fall", split=split,
                         subcategory="Topwear", category="Apparel"))
    cat = tmp_path / "catalog.jsonl"
    cat.write_text("".join(json.dumps(r) + "\n" for r in rows))

    class Whole:
        def detect(self, image):
            w, h = image.size
            return [Garment(region="product", box=[0.0, 0.0, float(w), float(h)], score=1.0, source="product")]

    # reference_encoder is a registry name; blocks are keyed by the name the index records ("tiny" -> "tiny-clip")
    cfg = _config(reference_encoder="tiny", per_encoder={"tiny-clip": EncoderSettings(thresholds={"gender": 0.2})})
    report, _ = run_caption_eval(cat, cat, split="val", detector=Whole(), tuning=TuningSet(), caption_config=cfg,
                                 curve=False, progress=False)
    assert report.encoder == "tiny-clip" and report.n_images == 2
    assert any("chosen for the tiny-clip tower" in n and "not for" not in n for n in report.notes)
    plain, _ = run_caption_eval(cat, cat, split="val", encoder="tiny", detector=Whole(), tuning=TuningSet(),
                                caption_config=_config(), curve=False, progress=False)
    assert any("chosen for the lite tower, not for tiny-clip" in n for n in plain.notes)
