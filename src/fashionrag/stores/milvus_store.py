"""The scale-out vector store: the same :class:`VectorStore` interface on Milvus.

One client API reaches three deployments (``pymilvus.MilvusClient``):

- **Milvus Lite in a file** — ``milvus:./catalog.db`` (a local data directory whose name ends in ``.db``;
  the ``milvus-lite`` package serves it in-process, on 127.0.0.1 only);
- **a Milvus server** — ``milvus://host:19530`` (sugar for ``http://host:19530``);
- **a cluster or a managed service** — ``http(s)://...`` with a token (``--store-token`` or
  ``FASHIONRAG_MILVUS_TOKEN``).

A ``#name`` suffix picks the collection (default ``fashionrag``): ``milvus:./x.db#kagl_train``.

Why it is shaped this way:

- **Builds are blue/green.** ``create()`` writes into a fresh physical collection (``<name>__v<time>_<rand>``);
  ``save()`` writes the manifest into its properties, then points the alias ``<name>`` at it and drops the
  old one. A build killed half-way leaves the previous collection serving under ``<name>``; leftovers are
  removed by the next save. A store opened with :meth:`load` writes through (upsert/delete are live) and
  ``save()`` only refreshes its manifest.
- **The manifest lives with the collection** (property ``fashionrag.manifest``: encoder, dim, count, catalog
  fingerprint), so every client of the server sees it, and a query with another encoder is the same
  :class:`IndexMismatchError` as with FAISS.
- **Filters are executed inside the search.** The standard Product fields (gender, category, colour, ...) are
  scalar VARCHAR columns (``f_gender``): ``{gender: [v1, v2]}`` becomes ``f_gender in ["v1", "v2"]``, which
  Milvus evaluates column-wise (and can index). Every other flattened key (``attributes.*``, id, title) is in a
  ``tags`` array of ``field=value`` strings: ``array_contains_any(tags, ["year=2012"])``. Fields are AND-ed and
  compared as strings, like the FAISS store. Values are written as string *literals*, escaped (:func:`quote`),
  so no value can change the expression.
- Strong consistency: a search right after an upsert sees it, as with FAISS.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..core.errors import EndpointError, IndexCorruptError, IndexMismatchError, InvalidInputError
from ..core.schemas import FILTERABLE_FIELDS, IndexManifest, RecallTuning
from . import recall as recall_mod
from .base import STORES, Filters, StoreHit, VectorStore
from .columns import as_filter_string, flatten

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3  # tries to open a client on a Milvus server before "cannot reach Milvus"
CONNECT_BACKOFF_S = 0.5  # wait before try n+1: n * this

DEFAULT_COLLECTION = "fashionrag"
TOKEN_ENV = "FASHIONRAG_MILVUS_TOKEN"
INDEX_TYPES = ("auto", "flat", "hnsw")
MANIFEST_PROPERTY = "fashionrag.manifest"
CONFIG_PROPERTY = "fashionrag.store"
#: Milvus caps one search's limit (topk) at 16384.
MAX_TOPK = 16_384
#: Milvus caps a VARCHAR at 65,535 bytes; one product's metadata JSON is far smaller.
_META_MAX = 65_535
_TAG_MAX = 1_024
_TAG_CAPACITY = 512
_WRITE_CHUNK = 2_000
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_STAGE_SEP = "__v"

#: Milvus's string-literal escapes (the parser knows exactly these: \\ \" \' \n \r \t).
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """``text`` as a double-quoted Milvus string literal; nothing in it can end the literal early."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def tag(field: str, value: Any) -> str:
    return f"{field}={as_filter_string(value)}"


#: Product fields kept as scalar columns (``f_<field>``), filtered with ``in``; "" stands for a missing value.
SCALAR_FIELDS = tuple(FILTERABLE_FIELDS) + ("split",)
_SCALAR_MAX = 1_024


def filter_expression(filters: Mapping[str, Sequence[str]], resolve, scalar: Sequence[str] = ()) -> str | None:
    """``{field: [values]}`` -> a Milvus boolean expression; None when nothing can match.

    ``resolve(field)`` maps a filter key to the stored key (or None: the field exists nowhere, so nothing matches);
    keys in ``scalar`` are columns ``f_<key>``, the rest live in ``tags``. Values only ever appear inside
    :func:`quote`-d literals.
    """
    clauses = []
    for field, allowed in filters.items():
        key = resolve(str(field))
        if key is None:
            return None
        if isinstance(allowed, (str, bytes)) or not isinstance(allowed, (list, tuple, set, frozenset)):
            allowed = [allowed]
        if key in scalar:
            literals = sorted({quote(as_filter_string(v)) for v in allowed if as_filter_string(v) != ""})
            clause = f"f_{key} in [{', '.join(literals)}]"
        else:
            literals = sorted({quote(tag(key, v)) for v in allowed})
            clause = f"array_contains_any(tags, [{', '.join(literals)}])"
        if not literals:
            return None
        clauses.append(clause)
    return " and ".join(clauses)


def parse_location(location: str) -> tuple[str, str]:
    """``./x.db#name`` / ``//host:port#name`` / ``http(s)://...#name`` -> (pymilvus uri, collection)."""
    if not location:
        raise InvalidInputError("a Milvus store needs a location: milvus:./x.db, milvus://host:port or http(s)://...")
    uri, _, collection = location.partition("#")
    collection = collection or DEFAULT_COLLECTION
    if not _NAME_RE.match(collection) or _STAGE_SEP in collection:
        raise InvalidInputError(
            f"bad Milvus collection name {collection!r}: letters, digits and underscores, starting with a letter "
            f"(and no {_STAGE_SEP!r})"
        )
    if uri.startswith("//"):
        uri = "http:" + uri
    elif not uri.startswith(("http://", "https://")):
        if not uri.endswith(".db"):
            raise InvalidInputError(
                f"Milvus Lite file {uri!r} must end in .db (e.g. milvus:./catalog.db); for a server use "
                "milvus://host:port or http(s)://host:port"
            )
        uri = str(Path(uri).expanduser().resolve())
    return uri, collection


def _is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://"))


def is_lite_spec(spec: object) -> bool:
    """Whether a store spec is a Milvus Lite file (``milvus:./x.db``): one process at a time can open it."""
    return isinstance(spec, str) and spec.startswith("milvus:") and not spec.startswith("milvus://")


class MilvusStore(VectorStore):
    """Milvus-backed :class:`VectorStore` (inner product over L2-normalised float32 vectors).

    ``MilvusStore(location, dim=..., encoder=...)`` starts a new build (published by :meth:`save`);
    :meth:`load` opens the published collection. ``location`` is what follows ``milvus:`` in a store spec
    (see the module docstring). ``index_type``: ``flat`` (exact), ``hnsw``, or ``auto`` (flat below
    ``auto_hnsw_threshold`` rows at save time, HNSW from then on). ``target_recall``: with HNSW, :meth:`save`
    chooses ``ef_search`` by measuring recall@10 against exact search (:meth:`tune_ef`, as the FAISS store does).

    Milvus Lite 3.2 really builds HNSW (FAISS, per sealed segment of at most 100k rows, in a background thread;
    rows not yet indexed are searched exactly), so its recall depends on ``ef`` like a server's; :meth:`save`
    waits for the segment indexes before it measures.
    """

    def __init__(
        self,
        location: str,
        dim: int,
        encoder: str,
        index_type: str = "auto",
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 256,
        auto_hnsw_threshold: int = 50_000,
        token: str | None = None,
        timeout: float = 30.0,
        target_recall: float | None = None,
        **_ignored: Any,
    ) -> None:
        if index_type not in INDEX_TYPES:
            raise InvalidInputError(f"unknown index_type {index_type!r}; use one of {', '.join(INDEX_TYPES)}")
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
        if not encoder or not isinstance(encoder, str):
            raise InvalidInputError("encoder must be the registry name of the encoder, e.g. 'lite'")
        self.location = location
        self.uri, self.name = parse_location(location)
        self.dim = int(dim)
        self.encoder = encoder
        self.index_type = index_type
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.auto_hnsw_threshold = int(auto_hnsw_threshold)
        self.timeout = float(timeout)
        self.target_recall = recall_mod.check_target(target_recall)
        self.recall_tuning: RecallTuning | None = None
        self.manifest: IndexManifest | None = None
        self._token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._client = _connect(self.uri, self._token, self.timeout)
        self._known: set[str] = set()
        self._count: int | None = 0
        self._scalar: tuple[str, ...] = SCALAR_FIELDS
        self._kind = "hnsw" if index_type == "hnsw" else "flat"
        # A new build: its own physical collection, published under self.name by save().
        self._staged = True
        self._physical = f"{self.name}{_STAGE_SEP}{time.strftime('%Y%m%d%H%M%S', time.gmtime())}_{uuid.uuid4().hex[:8]}"
        self._create_collection(self._physical, self._kind)

    # -- connection and schema -------------------------------------------------------------------------------
    def _create_collection(self, name: str, kind: str) -> None:
        from pymilvus import DataType

        c = self._client
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("meta", DataType.VARCHAR, max_length=_META_MAX)
        schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=_TAG_CAPACITY,
                         max_length=_TAG_MAX)
        for f in self._scalar:
            schema.add_field(f"f_{f}", DataType.VARCHAR, max_length=_SCALAR_MAX)
        _call(self, c.create_collection, name, schema=schema, index_params=self._index_params(kind),
              consistency_level="Strong")

    def _index_params(self, kind: str):
        params = self._client.prepare_index_params()
        if kind == "hnsw":
            params.add_index("vector", index_type="HNSW", metric_type="IP",
                             params={"M": self.hnsw_m, "efConstruction": self.ef_construction})
        else:
            params.add_index("vector", index_type="FLAT", metric_type="IP")
        return params

    def close(self) -> None:
        """Close the client (and, for a Milvus Lite file, its in-process server, so another process can open it)."""
        try:
            self._client.close()
        finally:
            if _is_lite(self.uri):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.uri)

    # -- introspection ---------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self._kind

    @property
    def collection(self) -> str:
        """The physical collection this store reads and writes (the alias ``name`` points at it once saved)."""
        return self._physical

    @property
    def filter_fields(self) -> list[str]:
        return sorted(self._known | set(FILTERABLE_FIELDS))

    def __len__(self) -> int:
        if self._count is None:
            res = _call(self, self._client.query, self._physical, filter="", output_fields=["count(*)"])
            self._count = int(res[0]["count(*)"])
        return self._count

    def __repr__(self) -> str:
        return f"MilvusStore({self.uri!r}#{self.name}, dim={self.dim}, encoder={self.encoder!r}, kind={self._kind!r})"

    def ids(self) -> list[str]:
        return [r["pk"] for rows in self._scan([]) for r in rows]

    def field_values(self, field: str) -> list[str] | None:
        """Sorted distinct values of ``field`` among live rows (``[]`` for a standard field no row has); None for a
        field this store has never seen. One scan of the ``tags`` column (callers cache it per store size)."""
        key = field if field in self._known else (f"attributes.{field}" if f"attributes.{field}" in self._known else None)
        if key is None:
            return [] if field in FILTERABLE_FIELDS else None
        prefix = f"{key}="
        values: set[str] = set()
        for rows in self._scan(["tags"]):
            for row in rows:
                values.update(t[len(prefix):] for t in row["tags"] if t.startswith(prefix))
        return sorted(values)

    def _scan(self, fields: list[str], page: int = 10_000) -> Iterator[list[dict]]:
        """Every live row, in pages (pymilvus's query iterator: no offset limit, works on every deployment).

        Not ``pk > last`` with a ``limit``: a limited query returns *any* matching rows, not the smallest keys, so
        that pagination skipped rows once a store held more rows than one page (10,001 of 30,000 on Milvus Lite).
        """
        it = _call(self, self._client.query_iterator, self._physical, batch_size=page, filter="",
                   output_fields=["pk", *fields])
        try:
            while True:
                rows = _call(self, it.next)
                if not rows:
                    return
                yield rows
        finally:
            it.close()

    def get(self, id: str) -> dict[str, Any] | None:
        rows = _call(self, self._client.get, self._physical, ids=[id], output_fields=["meta"])
        return json.loads(rows[0]["meta"]) if rows else None

    def get_vector(self, id: str) -> np.ndarray | None:
        rows = _call(self, self._client.get, self._physical, ids=[id], output_fields=["vector"])
        return np.asarray(rows[0]["vector"], dtype=np.float32) if rows else None

    # -- writes ----------------------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]]) -> None:
        ids, vectors, metadata, encoded_rows = self.check_rows(ids, vectors, metadata, max_id_bytes=512)
        if not ids:
            return
        rows = []
        for i, (meta, encoded) in enumerate(zip(metadata, encoded_rows)):
            if len(encoded.encode()) > _META_MAX:
                raise InvalidInputError(f"metadata of {ids[i]!r} is over {_META_MAX} bytes as JSON")
            tags = []
            for key, value in flatten(meta):
                self._known.add(key)
                if value is not None and "=" not in key:
                    t = tag(key, value)
                    if len(t.encode()) <= _TAG_MAX:  # long free text (descriptions) is stored, not filterable
                        tags.append(t)
            row = {"pk": ids[i], "vector": vectors[i].tolist(), "meta": encoded, "tags": tags[:_TAG_CAPACITY]}
            for f in self._scalar:
                value = meta.get(f)
                text = "" if value is None or isinstance(value, (dict, list)) else as_filter_string(value)
                if len(text.encode()) > _SCALAR_MAX:
                    raise InvalidInputError(f"{f} of {ids[i]!r} is over {_SCALAR_MAX} bytes")
                row[f"f_{f}"] = text
            rows.append(row)
        for lo in range(0, len(rows), _WRITE_CHUNK):
            _call(self, self._client.upsert, self._physical, rows[lo : lo + _WRITE_CHUNK])
        self._count = None
        self.recall_tuning = None

    def delete(self, ids: Sequence[str]) -> int:
        if isinstance(ids, str):
            ids = [ids]
        ids = list(dict.fromkeys(ids))
        removed = 0
        for lo in range(0, len(ids), _WRITE_CHUNK):
            chunk = ids[lo : lo + _WRITE_CHUNK]
            present = [r["pk"] for r in _call(self, self._client.get, self._physical, ids=chunk, output_fields=["pk"])]
            if present:
                _call(self, self._client.delete, self._physical, ids=present)
                removed += len(present)
        if removed:
            self._count = None
            self.recall_tuning = None
        return removed

    # -- search ----------------------------------------------------------------------------------------------
    def resolve_field(self, field: str) -> str | None:
        """The stored key a filter key means (``foo`` falls back to ``attributes.foo``); InvalidInputError for a
        key no row has (unless it is a standard Product field: then it just matches nothing)."""
        if field in self._known:
            return field
        if f"attributes.{field}" in self._known:
            return f"attributes.{field}"
        if field in FILTERABLE_FIELDS:
            return None
        raise InvalidInputError(f"unknown filter field {field!r}; valid fields: {', '.join(self.filter_fields)}")

    def search(self, queries: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[list[StoreHit]]:
        queries = self._check_vectors(queries, what="queries")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if filters is not None and not isinstance(filters, Mapping):
            raise InvalidInputError("filters must be a mapping {field: [allowed values]}, e.g. {'gender': ['Men']}")
        nq = queries.shape[0]
        expr = ""
        if filters:
            expr = filter_expression(filters, self.resolve_field, self._scalar)
            if expr is None:
                return [[] for _ in range(nq)]
        limit = min(int(k), MAX_TOPK)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self._kind == "hnsw":
            params["params"] = {"ef": max(self.ef_search, limit)}
        res = _call(self, self._client.search, self._physical, data=queries.tolist(), limit=limit, filter=expr,
                    output_fields=["meta"], search_params=params, anns_field="vector")
        return [
            [StoreHit(str(h["pk"] if "pk" in h else h["id"]), float(h["distance"]), json.loads(h["entity"]["meta"]))
             for h in row]
            for row in res
        ]

    def _check_vectors(self, x: Any, *, what: str) -> np.ndarray:
        return self.check_vectors(x, what=what)

    # -- recall tuning ---------------------------------------------------------------------------------------
    def _search_pks(self, queries: np.ndarray, k: int, ef: int | None) -> tuple[list[list[str]], np.ndarray]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if ef is not None:
            params["params"] = {"ef": max(ef, k)}
        pks, scores = [], np.full((len(queries), k), -np.inf, dtype=np.float32)
        for lo in range(0, len(queries), 100):
            res = _call(self, self._client.search, self._physical, data=queries[lo : lo + 100].tolist(), limit=k,
                        output_fields=[], search_params=params, anns_field="vector")
            for i, row in enumerate(res):
                pks.append([str(h["pk"] if "pk" in h else h["id"]) for h in row])
                scores[lo + i, : len(row)] = [float(h["distance"]) for h in row]
        return pks, scores

    def _exact_top(self, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """Exact top-k by brute force over every stored vector (one streamed pass; memory O(queries x k))."""
        best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        best_p = np.empty((len(queries), k), dtype=object)
        for rows in self._scan(["vector"], page=2_000):
            vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32)
            pks = np.asarray([r["pk"] for r in rows], dtype=object)
            s = queries @ vecs.T
            cand_s = np.concatenate([best_s, s], axis=1)
            cand_p = np.concatenate([best_p, np.broadcast_to(pks, s.shape)], axis=1)
            top = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(cand_s, top, axis=1)
            best_p = np.take_along_axis(cand_p, top, axis=1)
        return [[p for p in row if p is not None] for row in best_p.tolist()], best_s

    def wait_for_index(self, timeout: float = 600.0) -> None:
        """Block until every row is in a built vector index (searches before that are partly exact)."""
        c = self._client
        if not _is_lite(self.uri):
            deadline = time.monotonic() + timeout
            while True:
                info = _call(self, c.describe_index, self._physical, "vector") or {}
                if int(info.get("pending_index_rows", 0) or 0) == 0 and info.get("state", "Finished") == "Finished":
                    break
                if time.monotonic() > deadline:
                    log.warning("index of %s still building after %.0f s: recall is measured on a partial index",
                                self.name, timeout)
                    break
                time.sleep(1.0)
        if _is_lite(self.uri) or self._staged:
            # Milvus Lite (a file, or behind `milvus-lite server`) builds segment indexes in a background thread
            # and reports them finished before they are; load() builds the missing ones synchronously. A staged
            # build serves no one yet, so reloading it costs nothing.
            _call(self, c.release_collection, self._physical)
            _call(self, c.load_collection, self._physical)

    def tune_ef(self, target_recall: float, queries: np.ndarray | None = None, *, k: int = recall_mod.DEFAULT_K,
                n_queries: int = recall_mod.DEFAULT_QUERIES, sweep: Sequence[int] = recall_mod.DEFAULT_SWEEP,
                seed: int = 0) -> RecallTuning:
        """Set ``ef_search`` to the smallest ef in ``sweep`` reaching ``target_recall`` (recall@k against exact
        search by brute force over the stored vectors); the same method as
        :meth:`fashionrag.stores.faiss_store.FaissStore.tune_ef`, on the server's own HNSW search."""
        target = recall_mod.check_target(target_recall)
        n = len(self)
        if n == 0:
            raise InvalidInputError("cannot measure recall on an empty store: add vectors first")
        if self._kind == "flat":
            self.recall_tuning = recall_mod.exact_tuning(target, k)
            return self.recall_tuning
        if queries is None and n == 1:
            self.recall_tuning = recall_mod.single_row_tuning(target, self.ef_search)
            return self.recall_tuning
        _call(self, self._client.flush, self._physical)
        self.wait_for_index()
        code: dict[str, int] = {}

        def rows_of(pks: list[list[str]], width: int) -> np.ndarray:
            out = np.full((len(pks), width), -1, dtype=np.int64)
            for i, row in enumerate(pks):
                out[i, : len(row)] = [code.setdefault(p, len(code)) for p in row[:width]]
            return out

        exclude = None
        if queries is None:
            rng = np.random.default_rng(seed)
            all_ids = sorted(self.ids())
            pick = [all_ids[i] for i in sorted(rng.choice(len(all_ids), size=min(n_queries, n), replace=False))]
            got = {r["pk"]: r["vector"] for lo in range(0, len(pick), 1_000) for r in _call(
                self, self._client.get, self._physical, ids=pick[lo : lo + 1_000], output_fields=["vector"])}
            pick = [p for p in pick if p in got]
            sources = np.asarray([got[p] for p in pick], dtype=np.float32)
            # noise calibration only: the nearest other row by the index at the largest ef
            pks, scores = self._search_pks(sources, 2, max(sweep))
            nn = np.array([s[1] if row and row[0] == p else s[0] for p, row, s in zip(pick, pks, scores)])
            nn = nn[np.isfinite(nn)]
            nn_cos = float(np.median(nn)) if nn.size else 0.9
            queries = recall_mod.perturbed_queries(sources, nn_cos, rng)
            exclude = rows_of([[p] for p in pick], 1)[:, 0]
            source = recall_mod.self_query_source(nn_cos, len(pick))
        else:
            queries = self._check_vectors(queries, what="queries")
            source = f"{len(queries)} given queries"
        kk = max(1, min(k, n - (exclude is not None)))

        def search_at(q: np.ndarray, width: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
            pks, scores = self._search_pks(q, width, ef)
            return rows_of(pks, width), scores

        def exact(q: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
            pks, scores = self._exact_top(q, width)
            return rows_of(pks, width), scores

        tuning = recall_mod.sweep_ef(search_at, exact, queries, target, k=kk, sweep=sweep, exclude=exclude,
                                     query_source=source)
        self.ef_search = int(tuning.ef_search)
        self.recall_tuning = tuning
        return tuning

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | Path | None = None, **manifest_extra: Any) -> None:
        """Record the manifest with the collection; a new build is then published under its name.

        ``path`` is accepted for interface symmetry with FAISS (Milvus data is already on the server); when
        given, it must be this store's own location.
        """
        if path is not None and str(path) not in (self.location, f"milvus:{self.location}"):
            if not str(path).startswith(("milvus:", "http://", "https://")):
                path = None  # a default index *directory* handed to every store: not ours to use
            elif parse_location(str(path).removeprefix("milvus:")) != (self.uri, self.name):
                raise InvalidInputError(f"this store lives at {self.location}; it cannot be saved to {path}")
        allowed = set(IndexManifest.model_fields) - {
            "format_version", "encoder", "dim", "count", "index_type", "hnsw_m", "hnsw_ef_construction",
            "hnsw_ef_search", "recall_tuning", "created_at", "files"}
        unknown = set(manifest_extra) - allowed
        if unknown:
            raise InvalidInputError(
                f"unknown manifest field(s) {sorted(unknown)}; pass catalog_fingerprint= and/or catalog_source="
            )
        c = self._client
        _call(self, c.flush, self._physical)
        self._count = None
        if self.index_type == "auto":
            want = "hnsw" if len(self) >= self.auto_hnsw_threshold else "flat"
            if want != self._kind:
                self._reindex(want)
                self.recall_tuning = None
        if self.recall_tuning is not None and self.recall_tuning.ef_search != (
                self.ef_search if self._kind == "hnsw" else None):
            self.recall_tuning = None  # ef was changed by hand since: that recall is not this ef's
        if self.target_recall is not None and self.recall_tuning is None and len(self):
            self.tune_ef(self.target_recall)
        hnsw = self._kind == "hnsw"
        if self.manifest is not None:  # an opened store keeps what its build recorded unless told otherwise
            for key in ("catalog_fingerprint", "catalog_source"):
                manifest_extra.setdefault(key, getattr(self.manifest, key))
        manifest = IndexManifest(
            encoder=self.encoder, dim=self.dim, count=len(self), index_type=self._kind,
            hnsw_m=self.hnsw_m if hnsw else None, hnsw_ef_construction=self.ef_construction if hnsw else None,
            hnsw_ef_search=self.ef_search if hnsw else None, recall_tuning=self.recall_tuning,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), **manifest_extra,
        )
        config = {"index_type": self.index_type, "kind": self._kind, "hnsw_m": self.hnsw_m,
                  "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                  "auto_hnsw_threshold": self.auto_hnsw_threshold, "target_recall": self.target_recall,
                  "known": sorted(self._known),
                  "scalar_fields": list(self._scalar)}
        _call(self, c.alter_collection_properties, self._physical, properties={
            MANIFEST_PROPERTY: manifest.model_dump_json(), CONFIG_PROPERTY: json.dumps(config)})
        if self._staged:
            self._publish()
        self.manifest = manifest

    def _reindex(self, kind: str) -> None:
        c = self._client
        _call(self, c.release_collection, self._physical)
        _call(self, c.drop_index, self._physical, "vector")
        _call(self, c.create_index, self._physical, self._index_params(kind))
        _call(self, c.load_collection, self._physical)
        self._kind = kind

    def _publish(self) -> None:
        """Point the alias ``name`` at this build (one switch), then drop older builds of the same name."""
        c = self._client
        previous = _resolve(c, self.name)
        if previous is None:
            if c.has_collection(self.name):  # a plain collection of that name (not made by us): replaced
                _call(self, c.drop_collection, self.name)
            _call(self, c.create_alias, self._physical, self.name)
        else:
            _call(self, c.alter_alias, self._physical, self.name)
        self._staged = False
        for other in c.list_collections():
            if other != self._physical and other.startswith(self.name + _STAGE_SEP):
                try:
                    c.drop_collection(other)
                except Exception as exc:  # a leftover that cannot be dropped now is dropped by the next save
                    log.warning("could not drop old collection %s: %s", other, exc)

    def discard(self) -> None:
        """Drop an unpublished build (a store from ``create()`` that will not be saved)."""
        if self._staged:
            self._client.drop_collection(self._physical)

    @classmethod
    def load(cls, location: str, expect_encoder: str | None = None, *, token: str | None = None,
             timeout: float = 30.0) -> "MilvusStore":
        """Open the published collection at ``location``; IndexMismatchError when built by another encoder."""
        uri, name = parse_location(location)
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        client = _connect(uri, token, timeout)
        physical = _resolve(client, name) or (name if client.has_collection(name) else None)
        where = f"{'milvus:' if _is_lite(uri) else ''}{location}"
        if physical is None:
            raise IndexCorruptError(
                f"no index at {where}: build one with `fashionrag index build --store milvus:{location.lstrip('/')} ...`"
                if _is_lite(uri) else f"no collection {name!r} at {uri}: build one with `fashionrag index build --store ...`"
            )
        try:  # a collection is searchable only once loaded (a restarted server starts with it released)
            client.load_collection(physical)
        except Exception as exc:
            raise EndpointError(f"Milvus at {uri} cannot load collection {physical!r}: {_reason(exc)}") from None
        props = client.describe_collection(physical).get("properties") or {}
        raw = props.get(MANIFEST_PROPERTY)
        if not raw:
            raise IndexCorruptError(
                f"collection {name!r} at {where} has no fashionrag manifest (not built by fashionrag, or its build "
                "never finished); rebuild it with `fashionrag index build --store ...`"
            )
        try:
            manifest = IndexManifest.model_validate_json(raw)
            config = json.loads(props.get(CONFIG_PROPERTY) or "{}")
        except ValueError as exc:
            raise IndexCorruptError(f"the manifest of {where} is unreadable ({exc.__class__.__name__}); rebuild it") from None
        if expect_encoder is not None and manifest.encoder != expect_encoder:
            raise IndexMismatchError(
                f"index {where} was built with encoder {manifest.encoder!r}, query encoder is {expect_encoder!r}: "
                f"query with --encoder {manifest.encoder} or rebuild with `fashionrag index build --encoder "
                f"{expect_encoder} ...`"
            )
        store = cls.__new__(cls)
        store.location, store.uri, store.name = location, uri, name
        store.dim, store.encoder = manifest.dim, manifest.encoder
        store.index_type = config.get("index_type", manifest.index_type)
        store.hnsw_m = int(config.get("hnsw_m", 32))
        store.ef_construction = int(config.get("ef_construction", 200))
        store.ef_search = int(config.get("ef_search", 256))
        store.auto_hnsw_threshold = int(config.get("auto_hnsw_threshold", 50_000))
        store.timeout = float(timeout)
        store.target_recall = recall_mod.check_target(config.get("target_recall"))
        store.recall_tuning = manifest.recall_tuning
        store.manifest = manifest
        store._token, store._client = token, client
        store._known = set(config.get("known", []))
        store._scalar = tuple(config.get("scalar_fields", ()))
        store._count = None
        store._kind = manifest.index_type
        store._staged, store._physical = False, physical
        return store

    @classmethod
    def read_manifest(cls, location: str, *, token: str | None = None) -> IndexManifest:
        store = cls.load(location, token=token)
        return store.manifest  # type: ignore[return-value]


def _resolve(client, alias: str) -> str | None:
    """The collection an alias points at, or None when ``alias`` is no alias."""
    try:
        if alias not in (client.list_aliases() or {}).get("aliases", []):
            return None
        return client.describe_alias(alias)["collection_name"]
    except Exception:
        return None


def _connect(uri: str, token: str | None, timeout: float):
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise InvalidInputError(
            "the Milvus store needs pymilvus (and milvus-lite for .db files): pip install 'fashionrag[scale]'"
        ) from None
    # pymilvus logs every failed RPC at ERROR with a traceback; our errors say it in one line.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    kwargs: dict[str, Any] = {"uri": uri, "timeout": timeout}
    if token:
        kwargs["token"] = token
    if _is_lite(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        # The in-process Lite server logs the client's probes of optional RPCs it lacks as errors: harmless.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    # A server can drop a connection for a moment (e.g. a GOAWAY "too_many_pings" from `milvus-lite server`, whose
    # keepalive policy is stricter than pymilvus's pings): a fresh client then fails once and works a second later.
    # So a server URI gets CONNECT_ATTEMPTS tries before the one-line error; a Lite file, being local, gets one.
    attempts = 1 if _is_lite(uri) else CONNECT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return MilvusClient(**kwargs)
        except Exception as exc:
            if attempt == attempts:
                raise EndpointError(f"cannot reach Milvus at {uri}: {_reason(exc)}") from None
            log.info("Milvus at %s not reachable (%s); retrying (%d/%d)", uri, _reason(exc), attempt, attempts)
            time.sleep(CONNECT_BACKOFF_S * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).splitlines()[0][:300]


def _call(store: MilvusStore, fn, *args, **kwargs):
    """One client call; a server-side failure becomes an EndpointError naming the store, in one line."""
    from pymilvus.exceptions import MilvusException

    try:
        return fn(*args, **kwargs)
    except MilvusException as exc:
        raise EndpointError(f"Milvus at {store.uri} ({store.name}) refused {fn.__name__}: {_reason(exc)}") from None


STORES.register("milvus", MilvusStore)
