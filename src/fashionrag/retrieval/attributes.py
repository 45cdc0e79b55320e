"""Descriptive words voted from the neighbours' titles: pattern, neckline, sleeve, fit.

KAGL has no pattern or fit column, but its titles say "Men Solid Navy Blue Polo Tshirt" or "Slim Fit Jeans". A
:class:`TitleVocabulary` is *learned from a catalog's train titles*: every word or two-word phrase that at least
``min_titles`` titles of at least ``min_brands`` brands use (a brand-only word is not a descriptor) and whose stem
matches one of the generic facet seeds of ``core/vocabulary.json`` becomes a value of that facet; spellings that share a
stem are one value ("stripes", "striped" -> "striped"; the adjective form is preferred for writing). Words the grounding
guard treats as colour, fabric, article or gender claims ("polo" claims a T-shirt) are left to those facets.

:func:`vote_details` then votes per facet over the neighbours' titles with the same exp(tau * similarity) weights as
every other attribute; a neighbour whose title names no value of the facet votes "unknown", so a pattern is only
claimed when most of the weight agrees on one.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from ..core import vocabulary
from .votes import Vote, weighted_vote

PACKAGED = "assets/caption/title_words.json"
_WORD = re.compile(r"[a-z][a-z\-]*")


def stem(word: str) -> str:
    """A crude English stem for matching spellings: 'stripes'/'striped'/'stripe' -> 'strip', 'checks' -> 'check'."""
    parts = word.lower().split()
    out = []
    for w in parts:
        for suffix in ("ed", "es", "s", "e", "d"):
            if len(w) > len(suffix) + 3 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        out.append(w)
    return " ".join(out)


@dataclass
class TitleVocabulary:
    """facet -> value -> spellings (lower case) found in titles."""

    facets: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    source: str = ""
    #: value -> how many (train) titles name it.
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._patterns: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        for facet, values in self.facets.items():
            pats = []
            for value, spellings in values.items():
                for s in sorted(spellings, key=len, reverse=True):
                    pats.append((re.compile(r"(?<![a-z])" + re.escape(s).replace(r"\ ", r"[\s\-]+") + r"(?![a-z])"),
                                 value))
            pats.sort(key=lambda pv: -len(pv[0].pattern))
            self._patterns[facet] = pats

    def find(self, title: str) -> dict[str, str]:
        """facet -> the value a title names (the first found per facet; facets it names nothing of are absent)."""
        low = (title or "").lower()
        out: dict[str, str] = {}
        for facet, pats in self._patterns.items():
            best: Optional[tuple[int, str]] = None
            for pat, value in pats:
                m = pat.search(low)
                if m and (best is None or m.start() < best[0]):
                    best = (m.start(), value)
            if best:
                out[facet] = best[1]
        return out

    # -- persistence ---------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"source": self.source, "facets": self.facets, "counts": self.counts}, indent=1,
                          sort_keys=True) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "TitleVocabulary":
        data = json.loads(Path(path).read_text())
        return cls(facets=data["facets"], source=data.get("source", ""), counts=data.get("counts", {}))

    @classmethod
    def packaged(cls) -> "TitleVocabulary":
        """The vocabulary learned from KAGL's train titles (``assets/caption/title_words.json``)."""
        data = json.loads(resources.files("fashionrag").joinpath(PACKAGED).read_text())
        return cls(facets=data["facets"], source=data.get("source", ""), counts=data.get("counts", {}))


def learn_title_vocabulary(
    titles: Iterable[str],
    *,
    brands: Optional[Iterable[str]] = None,
    min_titles: int = 10,
    min_brands: int = 4,
    seeds: Mapping[str, Sequence[str]] | None = None,
    exclude_words: Iterable[str] = (),
    source: str = "",
) -> TitleVocabulary:
    """Learn facet values from catalog titles (see module docstring). ``brands`` default to each title's first word;
    a phrase with a word of ``exclude_words`` is skipped (pass the guard's claim words,
    :func:`fashionrag.writers.guard.claim_words`, so that no descriptor is also a colour, fabric, type or gender)."""
    titles = [t or "" for t in titles]
    brand_list = list(brands) if brands is not None else [(t.split() or [""])[0].lower() for t in titles]
    seeds = vocabulary.TITLE_FACETS if seeds is None else seeds
    seed_stems = {facet: {stem(s.replace("-", " ")) for s in words} for facet, words in seeds.items()}
    claims = set(exclude_words)
    n_titles: Counter[str] = Counter()
    n_brands: dict[str, set[str]] = defaultdict(set)
    for title, brand in zip(titles, brand_list):
        words = _WORD.findall(title.lower())
        grams = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
        for g in grams:
            n_titles[g] += 1
            n_brands[g].add(brand)
    facets: dict[str, dict[str, list[str]]] = {}
    counts: dict[str, int] = {}
    by_stem: dict[tuple[str, str], list[str]] = defaultdict(list)
    for gram, n in n_titles.items():
        if n < min_titles or len(n_brands[gram]) < min_brands or any(w in claims for w in gram.split()):
            continue
        st = stem(gram.replace("-", " "))
        for facet, stems in seed_stems.items():
            if st in stems:
                by_stem[(facet, st)].append(gram)
    for (facet, _), spellings in sorted(by_stem.items()):
        # the adjective form reads best before a noun ("striped shirt"), else the most used spelling
        spellings.sort(key=lambda s: (not s.endswith("ed"), -n_titles[s], s))
        value = spellings[0]
        facets.setdefault(facet, {})[value] = sorted(spellings)
        counts[value] = sum(n_titles[s] for s in spellings)
    return TitleVocabulary(facets=facets, source=source, counts=counts)


def vote_details(
    titles: Sequence[Optional[str]],
    similarities: Sequence[float],
    vocab: TitleVocabulary,
    *,
    tau: float,
    threshold: float = 0.0,
) -> dict[str, Vote]:
    """One vote per facet over the neighbours' titles (a title naming nothing of a facet votes 'unknown')."""
    found = [vocab.find(t or "") for t in titles]
    return {facet: weighted_vote([f.get(facet) for f in found], list(similarities), tau=tau, threshold=threshold)
            for facet in vocab.facets}
