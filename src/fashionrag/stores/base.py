"""The vector-store interface.

A store holds, per product id, one L2-normalised vector and one metadata dict (a serialised
:class:`~fashionrag.core.schemas.Product`). Search is by inner product; attribute filters are applied
*inside* the search (only matching rows are candidates), never by over-fetching and dropping.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.registry import Registry

#: Filters: field -> allowed values (any of). ``{"gender": ["Men"], "article_type": ["Shirts", "Tshirts"]}``.
Filters = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class StoreHit:
    id: str
    score: float
    metadata: dict[str, Any]


class VectorStore(abc.ABC):
    dim: int
    encoder: str

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]]) -> None:
        """Add new ids, replace the vector and metadata of existing ones."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Remove ids; returns how many existed."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[list[StoreHit]]:
        """Top-k by inner product for each query row, restricted to rows matching ``filters``."""

    @abc.abstractmethod
    def get(self, id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def ids(self) -> list[str]: ...

    @abc.abstractmethod
    def save(self, path: str | Path, **manifest_extra: Any) -> None:
        """Persist atomically: a killed save leaves the previous index loadable."""


#: Store kinds -> factory(**kwargs); ``faiss`` is the embedded default.
STORES: Registry[VectorStore] = Registry("store", builtins=("fashionrag.stores.faiss_store",))


def create(kind: str = "faiss", **kwargs) -> VectorStore:
    """A new, empty store of ``kind`` (one of :data:`STORES`)."""
    return STORES.create(kind, **kwargs)


def open_store(path: str | Path, *, expect_encoder: str | None = None) -> VectorStore:
    """Load a saved store; ``expect_encoder`` makes a mismatch an :class:`IndexMismatchError`."""
    from .faiss_store import FaissStore

    return FaissStore.load(path, expect_encoder=expect_encoder)
