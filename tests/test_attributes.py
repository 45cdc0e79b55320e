"""Title words (pattern, fit, ...) learned from catalog titles and voted from the neighbours' titles."""

from __future__ import annotations

import pytest

from fashionrag.retrieval.attributes import TitleVocabulary, learn_title_vocabulary, stem, vote_details
from fashionrag.writers.guard import claim_words

BRANDS = ["Acme", "Bolt", "Crest", "Dune", "Ember"]


def _titles() -> list[str]:
    out = []
    for i in range(30):
        b = BRANDS[i % 5]
        out.append(f"{b} Men Striped Blue Shirt" if i % 3 else f"{b} Men Stripes Navy Blue Tshirt")
        out.append(f"{b} Women Solid Black Slim Fit Jeans")
        out.append(f"{b} Men Printed Grey Tshirt")
    out += [f"Zorbo Men Zorbo Check Shirt {i}" for i in range(20)]   # one brand only: not a descriptor
    return out


def test_stem_joins_spellings():
    assert stem("stripes") == stem("striped") == stem("stripe")
    assert stem("checks") == stem("check")
    assert stem("slim fit") == "slim fit"


def test_vocabulary_is_learned_from_titles_not_typed_per_catalog():
    v = learn_title_vocabulary(_titles(), min_titles=10, min_brands=4, exclude_words=claim_words())
    assert v.facets["pattern"]["striped"] == ["striped", "stripes"]      # one value, the adjective spelling
    assert set(v.facets["pattern"]) == {"striped", "solid", "printed"}   # 'check' is one brand's word only
    assert v.facets["fit"] == {"slim fit": ["slim fit"]}
    assert v.counts["striped"] == 30
    # colour, article and gender words never become descriptors
    assert not {w for vals in v.facets.values() for spellings in vals.values() for s in spellings
                for w in s.split()} & {"blue", "shirt", "men", "jeans"}


def test_rare_words_are_not_learned():
    v = learn_title_vocabulary(_titles()[:12], min_titles=10, min_brands=4)
    assert v.facets == {}


def test_find_reads_a_title(tmp_path):
    v = learn_title_vocabulary(_titles(), min_titles=10, min_brands=4, exclude_words=claim_words())
    assert v.find("Acme Men Navy STRIPES slim-fit shirt") == {"pattern": "striped", "fit": "slim fit"}
    assert v.find("Acme Men Navy Shirt") == {}
    v.save(tmp_path / "w.json")
    assert TitleVocabulary.load(tmp_path / "w.json").find("Printed tee") == {"pattern": "printed"}


def test_votes_weigh_neighbours_and_abstain_when_most_titles_say_nothing():
    v = learn_title_vocabulary(_titles(), min_titles=10, min_brands=4, exclude_words=claim_words())
    titles = ["A Striped Shirt", "B Stripes Tee", "C Printed Tee", "D Plain Shirt"]
    votes = vote_details(titles, [0.9, 0.9, 0.5, 0.5], v, tau=10.0)
    assert votes["pattern"].value == "striped"
    # weights exp(10 * (s - 0.9)): 1, 1, e^-4, e^-4
    assert votes["pattern"].confidence == pytest.approx(2 / (2 + 2 * 0.01831563888873418))
    assert votes["fit"].value is None                     # nobody names a fit: 'unknown' wins
    # most of the weight names no pattern: no pattern is claimed
    quiet = vote_details(["A Shirt", "B Shirt", "C Striped Shirt"], [0.9, 0.9, 0.9], v, tau=10.0)
    assert quiet["pattern"].value is None
    assert quiet["pattern"].confidence == pytest.approx(2 / 3)


def test_packaged_vocabulary_is_kagl_train_and_has_patterns():
    v = TitleVocabulary.packaged()
    assert "KAGL train" in v.source
    assert {"striped", "solid", "printed", "check"} <= set(v.facets["pattern"])
