"""The default writer: sentences assembled from phrase banks, filled only with evidence values.

Grounded by construction: every colour, fabric, garment and gender word comes from the evidence pack; a slot whose
value is unknown is left out together with the phrasing that needs it. Neighbour titles (``style_examples``) are
never used: copying catalog text could carry brand names, wrong attributes or injected instructions into a caption.

Variety comes from several phrasings per slot; the choice is seeded by (seed, style, the facts), so one seed gives
the same caption for the same photo, and different photos get different phrasings.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Optional

from ..core.evidence import EvidencePack, GarmentEvidence
from . import vocab
from .base import Draft, Writer, register
from .prompt import evidence_payload

GENDER_ADJ = {"Men": "men's", "Women": "women's", "Boys": "boys'", "Girls": "girls'", "Unisex": "unisex"}
GENDER_FOR = {"Men": "for men", "Women": "for women", "Boys": "for boys", "Girls": "for girls",
              "Unisex": "for everyone"}
#: Other ways to say GENDER_FOR (each still names the gender, so the guard checks it).
GENDER_FOR_ALT = {"Men": ("for men", "in menswear", "for the men's wardrobe", "for men on the go"),
                  "Women": ("for women", "in womenswear", "for the women's wardrobe", "for women on the go")}

USAGE_PHRASES = {
    "Casual": ("casual days", "everyday wear", "off-duty days", "easy weekends", "weekend plans", "laid-back days",
               "coffee runs", "city strolls", "everyday errands", "relaxed outings", "brunch dates", "downtime"),
    "Formal": ("the office", "formal occasions", "workdays", "boardroom days", "meetings", "client days",
               "the nine-to-five", "business dinners", "office hours", "presentations"),
    "Sports": ("workouts", "training days", "active days", "game day", "the gym", "morning runs",
               "practice sessions", "high-energy days", "the track", "weekend matches"),
    "Ethnic": ("festive occasions", "celebrations", "festive days", "weddings", "family gatherings",
               "festive evenings", "the festive season"),
    "Smart Casual": ("smart-casual days", "after-work plans", "dinner dates"),
    "Party": ("parties", "nights out", "evening plans"),
    "Travel": ("travel days", "long journeys", "weekend trips"),
    "Home": ("lounging at home", "slow mornings", "quiet evenings"),
}
USAGE_WORD = {"Casual": "Casual", "Formal": "Formal", "Sports": "Sporty", "Ethnic": "Festive",
              "Smart Casual": "Smart-casual", "Party": "Party-ready", "Travel": "Travel-ready"}
SEASON_WORDS = {"Summer": ("summer", "summertime"), "Fall": ("fall", "autumn"), "Winter": ("winter", "wintertime"),
                "Spring": ("spring", "springtime")}

# Phrase banks. {lead_a}: "a navy blue shirt"; {lead_this}: "this navy blue shirt"; {lead}: "navy blue shirt";
# {others_a}: "white jeans and black casual shoes" with articles; {for_gender}: " for men" (leading space) or "".
BANKS: dict[str, dict[str, list[tuple[str, frozenset[str]]]]] = {}


def _bank(style: str, slot: str, *entries: tuple[str, set[str]]) -> None:
    BANKS.setdefault(style, {})[slot] = [(text, frozenset(req)) for text, req in entries]


_bank("instagram", "lead",
      ("Loving {lead_this}{for_gender}.", set()),
      ("All eyes on {lead_this}.", set()),
      ("Today's pick: {lead_a}{for_gender}.", set()),
      ("Meet {lead_this}, an instant favourite.", set()),
      ("Keeping it sharp in {lead_a}.", set()),
      ("{lead_this} is on repeat this week.", {"lead_single"}),
      ("{lead_this} are on repeat this week.", {"lead_plural"}),
      ("Obsessed with {lead_this}{for_gender}.", set()))
_bank("instagram", "others",
      ("Paired with {others_a} to finish the look.", set()),
      ("Styled with {others_a}.", set()),
      ("{others_a} keep it balanced.", {"others_plural"}),
      ("{others_a} keeps it balanced.", {"others_single"}),
      ("Grounded by {others_a}.", set()),
      ("Rounded off with {others_a}.", set()))
_bank("instagram", "occasion",
      ("Made for {usage} this {season}.", {"usage", "season"}),
      ("Ready for {usage}, all {season} long.", {"usage", "season"}),
      ("Your {season} go-to for {usage}.", {"usage", "season"}),
      ("Made for {usage}.", {"usage"}),
      ("Your go-to for {usage}.", {"usage"}),
      ("Built for {usage}.", {"usage"}),
      ("A {season} favourite.", {"season"}),
      ("Ready for {season} days.", {"season"}),
      ("Simple, clean and easy to wear.", set()),
      ("Save this look for later.", set()),
      ("Effortless from morning to night.", set()))
_bank("product", "lead",
      ("{lead_a}{for_gender}.", set()),
      ("{gender_adj} {lead}, ready to wear.", {"gender"}),
      ("This {lead} is designed{for_gender}.", {"gender", "lead_single"}),
      ("{lead_a}, easy to wear.", set()),
      ("{gender_adj} {lead}.", {"gender"}),
      ("{adj_a} {lead}{for_gender}.", {"lead_single"}),
      ("{adj_cap} and {adj2}: {lead_a}{for_gender}.", set()),
      ("Here is {lead_a}, {adj} and {adj2}.", set()),
      ("{lead_a} with {a_quality} feel.", set()),
      ("Discover {lead_a}{for_gender}, {adj} by design.", set()),
      ("{gender_adj} {lead} with {a_quality} look.", {"gender"}),
      ("This {adj} {lead} is made{for_gender}.", {"lead_single"}),
      ("These {adj} {lead} are made{for_gender}.", {"lead_plural"}),
      ("{lead_a} that keeps things {adj}.", set()),
      ("Meet {lead_a}: {adj}, {adj2} and easy to style.", set()),
      ("{lead_a}, {adj} from the first wear.", set()),
      ("Say hello to {lead_a}{for_gender}.", set()),
      ("A {adj} take on {lead_a}.", set()),
      ("{lead_a} with {a_quality} attitude.", set()),
      ("Simple and {adj}: {lead_a}{for_gender}.", set()),
      ("{gender_adj} {lead}, {adj} and {adj2}.", {"gender"}),
      ("{lead_a} for {adj} everyday dressing.", set()),
      ("Wardrobe news: {lead_a}{for_gender}.", set()),
      ("{lead_a} with {a_quality} shape.", set()),
      ("Our {adj} {lead}{for_gender}.", set()),
      ("A {adj} update: {lead_a}.", set()),
      ("{lead_a}, made to feel {adj}.", set()),
      ("Keep it {adj} with {lead_a}.", set()),
      ("Step out in {lead_a}{for_gender}.", set()),
      ("Just in: {lead_a}{for_gender}.", set()),
      ("Freshly picked: {lead_a}, {adj} and {adj2}.", set()),
      ("Style note: {lead_a}{for_gender}.", set()),
      ("{lead_a}, kept {adj}.", set()),
      ("All about {lead_a}{for_gender}.", set()),
      ("Your next {adj} {lead}.", {"lead_single"}),
      ("Everyday {lead}, done the {adj} way.", set()),
      ("Take a look at {lead_a}{for_gender}.", set()))
_bank("product", "detail",
      ("The {pattern} finish keeps it {adj}.", {"pattern"}),
      ("A {pattern} design adds {a_quality} touch.", {"pattern"}),
      ("Its {pattern} look pairs with almost anything.", {"pattern"}),
      ("Cut in a {fit} for {a_quality} line.", {"fit"}),
      ("The {pattern} detail makes it {adj2}.", {"pattern"}),
      ("{pattern_cap} and {adj}, it works on its own.", {"pattern"}),
      ("Go {pattern} for {a_quality} finish.", {"pattern"}),
      ("A {fit} keeps the shape {adj}.", {"fit"}))
_bank("product", "others",
      ("Shown with {others_a}.", set()),
      ("Pairs well with {others_a}.", set()),
      ("Worn here with {others_a}.", set()),
      ("Try it with {others_a}.", set()),
      ("Styled here alongside {others_a}.", set()),
      ("It sits well next to {others_a}.", set()),
      ("Team it with {others_a} for {a_quality} outfit.", set()),
      ("Complete the outfit with {others_a}.", set()))
_bank("product", "closing",
      ("{adj_cap}, {adj2} and made to last.", set()),
      ("Expect a {adj} fit and a {adj2} finish.", set()),
      ("{adj_cap} lines, {adj2} comfort.", set()),
      ("It feels {adj} and looks {adj2}.", set()),
      ("The result: {adj}, {adj2}, done.", set()),
      ("{adj_cap} on its own, {adj2} in an outfit.", set()),
      ("One {adj} piece, many {adj2} outfits.", set()),
      ("Quietly {adj}, never fussy.", set()),
      ("A {adj} staple with a {adj2} edge.", set()),
      ("Wear it {adj}, keep it {adj2}.", set()),
      ("{adj_cap} today, {adj2} tomorrow.", set()),
      ("The kind of {adj} you reach for again.", set()),
      ("{adj_cap} by nature, {adj2} by choice.", set()),
      ("Pure {quality} style.", set()),
      ("{adj_cap} in the best way.", set()),
      ("Built around {a_quality}, {adj2} silhouette.", set()),
      ("Nothing {adj} about it is an accident.", set()),
      ("{adj_cap} from every angle.", set()),
      ("The {adj} option for a {adj2} wardrobe.", set()),
      ("Keep the rest {adj} and let it lead.", set()),
      ("Small details, {adj} effect.", set()),
      ("{adj_cap}, {adj2}, and ready when you are.", set()),
      ("Style it up or down: it stays {adj}.", set()),
      ("A {adj} favourite in the making.", set()),
      ("It brings {a_quality} note to any outfit.", set()),
      ("Made for {adj} days and {adj2} plans.", set()),
      ("Effortlessly {adj}, quietly {adj2}.", set()),
      ("For a {adj} look without trying too hard.", set()),
      ("{adj_cap} looks start here.", set()),
      ("An easy way to look {adj}.", set()),
      ("Goes with a {adj} mood and a {adj2} schedule.", set()),
      ("Add it to your {adj} rotation.", set()),
      ("Proof that {adj} can also be {adj2}.", set()),
      ("The {quality} choice, season after season.", set()))
_bank("product", "occasion",
      ("Suited to {usage} in {season}.", {"usage", "season"}),
      ("{verb_cap} for {usage} this {season}.", {"usage", "season"}),
      ("A {adj} pick for {usage} in {season}.", {"usage", "season"}),
      ("Ready for {usage}, all {season}.", {"usage", "season"}),
      ("{verb_cap} for {usage} and {adj} {season} days.", {"usage", "season"}),
      ("{verb_cap} for {usage}.", {"usage"}),
      ("A {adj} choice for {usage}.", {"usage"}),
      ("Designed for {usage}, {season} after {season}.", {"usage", "season"}),
      ("Designed for {usage}.", {"usage"}),
      ("A practical choice for {usage}.", {"usage"}),
      ("{verb_cap} with {usage} in mind, {season} or not.", {"usage", "season"}),
      ("Wear it for {usage} through {season}.", {"usage", "season"}),
      ("Your {adj} answer to {usage} in {season}.", {"usage", "season"}),
      ("Count on it for {usage} when {season} comes.", {"usage", "season"}),
      ("A {season} staple for {usage}.", {"usage", "season"}),
      ("{adj_cap} enough for {usage}, {adj2} enough for {season}.", {"usage", "season"}),
      ("Think {usage}, think this.", {"usage"}),
      ("Easy to wear for {usage}.", {"usage"}),
      ("Ready for {usage} whenever you are.", {"usage"}),
      ("Perfect for {usage}.", {"usage"}),
      ("A natural fit for {usage}.", {"usage"}),
      ("Bring it along for {usage}.", {"usage"}),
      ("Picked for {usage}, {adj} for everything else.", {"usage"}),
      ("Great for {usage} in {season}.", {"usage", "season"}),
      ("Put it on for {usage} all through {season}.", {"usage", "season"}),
      ("{season_cap} plans, {usage}: covered.", {"usage", "season"}),
      ("From {usage} to {season} evenings.", {"usage", "season"}),
      ("A practical choice for {season}.", {"season"}),
      ("Made for {season}.", {"season"}),
      ("An easy wardrobe staple.", set()),
      ("Easy to style and easy to wear.", set()))
_bank("minimal", "lead",
      ("{lead_all}.", set()),
      ("{lead_all}. Nothing more.", set()),
      ("Today: {lead_all}.", set()),
      ("Just {lead_all}.", set()))
_bank("minimal", "occasion",
      ("{usage_word}, {season}-ready.", {"usage", "season"}),
      ("{usage_word} for {season}.", {"usage", "season"}),
      ("{usage_word} and easy.", {"usage"}),
      ("Easy {usage_word_low} style.", {"usage"}),
      ("Made for {season}.", {"season"}),
      ("{season}-ready.", {"season"}),
      ("Less is more.", set()),
      ("Clean lines.", set()))


#: Words with no colour, fabric, garment or gender claim, for variety (the guard finds none of them).
ADJECTIVES = ["versatile", "polished", "easy-going", "timeless", "modern", "understated", "comfortable", "refined",
              "classic", "smart", "fresh", "dependable", "crisp", "neat", "striking", "subtle", "bold", "handsome",
              "graceful", "confident", "breezy", "sleek", "elegant", "playful", "chic", "tidy", "mellow", "stylish",
              "trusty", "low-key", "charming", "spirited", "easygoing", "carefree", "cheerful", "sunny", "steady",
              "honest", "lively", "unfussy"]
QUALITIES = ["easy", "clean", "smart", "modern", "relaxed", "polished", "timeless", "casual", "neat", "fresh",
             "confident", "balanced", "tailored", "soft", "structured", "graceful", "sleek", "calm", "lively",
             "refined", "sharp", "breezy", "quiet", "crisp", "elegant"]
ACCENTS = ["details", "accents", "touches", "trim", "highlights"]
VERBS = ["Made", "Designed", "Built", "Cut", "Styled", "Shaped", "Chosen", "Meant"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def colour_phrase(g: GarmentEvidence, accent: str = "details") -> tuple[str, str]:
    """('navy blue and white', '') for two strong colours; ('navy blue', ' with white details') for an accent."""
    names = ["multicoloured" if c.name == "Multi" else c.name.lower() for c in g.colours]
    if len(names) == 2 and names[0] != names[1]:
        if g.colours[1].share >= 0.3:
            return f"{names[0]} and {names[1]}", ""
        return names[0], f" with {names[1]} {accent}"
    return (names[0] if names else ""), ""


def garment_noun(g: GarmentEvidence) -> tuple[str, bool]:
    """The garment word: the article type's noun, else the confident broader word ('top'), else 'piece'."""
    if g.article_type:
        return vocab.article_noun(g.article_type)
    if g.article_word:
        plural = next((pl for w, pl, _ in vocab.GENERIC_ARTICLE_WORDS if w == g.article_word), False)
        return g.article_word, plural
    return "piece", False


def detail(g: GarmentEvidence, facet: str) -> str:
    return next((d.value for d in g.details if d.facet == facet), "")


def garment_phrase(g: GarmentEvidence, accent: str = "details") -> tuple[str, bool]:
    """'navy blue striped cotton shirt' and whether it is grammatically plural. Unknown article -> 'piece'."""
    noun, plural = garment_noun(g)
    colour, accented = colour_phrase(g, accent)
    pattern = detail(g, "pattern")
    parts = [colour, pattern, g.fabric.lower() if g.fabric else "", noun]
    return " ".join(p for p in parts if p) + accented, plural


def with_article(phrase: str, plural: bool, *, this: bool = False) -> str:
    if plural:
        return "these " + phrase if this else phrase
    if this:
        return "this " + phrase
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class TemplateWriter(Writer):
    """Offline, deterministic, grounded by construction."""

    name = "template"
    merge_evidence_hashtags = False

    def draft(
        self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int, feedback: Optional[str] = None
    ) -> Draft:
        from . import hashtags

        if not evidence.garments:
            return Draft("", [])
        facts = json.dumps({k: v for k, v in evidence_payload(evidence).items() if k != "style_examples"},
                           sort_keys=True)
        rng = random.Random(hashlib.sha256(f"{seed}|{style}|{facts}".encode()).hexdigest())
        lead, *others = evidence.garments
        gender = lead.gender or evidence.look_gender()
        accent = rng.choice(ACCENTS)
        lead_text, lead_plural = garment_phrase(lead, accent)
        other_phrases = [garment_phrase(g, accent) for g in others[:3]]
        usage = lead.usage or next((g.usage for g in others if g.usage), None)
        season = lead.season or next((g.season for g in others if g.season), None)
        slots = {
            "lead": lead_text,
            "lead_a": with_article(lead_text, lead_plural),
            "lead_this": with_article(lead_text, lead_plural, this=True),
            "lead_all": _join([lead_text] + [p for p, _ in other_phrases]),
            "for_gender": (" " + rng.choice(GENDER_FOR_ALT.get(gender, (GENDER_FOR[gender],))))
            if gender in GENDER_FOR else "",
            "gender_adj": GENDER_ADJ.get(gender or "", ""),
            "others_a": _join([with_article(p, pl) for p, pl in other_phrases]) if other_phrases else "",
            "usage": rng.choice(USAGE_PHRASES.get(usage, (f"{usage.lower()} wear",))) if usage else "",
            "usage_word": USAGE_WORD.get(usage or "", (usage or "").capitalize()),
            "usage_word_low": USAGE_WORD.get(usage or "", usage or "").lower(),
            "season": rng.choice(SEASON_WORDS.get(season, (season.lower(),))) if season else "",
        }
        slots["season_cap"] = _cap(slots["season"])
        used: set[str] = set()

        def refresh() -> None:
            # new claim-free words for every sentence, never one already used in this caption
            adjs = rng.sample([a for a in ADJECTIVES if a not in used], 2)
            quality = rng.choice([q for q in QUALITIES if q not in used and q not in adjs])
            used.update(adjs + [quality])
            slots.update(adj=adjs[0], adj2=adjs[1], adj_cap=_cap(adjs[0]), quality=quality,
                         adj_a=_cap(with_article(adjs[0] + " x", False)[:-2]),
                         a_quality=with_article(quality, False), verb_cap=rng.choice(VERBS))

        refresh()
        slots.update(pattern=detail(lead, "pattern"), fit=detail(lead, "fit"),
                     pattern_cap=_cap(detail(lead, "pattern")))
        have = {k for k, v in slots.items() if v}
        if gender in GENDER_ADJ:
            have.add("gender")
        have.add("lead_plural" if lead_plural else "lead_single")
        if other_phrases:
            plural_others = len(other_phrases) > 1 or other_phrases[0][1]
            have.add("others_plural" if plural_others else "others_single")
        bank = BANKS[style]
        sentences = [self._pick(bank["lead"], have, rng, slots)]
        if other_phrases and "others" in bank and not ({"pattern", "fit"} & have and rng.random() < 0.5):
            sentences.append(self._pick(bank["others"], have, rng, slots, refresh=refresh))
        elif "detail" in bank and {"pattern", "fit"} & have:
            sentences.append(self._pick(bank["detail"], have, rng, slots, refresh=refresh))
        occasion = self._pick(bank["occasion"], have, rng, slots, prefer_specific=True, refresh=refresh)
        if len(sentences) == 1 and "closing" in bank:
            # two sentences say every fact we have; a third, claim-free one varies the rhythm
            extra = self._pick(bank["closing"], have, rng, slots, refresh=refresh)
            sentences += [occasion, extra] if rng.random() < 0.5 else [extra, occasion]
        else:
            sentences.append(occasion)
        caption = " ".join(_cap(s) for s in sentences[:3])
        return Draft(caption, hashtags.make_hashtags(evidence, count=n_hashtags, seed=seed))

    @staticmethod
    def _pick(entries: list[tuple[str, frozenset[str]]], have: set[str], rng: random.Random, slots: dict[str, str],
              prefer_specific: bool = False, refresh=None) -> str:
        usable = [(t, req) for t, req in entries if req <= have]
        if prefer_specific:
            # Say the most we know: phrasings that need the most facts we have; every other time one fact fewer,
            # so that not every caption ends on its season
            most = max(len(req) for _, req in usable)
            level = most if rng.random() < 0.5 or most == 0 else most - 1
            usable = [(t, req) for t, req in usable if len(req) == level] or \
                [(t, req) for t, req in usable if len(req) == most]
        text, _ = rng.choice(usable)
        if refresh is not None:
            refresh()
        return text.format(**slots)


@register("template")
def _create(**kwargs) -> TemplateWriter:
    return TemplateWriter(**kwargs)
