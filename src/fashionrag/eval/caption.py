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

from ..core.errors import FashionRAGError, InvalidInputError
from ..core.evidence import CaptionResult, ColourEvidence, EvidencePack, GarmentEvidence
from ..core.images import file_sha256
from ..core.schemas import Product
from ..retrieval.catalog import Catalog, load_catalog
from . import text_metrics
from .leaks import LeakCheck, guard_catalog, guard_store

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
            "article_word": None, "article_word_types": [],  # the truth names the type: no predicted group
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
    strict = sum(_names_word(joined, strict_words[k](v)) for k, v in facets) / len(facets)
    return lenient, strict


#: Catalog words that contain another catalog word: "men" inside "#Womenswear" or "shirt" inside "#BlackTShirt"
#: is not the catalog's word, so the strict coverage does not count it.
_COMPOUNDS = ("women", "tshirt", "sweatshirt", "navyblue", "turquoiseblue", "offwhite", "seagreen",
              "fluorescentgreen", "coffeebrown", "greymelange")


def _names_word(joined: str, word: str) -> bool:
    """``word`` occurs in the joined, normalised hashtags outside any longer catalog word that contains it."""
    for compound in _COMPOUNDS:
        if word != compound and word in compound:
            joined = joined.replace(compound, "|")
    return bool(word) and word in joined


class CaptionEvalReport(BaseModel):
    n_images: int
    n_failed: int = 0
    gallery: str = Field(description="What was captioned and against which index.")
    split: Optional[str] = Field(default=None, description="Split of the evaluated catalog rows.")
    subset: str = Field(default="all", description="held-out, tuning or all (see TuningSet).")
    tuning_photos_excluded: int = Field(
        default=0, description="Evaluated-split photos left out because the packaged settings were chosen on them.")
    leak_check: Optional[LeakCheck] = None
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
    stated: dict[str, Any] = Field(default_factory=dict, description="How often each fact is stated, and its precision.")
    details: dict[str, Any] = Field(default_factory=dict, description="Title words (pattern, fit): stated, precision.")
    risk_coverage: list[Any] = Field(default_factory=list, description="Contradiction vs coverage over thresholds.")
    notes: list[str] = Field(default_factory=list)


def evaluate_captions(
    pipeline: Any,
    products: list[Product],
    *,
    style: str = "product",
    seed: int = 0,
    progress: bool = True,
    gallery: str = "",
    on_result: Any = None,
) -> tuple[CaptionEvalReport, list[dict[str, Any]]]:
    """Caption every product photo with ``pipeline`` and score against the product rows. ``on_result(product,
    result, analysis)`` sees every captioned photo (the risk-coverage curve re-gates the analyses)."""
    from .risk_coverage import stated_facts

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
        if on_result is not None:
            on_result(p, result, analysis)
        # accuracies score the best guesses (before abstention); what the text states is in "stated"
        raw = getattr(analysis, "raw_evidence", None) or ev
        g0: Optional[GarmentEvidence] = raw.garments[0] if raw.garments else None
        lenient, strict = facet_coverage(p, result)
        violations = check(truth_pack(p, ev), result.caption, result.hashtags) if ev.garments else []
        kinds = sorted({v.kind for v in violations if v.kind in ("article", "colour", "gender")})
        rows.append({
            "id": p.id,
            "truth": {"article_type": p.article_type, "colour": p.colour, "gender": p.gender},
            "pred": {
                "article_type": g0.article_type if g0 else None,
                "colour": (g0.colours[0].name if g0 and g0.colours else None),
                "gender": raw.gender,
                "regions": [g.region for g in ev.garments],
            },
            "stated": stated_facts(ev),
            "title": p.title,
            "category_ok": bool(g0 and g0.article_type == p.article_type),
            "category_hit": any(g.article_type == p.article_type for g in raw.garments),
            "colour_ok": bool(g0 and g0.colours and g0.colours[0].name == p.colour),
            "gender_ok": raw.gender == p.gender,
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
    """EVAL rows (optionally one split) and REF rows; the same folder never shares rows between the two.

    This only splits the folder; :func:`run_caption_eval` then runs the leak guard on whatever reference it uses.
    """
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


# ------------------------------------------------------------------------------------------ tuning subset
#: The photos the packaged caption settings were chosen on (``assets/caption/tune_ids.json``).
PACKAGED_TUNING = "assets/caption/tune_ids.json"
SUBSETS = ("held-out", "tuning", "all")


def _image_digest(path: Optional[str]) -> Optional[str]:
    try:
        return file_sha256(path)[:16] if path else None
    except OSError:
        return None


class TuningSet(BaseModel):
    """Photos some setting was chosen on: ids with the first 16 hex digits of their image's sha256.

    A photo counts as tuned only when both its id and its image bytes match, so the packaged KAGL list never
    touches another catalog that happens to use the same ids.
    """

    description: str = ""
    catalog: str = ""
    split: Optional[str] = None
    seed: Optional[int] = None
    size: int = 0
    how: str = ""
    chosen_here: list[str] = Field(default_factory=list, description="What was chosen on these photos.")
    chosen_on_whole_split: list[str] = Field(
        default_factory=list, description="Settings chosen on every photo of the split (no held-out photo for them).")
    ids: dict[str, str] = Field(default_factory=dict, description="id -> image sha256[:16] ('' = id only).")

    @classmethod
    def packaged(cls) -> "TuningSet":
        from importlib import resources

        return cls.model_validate_json(resources.files("fashionrag").joinpath(PACKAGED_TUNING).read_text())

    @classmethod
    def load(cls, path: str | Path) -> "TuningSet":
        """A JSON file like the packaged one, or a text file of ids (one per line, matched by id only)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise InvalidInputError(f"--tune-ids {path}: cannot read it ({exc.strerror or exc})") from exc
        if p.suffix == ".json":
            try:
                return cls.model_validate_json(text)
            except ValueError as exc:
                raise InvalidInputError(f"--tune-ids {path}: not a tuning-set JSON ({str(exc).splitlines()[0]})")
        ids = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return cls(description=f"ids from {p}", size=len(ids), ids={i: "" for i in ids})

    def contains(self, product: Product) -> bool:
        want = self.ids.get(product.id)
        if want is None:
            return False
        return not want or _image_digest(product.image_path) == want


def make_tuning_set(catalog: str | Path, split: str = "val", size: int = 300, seed: int = 0) -> TuningSet:
    """The seeded sample ``eval caption --split SPLIT --limit SIZE --seed SEED`` captions (how the packaged
    caption settings' grid was run), written down so the rest of the split can be reported as held out."""
    cat = load_catalog(catalog).subset(split=split)
    picked = sample(cat.products, size, seed)
    return TuningSet(
        catalog=Path(catalog).name, split=split, seed=seed, size=len(picked),
        how=f"fashionrag.eval.caption.make_tuning_set(CATALOG, split={split!r}, size={size}, seed={seed}) = "
            f"sample(products of split {split!r} in catalog order, {size}, seed={seed})",
        ids={p.id: _image_digest(p.image_path) or "" for p in picked},
    )


def choose_subset(products: list[Product], tuning: TuningSet | None, subset: str) -> tuple[list[Product], int]:
    """(the products of ``subset``, how many evaluated products are tuning photos)."""
    if subset not in SUBSETS:
        raise InvalidInputError(f"--subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    tuned = {p.id for p in products if tuning is not None and tuning.contains(p)}
    if subset == "held-out":
        return [p for p in products if p.id not in tuned], len(tuned)
    if subset == "tuning":
        return [p for p in products if p.id in tuned], len(tuned)
    return list(products), len(tuned)


# ------------------------------------------------------------------------------------------ the whole run
def run_caption_eval(
    catalog: str | Path,
    index_catalog: str | Path,
    *,
    split: Optional[str] = None,
    encoder: Any = None,
    index: str | Path | None = None,
    style: str = "product",
    limit: Optional[int] = None,
    seed: int = 0,
    subset: str = "held-out",
    tuning: TuningSet | None = None,
    allow_overlap: bool = False,
    detector: Any = None,
    writer: Any = None,
    caption_config: Any = None,
    curve: bool = False,
    progress: bool = True,
) -> tuple[CaptionEvalReport, list[dict[str, Any]]]:
    """``eval caption``: pick the evaluated photos, guard the reference against them, caption, score.

    ``tuning`` defaults to the packaged tuning set; ``subset='held-out'`` (default) reports only photos no packaged
    setting was chosen on. The reference is either built here from ``index_catalog`` (byte-identical images of
    evaluated photos are left out of it) or the prebuilt ``index`` (its rows are checked, and such images are
    removed from the in-memory copy; nothing is written back). Same-id overlap is a
    :class:`~fashionrag.eval.leaks.ReferenceOverlapError` unless ``allow_overlap``.
    """
    from .. import encoders, stores, writers
    from ..pipelines.caption import CaptionPipeline
    from ..retrieval.indexing import Indexer
    from ..retrieval.retriever import Retriever
    from ..vision.garments import create_detector

    if tuning is None:
        tuning = TuningSet.packaged()
    eval_cat, ref = split_catalogs(str(catalog), str(index_catalog), split)
    chosen, n_tuned = choose_subset(eval_cat.products, tuning, subset)
    products = sample(chosen, limit, seed)
    if not products:
        raise InvalidInputError(f"{catalog}: no photo to evaluate (split {split!r}, subset {subset!r})")

    if index:
        store = stores.open_store(index)
        enc = encoders.create(store.encoder) if encoder is None or isinstance(encoder, str) else encoder
        leak = guard_store(products, store, allow_overlap=allow_overlap, reference_name=f"the index {index}")
        source = f"index {index}"
    else:
        ref, leak = guard_catalog(products, ref, allow_overlap=allow_overlap,
                                  reference_name=f"the reference catalog {index_catalog}")
        if isinstance(encoder, str) or encoder is None:
            enc = encoders.create(encoder or default_encoder(caption_config))
        else:
            enc = encoder
        store, _ = Indexer(enc, progress=progress).build(ref)
        source = ref.source
    pipe = CaptionPipeline(detector or create_detector("pose"), Retriever(store, enc),
                           writer or writers.create("template"), caption_config)
    analysed: list = []
    report, rows = evaluate_captions(
        pipe, products, style=style, seed=seed, progress=progress,
        gallery=f"{len(products)} images of {eval_cat.source}; index of {len(store)} products of {source}",
        on_result=(lambda p, r, a: analysed.append((p, a))) if curve else None,
    )
    from .risk_coverage import detail_report, risk_coverage_curve, stated_report

    extra = {"stated": stated_report(rows), "details": detail_report(rows, pipe.title_vocabulary)}
    if curve and not getattr(pipe.writer, "needs_image", False):  # an image-only writer ignores the evidence
        cfg = pipe.config
        extra["risk_coverage"] = risk_coverage_curve(
            pipe, analysed, style=style, seed=seed,
            extra={"this config": dict(cfg.thresholds), "strict": dict(cfg.strict().thresholds)})
    if getattr(pipe.writer, "needs_image", False):
        extra["notes"] = [*report.notes, f"the {pipe.writer.name} writer ignores the evidence: the accuracy, stated "
                          "and details rows describe the retrieval votes, not its text; images_per_s includes them"]
    report = report.model_copy(update=extra)
    tuned = pipe.config.tuned_for
    notes = [*leak.notes(), *_subset_notes(tuning, subset, n_tuned, len(eval_cat.products)),
             f"caption thresholds ({pipe.config.operating_point} point): chosen for the {tuned} tower" + (
                 "" if tuned == enc.name.split(":", 1)[0] else f", not for {enc.name} (none chosen for it)"),
             *report.notes]
    return report.model_copy(update={"split": split, "subset": subset, "tuning_photos_excluded":
                                     n_tuned if subset == "held-out" else 0, "leak_check": leak, "notes": notes}), rows


def default_encoder(caption_config: Any = None) -> str:
    """`eval caption`'s default encoder: the tower the caption config's shipped operating point was chosen for
    (``reference_encoder``), else the project's default encoder."""
    from ..core import config
    from ..pipelines.caption import CaptionConfig

    cfg = caption_config if caption_config is not None else CaptionConfig.default()
    return cfg.reference_encoder or config.default_encoder()


def _subset_notes(tuning: TuningSet, subset: str, n_tuned: int, n_split: int) -> list[str]:
    if not n_tuned:
        return ["none of the evaluated photos is in the tuning set: every photo is held out"]
    chosen = "; ".join(tuning.chosen_here) or "settings"
    out = {
        "held-out": [f"held out: left out the {n_tuned} of {n_split} photos that {chosen} were chosen on"],
        "tuning": [f"tuning photos only ({n_tuned}): {chosen} were chosen on them, so these numbers flatter"],
        "all": [f"all photos, including the {n_tuned} that {chosen} were chosen on (mildly optimistic)"],
    }[subset]
    out += [f"chosen on every photo of the split, so not held out for it: {c}" for c in tuning.chosen_on_whole_split]
    return out
