"""Caption metrics against hand-computed values (and nltk's corpus_bleu when it is installed)."""

from __future__ import annotations

import math

import pytest

from fashionrag.eval import text_metrics as tm

HYPS = ["a red cotton shirt for men", "the cat sat on the mat"]
REFS = ["a red cotton shirt for men", "the cat is on the mat"]


def test_bleu4_by_hand():
    # Sentence 1 equals its reference: 1-grams 6/6, 2-grams 5/5, 3-grams 4/4, 4-grams 3/3.
    # Sentence 2 vs "the cat is on the mat":
    #   1-grams: the x2 (clipped to 2), cat, on, mat match, sat does not     -> 5/6
    #   2-grams: "the cat", "on the", "the mat" match of 5                    -> 3/5
    #   3-grams: only "on the mat" matches of 4                               -> 1/4
    #   4-grams: none of 3                                                    -> 0/3
    # Corpus sums: p1 = 11/12, p2 = 8/10, p3 = 5/8, p4 = 3/6; lengths 12 vs 12 -> brevity penalty 1.
    # BLEU = (11/12 * 8/10 * 5/8 * 3/6) ** (1/4) = (220/960) ** 0.25 = 0.691891...
    assert tm.corpus_bleu(HYPS, REFS) == pytest.approx((220 / 960) ** 0.25, abs=1e-12)
    assert tm.corpus_bleu(HYPS, REFS) == pytest.approx(0.6918913, abs=1e-6)
    # Sentence 2 alone has no matching 4-gram: 0 without smoothing.
    assert tm.corpus_bleu(HYPS[1:], REFS[1:]) == 0.0


def test_bleu_brevity_penalty_and_smoothing_by_hand():
    # hyp "a red shirt" (c = 3) vs ref "a red cotton shirt for men" (r = 6): BP = exp(1 - 6/3) = e^-1.
    # p1 = 3/3, p2 = 1/2 ("a red"), p3 = 0/1, p4 = 0/1 (no 4-gram: denominator counted as 1, like nltk).
    # epsilon smoothing (nltk method1, eps 0.1): p3 = p4 = 0.1 -> BLEU = e^-1 * (1 * 0.5 * 0.1 * 0.1) ** 0.25
    got = tm.corpus_bleu(["a red shirt"], ["a red cotton shirt for men"], smoothing="epsilon")
    assert got == pytest.approx(math.exp(-1) * 0.005 ** 0.25, abs=1e-12)  # 0.0978246
    # add1 (nltk method2, n >= 2): p2 = 2/3, p3 = 1/2, p4 = 1/2
    got = tm.corpus_bleu(["a red shirt"], ["a red cotton shirt for men"], smoothing="add1")
    assert got == pytest.approx(math.exp(-1) * (1 * 2 / 3 * 1 / 2 * 1 / 2) ** 0.25, abs=1e-12)
    # the closest reference length is used: with refs of length 3 and 6, BP = 1 (same clipped counts as above)
    got = tm.corpus_bleu(["a red shirt"], [["a red tee", "a red cotton shirt for men"]], smoothing="epsilon")
    assert got == pytest.approx(0.005 ** 0.25, abs=1e-12)


NLTK_HYPS = HYPS + ["navy blue shirt with white jeans", "black shoes", "a red shirt"]
NLTK_REFS = [[r] for r in REFS] + [["navy blue shirt", "a shirt with white jeans"], ["black casual shoes"],
                                   ["a red cotton shirt for men"]]


def test_bleu_matches_values_recorded_from_nltk():
    # Recorded once with nltk 3.10.4 corpus_bleu (throwaway venv) on the tokens of tm.tokenize:
    # SmoothingFunction().method1 -> 0.5503611910889782, method2 -> 0.5785568255488912.
    assert tm.corpus_bleu(NLTK_HYPS, NLTK_REFS, smoothing="epsilon") == pytest.approx(0.5503611910889782, abs=1e-12)
    assert tm.corpus_bleu(NLTK_HYPS, NLTK_REFS, smoothing="add1") == pytest.approx(0.5785568255488912, abs=1e-12)


def test_bleu_matches_nltk_when_installed():
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    smooth = nltk_bleu.SmoothingFunction()
    for ours_name, theirs_fn in (("epsilon", smooth.method1), ("add1", smooth.method2), (None, None)):
        ours = tm.corpus_bleu(NLTK_HYPS, NLTK_REFS, smoothing=ours_name)
        theirs = nltk_bleu.corpus_bleu([[tm.tokenize(r) for r in g] for g in NLTK_REFS],
                                       [tm.tokenize(h) for h in NLTK_HYPS], smoothing_function=theirs_fn)
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_meteor_by_hand():
    # "the cat sat on the mat" vs "the cat is on the mat": 5 exact matches (sat unmatched), P = R = 5/6,
    # Fmean = P*R / (0.9 P + 0.1 R) = 5/6; matches (0,0)(1,1) | (3,3)(4,4)(5,5) = 2 chunks,
    # penalty = 0.5 * (2/5)^3 = 0.032 -> 5/6 * 0.968 = 0.806667
    assert tm.meteor([HYPS[1]], [REFS[1]]) == pytest.approx(5 / 6 * (1 - 0.5 * 0.4**3), abs=1e-12)
    # stem stage: shirts~shirt, styled~styling; one chunk of 2 -> penalty 0.5 * (1/2)^3 -> 0.9375
    assert tm.meteor(["shirts styled"], ["shirt styling"]) == pytest.approx(0.9375, abs=1e-12)
    assert tm.meteor(["xyz"], ["abc"]) == 0.0
    # best over references
    assert tm.meteor(["red shirt"], [["blue jeans", "red shirt"]]) == pytest.approx(1 - 0.5 * 0.5**3)


def test_rouge_l_by_hand():
    # LCS("navy shirt", "a navy blue shirt") = 2: P = 1, R = 0.5; F = (1 + 1.2^2) P R / (R + 1.2^2 P)
    assert tm.rouge_l(["navy shirt"], ["a navy blue shirt"]) == pytest.approx(2.44 * 0.5 / (0.5 + 1.44), abs=1e-12)
    assert tm.rouge_l(["a b c"], ["a b c"]) == pytest.approx(1.0)
    assert tm.lcs_length("abcbdab", "bdcaba") == 4


def test_cider_d_by_hand():
    # Two images, each hypothesis equal to its only reference, no n-gram shared between images:
    # df = 1 for every n-gram, idf = log(2) - log(1); identical vectors -> cosine 1 for n = 1, 2; no 3- and
    # 4-grams in two-word captions -> 0; mean over n = (1 + 1 + 0 + 0) / 4 = 0.5; x10 -> 5.0 per image.
    assert tm.cider_d(["red shirt", "blue jeans"], ["red shirt", "blue jeans"]) == pytest.approx(5.0)
    # one image: IDF is 0 for everything -> 0 (CIDEr needs a corpus)
    assert tm.cider_d(["red shirt"], ["red shirt"]) == 0.0
    # a better caption scores higher
    refs = ["navy blue shirt for men", "black casual shoes", "white cotton tshirt for women"]
    good = tm.cider_d(["navy blue shirt", "black shoes", "white tshirt for women"], refs)
    bad = tm.cider_d(["black shoes", "white tshirt for women", "navy blue shirt"], refs)
    # every shuffled hypothesis shares no n-gram with its own reference -> exactly 0
    assert bad == 0.0 and good > 1.0


def test_distinct_n():
    hyps = ["red shirt", "red shirt", "blue jeans"]
    assert tm.distinct_n(hyps, 1) == pytest.approx(4 / 6)  # red, shirt, blue, jeans of 6 tokens
    assert tm.distinct_n(hyps, 2) == pytest.approx(2 / 3)  # "red shirt", "blue jeans" of 3 bigrams
    assert tm.distinct_n([], 2) == 0.0


def test_caption_metrics_keys_and_input_checks():
    out = tm.caption_metrics(HYPS, REFS)
    assert set(out) == {"bleu4", "meteor", "rouge_l", "cider", "distinct_1", "distinct_2"}
    # by hand: every p_n > 0, so the epsilon smoothing changes nothing; METEOR of an identical 6-word pair is
    # 1 - 0.5 (1/6)^3; ROUGE-L of the second pair is LCS 5 of 6 words; 11 distinct words of 12, 10 distinct bigrams
    assert out["bleu4"] == pytest.approx((220 / 960) ** 0.25, abs=1e-12)
    assert out["meteor"] == pytest.approx(((1 - 0.5 / 216) + 5 / 6 * (1 - 0.5 * 0.4**3)) / 2, abs=1e-12)
    assert out["rouge_l"] == pytest.approx((1 + 5 / 6) / 2, abs=1e-12)
    assert out["cider"] == pytest.approx(tm.cider_d(HYPS, REFS)) and out["cider"] > 0
    assert out["distinct_1"] == pytest.approx(11 / 12) and out["distinct_2"] == 1.0
    with pytest.raises(ValueError):
        tm.corpus_bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        tm.meteor(["a"], [[]])
