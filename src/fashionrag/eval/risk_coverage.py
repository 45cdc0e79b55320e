"""Risk against coverage: how many captions contradict the catalog, for how much they say.

A caption that abstains more contradicts less and covers less. :func:`risk_coverage_curve` re-gates the analyses of
one `eval caption` run at a series of thresholds (no photo is analysed twice: detector, crops and retrieval run
once), rewrites each caption with the same writer and seed, and scores contradiction rate and hashtag coverage
exactly as :func:`fashionrag.eval.caption.evaluate_captions` does. :func:`stated_report` says how often each fact is
stated and how often it is then right; :func:`detail_report` does the same for the words voted from titles
(pattern, fit, ...), against each photo's own title where it names one.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..core.evidence import CaptionResult, EvidencePack
from ..core.schemas import Product

#: Facts whose thresholds move together along the curve (a single strictness level).
CURVE_FACTS = ("article_type", "article_group", "colour", "colour_family", "gender")
#: Levels of the curve: 0 states every best guess.
CURVE_LEVELS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


class CurvePoint(BaseModel):
    """One operating point: thresholds and what the captions did with them."""

    name: str = Field(description="'level 0.6', 'shipped', 'strict'.")
    thresholds: dict[str, float]
    contradiction_rate: float
    hashtag_coverage_mean: float
    type_stated: float = Field(description="Share of photos whose subject's exact article type is stated.")
    colour_stated: float = Field(description="Share of photos whose subject's colour is stated (exact or family).")
    gender_stated: float


def stated_facts(pack: EvidencePack) -> dict[str, Any]:
    """What a caption may say about the subject garment (the first) of a gated pack."""
    if not pack.garments:
        return {}
    g = pack.garments[0]
    return {
        "article_type": g.article_type,
        "article_word": g.article_word,
        "colour": g.colours[0].name if g.colours else None,
        "gender": pack.look_gender(),
        "details": {d.facet: d.value for d in g.details},
    }


def _score(product: Product, pack: EvidencePack, result: CaptionResult) -> tuple[bool, Optional[float]]:
    from ..writers.guard import check
    from .caption import facet_coverage, truth_pack

    violations = check(truth_pack(product, pack), result.caption, result.hashtags) if pack.garments else []
    bad = any(v.kind in ("article", "colour", "gender") for v in violations)
    return bad, facet_coverage(product, result)[0]


def risk_coverage_curve(
    pipeline: Any,
    items: Sequence[tuple[Product, Any]],
    *,
    style: str = "product",
    seed: int = 0,
    levels: Iterable[float] = CURVE_LEVELS,
    extra: Optional[dict[str, dict[str, float]]] = None,
) -> list[CurvePoint]:
    """Contradiction rate and hashtag coverage at each level (every fact of :data:`CURVE_FACTS` thresholded at
    it), plus the named threshold sets in ``extra`` (e.g. the shipped and the strict config)."""
    settings = [(f"level {x:g}", {f: float(x) for f in CURVE_FACTS}) for x in levels]
    settings += list((extra or {}).items())
    out = []
    for name, thresholds in settings:
        bad, cov, typ, col, gen = [], [], [], [], []
        for product, analysis in items:
            pack = pipeline.gate(analysis, thresholds)
            result = pipeline.writer.write(pack, style=style, seed=seed)
            b, c = _score(product, pack, result)
            bad.append(b)
            if c is not None:
                cov.append(c)
            facts = stated_facts(pack)
            typ.append(bool(facts.get("article_type")))
            col.append(bool(facts.get("colour")))
            gen.append(bool(facts.get("gender")))
        out.append(CurvePoint(
            name=name, thresholds=thresholds,
            contradiction_rate=round(float(np.mean(bad)), 4) if bad else 0.0,
            hashtag_coverage_mean=round(float(np.mean(cov)), 4) if cov else 0.0,
            type_stated=round(float(np.mean(typ)), 4) if typ else 0.0,
            colour_stated=round(float(np.mean(col)), 4) if col else 0.0,
            gender_stated=round(float(np.mean(gen)), 4) if gen else 0.0,
        ))
    return out


def _rate(xs: list[bool]) -> Optional[float]:
    return round(float(np.mean(xs)), 4) if xs else None


def stated_report(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per fact: share of photos where it is stated, and the share of those where it is right (by family for
    colours: 'Blue' is right for Navy Blue; a broader garment word is right when the true type is among its types)."""
    from ..writers import vocab

    ok = [r for r in rows if "error" not in r and r.get("stated")]
    n = len(ok) or 1
    typ = [r for r in ok if r["stated"].get("article_type")]
    word = [r for r in ok if not r["stated"].get("article_type") and r["stated"].get("article_word")]
    col = [r for r in ok if r["stated"].get("colour")]
    gen = [r for r in ok if r["stated"].get("gender")]
    words = {w: types for w, _, types in vocab.GENERIC_ARTICLE_WORDS}
    return {
        "type_stated": round(len(typ) / n, 4),
        "type_precision": _rate([r["stated"]["article_type"] == r["truth"]["article_type"] for r in typ]),
        "broader_word_stated": round(len(word) / n, 4),
        "broader_word_precision": _rate([r["truth"]["article_type"] in words.get(r["stated"]["article_word"], ())
                                         for r in word]),
        "colour_stated": round(len(col) / n, 4),
        "colour_exact_precision": _rate([r["stated"]["colour"] == r["truth"]["colour"] for r in col]),
        "colour_family_precision": _rate([
            bool(vocab.colour_families(r["stated"]["colour"]) & vocab.colour_families(r["truth"]["colour"] or ""))
            for r in col if r["truth"]["colour"]]),
        "gender_stated": round(len(gen) / n, 4),
        "gender_precision": _rate([r["stated"]["gender"] == r["truth"]["gender"] for r in gen]),
    }


def detail_report(rows: Sequence[dict[str, Any]], vocabulary: Any = None) -> dict[str, dict[str, Any]]:
    """Per title facet (pattern, fit, ...): how often it is stated, and its precision against the photo's own title
    where that title names a value of the facet (photos whose title names none cannot say whether it is right)."""
    from ..retrieval.attributes import TitleVocabulary

    vocabulary = vocabulary or TitleVocabulary.packaged()
    ok = [r for r in rows if "error" not in r and r.get("stated") is not None]
    out: dict[str, dict[str, Any]] = {}
    for facet in vocabulary.facets:
        stated = [r for r in ok if (r["stated"].get("details") or {}).get(facet)]
        judged = [(r["stated"]["details"][facet], vocabulary.find(r.get("title", "")).get(facet)) for r in stated]
        judged = [(s, t) for s, t in judged if t]
        named = sum(bool(vocabulary.find(r.get("title", "")).get(facet)) for r in ok)
        out[facet] = {
            "stated": round(len(stated) / (len(ok) or 1), 4),
            "judged": len(judged),
            "precision": _rate([s == t for s, t in judged]),
            "titles_naming_one": round(named / (len(ok) or 1), 4),
            "recall": round(sum(s == t for s, t in judged) / named, 4) if named else None,
        }
    return out


def format_curve(points: Sequence[CurvePoint]) -> list[str]:
    lines = [f"{'risk-coverage':22s} {'contradiction':>13s} {'coverage':>9s} {'type':>6s} {'colour':>7s} "
             f"{'gender':>7s}   (share of photos stating each fact)"]
    for pt in points:
        lines.append(f"  {pt.name:20s} {pt.contradiction_rate:13.3f} {pt.hashtag_coverage_mean:9.3f} "
                     f"{pt.type_stated:6.2f} {pt.colour_stated:7.2f} {pt.gender_stated:7.2f}")
    return lines
