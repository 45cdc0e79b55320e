"""A request's named attributes, parsed against the catalog's own values: "navy blue check shirt" -> colour
Navy Blue, article type Shirts, pattern check. The values come from the index (its products' colours, article
types and genders), so the parser speaks the catalog's vocabulary and nothing else.

Matching is on lower-case words, longest phrase first ("navy blue" before "blue", "t shirt" before "shirt"), with
plural/singular and a few spelling variants ("tee", "t-shirt", "tshirt"). Pattern words are reported (they stay
in the retrieval text; the catalog has no pattern column to filter on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

#: Words for genders, mapped to catalog values when the catalog has them.
GENDER_WORDS = {"men": "Men", "man": "Men", "mens": "Men", "male": "Men", "gents": "Men",
                "women": "Women", "woman": "Women", "womens": "Women", "female": "Women", "ladies": "Women",
                "lady": "Women", "boys": "Boys", "boy": "Boys", "girls": "Girls", "girl": "Girls", "unisex": "Unisex"}
#: Pattern words (normalised).
PATTERN_WORDS = {"check": "check", "checks": "check", "checked": "check", "checkered": "check", "plaid": "check",
                 "stripe": "striped", "stripes": "striped", "striped": "striped", "print": "printed",
                 "printed": "printed", "floral": "floral", "solid": "solid", "plain": "solid", "polka": "polka dot",
                 "dots": "polka dot", "graphic": "graphic", "embroidered": "embroidered"}
#: Extra spellings of article types (normalised word sequence -> catalog value, when present).
TYPE_VARIANTS = {"tee": "Tshirts", "tees": "Tshirts", "t shirt": "Tshirts", "t shirts": "Tshirts", "tshirt": "Tshirts",
                 "polo": "Tshirts", "jean": "Jeans", "denims": "Jeans", "pant": "Trousers", "pants": "Trousers",
                 "kurti": "Kurtis", "blouse": "Tops", "top": "Tops", "hoodie": "Sweatshirts", "jumper": "Sweaters",
                 "pullover": "Sweaters", "trouser": "Trousers", "skirt": "Skirts", "dress": "Dresses",
                 "sweat shirt": "Sweatshirts", "track pant": "Track Pants"}


#: Parsed filters are relaxed in this order when nothing matches (the colour a request names holds longest).
RELAX_ORDER = ("gender", "article_type", "colour")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))


@dataclass
class ParsedQuery:
    text: str
    colour: Optional[str] = None
    article_type: Optional[str] = None
    gender: Optional[str] = None
    patterns: list[str] = field(default_factory=list)

    def filters(self) -> dict[str, list[str]]:
        out = {}
        if self.colour:
            out["colour"] = [self.colour]
        if self.article_type:
            out["article_type"] = [self.article_type]
        if self.gender:
            out["gender"] = [self.gender]
        return out


class QueryParser:
    """Parses requests against the values a catalog holds."""

    def __init__(self, colours: Iterable[str] = (), article_types: Iterable[str] = (), genders: Iterable[str] = ()):
        self.colours = sorted({c for c in colours if c})
        self.article_types = sorted({a for a in article_types if a})
        self.genders = sorted({g for g in genders if g})
        self._colour = self._table(self.colours)
        for alias, value in self._shade_aliases(self.colours).items():
            self._colour.setdefault((alias,), value)
        self._type = self._table(self.article_types)
        for phrase, value in TYPE_VARIANTS.items():
            if value in self.article_types:
                self._type.setdefault(tuple(phrase.split()), value)
        self._max = max([len(k) for k in (*self._colour, *self._type)] or [1])

    @staticmethod
    def _shade_aliases(colours: Iterable[str]) -> dict[str, str]:
        """'navy' -> 'Navy Blue': the first word of a two-word colour whose second word is a colour itself (a shade
        of it), when that word is distinctive (4+ letters, no colour of its own, no other shade starts with it)."""
        colours = list(colours)
        singles = {tuple(_words(c)) for c in colours if len(_words(c)) == 1}
        seen: dict[str, list[str]] = {}
        for c in colours:
            words = _words(c)
            if len(words) == 2 and (words[1],) in singles and len(words[0]) >= 4 and (words[0],) not in singles:
                seen.setdefault(words[0], []).append(c)
        return {w: vals[0] for w, vals in seen.items() if len(vals) == 1}

    @staticmethod
    def _table(values: Iterable[str]) -> dict[tuple[str, ...], str]:
        out: dict[tuple[str, ...], str] = {}
        for v in values:
            words = tuple(_words(v))
            if not words:
                continue
            out.setdefault(words, v)
            last = words[-1]
            if last.endswith("s") and len(last) > 3:  # "Shirts" -> "shirt"
                out.setdefault(words[:-1] + (last[:-1],), v)
            else:
                out.setdefault(words[:-1] + (last + "s",), v)
        return out

    @classmethod
    def from_metadata(cls, rows: Iterable[Mapping[str, object]]) -> "QueryParser":
        cols, types, gens = set(), set(), set()
        for m in rows:
            cols.add(m.get("colour"))
            types.add(m.get("article_type"))
            gens.add(m.get("gender"))
        return cls([c for c in cols if isinstance(c, str)], [t for t in types if isinstance(t, str)],
                   [g for g in gens if isinstance(g, str)])

    @classmethod
    def from_store(cls, store) -> "QueryParser":
        return cls.from_metadata(store.get(i) or {} for i in store.ids())

    def parse(self, text: str) -> ParsedQuery:
        words = _words(text)
        out = ParsedQuery(text=text)
        i = 0
        while i < len(words):
            for n in range(min(self._max, len(words) - i), 0, -1):
                key = tuple(words[i:i + n])
                if out.colour is None and key in self._colour:
                    out.colour = self._colour[key]
                elif out.article_type is None and key in self._type:
                    out.article_type = self._type[key]
                else:
                    continue
                i += n
                break
            else:
                w = words[i]
                if out.gender is None and w in GENDER_WORDS and (not self.genders or GENDER_WORDS[w] in self.genders):
                    out.gender = GENDER_WORDS[w]
                elif w in PATTERN_WORDS and PATTERN_WORDS[w] not in out.patterns:
                    out.patterns.append(PATTERN_WORDS[w])
                i += 1
        return out
