"""Hashtags: tiers, normalisation, deduplication, platform counts, nothing from unknown values."""

from __future__ import annotations

import re

import pytest

from fashionrag.writers import hashtags
from fashionrag.core.errors import InvalidInputError
from fashionrag.core.evidence import ColourEvidence, EvidencePack, GarmentEvidence
from fashionrag.writers import guard

TAG = re.compile(r"^#[A-Za-z0-9]+$")


def look(**shirt_overrides) -> EvidencePack:
    shirt = dict(region="upper_body", article_type="Shirts",
                 colours=[ColourEvidence(name="Navy Blue", hex="#1f2a44", share=0.8)],
                 fabric="Cotton", gender="Men", usage="Casual", season="Summer")
    shirt.update(shirt_overrides)
    return EvidencePack(gender=shirt["gender"], garments=[
        GarmentEvidence(**shirt),
        GarmentEvidence(region="lower_body", article_type="Jeans",
                        colours=[ColourEvidence(name="Blue", hex="#334477", share=0.9)]),
    ])


@pytest.mark.parametrize("raw,expected", [
    ("navy blue shirt", "#NavyBlueShirt"),
    ("#navy_blue-shirt", "#NavyBlueShirt"),
    ("##OOTD", "#OOTD"),
    ("#ootd", "#Ootd"),
    ("Crème brûlée", "#CremeBrulee"),
    ("men's style", "#MensStyle"),
    ("#🔥", None),
    ("2024", None),
    ("", None),
])
def test_normalize(raw, expected):
    assert hashtags.normalize(raw) == expected


def test_tiers_hold_the_expected_tags():
    t = hashtags.tiers(look())
    assert "#Fashion" in t["broad"] and "#OOTD" in t["broad"]
    assert {"#Shirts", "#NavyBlue", "#MensFashion", "#CasualStyle", "#SummerStyle", "#Cotton", "#Jeans"} <= set(
        t["mid"])
    assert {"#NavyBlueShirt", "#CottonShirt", "#MensShirts", "#BlueJeans"} <= set(t["niche"])
    assert t["niche"][0] == "#NavyBlueShirt"  # the lead garment's colour + article comes first


def test_make_hashtags_counts_dedup_ascii_and_grounding():
    ev = look()
    tags = hashtags.make_hashtags(ev)
    assert len(tags) == 15
    assert all(TAG.match(t) for t in tags)
    assert len({t.lower() for t in tags}) == len(tags)
    assert {"#NavyBlueShirt", "#Shirts", "#NavyBlue", "#MensFashion"} <= set(tags)  # the facets the eval scores
    assert guard.check(ev, "", tags) == []
    assert len(hashtags.make_hashtags(ev, platform="instagram")) == 18
    assert len(hashtags.make_hashtags(ev, platform="x")) == 3
    assert len(hashtags.make_hashtags(ev, count=5)) == 5
    three = hashtags.make_hashtags(ev, count=3)
    assert three[0] == "#NavyBlueShirt" and any(t in hashtags.BROAD_TAGS for t in three)
    assert hashtags.make_hashtags(ev, seed=4) == hashtags.make_hashtags(ev, seed=4)
    with pytest.raises(InvalidInputError, match="unknown platform"):
        hashtags.make_hashtags(ev, platform="myspace")


def test_no_tag_for_an_unknown_value():
    ev = look(fabric="unknown", gender=None, usage=None, season="NA")
    tags = hashtags.make_hashtags(ev, count=40)
    joined = " ".join(tags).lower()
    for word in ("cotton", "mens", "womens", "casual", "summer", "fall", "unknown", "none"):
        assert word not in joined, (word, tags)
    mentions = guard.find_tag_mentions(tags)
    assert {m.kind for m in mentions} <= {"colour", "article"}
    # a garment with nothing known gets only broad tags; a photo with no garment gets none
    bare = EvidencePack(garments=[GarmentEvidence(region="product")])
    assert set(hashtags.make_hashtags(bare)) <= set(hashtags.BROAD_TAGS)
    assert hashtags.make_hashtags(EvidencePack()) == []


def test_multi_and_plural_only_articles():
    ev = EvidencePack(garments=[GarmentEvidence(region="footwear", article_type="Casual Shoes",
                                                colours=[ColourEvidence(name="Multi", hex="#808080", share=1.0)])])
    tags = hashtags.make_hashtags(ev)
    assert "#MulticolourCasualShoes" in tags and "#CasualShoes" in tags
    assert guard.check(ev, "", tags) == []


def test_dedupe_and_merge_are_case_insensitive():
    assert hashtags.dedupe(["#OOTD", "#ootd", "#Style", "#STYLE"]) == ["#OOTD", "#Style"]
    assert hashtags.merge(["#A", "#b"], ["#B", "#C", "#D"], 3) == ["#A", "#b", "#C"]


def test_tag_does_not_repeat_a_word_shared_by_its_parts():
    from fashionrag.writers.hashtags import tag

    assert tag("Formal", "formal shoes") == "#FormalShoes"
    assert tag("Sports", "sports shoes") == "#SportsShoes"
    assert tag("navy blue", "blue shirt") == "#NavyBlueShirt"
