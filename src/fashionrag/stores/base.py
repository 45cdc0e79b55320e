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
STORES: Registry[VectorStore] = Registry(
    "store", builtins=("fashionrag.stores.faiss_store", "fashionrag.stores.milvus_store")
)
#: URI schemes that name a store kind by themselves (``https://...`` is a Milvus server or cluster).
_SCHEME_KINDS = {"http": "milvus", "https": "milvus"}


def parse_store_spec(spec: str | Path) -> tuple[str, str | None]:
    """A store spec -> (kind, location): ``faiss`` -> ("faiss", None); ``milvus:./x.db`` -> ("milvus", "./x.db");
    ``milvus://host:19530`` -> ("milvus", "//host:19530"); ``https://host`` -> ("milvus", "https://host").

    A plain path (no registered ``kind:`` prefix) is a FAISS index directory: ("faiss", path).
    """
    text = str(spec)
    if text in STORES:
        return text, None
    prefix, sep, rest = text.partition(":")
    if sep and prefix in _SCHEME_KINDS:
        return _SCHEME_KINDS[prefix], text
    if sep and len(prefix) > 1 and prefix in STORES:  # len > 1: "C:\\index" is a Windows path
        return prefix, rest
    return "faiss", text


def is_store_uri(spec: object) -> bool:
    """Whether ``spec`` names a store by URI (``milvus:...``, ``http(s)://...``) rather than a directory."""
    return isinstance(spec, str) and parse_store_spec(spec)[0] != "faiss"


def create(kind: str = "faiss", **kwargs) -> VectorStore:
    """A new, empty store: ``kind`` is one of :data:`STORES` or a spec such as ``milvus:./x.db``,
    ``milvus://host:19530`` or ``https://...`` (token: ``token=`` or ``FASHIONRAG_MILVUS_TOKEN``)."""
    name, location = parse_store_spec(kind)
    if name == "faiss" and location is not None:  # not a kind, not a URI: a typo, never a silent FAISS store
        from ..core.errors import InvalidInputError

        raise InvalidInputError(
            f"unknown store {str(kind)!r}; use one of: {', '.join(STORES.names())} "
            "(or a URI: milvus:./x.db, milvus://host:port, https://...)"
        )
    if location is not None:
        kwargs["location"] = location
    elif name == "faiss":
        kwargs.pop("token", None)  # FAISS is a local directory: nothing to authenticate to
    return STORES.create(name, **kwargs)


def open_store(path: str | Path, *, expect_encoder: str | None = None, token: str | None = None) -> VectorStore:
    """Load a saved store: a FAISS index directory or a store URI (``milvus:./x.db``, ``milvus://host:port``,
    ``http(s)://...``); ``expect_encoder`` makes a mismatch an :class:`IndexMismatchError`."""
    name, location = parse_store_spec(path)
    if name == "faiss":
        from .faiss_store import FaissStore

        return FaissStore.load(path, expect_encoder=expect_encoder)
    return STORES.get(name).load(location, expect_encoder=expect_encoder, token=token)  # type: ignore[attr-defined]
