"""`fashionrag eval edit --profile lite`: offline garment transfer judged on real catalog photos.

Protocol: every on-model photo of the evaluated split whose garment is visible gets a request built from a
*different* product of the same region (``"{colour} {article type}"``, seeded) and, by default (``requests="wearer"``),
of the photo's own gender (or unisex), as Dress Code and VITON-HD pair every person with garments of their own gender
and as the editor retrieves by default; ``requests="any"`` draws from either gender (two in five requests then come
from the other gender's products, many naming a garment the catalog barely has for that wearer: 3 of KAGL train's
263 kurtas and none of its 262 tops are men's).
Each photo is edited through the ``lite`` pipeline with its own product id excluded from retrieval, and is judged:

- **colour success**: the caption pipeline (run on the edited photo against the reference index) names a colour of
  the requested colour's family for the edited garment (its named colour before the abstention gate); the same judge on the *unedited* photos against their own
  catalog colour is the **ceiling** reported beside it;
- **type success** (replace-mode edits only): the judge names the requested article type; the same judge on
  those photos *unedited*, against their own type, is the **type ceiling** beside it;
- **preservation**: share of pixels outside the edit region that are unchanged (must be 1.0);
- **faithfulness**: CIEDE2000 between the edited region's dominant colour and the used garment's;
- **coverage**: share of the photo's garment region — found independently, by the caption pipeline's own detector,
  skin removed — whose colour changed (ΔE76 > 3): a colour judge can be fooled by a holed mask, this cannot;
- **realism proxy**: KID on the lite encoder's image features, edited vs the same photos unedited (a proxy, not a
  perceptual study), per-stage time, and an HTML sheet of 24 examples.

The reference (index) never holds the evaluated photos: the shared leak guard checks ids and image bytes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..core.errors import FashionRAGError, InvalidInputError
from ..core.images import load_image
from ..core.schemas import EditResult, Product
from ..core.vocabulary import SUBCATEGORY_TO_EDIT_CATEGORY
from .edit import kernel_distance, kid_settings
from .leaks import LeakCheck, guard_catalog, guard_store

#: The caption judge's region for each editing category (first choice, then fallbacks). ``product`` last: when
#: the detector finds no person in the photo the caption pipeline describes it as a product shot, and what it
#: names for that one garment is still its answer about the photo.
JUDGE_REGIONS = {"upper_body": ("upper_body", "full_length", "product"), "lower_body": ("lower_body", "product"),
                 "dresses": ("full_length", "upper_body", "product")}
TARGETS = {"colour_success": 0.70, "coverage": 0.95, "type_success": 0.60, "preservation": 1.0, "seconds_per_edit": 1.0}
#: How requests are drawn: from products of the wearer's own gender (or unisex), or of either gender.
REQUEST_POOLS = ("wearer", "any")


class LiteEditRow(BaseModel):
    id: str
    category: str
    text: str
    mode: str
    garment: str = Field(description="Catalog id of the garment used.")
    judged_colour: Optional[str] = None
    colour_ok: bool
    colour_changes: bool = Field(default=True, description="The requested colour family differs from the photo's.")
    request_gender_matches: Optional[bool] = Field(default=None, description="The request's product is of the "
                                                   "photo's gender (or unisex); None when either is unknown.")
    judged_type: Optional[str] = None
    type_ok: Optional[bool] = Field(default=None, description="Replace-mode edits only.")
    truth_type_ok: Optional[bool] = Field(default=None, description="The judge on the unedited photo names its own "
                                          "type (replace-mode rows: the type ceiling).")
    truth_colour_ok: Optional[bool] = Field(default=None, description="The judge on the unedited photo (ceiling).")
    preservation: float
    faithfulness: Optional[float] = None
    coverage: Optional[float] = None
    seconds: float


class LiteEditEvalResult(BaseModel):
    catalog: str
    split: Optional[str]
    reference: str
    evaluated: int = Field(description="Photos edited and judged.")
    skipped: dict[str, int] = Field(default_factory=dict, description="Photos left out, by reason.")
    modes: dict[str, int] = Field(default_factory=dict)
    colour_success: float
    colour_ceiling: Optional[float] = Field(default=None, description="Judge on the unedited photos vs their own colour.")
    type_success: Optional[float] = Field(default=None, description="Over replace-mode edits.")
    type_n: int = 0
    type_ceiling: Optional[float] = Field(default=None, description="Judge on the same photos unedited vs their own "
                                          "article type (replace-mode rows).")
    requests: str = Field(default="wearer", description="Request pool: 'wearer' (the photo's gender) or 'any'.")
    type_by_request_gender: dict[str, dict[str, float | int]] = Field(
        default_factory=dict, description="Type success and count over replace edits whose request names a garment "
        "of the photo's gender ('same') or of the other ('other').")
    preservation: float
    faithfulness_de2000: Optional[float] = None
    coverage: Optional[float] = None
    coverage_changed_colour: Optional[float] = Field(
        default=None, description="Coverage over edits whose requested colour family differs from the photo's own "
        "(a same-colour request changes few pixels by design).")

    kid_proxy: Optional[float] = Field(default=None, description="KID on the lite encoder's features (a proxy).")
    kid: str = ""
    seconds_per_edit: float
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    targets: dict[str, float] = Field(default_factory=lambda: dict(TARGETS))
    met: dict[str, bool] = Field(default_factory=dict)
    leak_check: Optional[LeakCheck] = None
    sheet: Optional[str] = None
    notes: list[str] = Field(default_factory=list)
    rows: list[LiteEditRow] = Field(default_factory=list, exclude=True)


def _families(name: Optional[str]) -> frozenset[str]:
    from ..writers.vocab import colour_families

    return colour_families(name) if name else frozenset()


def same_family(a: Optional[str], b: Optional[str]) -> bool:
    fa, fb = _families(a), _families(b)
    return bool(fa and fb and (fa & fb or "*" in fa or "*" in fb))


def judge(caption_pipe, image, category: str) -> tuple[Optional[str], Optional[str], list[str]]:
    """(colour name, article type, article types of its group word) the caption pipeline gives the garment
    (all None when the judge cannot describe the photo: counted as a failure, never skipped)."""
    try:
        analysis = caption_pipe.analyse(image)
    except FashionRAGError:
        return None, None, []
    # the colour the pipeline measures and names, before its abstention gate withholds unconfident ones (the same
    # rule for the edited photos and for the ceiling on the unedited ones)
    ev = analysis.raw_evidence or analysis.evidence
    for region in JUDGE_REGIONS[category]:
        for g in ev.garments:
            if g.region == region:
                colour = g.colours[0].name if g.colours else None
                return colour, g.article_type, list(g.article_word_types)
    return None, None, []


def _names_type(article_type: Optional[str], group: Sequence[str], wanted: Optional[str]) -> bool:
    """The judge names ``wanted``: as its article type, or among the types its broader word covers."""
    return article_type == wanted or wanted in group


def _dominant_lab(rgb: np.ndarray, mask: np.ndarray) -> Optional[np.ndarray]:
    from ..vision.colors import measure_colours

    clusters = measure_colours(rgb, mask, k=3)
    return clusters[0].lab if clusters else None


def _region_mask(detector, image, category: str) -> Optional[np.ndarray]:
    """The garment region found by the caption pipeline's detector, skin removed (coverage reference).

    Skin is the detector's own rule for this person: the skin-tone candidates within reach of the colour sampled
    at the face and hands (its landmarks). The generic skin-tone rule alone would also take brown, maroon, beige
    and pink garments for skin and drop the garment itself from the reference (coverage measured on its edges)."""
    from ..vision.colors import skin_mask
    from ..vision.garments import decode_mask, skin_samples

    rgb = np.asarray(load_image(image))
    found = detector.detect(rgb)
    for region in JUDGE_REGIONS[category]:
        for g in found:
            if g.region == region and g.mask is not None:
                samples = skin_samples(rgb, g.landmarks) if getattr(g, "landmarks", None) else None
                return decode_mask(g.mask) & ~skin_mask(rgb, samples)
    return None


def _wearer_known(p: Product) -> bool:
    """The photo says its wearer's gender (a unisex product says nothing of its wearer)."""
    return bool(p.gender) and p.gender.lower() != "unisex"


def _wears(p: Product, q: Product) -> Optional[bool]:
    """``q`` is a garment of ``p``'s wearer's gender (unisex counts); None when either gender is unknown."""
    if not _wearer_known(p) or not q.gender:
        return None
    return q.gender == p.gender or q.gender.lower() == "unisex"


def build_requests(products: Sequence[Product], seed: int = 0, pool: str = "wearer"
                   ) -> dict[str, tuple[str, str, str, str, Optional[bool]]]:
    """id -> (category, text, requested colour, requested type, request of the wearer's gender) from another
    product of the same category; with ``pool="wearer"`` one of the photo's own gender (or unisex) when there is
    one (a photo whose gender is unknown or unisex draws from all)."""
    if pool not in REQUEST_POOLS:
        raise InvalidInputError(f"unknown request pool {pool!r}; use one of {', '.join(REQUEST_POOLS)}")
    by_cat: dict[str, list[Product]] = {}
    for p in products:
        cat = SUBCATEGORY_TO_EDIT_CATEGORY.get((p.subcategory or "").lower())
        if cat and p.colour and p.article_type:
            by_cat.setdefault(cat, []).append(p)
    rng = random.Random(seed)
    out = {}
    for cat, items in by_cat.items():
        for p in items:
            others = [q for q in items if q.id != p.id and (q.colour, q.article_type) != (p.colour, p.article_type)]
            if pool == "wearer" and _wearer_known(p):
                others = [q for q in others if _wears(p, q)]
            if not others:
                continue
            q = rng.choice(others)
            out[p.id] = (cat, f"{q.colour} {q.article_type}", q.colour, q.article_type, _wears(p, q))
    return out


def run_lite_edit_eval(
    catalog: str | Path,
    index_catalog: str | Path,
    *,
    split: Optional[str] = "val",
    index: str | Path | None = None,
    limit: Optional[int] = None,
    seed: int = 0,
    requests: str = "wearer",
    allow_overlap: bool = False,
    out_dir: str | Path | None = None,
    mode: str = "auto",
    progress: bool = True,
    pipe=None,
    caption_pipe=None,
    retriever=None,
    detector=None,
) -> LiteEditEvalResult:
    """Edit and judge (see the module docstring). ``retriever`` (the reference), ``pipe`` (the editor),
    ``caption_pipe`` (the judge) and ``detector`` (the coverage reference) default to the real ones."""
    from .. import encoders, stores
    from ..pipelines.caption import CaptionPipeline
    from ..pipelines.edit_lite import LiteEditPipeline
    from ..reports.edit_sheet import edits_grid, write_edits_html
    from ..retrieval.indexing import Indexer
    from ..retrieval.retriever import Retriever
    from ..vision.garments import create_detector
    from .caption import split_catalogs

    eval_cat, ref = split_catalogs(str(catalog), str(index_catalog), split)
    pool = requests
    asked = build_requests(eval_cat.products, seed, pool)
    products = [p for p in eval_cat.products if p.id in asked]
    if limit:
        products = sorted(random.Random(seed).sample(products, min(limit, len(products))), key=lambda p: p.id)
    if not products:
        raise InvalidInputError(f"{catalog}: no top, bottom or dress photo to evaluate (split {split!r})")
    if retriever is not None:
        store, enc = retriever.store, retriever.encoder
        leak = guard_store(products, store, allow_overlap=allow_overlap, reference_name="the reference index")
        source = f"given index ({len(store)} products)"
    elif index:
        store = stores.open_store(index)
        leak = guard_store(products, store, allow_overlap=allow_overlap, reference_name=f"the index {index}")
        enc = encoders.create(store.encoder)
        source = f"index {index}"
    else:
        ref, leak = guard_catalog(products, ref, allow_overlap=allow_overlap,
                                  reference_name=f"the reference catalog {index_catalog}")
        enc = encoders.create("lite")
        store, _ = Indexer(enc, progress=progress).build(ref)
        source = f"{ref.source} ({len(store)} products)"
    retriever = retriever or Retriever(store, enc)
    pipe = pipe or LiteEditPipeline(retriever)
    detector = detector or create_detector("pose")
    if caption_pipe is None:
        from .. import writers

        caption_pipe = CaptionPipeline(detector, retriever, writers.create("template"))

    rows: list[LiteEditRow] = []
    skipped: dict[str, int] = {}
    edited, real, examples = [], [], []
    stages: dict[str, list[float]] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(products), desc="eval edit (lite)", unit="photo")
    for p in products:
        cat, text, want_colour, want_type, wearer_gender = asked[p.id]
        try:
            res: EditResult = pipe(p.image_path, text, category=cat, exclude_ids=[p.id], mode=mode)
        except FashionRAGError as exc:
            reason = type(exc).__name__ + (": garment not visible" if "not visible" in str(exc) else
                                           ": no person" if "no person" in str(exc) else "")
            skipped[reason] = skipped.get(reason, 0) + 1
            if bar is not None:
                bar.update(1)
            continue
        before = np.asarray(res.input_image)
        after = np.asarray(res.image)
        region = np.asarray(res.mask_image) > 0
        preservation = float((before[~region] == after[~region]).all(-1).mean()) if (~region).any() else 1.0
        colour, art, group = judge(caption_pipe, res.image, cat)
        truth, truth_art, truth_group = judge(caption_pipe, res.input_image, cat)
        type_ok = truth_type_ok = None
        if res.mode == "replace":
            type_ok = _names_type(art, group, want_type)
            truth_type_ok = _names_type(truth_art, truth_group, p.article_type)
        faith = None
        g0 = res.retrieved[0]
        used = pipe.garment_region(res.garment_images[0], cat, f"{g0.id}|{g0.image_path}|{cat}", article_type=g0.article_type)
        if used is not None and region.any():
            from ..vision.colors import ciede2000

            a = _dominant_lab(after, region)
            b = _dominant_lab(np.asarray(res.garment_images[0]), used.mask)
            if a is not None and b is not None:
                faith = float(ciede2000(a[None], b[None])[0])
        cov = None
        ref_region = _region_mask(detector, res.input_image, cat)
        if ref_region is not None and ref_region.sum() >= 30:
            from ..vision.colors import srgb_to_lab

            d = np.linalg.norm(srgb_to_lab(before[ref_region]) - srgb_to_lab(after[ref_region]), axis=1)
            cov = float((d > 3.0).mean())
        rows.append(LiteEditRow(id=p.id, category=cat, text=text, mode=res.mode or "", garment=res.retrieved[0].id,
                                judged_colour=colour, colour_ok=same_family(colour, want_colour), judged_type=art,
                                colour_changes=not same_family(p.colour, want_colour),
                                request_gender_matches=wearer_gender,
                                type_ok=type_ok, truth_type_ok=truth_type_ok,
                                truth_colour_ok=same_family(truth, p.colour), preservation=preservation,
                                faithfulness=faith, coverage=cov, seconds=res.seconds))
        for k, v in res.timings.items():
            stages.setdefault(k, []).append(v)
        edited.append(res.image)
        real.append(res.input_image)
        if len(examples) < 24:
            examples.append((f"{p.id} ({p.colour} {p.article_type})", res))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not rows:
        raise InvalidInputError(f"no photo could be edited (skipped: {skipped})")

    def mean(vals) -> Optional[float]:
        vals = [v for v in vals if v is not None]
        return round(float(np.mean(vals)), 4) if vals else None

    kid_val, kid_note = None, ""
    if len(rows) >= 2:
        subsets, size, kid_note = kid_settings(len(rows))
        kid_val = round(kernel_distance(enc.encode_images(edited), enc.encode_images(real), subsets=subsets,
                                        subset_size=size), 5)
        kid_note = f"realism proxy on {enc.name} features, edited vs the same photos unedited; {kid_note}"
    sheet = None
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(out_dir) / "rows.jsonl", "w") as fh:  # every judged edit, to look into any figure
            for r in rows:
                fh.write(r.model_dump_json() + "\n")
        sheet = str(write_edits_html(Path(out_dir) / "edits.html", examples, title="fashionrag eval edit (lite)"))
        edits_grid(examples).save(Path(out_dir) / "edits.png")
    replace_rows = [r for r in rows if r.type_ok is not None]
    pool_words = "of the wearer's gender (or unisex)" if pool == "wearer" else "of either gender"
    by_gender = {}
    for key, match in (("same", True), ("other", False)):
        sub = [r for r in replace_rows if r.request_gender_matches is match]
        if sub:
            by_gender[key] = {"success": round(float(np.mean([r.type_ok for r in sub])), 4), "n": len(sub)}
    res_model = LiteEditEvalResult(
        catalog=str(catalog), split=split, reference=source, evaluated=len(rows), skipped=skipped,
        modes={m: sum(r.mode == m for r in rows) for m in ("restyle", "replace")},
        colour_success=round(float(np.mean([r.colour_ok for r in rows])), 4),
        colour_ceiling=mean([float(r.truth_colour_ok) for r in rows if r.truth_colour_ok is not None]),
        type_success=mean([float(r.type_ok) for r in replace_rows]), type_n=len(replace_rows),
        type_ceiling=mean([float(r.truth_type_ok) for r in replace_rows if r.truth_type_ok is not None]),
        requests=pool, type_by_request_gender=by_gender,
        preservation=round(float(np.mean([r.preservation for r in rows])), 6),
        faithfulness_de2000=mean([r.faithfulness for r in rows]), coverage=mean([r.coverage for r in rows]),
        coverage_changed_colour=mean([r.coverage for r in rows if r.colour_changes]),
        kid_proxy=kid_val, kid=kid_note, seconds_per_edit=round(float(np.mean([r.seconds for r in rows])), 4),
        stage_seconds={k: round(float(np.mean(v)), 4) for k, v in stages.items()}, leak_check=leak, sheet=sheet,
        notes=[*leak.notes(), f"requests: '{{colour}} {{article type}}' of another {split or ''} product of the same "
               f"category, {pool_words} (seed {seed}); the photo's own product excluded from retrieval"],
        rows=rows,
    )
    met = {"colour_success": res_model.colour_success >= TARGETS["colour_success"],
           "preservation": res_model.preservation >= TARGETS["preservation"],
           "seconds_per_edit": res_model.seconds_per_edit <= TARGETS["seconds_per_edit"]}
    if res_model.coverage is not None:
        met["coverage"] = res_model.coverage >= TARGETS["coverage"]
    if res_model.type_success is not None:
        met["type_success"] = res_model.type_success >= TARGETS["type_success"]
    return res_model.model_copy(update={"met": met})
