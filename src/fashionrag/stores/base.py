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

    #: How far from 1 a stored vector's norm may be (embeddings are L2-normalised before they are stored).
    NORM_TOLERANCE = 1e-3

    def check_vectors(self, x: Any, *, what: str) -> np.ndarray:
        """``x`` as a contiguous float32 ``(n, dim)`` array, or a clear error (a wrong dimension is an index
        mismatch: another encoder's vectors)."""
        from ..core.errors import IndexMismatchError, InvalidInputError

        try:
            x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{what} must be a float array of shape (n, {self.dim}): {exc}") from None
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise InvalidInputError(f"{what} must have shape (n, {self.dim}), got {x.shape}")
        if x.shape[1] != self.dim:
            raise IndexMismatchError(
                f"{what} have dimension {x.shape[1]} but the index holds {self.dim}-d vectors of encoder "
                f"{self.encoder!r}: use that encoder or rebuild the index with `fashionrag index build ...`"
            )
        if not np.isfinite(x).all():
            raise InvalidInputError(f"{what} contain NaN or infinite values")
        return np.ascontiguousarray(x)

    def check_rows(self, ids: Sequence[str], vectors: Any, metadata: Sequence[Mapping[str, Any]], *,
                   max_id_bytes: int | None = None) -> tuple[list[str], np.ndarray, list[Mapping[str, Any]], list[str]]:
        """What every store's ``upsert`` checks, once: one vector and one metadata dict per id, non-empty string
        ids, unit-norm vectors, JSON-serialisable metadata. A repeated id keeps its last row (as if the rows had been
        upserted one by one). Returns ``(ids, vectors, metadata, metadata_as_json)``."""
        import json

        from ..core.errors import InvalidInputError

        ids = list(ids)
        vectors = self.check_vectors(vectors, what="vectors")
        if not (len(ids) == vectors.shape[0] == len(metadata)):
            raise InvalidInputError(
                f"upsert needs one vector and one metadata dict per id: got {len(ids)} ids, "
                f"{vectors.shape[0]} vectors, {len(metadata)} metadata"
            )
        for id_ in ids:
            if not isinstance(id_, str) or not id_ or (max_id_bytes is not None and len(id_.encode()) > max_id_bytes):
                limit = "" if max_id_bytes is None else f" of at most {max_id_bytes} bytes"
                raise InvalidInputError(f"ids must be non-empty strings{limit}, got {id_!r}")
        norms = np.linalg.norm(vectors, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > self.NORM_TOLERANCE)
        if bad.size:
            raise InvalidInputError(
                f"vector of {ids[bad[0]]!r} has norm {norms[bad[0]]:.4g}, expected 1: L2-normalise embeddings "
                f"before upsert ({bad.size} such rows)"
            )
        last = {id_: i for i, id_ in enumerate(ids)}
        if len(last) < len(ids):
            keep = sorted(last.values())
            ids, vectors, metadata = [ids[i] for i in keep], vectors[keep], [metadata[i] for i in keep]
        encoded = []
        for id_, meta in zip(ids, metadata):
            if not isinstance(meta, Mapping):
                raise InvalidInputError(f"metadata of {id_!r} must be a dict (e.g. Product.model_dump(mode='json'))")
            try:
                encoded.append(json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"metadata of {id_!r} is not JSON-serialisable ({exc}); pass Product.model_dump(mode='json')"
                ) from None
        return ids, vectors, list(metadata), encoded

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
