"""The one Retriever: the encoder/index check done once, search, region and category filters read from data."""

from __future__ import annotations

import numpy as np
import pytest

from fashionrag import stores
from fashionrag.core import vocabulary
from fashionrag.core.errors import CatalogError, IndexMismatchError, InvalidInputError
from fashionrag.retrieval.retriever import Retriever


class AxisEncoder:
    """Hand-placed embeddings: each known text is one axis of a 4-d space."""

    name = "axis"
    dim = 4
    AXES = {"red top": 0, "blue jeans": 1, "dress": 2, "shoe": 3}

    def encode_texts(self, texts, **_):
        out = np.zeros((len(texts), 4), np.float32)
        for i, t in enumerate(texts):
            out[i, self.AXES.get(t, 0)] = 1.0
        return out

    def encode_images(self, images, **_):
        return np.tile(np.array([[0, 0, 1, 0]], np.float32), (len(images), 1))


@pytest.fixture()
def store():
    s = stores.create("faiss", dim=4, encoder="axis")
    rows = [
        ("t1", "Topwear", "Men", [1, 0, 0, 0]), ("t2", "Topwear", "Women", [0.8, 0.6, 0, 0]),
        ("j1", "Bottomwear", "Men", [0, 1, 0, 0]), ("d1", "Dress", "Women", [0, 0, 1, 0]),
        ("s1", "Shoes", "Men", [0, 0, 0, 1]),
    ]
    vecs = np.asarray([r[3] for r in rows], np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    s.upsert([r[0] for r in rows], vecs, [{"id": r[0], "title": r[0], "subcategory": r[1], "gender": r[2]} for r in rows])
    return s


def test_mismatch_is_checked_once_at_construction(store):
    class Other(AxisEncoder):
        name = "other"

    class Wide(AxisEncoder):
        dim = 8

    with pytest.raises(IndexMismatchError, match="built with encoder 'axis'"):
        Retriever(store, Other())
    wide_store = stores.create("faiss", dim=8, encoder="axis")
    with pytest.raises(IndexMismatchError, match="4-d vectors but the index holds 8-d"):
        Retriever(wide_store, AxisEncoder())


def test_search_ranks_and_filters(store):
    r = Retriever(store, AxisEncoder())
    res = r.search("red top", k=3)
    assert [h.id for h in res.hits] == ["t1", "t2", "j1"] and res.encoder == "axis"
    assert res.hits[0].score == pytest.approx(1.0) and res.hits[1].score == pytest.approx(0.8)
    only_women = r.search("red top", k=3, filters=["gender=Women"])
    assert [h.id for h in only_women.hits] == ["t2", "d1"]
    with pytest.raises(InvalidInputError):
        r.search("red top", k=0)


def test_region_filters_keep_only_regions_the_index_can_serve(store):
    r = Retriever(store, AxisEncoder())
    flt = r.region_filters()
    # every region whose vocabulary sub-categories occur in the index is restricted to exactly them
    assert flt["upper_body"] == {"subcategory": list(vocabulary.REGION_SUBCATEGORIES["upper_body"])}
    assert set(flt) == {"upper_body", "lower_body", "full_length", "footwear"}  # "product" allows anything
    # a catalog with another vocabulary: its regions are not restricted at all
    assert r.region_filters({"upper_body": ["Shirts-and-Blouses"]}) == {}


def test_garments_follow_the_category_map_from_data(store):
    r = Retriever(store, AxisEncoder())
    assert r.category_filter("upper_body") == {"subcategory": list(vocabulary.EDIT_CATEGORY_SUBCATEGORIES["upper_body"])}
    assert [h.id for h in r.garments("red top", "upper_body", k=2)] == ["t1", "t2"]
    assert [h.id for h in r.garments("red top", "upper_body", k=2, exclude_ids=["t1"])] == ["t2"]
    assert [h.id for h in r.garments("red top", "upper_body", k=2, filters={"gender": ["Women"]})] == ["t2"]
    assert [h.id for h in r.garments("dress", "dresses", k=1)] == ["d1"]
    assert r.garments("red top", "upper_body", k=0) == []
    with pytest.raises(InvalidInputError, match="unknown garment category"):
        r.garments("x", "hats", k=1)
    no_dresses = stores.create("faiss", dim=4, encoder="axis")
    no_dresses.upsert(["t1"], np.asarray([[1, 0, 0, 0]], np.float32), [{"id": "t1", "subcategory": "Topwear"}])
    with pytest.raises(CatalogError, match="no dresses garments"):
        Retriever(no_dresses, AxisEncoder()).garments("dress", "dresses", k=1)


def test_caption_pipeline_and_search_share_the_retriever(store):
    from fashionrag import writers
    from fashionrag.pipelines.caption import CaptionConfig, CaptionPipeline

    r = Retriever(store, AxisEncoder())
    pipe = CaptionPipeline(detector=None, retriever=r, writer=writers.create("template"), config=CaptionConfig())
    assert pipe.retriever is r and pipe.encoder is r.encoder and pipe.store is store


def test_parse_query_applies_the_named_attributes_and_relaxes_them_in_order():
    s = stores.create("faiss", dim=4, encoder="axis")
    rows = [("a", "Tshirts", "Navy Blue", "Men", [1, 0, 0, 0]), ("b", "Shirts", "Navy Blue", "Men", [0.7, 0.7, 0, 0]),
            ("c", "Shirts", "Red", "Women", [0.9, 0.43, 0, 0]), ("d", "Jeans", "Blue", "Men", [0, 1, 0, 0])]
    vecs = np.asarray([r[4] for r in rows], np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    s.upsert([r[0] for r in rows], vecs, [{"id": r[0], "title": r[0], "article_type": r[1], "colour": r[2],
                                            "gender": r[3]} for r in rows])
    r = Retriever(s, AxisEncoder())
    plain = r.search("navy blue shirt for men", k=4)
    assert plain.hits[0].id == "a" and plain.parsed_filters == {} and plain.notes == []
    res = r.search("navy blue shirt for men", k=4, parse_query=True)
    assert res.parsed_filters == {"colour": ["Navy Blue"], "article_type": ["Shirts"], "gender": ["Men"]}
    assert [h.id for h in res.hits] == ["b"] and res.filters == res.parsed_filters
    # explicit filters win over what the text says
    own = r.search("navy blue shirt", k=4, parse_query=True, filters=["colour=Red"])
    assert own.filters == {"colour": ["Red"], "article_type": ["Shirts"]} and [h.id for h in own.hits] == ["c"]
    # no red shirt for men: the gender is relaxed first, and the result says so
    relaxed = r.search("red shirt for men", k=4, parse_query=True)
    assert "gender" not in relaxed.parsed_filters and [h.id for h in relaxed.hits] == ["c"]
    assert any("relaxed" in n and "gender=Men" in n for n in relaxed.notes)


def test_query_parser_knows_a_shade_by_its_own_word():
    from fashionrag.retrieval.query import QueryParser

    p = QueryParser(["Navy Blue", "Blue", "Off White", "White", "Light Blue", "Light Green", "Green"], ["Shirts"], [])
    assert (p.parse("navy check shirt").colour, p.parse("navy check shirt").article_type) == ("Navy Blue", "Shirts")
    assert p.parse("navy blue shirt").colour == "Navy Blue" and p.parse("blue shirt").colour == "Blue"
    # too short ('off') or ambiguous ('light': two shades) words name no colour
    assert p.parse("off shoulder shirt").colour is None and p.parse("light shirt").colour is None
