"""Hashtags from an evidence pack, in three tiers.

- **broad**: reach tags every fashion post can use (#Fashion, #OOTD, ...), no claim about the garments;
- **mid**: one facet each: article type, colour, gender, usage, season, fabric (#Shirts, #NavyBlue, #MensFashion);
- **niche**: two facets together (#NavyBlueShirt, #CottonShirt, #MensShirt): few posts, precise audience.

Tags are ASCII ``#CamelCase`` (readable and screen-reader friendly), deduplicated case-insensitively, and never
built from an unknown value. How many a platform gets is configurable (:data:`PLATFORM_COUNTS`).
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Iterable, Optional

from ..core.errors import InvalidInputError
from ..core.evidence import EvidencePack
from . import vocab

#: platform -> (min, max) number of tags. ``make_hashtags`` writes ``max`` unless told otherwise.
PLATFORM_COUNTS: dict[str, tuple[int, int]] = {
    "default": (15, 15),
    "instagram": (15, 18),
    "tiktok": (4, 6),
    "pinterest": (5, 10),
    "linkedin": (3, 5),
    "facebook": (2, 4),
    "threads": (1, 3),
    "x": (2, 3),
    "twitter": (2, 3),
}

BROAD_TAGS = ("#Fashion", "#OOTD", "#Style", "#OutfitOfTheDay", "#InstaFashion", "#StyleInspo", "#LookOfTheDay",
              "#FashionInspo", "#WhatIWore", "#StreetStyle", "#OutfitInspo", "#InstaStyle", "#FashionGram",
              "#Fashionista", "#WIWT", "#DailyLook", "#StyleDiaries", "#OutfitIdeas")

GENDER_TAGS = {
    "Men": ("Mens Fashion", "Menswear", "Mens Style"),
    "Women": ("Womens Fashion", "Womenswear", "Womens Style"),
    "Boys": ("Boys Fashion",),
    "Girls": ("Girls Fashion",),
    "Unisex": ("Unisex Fashion",),
}
USAGE_TAGS = {
    "Casual": ("Casual Style", "Casual Wear"),
    "Formal": ("Formal Wear", "Office Wear"),
    "Sports": ("Sportswear", "Athleisure"),
    "Ethnic": ("Ethnic Wear", "Festive Wear"),
    "Smart Casual": ("Smart Casual",),
    "Party": ("Party Wear",),
    "Travel": ("Travel Style",),
}
SEASON_TAGS = {
    "Summer": ("Summer Style", "Summer Fashion"),
    "Fall": ("Fall Fashion", "Autumn Style"),
    "Winter": ("Winter Fashion", "Winter Style"),
    "Spring": ("Spring Style", "Spring Fashion"),
}
GENDER_PREFIX = {"Men": "Mens", "Women": "Womens", "Boys": "Boys", "Girls": "Girls", "Unisex": "Unisex"}


def platform_count(platform: str = "default", count: Optional[int] = None) -> int:
    """Number of tags for a platform (an explicit ``count`` wins)."""
    if count is not None:
        if count < 0:
            raise InvalidInputError(f"hashtag count must be >= 0, got {count}")
        return count
    if platform not in PLATFORM_COUNTS:
        raise InvalidInputError(f"unknown platform {platform!r}; use one of: {', '.join(PLATFORM_COUNTS)}")
    return PLATFORM_COUNTS[platform][1]


def _ascii_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = folded.replace("'", "")
    return [w for w in re.split(r"[^A-Za-z0-9]+", folded) if w]


def tag(*parts: str) -> Optional[str]:
    """'navy blue', 't-shirt' -> '#NavyBlueTShirt'. None when nothing ASCII is left."""
    words: list[str] = []
    for w in (w for p in parts for w in _ascii_words(p)):
        if not words or w.lower() != words[-1].lower():  # 'formal' + 'formal shoes' -> FormalShoes
            words.append(w)
    if not words:
        return None
    body = "".join(w[0].upper() + w[1:] for w in words)
    return None if body.isdigit() else "#" + body[:80]


def normalize(raw: str) -> Optional[str]:
    """Any user- or LLM-written tag -> '#CamelCase' ASCII (existing inner capitals kept: '#OOTD' stays)."""
    words = _ascii_words(str(raw).lstrip("#"))
    if not words:
        return None
    return tag(*words)


def dedupe(tags: Iterable[str]) -> list[str]:
    """Drop repeats, comparing case-insensitively; first spelling wins."""
    seen: set[str] = set()
    out: list[str] = []
    for t in tags:
        key = t.lower()
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def merge(primary: list[str], extra: list[str], count: int) -> list[str]:
    """``primary`` first, topped up from ``extra`` to ``count`` tags."""
    return dedupe(list(primary) + list(extra))[:count]


def _article_tags(article_type: str) -> tuple[str, str]:
    """(singular noun, plural noun) for tags: 'Shirts' -> ('shirt', 'shirts'), 'Jeans' -> ('jeans', 'jeans')."""
    noun, plural_only = vocab.article_noun(article_type)
    if plural_only:
        return noun, noun
    plural = noun + ("es" if re.search(r"(s|sh|ch|x)$", noun) else "s")
    return noun, plural


def _word_tags(word: str) -> tuple[str, str]:
    """(singular, plural) of a broader garment word: 'top' -> ('top', 'tops'), 'shoes' -> ('shoes', 'shoes')."""
    plural_only = next((pl for w, pl, _ in vocab.GENERIC_ARTICLE_WORDS if w == word), False)
    return (word, word) if plural_only else (word, word + ("es" if re.search(r"(s|sh|ch|x)$", word) else "s"))


def tiers(evidence: EvidencePack) -> dict[str, list[str]]:
    """All candidate tags by tier, in priority order: the lead garment's facets first, then the look's gender,
    then the other garments, then second spellings of the same facets."""
    gender = evidence.look_gender()
    mid_first: list[Optional[str]] = []
    mid_later: list[Optional[str]] = []
    niche_first: list[Optional[str]] = []
    niche_later: list[Optional[str]] = []
    for i, g in enumerate(evidence.garments):
        colours = ["multicolour" if c.name == "Multi" else c.name for c in g.colours]
        g_gender = g.gender or gender
        if g.article_type or g.article_word:
            noun, plural = _article_tags(g.article_type) if g.article_type else _word_tags(g.article_word)
            mid_first.append(tag(plural))
            for d in g.details:
                (niche_first if i == 0 else niche_later).append(tag(d.value, noun))
            if colours:
                niche_first.append(tag(colours[0], noun))
            niche_later.extend(tag(c, noun) for c in colours[1:])
            if g.fabric:
                (niche_first if i == 0 else niche_later).append(tag(g.fabric, noun))
            if g_gender in GENDER_PREFIX:
                (niche_first if i == 0 else niche_later).append(tag(GENDER_PREFIX[g_gender], plural))
            # not for a broader word: '#CasualShoes' would name a type ('Casual Shoes') the evidence is unsure of
            if g.usage and g.article_type:
                niche_later.append(tag(g.usage, noun))
            if g.season and g.article_type:
                niche_later.append(tag(g.season, noun))
        mid_first.extend(tag(c) for c in colours)
        mid_later.extend(tag(d.value) for d in g.details)
        if i == 0 and gender:
            mid_first.append(tag(GENDER_TAGS.get(gender, (gender + " fashion",))[0]))
        if g.fabric:
            mid_first.append(tag(g.fabric))
        usage_tags = [tag(t) for t in USAGE_TAGS.get(g.usage, (g.usage + " style",))] if g.usage else []
        season_tags = [tag(t) for t in SEASON_TAGS.get(g.season, (g.season + " style",))] if g.season else []
        mid_first.extend(usage_tags[:1] + season_tags[:1])
        mid_later.extend(usage_tags[1:] + season_tags[1:])
    for gen in ([gender] if gender else []) + [g.gender for g in evidence.garments if g.gender]:
        names = GENDER_TAGS.get(gen, (gen + " fashion",))
        mid_first.append(tag(names[0]))
        mid_later.extend(tag(t) for t in names[1:])
    return {
        "broad": list(BROAD_TAGS),
        "mid": dedupe(t for t in mid_first + mid_later if t),
        "niche": dedupe(t for t in niche_first + niche_later if t),
    }


def make_hashtags(
    evidence: EvidencePack, *, platform: str = "default", count: Optional[int] = None, seed: int = 0
) -> list[str]:
    """Hashtags for one photo: about 30% niche, 45% mid, the rest broad, topped up from any tier when one runs
    short. Empty for a photo without garments. Deterministic for a seed (the seed only shuffles the broad tier)."""
    n = platform_count(platform, count)
    if not evidence.garments or n == 0:
        return []
    t = tiers(evidence)
    broad = list(t["broad"])
    random.Random(seed).shuffle(broad)
    k_niche = max(1, round(n * 0.30))
    k_mid = max(1, round(n * 0.45))
    chosen = t["niche"][:k_niche] + t["mid"][:k_mid]
    chosen = dedupe(chosen + broad[: max(0, n - len(chosen))])
    for pool in (t["niche"][k_niche:], t["mid"][k_mid:], broad):
        if len(chosen) >= n:
            break
        chosen = dedupe(chosen + pool)[:n]
    return chosen[:n]
