"""Retrieval evaluation of any encoder on a catalog (``fashionrag eval retrieval``).

The tasks follow Marqo's fashion leaderboard and FashionCLIP's KAGL protocol:

- text->image: each distinct title is a query over the eval images; every image with exactly that title is
  relevant (Marqo's KAGL ground truth). The strict variant asks for the item itself (one query per item);
- category->product / colour->product: the articleType / baseColour name is the query; P@1 and P@10;
- text-prompt classification of articleType over the catalog vocabulary ("a photo of a {type}");
- kNN attribute accuracy: each eval image's top-k neighbours in a reference index vote for articleType,
  baseColour, gender, usage and season with the caption pipeline's vote (exp(tau * similarity) weights,
  neighbours without the attribute vote "unknown"; no abstain threshold);
- image-encoding throughput from image files (decoding included) on this machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..core.errors import CatalogError, InvalidImageError, InvalidInputError
from ..core.schemas import Product
from ..encoders.base import Encoder
from ..encoders.texts import PROMPT_TEMPLATE
from . import metrics as M
from .leaks import LeakCheck, guard_catalog

#: Reported attribute name -> Product field.
KNN_ATTRIBUTES = {
    "articleType": "article_type",
    "baseColour": "colour",
    "gender": "gender",
    "usage": "usage",
    "season": "season",
}

NOT_ZERO_SHOT = (
    "prompt classification is not zero-shot for encoders trained on this catalog's vocabulary "
    "(the lite model saw these articleType names in training)"
)


def _value(item: Product | dict, field: str) -> Optional[str]:
    v = item.field_value(field) if isinstance(item, Product) else item.get(field)
    return None if v in (None, "") else str(v)


def text_metrics(
    gallery_emb: np.ndarray,
    products: Sequence[Product],
    encode_texts: Callable[[list[str]], np.ndarray],
    prompt_labels: Sequence[str],
) -> dict[str, Any]:
    """Every image-vs-text task: t2i (loose and strict), category/colour->product, prompt classification."""
    out: dict[str, Any] = {}
    g = np.asarray(gallery_emb, dtype=np.float32)
    n = len(products)

    titles = [p.title for p in products]
    uniq = sorted({t for t in titles if t})
    if uniq:
        q = encode_texts(uniq)
        scores = q @ g.T
        ranks = M.first_relevant_rank(scores, M.relevance_by_label(uniq, titles))
        out["t2i"] = {"r1": M.recall_at_k(ranks, 1), "r10": M.recall_at_k(ranks, 10),
                      "mrr": M.mean_reciprocal_rank(ranks), "queries": len(uniq), "gallery": n}
        row = {t: i for i, t in enumerate(uniq)}
        have = [i for i, t in enumerate(titles) if t]
        strict_scores = scores[[row[titles[i]] for i in have]]
        relevant = np.zeros((len(have), n), dtype=bool)
        relevant[np.arange(len(have)), have] = True
        sranks = M.first_relevant_rank(strict_scores, relevant)
        out["t2i_strict"] = {"r1": M.recall_at_k(sranks, 1), "r10": M.recall_at_k(sranks, 10),
                             "mrr": M.mean_reciprocal_rank(sranks), "queries": len(have), "gallery": n}

    for key, field in (("category", "article_type"), ("color", "colour")):
        labels = [_value(p, field) for p in products]
        queries = sorted({x for x in labels if x})
        if not queries:
            continue
        scores = encode_texts(queries) @ g.T
        rel = M.relevance_by_label(queries, labels)
        out[f"{key}_p1"] = M.precision_at_k(scores, rel, 1)
        out[f"{key}_p10"] = M.precision_at_k(scores, rel, 10)
        out[f"{key}_queries"] = len(queries)

    labels = list(prompt_labels)
    truth_idx = [i for i, p in enumerate(products) if p.article_type]
    if labels and truth_idx:
        prompts = encode_texts([PROMPT_TEMPLATE.format(x) for x in labels])
        pred = (g[truth_idx] @ prompts.T).argmax(axis=1)
        y_true = [products[i].article_type for i in truth_idx]
        y_pred = [labels[j] for j in pred]
        out["prompt_articleType_acc"] = M.accuracy(y_true, y_pred)
        out["prompt_articleType_wf1"] = M.weighted_f1(y_true, y_pred)
        out["prompt_labels"] = len(labels)
        out["prompt_template"] = PROMPT_TEMPLATE
    return out


def vote_tau() -> float:
    """The caption pipeline's vote temperature: kNN accuracy measures the very vote the captions use."""
    from ..pipelines.caption import CaptionConfig

    return CaptionConfig.default().tau


def knn_metrics(
    products: Sequence[Product],
    neighbours: Sequence[Sequence[Product | dict]],
    scores: Sequence[Sequence[float]],
    *,
    tau: float | None = None,
) -> dict[str, float]:
    """kNN vote accuracy per attribute (only items that have the attribute count), with the caption pipeline's
    vote (:func:`fashionrag.retrieval.votes.weighted_vote`, ``tau`` defaulting to the caption config's)."""
    tau = vote_tau() if tau is None else tau
    acc: dict[str, float] = {}
    for name, field in KNN_ATTRIBUTES.items():
        idx = [i for i, p in enumerate(products) if _value(p, field)]
        if not idx:
            continue
        preds = M.knn_predict([[_value(nb, field) for nb in neighbours[i]] for i in idx], [scores[i] for i in idx],
                              tau=tau)
        acc[name] = M.accuracy([_value(products[i], field) for i in idx], preds)
    return acc


def embedding_metrics(
    gallery_emb: np.ndarray,
    products: Sequence[Product],
    ref_emb: np.ndarray,
    ref_products: Sequence[Product],
    encode_texts: Callable[[list[str]], np.ndarray],
    *,
    k: int = 20,
) -> dict[str, Any]:
    """All metrics from embeddings in memory (used by training for its per-epoch val numbers)."""
    sims = np.asarray(gallery_emb) @ np.asarray(ref_emb).T
    kk = min(k, sims.shape[1])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
    neighbours = [[ref_products[j] for j in row] for row in top]
    nscores = np.take_along_axis(sims, top, axis=1)
    labels = sorted({p.article_type for p in [*ref_products, *products] if p.article_type})
    out = text_metrics(gallery_emb, products, encode_texts, labels)
    out["knn_accuracy"] = knn_metrics(products, neighbours, nscores)
    out["knn_k"] = kk
    return out


class RetrievalEvalResult(BaseModel):
    """What ``fashionrag eval retrieval --json`` prints. Dotted keys like ``t2i.r1`` resolve in it."""

    encoder: str
    encoder_fingerprint: str = Field(description="Weights fingerprint of the encoder (the demo matches it).")
    eval_catalog: str
    eval_split: Optional[str]
    reference_catalog: str
    reference_split: Optional[list[str]]
    gallery_size: int = Field(description="Eval images (the gallery of every image-vs-text task).")
    reference_size: int = Field(description="Reference index size (the kNN neighbours come from it).")
    queries: dict[str, int] = Field(description="Query counts per task.")
    k: int
    t2i: dict[str, float | int]
    t2i_strict: dict[str, float | int]
    category_p1: float
    category_p10: float
    color_p1: float
    color_p10: float
    prompt_articleType_acc: float
    prompt_articleType_wf1: float
    knn_accuracy: dict[str, float]
    knn_tau: float = Field(description="Vote temperature of the kNN accuracy (the caption pipeline's).")
    images_per_s: float = Field(description="Image files -> embeddings per second (decoding included).")
    machine: dict[str, Any] = Field(
        default_factory=dict, description="CPUs and load average (1 min) before and after: throughput depends on it.")
    seconds: float
    leak_check: LeakCheck
    skipped: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _load_average() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def _encode_gallery(encoder, products: list[Product], batch_size: int, progress: bool):
    """Embed the eval images, timing it; a bad image is reported and skipped, not fatal."""
    from tqdm.auto import tqdm

    paths = [p.image_path for p in products]
    kept: list[int] = []
    vecs: list[np.ndarray] = []
    skipped: list[str] = []
    t0 = time.perf_counter()
    with tqdm(total=len(paths), desc="embed eval images", disable=not progress, unit="img") as bar:
        for start in range(0, len(paths), batch_size):
            chunk = list(range(start, min(start + batch_size, len(paths))))
            try:
                vecs.append(encoder.encode_images([paths[i] for i in chunk], batch_size=batch_size))
                kept.extend(chunk)
            except InvalidImageError:
                for i in chunk:
                    try:
                        vecs.append(encoder.encode_images([paths[i]], batch_size=1))
                        kept.append(i)
                    except InvalidImageError as exc:
                        skipped.append(str(exc))
            bar.update(len(chunk))
    seconds = time.perf_counter() - t0
    emb = np.concatenate(vecs) if vecs else np.zeros((0, encoder.dim), np.float32)
    return emb, kept, skipped, seconds


def reference_catalogs(catalog, index_catalog, split: Optional[str]):
    """(eval catalog, reference catalog, eval split, reference splits) — the same folder is split in two."""
    from ..retrieval.catalog import load_catalog

    same = Path(catalog).expanduser().resolve() == Path(index_catalog).expanduser().resolve()
    full = load_catalog(catalog)
    if same:
        split = split or "val"
        splits = sorted({p.split for p in full.products if p.split})
        if split not in splits:
            raise CatalogError(
                f"{catalog}: has no split {split!r} (splits: {splits or 'none'}); evaluating a catalog against "
                "itself needs a split column, or pass a different --index-catalog"
            )
        ref_splits: Optional[list[str]] = [s for s in splits if s != split]
        return full.subset(split), full.subset(ref_splits), split, ref_splits
    eval_cat = full.subset(split) if split else full
    return eval_cat, load_catalog(index_catalog), split, None


def run_retrieval_eval(
    catalog: str | Path,
    index_catalog: str | Path,
    *,
    split: Optional[str] = None,
    encoder: str | Encoder = "lite",
    k: int = 20,
    batch_size: int = 64,
    allow_overlap: bool = False,
    progress: bool = True,
) -> RetrievalEvalResult:
    """Evaluate ``encoder`` (a name or an :class:`Encoder`) on ``catalog`` (optionally one split) with
    neighbours from ``index_catalog``.

    When both are the same catalog, the reference side takes every *other* split (default eval split: ``val``).
    Whatever the paths, the leak guard (:mod:`.leaks`) then checks the reference against the evaluated rows by
    product id (an error unless ``allow_overlap``) and by image bytes (those reference rows are dropped).
    """
    from .. import encoders
    from ..retrieval.indexing import build_index

    if k < 1:
        raise InvalidInputError(f"--k must be >= 1, got {k}")
    t_start = time.perf_counter()
    load_before = _load_average()
    eval_cat, ref_cat, split, ref_splits = reference_catalogs(catalog, index_catalog, split)
    if not eval_cat.products:
        raise CatalogError(f"{catalog}: no products to evaluate{f' in split {split!r}' if split else ''}")
    if not ref_cat.products:
        raise CatalogError(f"{index_catalog}: the reference catalog is empty")
    ref_cat, leak = guard_catalog(eval_cat.products, ref_cat, allow_overlap=allow_overlap,
                                  reference_name=f"the reference catalog {index_catalog}")
    if not ref_cat.products:
        raise CatalogError(f"{index_catalog}: every reference image is also an evaluated image")

    enc = encoders.create(encoder) if isinstance(encoder, str) else encoder
    products = [p for p in eval_cat.products if p.image_path]
    g, kept, skipped, enc_seconds = _encode_gallery(enc, products, batch_size, progress)
    products = [products[i] for i in kept]
    if not products:
        raise CatalogError(f"{catalog}: none of the eval images could be read")

    store = build_index(ref_cat, enc, None, batch_size=batch_size, progress=progress)
    hits = store.search(g, k=min(k, len(store)))
    neighbours = [[h.metadata for h in row] for row in hits]
    nscores = [[h.score for h in row] for row in hits]

    labels = sorted(
        {p.article_type for p in eval_cat.products if p.article_type}
        | {p.article_type for p in ref_cat.products if p.article_type}
    )
    tm = text_metrics(g, products, lambda texts: enc.encode_texts(list(texts)), labels)
    tau = vote_tau()
    knn = knn_metrics(products, neighbours, nscores, tau=tau)
    missing = [key for key in ("t2i", "category_p1", "color_p1", "prompt_articleType_wf1") if key not in tm]
    if missing:
        raise CatalogError(f"{catalog}: the eval catalog lacks what {missing} need (titles, articleType, colour)")
    return RetrievalEvalResult(
        encoder=enc.name,
        encoder_fingerprint=str(getattr(enc, "fingerprint", None) or enc.name),
        eval_catalog=str(catalog),
        eval_split=split,
        reference_catalog=str(index_catalog),
        reference_split=ref_splits,
        gallery_size=len(products),
        reference_size=len(store),
        queries={
            "t2i": tm["t2i"]["queries"],
            "t2i_strict": tm["t2i_strict"]["queries"],
            "category": tm["category_queries"],
            "color": tm["color_queries"],
            "prompt_labels": tm["prompt_labels"],
            "knn": len(products),
        },
        k=k,
        t2i={kk: v for kk, v in tm["t2i"].items()},
        t2i_strict={kk: v for kk, v in tm["t2i_strict"].items()},
        category_p1=tm["category_p1"],
        category_p10=tm["category_p10"],
        color_p1=tm["color_p1"],
        color_p10=tm["color_p10"],
        prompt_articleType_acc=tm["prompt_articleType_acc"],
        prompt_articleType_wf1=tm["prompt_articleType_wf1"],
        knn_accuracy=knn,
        knn_tau=tau,
        images_per_s=round(len(products) / max(enc_seconds, 1e-9), 1),
        machine={"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": _load_average()},
        seconds=round(time.perf_counter() - t_start, 1),
        leak_check=leak,
        skipped=skipped,
        notes=[
            *leak.notes(),
            NOT_ZERO_SHOT,
            f"text->image: {tm['t2i']['queries']} title queries over a gallery of {len(products)} images; every "
            "image with exactly the query's title is relevant (t2i_strict: only the item itself)",
            f"prompt template: {PROMPT_TEMPLATE!r} over {tm['prompt_labels']} articleType names",
        ],
    )
