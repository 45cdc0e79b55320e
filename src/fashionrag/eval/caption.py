"""`eval caption`: the caption pipeline on labelled catalog photos, with the paper's metrics and more.

Per image, the truth is the catalog row: article type, colour, gender, and the fabric when the title names one.

- ``category_accuracy``: the first (subject) garment's voted article type equals the truth ("unknown" is wrong);
  ``category_hit``: any garment's does.
- ``color_accuracy``: the subject garment's first measured colour name equals the truth colour.
- ``gender_accuracy``: the look's voted gender equals the truth.
- ``hashtag_coverage_mean`` and ``coverage_at.<x>``: the paper's definition — share of the image's known facets
  (category, colour, fabric where the title names one, gender) present in the hashtags, synonyms allowed
  (``writers.guard.mentions_value``: "tee" for Tshirts, "navy" for Navy Blue); ``coverage_at.x`` is the share of
  images whose coverage is at least x. ``hashtag_coverage_strict_mean`` counts only the catalog's own words.
- ``contradiction_rate``: share of images whose caption or hashtags name a category, colour or gender that
  contradicts the truth. The truth only describes the photo's product, so the check runs against a truth pack:
  the subject garment with its true type, colour and gender (its *second* measured colour kept, since the catalog
  lists one colour), and the other garments as predicted (nothing is known about them).
- text metrics against the product titles (``bleu4``, ``meteor``, ``rouge_l``, ``cider``), ``distinct_1/2``;
- ``clip_score``: CLIPScore (2.5 * max(cos, 0)) between caption and photo on the index's encoder;
- ``images_per_s``: end to end (detector, colours, retrieval, writer), excluding index building.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from ..retrieval.catalog import Catalog, load_catalog
from ..core.errors import FashionRAGError
from ..core.evidence import CaptionResult, ColourEvidence, EvidencePack, GarmentEvidence
from ..core.schemas import Product
from . import text_metrics

FACETS = ("category", "colour", "fabric", "gender")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def truth_pack(product: Product, predicted: EvidencePack) -> EvidencePack:
    """The predicted pack with the subject garment replaced by the catalog truth (see module docstring)."""
    garments = list(predicted.garments)
    if garments:
        g = garments[0]
        colours = []
        if product.colour:
            colours.append(ColourEvidence(name=product.colour, hex=(g.colours[0].hex if g.colours else "#808080"), share=1.0))
        colours += [c for c in g.colours[1:2] if c.name != product.colour]
        garments[0] = g.model_copy(update={
            "article_type": product.article_type, "subcategory": product.subcategory, "category": product.category,
            "colours": colours[:2], "gender": product.gender,
        })
    return predicted.model_copy(update={"garments": garments, "gender": product.gender})


def facet_coverage(product: Product, result: CaptionResult) -> tuple[float | None, float | None]:
    """(lenient, strict) share of the product's known facets present in the hashtags; None without facets."""
    from ..writers.guard import mentions_value

    facets: list[tuple[str, str]] = []
    if product.article_type:
        facets.append(("article", product.article_type))
    if product.colour:
        facets.append(("colour", product.colour))
    if product.fabric and product.fabric_source == "title":
        facets.append(("fabric", product.fabric))
    if product.gender:
        facets.append(("gender", product.gender))
    if not facets:
        return None, None
    tags = result.hashtags
    lenient = sum(bool(mentions_value(kind, value, "", tags)) for kind, value in facets) / len(facets)
    joined = " ".join(_norm(t) for t in tags)
    strict_words = {
        "article": lambda v: _norm(v).rstrip("s"),
        "colour": _norm,
        "fabric": _norm,
        "gender": lambda v: {"men": "men", "women": "women"}.get(v.lower(), _norm(v)),
    }
    strict = sum(strict_words[k](v) in joined for k, v in facets) / len(facets)
    return lenient, strict


class CaptionEvalReport(BaseModel):
    n_images: int
    n_failed: int = 0
    gallery: str = Field(description="What was captioned and against which index.")
    index_size: int
    encoder: str
    writer: str
    category_accuracy: float
    category_hit: float
    color_accuracy: float
    gender_accuracy: float
    hashtag_coverage_mean: float
    hashtag_coverage_strict_mean: float
    coverage_at: dict[str, float]
    contradiction_rate: float
    contradictions_by_kind: dict[str, float]
    no_garment_rate: float
    distinct_1: float
    distinct_2: float
    bleu4: float
    meteor: float
    rouge_l: float
    cider: float
    clip_score: float
    images_per_s: float
    notes: list[str] = Field(default_factory=list)


def evaluate_captions(
    pipeline: Any,
    products: list[Product],
    *,
    style: str = "product",
    seed: int = 0,
    progress: bool = True,
    gallery: str = "",
) -> tuple[CaptionEvalReport, list[dict[str, Any]]]:
    """Caption every product photo with ``pipeline`` and score against the product rows."""
    from ..writers.guard import check

    rows: list[dict[str, Any]] = []
    hyps, refs, failed = [], [], 0
    clip_pairs: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    for p in tqdm(products, desc="captioning", unit="img", disable=not progress):
        try:
            result, analysis = pipeline.run(p.image_path, style=style, seed=seed, name=p.id)
        except FashionRAGError as exc:
            failed += 1
            rows.append({"id": p.id, "error": str(exc)})
            continue
        ev = result.evidence or analysis.evidence
        g0: Optional[GarmentEvidence] = ev.garments[0] if ev.garments else None
        lenient, strict = facet_coverage(p, result)
        violations = check(truth_pack(p, ev), result.caption, result.hashtags) if ev.garments else []
        kinds = sorted({v.kind for v in violations if v.kind in ("article", "colour", "gender")})
        rows.append({
            "id": p.id,
            "truth": {"article_type": p.article_type, "colour": p.colour, "gender": p.gender},
            "pred": {
                "article_type": g0.article_type if g0 else None,
                "colour": (g0.colours[0].name if g0 and g0.colours else None),
                "gender": ev.gender,
                "regions": [g.region for g in ev.garments],
            },
            "category_ok": bool(g0 and g0.article_type == p.article_type),
            "category_hit": any(g.article_type == p.article_type for g in ev.garments),
            "colour_ok": bool(g0 and g0.colours and g0.colours[0].name == p.colour),
            "gender_ok": ev.gender == p.gender,
            "coverage": lenient,
            "coverage_strict": strict,
            "contradictions": kinds,
            "no_garment": not ev.garments,
            "caption": result.caption,
            "hashtags": result.hashtags,
        })
        if result.caption:
            hyps.append(result.caption)
            refs.append([p.title])
            clip_pairs.append((p.image_path, result.caption))
    seconds = time.perf_counter() - t0
    ok = [r for r in rows if "error" not in r]
    n = len(ok)
    if n == 0:
        raise FashionRAGError("no image could be captioned; check the catalog paths and the index")

    def mean(key: str) -> float:
        vals = [float(r[key]) for r in ok if r.get(key) is not None]
        return round(float(np.mean(vals)), 4) if vals else 0.0

    cov = [r["coverage"] for r in ok if r["coverage"] is not None]
    text = text_metrics.caption_metrics(hyps, refs) if hyps else {}
    report = CaptionEvalReport(
        n_images=n,
        n_failed=failed,
        gallery=gallery,
        index_size=len(pipeline.store),
        encoder=pipeline.encoder.name,
        writer=getattr(pipeline.writer, "name", "?"),
        category_accuracy=mean("category_ok"),
        category_hit=mean("category_hit"),
        color_accuracy=mean("colour_ok"),
        gender_accuracy=mean("gender_ok"),
        hashtag_coverage_mean=mean("coverage"),
        hashtag_coverage_strict_mean=mean("coverage_strict"),
        coverage_at={f"{x:.1f}": round(float(np.mean([c >= x - 1e-9 for c in cov])), 4) if cov else 0.0
                     for x in (0.5, 0.6, 0.7)},
        contradiction_rate=round(float(np.mean([bool(r["contradictions"]) for r in ok])), 4),
        contradictions_by_kind={k: round(float(np.mean([k in r["contradictions"] for r in ok])), 4)
                                for k in ("article", "colour", "gender")},
        no_garment_rate=mean("no_garment"),
        distinct_1=round(text.get("distinct_1", 0.0), 4),
        distinct_2=round(text.get("distinct_2", 0.0), 4),
        bleu4=round(text.get("bleu4", 0.0), 4),
        meteor=round(text.get("meteor", 0.0), 4),
        rouge_l=round(text.get("rouge_l", 0.0), 4),
        cider=round(text.get("cider", 0.0), 4),
        clip_score=round(_clip_score(pipeline.encoder, clip_pairs), 4),
        images_per_s=round(len(rows) / seconds, 3) if seconds > 0 else 0.0,
        notes=[
            f"style={style}, seed={seed}",
            "coverage: share of known facets (type, colour, title fabric, gender) in the hashtags, synonyms allowed",
            "contradiction: caption/hashtags vs a truth pack (subject garment = catalog row, others as predicted)",
            "text metrics are against product titles, which are not captions: read them as relative numbers",
        ],
    )
    return report, rows


def _clip_score(encoder: Any, pairs: list[tuple[str, str]]) -> float:
    if not pairs:
        return 0.0
    img = encoder.encode_images([p for p, _ in pairs])
    txt = encoder.encode_texts([c for _, c in pairs])
    return float(np.mean(2.5 * np.maximum((img * txt).sum(axis=1), 0.0)))


def split_catalogs(eval_dir: str, ref_dir: str, split: str | None) -> tuple[Catalog, Catalog]:
    """EVAL rows (optionally one split) and REF rows; the same folder never shares rows between the two."""
    full_eval = load_catalog(eval_dir)
    eval_cat = full_eval.subset(split=split) if split else full_eval
    same = Path(eval_dir).resolve() == Path(ref_dir).resolve()
    ref_full = full_eval if same else load_catalog(ref_dir)
    if same:
        eval_ids = {p.id for p in eval_cat}
        ref = ref_full.subset(ids=[p.id for p in ref_full if p.id not in eval_ids])
    else:
        ref = ref_full
    return eval_cat, ref


def sample(products: list[Product], limit: int | None, seed: int = 0) -> list[Product]:
    if not limit or limit >= len(products):
        return products
    rng = random.Random(seed)
    return sorted(rng.sample(products, limit), key=lambda p: p.id)
