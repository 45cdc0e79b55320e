"""Weighted attribute votes: exp(tau * similarity) weights, thresholds, and unknown values."""

import math

import pytest

from fashionrag.retrieval.votes import vote_fields, weighted_vote, weights


def test_weights_are_exponential_in_similarity():
    w = weights([0.9, 0.8], tau=10)
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(math.exp(-1.0))


def test_similarity_weighting_can_overturn_a_majority():
    values = ["Shirts", "Tshirts", "Tshirts"]
    sims = [0.95, 0.60, 0.60]
    assert weighted_vote(values, sims, tau=0.0, threshold=0.0).value == "Tshirts"  # tau 0 = plain majority
    v = weighted_vote(values, sims, tau=20.0, threshold=0.0)
    expected = 1 / (1 + 2 * math.exp(-20 * 0.35))
    assert v.value == "Shirts" and v.confidence == pytest.approx(expected)
    assert sum(v.distribution.values()) == pytest.approx(1.0)


def test_below_threshold_is_unknown_not_a_guess():
    v = weighted_vote(["Men", "Women", "Men", "Women", "Men"], [0.5] * 5, tau=5, threshold=0.7)
    assert v.value is None and v.confidence == pytest.approx(0.6)
    assert weighted_vote(["Men", "Women", "Men"], [0.5] * 3, tau=5, threshold=0.6).value == "Men"


def test_missing_values_vote_for_unknown():
    v = weighted_vote([None, "", "Leather", None], [0.9, 0.9, 0.9, 0.9], tau=1, threshold=0.2)
    assert v.value is None and v.distribution["unknown"] == pytest.approx(0.75)
    assert weighted_vote(["Leather", "Leather", None], [0.9] * 3, tau=1, threshold=0.5).value == "Leather"


def test_empty_and_mismatched():
    assert weighted_vote([], [], tau=1, threshold=0.5).value is None
    with pytest.raises(ValueError):
        weighted_vote(["a"], [], tau=1, threshold=0.5)


def test_vote_fields_uses_per_field_thresholds():
    neighbours = [{"gender": "Men", "usage": "Casual"}, {"gender": "Men", "usage": "Formal"}]
    out = vote_fields(neighbours, [0.8, 0.8], tau=1, thresholds={"gender": 0.9, "usage": 0.9}, fields=("gender", "usage"))
    assert out["gender"].value == "Men" and out["usage"].value is None


def test_colour_fusion_overrules_measurement_only_with_a_strong_vote():
    from fashionrag.pipelines.caption import fuse_colour_name
    from fashionrag.retrieval.votes import Vote

    strong = Vote("Navy Blue", 0.9, {"Navy Blue": 0.9, "Black": 0.1})
    weak = Vote("Navy Blue", 0.5, {"Navy Blue": 0.5, "Black": 0.5})
    assert fuse_colour_name("Black", strong, 0.6) == "Navy Blue"   # 0.54 > 0.4 + 0.06
    assert fuse_colour_name("Black", weak, 0.6) == "Black"         # 0.30 < 0.4 + 0.30
    assert fuse_colour_name("Black", strong, 0.0) == "Black"       # weight 0: measurement only
    assert fuse_colour_name("Black", None, 0.6) == "Black"


def test_colour_fusion_with_the_namers_probabilities():
    from fashionrag.pipelines.caption import colour_confidence, fuse_colour_name
    from fashionrag.retrieval.votes import Vote

    vote = Vote("Black", 0.6, {"Black": 0.6, "Navy Blue": 0.4})
    scores = {"Navy Blue": 0.7, "Black": 0.3}
    # Navy Blue 0.5*0.7 + 0.5*0.4 = 0.55 beats Black 0.5*0.3 + 0.5*0.6 = 0.45
    assert fuse_colour_name("Navy Blue", vote, 0.5, scores) == "Navy Blue"
    assert colour_confidence("Navy Blue", "Navy Blue", vote, 0.5, scores) == pytest.approx(0.55)
    assert colour_confidence("Black", "Navy Blue", vote, 0.5, scores) == pytest.approx(0.45)
    # a namer that is sure of Black is overruled only by a stronger vote: Black 0.5*0.9 + 0.5*0.6 = 0.75
    assert fuse_colour_name("Black", vote, 0.5, {"Black": 0.9, "Navy Blue": 0.1}) == "Black"
    # without a vote the namer's own first choice stands; without scores the measured name counts as certain
    assert fuse_colour_name("Navy Blue", None, 0.5, scores) == "Navy Blue"
    assert colour_confidence("Navy Blue", "Navy Blue", None, 0.0, scores) == pytest.approx(0.7)
    assert colour_confidence("Navy Blue", "Navy Blue", vote, 0.5) == pytest.approx(0.7)
