"""Pure retrieval and classification metrics on numpy arrays (no models, no I/O), so each one can be
checked on hand-made cases.

Conventions: ``scores`` is a (queries x gallery) similarity matrix, higher is better; ``relevant`` a boolean
matrix of the same shape. Ties are broken by gallery order (stable sort), so results are deterministic.
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Sequence

import numpy as np

from ..retrieval.votes import weighted_vote


def ranking(scores: np.ndarray) -> np.ndarray:
    """Gallery indices of each query sorted by descending score (stable)."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.argsort(-scores, axis=1, kind="stable")


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-ranked relevant item per query; ``inf`` when a query has none."""
    order = ranking(scores)
    rel_sorted = np.take_along_axis(np.asarray(relevant, dtype=bool), order, axis=1)
    has = rel_sorted.any(axis=1)
    first = rel_sorted.argmax(axis=1).astype(np.float64) + 1.0
    first[~has] = np.inf
    return first


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries with a relevant item in the top ``k`` (from :func:`first_relevant_rank`)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(ranks <= k)) if ranks.size else 0.0


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1/rank of the first relevant item (0 for queries without one)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(1.0 / ranks)) if ranks.size else 0.0


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Mean over queries of (relevant items in the top ``k``) / ``k``."""
    order = ranking(scores)[:, :k]
    rel = np.take_along_axis(np.asarray(relevant, dtype=bool), order, axis=1)
    return float(np.mean(rel.sum(axis=1) / k)) if rel.size else 0.0


def relevance_by_label(query_labels: Sequence[Hashable], gallery_labels: Sequence[Hashable]) -> np.ndarray:
    """Boolean (queries x gallery): gallery item j is relevant to query i when their labels are equal."""
    q = np.asarray([str(x) for x in query_labels], dtype=object)[:, None]
    g = np.asarray([str(x) for x in gallery_labels], dtype=object)[None, :]
    return q == g


def knn_predict(neighbour_labels: Sequence[Sequence[Hashable]], neighbour_scores: Sequence[Sequence[float]], *,
                tau: float) -> list:
    """Each query's neighbours vote with the caption pipeline's own rule (:func:`fashionrag.retrieval.votes.
    weighted_vote`: weights exp(tau * similarity), a neighbour without the attribute votes "unknown", ties go to the
    nearer neighbour), with no abstain threshold: the prediction is the winner, ``None`` when "unknown" wins."""
    return [weighted_vote(list(labs), list(ws), tau=tau, threshold=0.0).value
            for labs, ws in zip(neighbour_labels, neighbour_scores)]


def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Fraction of exact matches (a ``None`` prediction is wrong)."""
    if not len(y_true):
        return 0.0
    return float(np.mean([t == p for t, p in zip(y_true, y_pred)]))


def weighted_f1(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """F1 per true class, averaged with weights = class support (scikit-learn's ``average='weighted'``)."""
    support = Counter(y_true)
    if not support:
        return 0.0
    tp: Counter = Counter()
    pred_count = Counter(y_pred)
    for t, p in zip(y_true, y_pred):
        if t == p:
            tp[t] += 1
    total = 0.0
    for label, n in support.items():
        prec = tp[label] / pred_count[label] if pred_count[label] else 0.0
        rec = tp[label] / n
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        total += f1 * n
    return float(total / len(y_true))
