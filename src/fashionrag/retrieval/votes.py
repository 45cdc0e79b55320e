"""Attributes by retrieval: the nearest catalog products vote, weighted by exp(tau * similarity).

A vote whose winning share is below the threshold is ``None`` ("unknown"), never a guess. Neighbours without a
value (a product with no fabric) vote for "unknown" too, so a fabric is only claimed when most of the weight
agrees on one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: Product fields voted on for each garment.
VOTED_FIELDS = ("article_type", "subcategory", "category", "gender", "fabric", "usage", "season")


@dataclass(frozen=True)
class Vote:
    """Outcome of one weighted vote."""

    value: str | None
    confidence: float
    distribution: dict[str, float] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.value is not None


def weights(similarities: Sequence[float], tau: float) -> list[float]:
    """exp(tau * s), shifted by the maximum for numerical stability (shares are unchanged)."""
    if not similarities:
        return []
    top = max(similarities)
    return [math.exp(tau * (s - top)) for s in similarities]


def weighted_vote(
    values: Sequence[Any], similarities: Sequence[float], *, tau: float, threshold: float
) -> Vote:
    """Vote over neighbour ``values`` (None = no value) with weights exp(tau * similarity).

    Returns the winning value and its weight share; ``value`` is None when the winner is "no value" or its share
    is below ``threshold``.
    """
    if len(values) != len(similarities):
        raise ValueError("values and similarities must have the same length")
    if not values:
        return Vote(None, 0.0, {})
    totals: dict[str | None, float] = {}
    for v, w in zip(values, weights(similarities, tau)):
        key = None if v is None or str(v).strip() == "" else str(v)
        totals[key] = totals.get(key, 0.0) + w
    total = sum(totals.values())
    dist = {("unknown" if k is None else k): w / total for k, w in sorted(totals.items(), key=lambda kv: -kv[1])}
    winner, share = max(totals.items(), key=lambda kv: kv[1])
    share /= total
    if winner is None or share < threshold:
        return Vote(None, share, dist)
    return Vote(winner, share, dist)


def vote_fields(
    neighbours: Sequence[Mapping[str, Any]],
    similarities: Sequence[float],
    *,
    tau: float,
    thresholds: Mapping[str, float],
    fields: Sequence[str] = VOTED_FIELDS,
) -> dict[str, Vote]:
    """One vote per field over the neighbours' metadata (Product dicts)."""
    return {
        f: weighted_vote([n.get(f) for n in neighbours], similarities, tau=tau, threshold=thresholds.get(f, 0.5))
        for f in fields
    }
