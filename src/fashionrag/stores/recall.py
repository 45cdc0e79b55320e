"""Choosing HNSW's search beam (``ef``) for a requested recall, measured at build time.

``ef`` trades recall for latency, and the ef that gives 0.95 recall@10 depends on the data: uniform random
vectors need far more than real, clustered embeddings. So instead of a fixed default, a store built with
``target_recall=R`` (``fashionrag index build --target-recall 0.95``) measures it:

1. **Held-out queries.** ``n`` live rows are sampled; each query is that row's vector plus Gaussian noise,
   scaled so that the query's cosine to its source equals the median cosine between a stored vector and its
   nearest *other* stored vector: the query lands among the stored products about as far from its source as
   products are from each other, like a new product would. The source row is then *left out* of both the
   approximate and the exact answers, so a query is never scored on finding its own vector (a graph walk finds
   an inserted node, and the node's edges are its neighbours, far too easily). Callers that have real
   held-out queries (e.g. embeddings of validation photos) pass them instead.
2. **Truth** by exact search (brute force over every live row).
3. **Sweep** ``ef`` upwards (:data:`DEFAULT_SWEEP`) and keep the smallest whose recall@k reaches ``R``. When
   even the largest does not, the store keeps the largest, says so in a :class:`RecallTargetWarning` and
   records what was reached (``reached=False``).

Recall@k counts a returned row as correct when its score is at least the k-th exact score (less 1e-5), so
exact ties (one image in two products) are not counted as misses.

The result (:class:`~fashionrag.core.schemas.RecallTuning`) goes into the index manifest.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np

from ..core.errors import InvalidInputError
from ..core.schemas import RecallTuning

#: ef values tried, smallest first.
DEFAULT_SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
#: Held-out queries used to measure recall at build time.
DEFAULT_QUERIES = 500
#: recall@k is measured at this k.
DEFAULT_K = 10
_TIE_EPS = 1e-5

#: (queries, k, ef) -> (rows, scores), both (nq, k), rows -1 where fewer than k were found.
SearchAt = Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]
#: (queries, k) -> (rows, scores) of exact search.
ExactSearch = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class RecallTargetWarning(UserWarning):
    """The requested recall was not reached at the largest ef tried."""


def check_target(value: object, what: str = "target_recall") -> float | None:
    """``value`` as a float in (0, 1], None for None; InvalidInputError otherwise (one line)."""
    if value is None:
        return None
    try:
        r = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number in (0, 1], e.g. 0.95; got {value!r}") from None
    if isinstance(value, bool) or not (0.0 < r <= 1.0):
        raise InvalidInputError(f"{what} must be in (0, 1] (a recall@10, e.g. 0.95); got {value!r}")
    return r


def noise_for_cosine(cos: float, dim: int) -> float:
    """Per-dimension std of Gaussian noise that brings a unit vector's expected cosine to itself down to ``cos``
    (``|x + e|^2 ~ 1 + dim s^2`` and ``<x, x + e> ~ 1``, so ``cos = 1 / sqrt(1 + dim s^2)``)."""
    cos = float(np.clip(cos, 0.05, 0.9999))
    return float(np.sqrt((1.0 / cos**2 - 1.0) / dim))


def perturbed_queries(sources: np.ndarray, nn_cos: float, rng: np.random.Generator) -> np.ndarray:
    """``sources`` plus noise giving a cosine of about ``nn_cos`` to each source, unit-normalised."""
    sigma = noise_for_cosine(nn_cos, sources.shape[1])
    q = sources + sigma * rng.standard_normal(sources.shape).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def drop_rows(rows: np.ndarray, scores: np.ndarray, exclude: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's excluded row from its answer and keep the first k (answers were fetched with k+1)."""
    if exclude is None:
        return rows[:, :k], scores[:, :k]
    out_r = np.full((len(rows), k), -1, dtype=np.int64)
    out_s = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for i in range(len(rows)):
        keep = (rows[i] != exclude[i]) & (rows[i] >= 0)
        r, s = rows[i][keep][:k], scores[i][keep][:k]
        out_r[i, : len(r)], out_s[i, : len(s)] = r, s
    return out_r, out_s


def recall_at_k(ann_scores: np.ndarray, ann_rows: np.ndarray, true_scores: np.ndarray) -> float:
    """Mean share of the k answers scoring at least the k-th exact score (tie-tolerant recall@k)."""
    k = true_scores.shape[1]
    kth = true_scores[:, k - 1 : k] - _TIE_EPS
    good = (ann_scores >= kth) & (ann_rows >= 0)
    return float(good[:, :k].sum(axis=1).mean() / k)


def sweep_ef(search_at: SearchAt, exact: ExactSearch, queries: np.ndarray, target: float, *, k: int = DEFAULT_K,
             sweep=DEFAULT_SWEEP, exclude: np.ndarray | None = None, query_source: str = "given",
             stop_at_target: bool = True) -> RecallTuning:
    """Measure recall@k per ef (ascending) and pick the smallest reaching ``target`` (see the module docstring)."""
    t0 = time.perf_counter()
    extra = 0 if exclude is None else 1
    t_rows, t_scores = drop_rows(*exact(queries, k + extra), exclude, k)
    tried: list[tuple[int, float]] = []
    chosen = None
    for ef in sorted({int(e) for e in sweep if int(e) >= k + extra}):
        rows, scores = drop_rows(*search_at(queries, k + extra, ef), exclude, k)
        rec = recall_at_k(scores, rows, t_scores)
        tried.append((ef, round(rec, 5)))
        if rec >= target and chosen is None:
            chosen = (ef, rec)
            if stop_at_target:
                break
    if not tried:
        raise InvalidInputError(f"no ef in the sweep {list(sweep)} is >= k={k}")
    reached = chosen is not None
    if chosen is None:
        chosen = tried[-1]
        warnings.warn(RecallTargetWarning(
            f"target recall@{k} {target:g} not reached: ef={chosen[0]} (the largest tried) gives {chosen[1]:.3f}; "
            f"keeping ef={chosen[0]}. Build with a larger M / efConstruction for more recall, or use an exact "
            "(flat) index"), stacklevel=3)
    return RecallTuning(
        target_recall=target, k=k, ef_search=chosen[0], recall=round(float(chosen[1]), 5), reached=reached,
        queries=int(len(queries)), query_source=query_source, sweep=tried,
        seconds=round(time.perf_counter() - t0, 3),
    )


def exact_tuning(target: float, k: int = DEFAULT_K) -> RecallTuning:
    """What an exact (flat) index records: recall 1 by construction, nothing to tune."""
    return RecallTuning(target_recall=target, k=k, ef_search=None, recall=1.0, reached=True, queries=0,
                        query_source="exact search (flat index): recall is 1 by construction", sweep=[], seconds=0.0)


def single_row_tuning(target: float, ef: int) -> RecallTuning:
    """A one-row store: every search returns its one row, so there is nothing to measure or tune."""
    return RecallTuning(target_recall=target, k=1, ef_search=ef, recall=1.0, reached=True, queries=0,
                        query_source="a one-row store: every search returns its row", sweep=[], seconds=0.0)


def self_query_source(nn_cos: float, n: int) -> str:
    return (f"{n} stored vectors + Gaussian noise (cosine ~{nn_cos:.3f} to the source, the median nearest-neighbour "
            "cosine), source row left out of the answers")
