"""The embedded vector store: a FAISS index plus a metadata table, on local disk.

Why it is shaped this way:

- Rows have internal integer ids 0..n-1 in insertion order (FAISS's own numbering, so no IDMap layer).
  HNSW cannot remove vectors, so a delete or a replacing upsert leaves a *tombstone*: the row stays in
  the index but is excluded from every search through an ``IDSelector``. Saving compacts (rebuilds) the
  index when tombstones are a large share.
- Filters run *inside* FAISS: per-field codes (:mod:`.columns`) give a row bitmap, passed to FAISS as an
  ``IDSelectorBitmap``, so the top-k are the best *matching* rows, not survivors of an over-fetch. For
  HNSW, a selective filter (few matching rows) is answered by an exact scan of just those rows, because a
  graph walk that may only stop at rare nodes is both slower and less accurate than scanning them.
- Metadata is kept as one compact JSON string per row (decoded only for hits), so a million rows cost
  about the size of the JSONL file in memory, and a save writes them out in one go.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import faiss
import numpy as np
from tqdm.auto import tqdm

from ..core.errors import IndexCorruptError, IndexMismatchError, InvalidInputError
from ..core.schemas import FILTERABLE_FIELDS, IndexManifest, RecallTuning
from . import recall as recall_mod
from . import versioned_dir
from .base import STORES, Filters, StoreHit, VectorStore
from .columns import FilterColumns

INDEX_TYPES = ("auto", "flat", "hnsw")
_FILES = ("index.faiss", "ids.json", "meta.jsonl", "columns.npy", "store.json")
#: IndexManifest fields the store fills itself; the rest may be passed to save(**manifest_extra).
_COMPUTED_MANIFEST_FIELDS = {
    "format_version", "encoder", "dim", "count", "index_type", "hnsw_m", "hnsw_ef_construction",
    "hnsw_ef_search", "recall_tuning", "created_at", "files",
}
_ADD_CHUNK = 65_536
# raw_decode skips json.loads' whitespace and trailing-data checks: the rows are our own compact JSON,
# and decoding hits is most of the store's per-query overhead over FAISS.
_decode = json.JSONDecoder().raw_decode


class FaissStore(VectorStore):
    """FAISS-backed :class:`VectorStore` (inner product over L2-normalised float32 vectors).

    Args:
        dim: embedding dimension.
        encoder: registry name of the encoder that produced the vectors (recorded, checked on load).
        index_type: ``"flat"`` (exact), ``"hnsw"`` (approximate, fast on large catalogs) or ``"auto"``:
            flat until the store holds ``auto_hnsw_threshold`` items, HNSW from then on.
        hnsw_m, ef_construction, ef_search: HNSW graph degree, build beam width, search beam width.
        flat_search_cutoff: with HNSW, a filter matching at most this many rows is answered exactly.
        compact_threshold: save() rebuilds the index when tombstones exceed this share of rows.
        target_recall: with HNSW, let the store choose ``ef_search``: :meth:`save` (or :meth:`tune_ef`) measures
            recall@10 on held-out queries against exact search for a sweep of ef values and keeps the smallest
            reaching this recall (:mod:`.recall`); the result is in the manifest (``recall_tuning``). It is
            re-measured on save whenever the rows changed since.
    """

    def __init__(
        self,
        dim: int,
        encoder: str,
        index_type: str = "auto",
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 256,
        auto_hnsw_threshold: int = 50_000,
        flat_search_cutoff: int = 20_000,
        compact_threshold: float = 0.2,
        target_recall: float | None = None,
    ) -> None:
        if index_type not in INDEX_TYPES:
            raise InvalidInputError(f"unknown index_type {index_type!r}; use one of {', '.join(INDEX_TYPES)}")
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
        if not encoder or not isinstance(encoder, str):
            raise InvalidInputError("encoder must be the registry name of the encoder, e.g. 'lite'")
        for name, value in (("hnsw_m", hnsw_m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if int(value) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {value}")
        self.dim = int(dim)
        self.encoder = encoder
        self.index_type = index_type
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self._ef_search = int(ef_search)
        self.auto_hnsw_threshold = int(auto_hnsw_threshold)
        self.flat_search_cutoff = int(flat_search_cutoff)
        self.compact_threshold = float(compact_threshold)
        self.target_recall = recall_mod.check_target(target_recall)
        #: How ef_search was last chosen for a target recall (None: never tuned, or stale since).
        self.recall_tuning: RecallTuning | None = None
        #: The manifest of the last save or load (None for a store never saved).
        self.manifest: IndexManifest | None = None

        self._kind = "hnsw" if index_type == "hnsw" else "flat"
        self._index = self._new_index(self._kind)
        self._row_ids: list[str | None] = []
        self._meta: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._n_alive = 0
        self._columns = FilterColumns()
        self._alive_selector: tuple[np.ndarray, Any] | None = None

    # -- introspection ---------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The index actually in use: ``'flat'`` or ``'hnsw'`` (``index_type`` may be ``'auto'``)."""
        return self._kind

    @property
    def ef_search(self) -> int:
        """HNSW search beam width (recall/latency trade-off); settable at any time."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if int(value) < 1:
            raise InvalidInputError(f"ef_search must be >= 1, got {value}")
        self._set_ef(int(value))
        if self.recall_tuning is not None and self.recall_tuning.ef_search != self._ef_search:
            self.recall_tuning = None  # the recorded recall is no longer this ef's

    def _set_ef(self, value: int) -> None:
        self._ef_search = value
        if isinstance(self._index, faiss.IndexHNSW):
            self._index.hnsw.efSearch = value

    @property
    def n_tombstones(self) -> int:
        return len(self._row_ids) - self._n_alive

    @property
    def filter_fields(self) -> list[str]:
        """Metadata keys usable in filters (``attributes.<key>`` for nested ones)."""
        return sorted(self._columns.known_fields | set(FILTERABLE_FIELDS))

    def __len__(self) -> int:
        return self._n_alive

    def __repr__(self) -> str:
        return (
            f"FaissStore(dim={self.dim}, encoder={self.encoder!r}, kind={self._kind!r}, items={self._n_alive}, "
            f"tombstones={self.n_tombstones})"
        )

    def ids(self) -> list[str]:
        return [i for i in self._row_ids if i is not None]

    def field_values(self, field: str) -> list[str] | None:
        """Sorted distinct values of ``field`` among live rows (``[]`` for a known field no row has); None for a
        field this store has never seen. Used to match filters case-insensitively and to say what exists."""
        if self._columns.resolve(field) is None:
            return [] if field in FILTERABLE_FIELDS else None
        return self._columns.values(field, self._alive, load_metas=self._decoded_metas)

    def get(self, id: str) -> dict[str, Any] | None:
        row = self._row_of.get(id)
        return None if row is None else _decode(self._meta[row])[0]

    def get_vector(self, id: str) -> np.ndarray | None:
        """The stored vector of ``id`` (e.g. for "more like this"), or None."""
        row = self._row_of.get(id)
        return None if row is None else self._index.reconstruct(row)

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Any]]) -> None:
        ids, vectors, metadata, encoded = self.check_rows(ids, vectors, metadata)
        if not ids:
            return
        self._tombstone(ids)
        start = self._index.ntotal
        self._add_to_index(
            self._index, (vectors[lo : lo + _ADD_CHUNK] for lo in range(0, len(vectors), _ADD_CHUNK)), len(vectors)
        )
        self._row_ids.extend(ids)
        self._meta.extend(encoded)
        self._row_of.update((id_, start + i) for i, id_ in enumerate(ids))
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        self._n_alive += len(ids)
        self._columns.append(metadata)
        self._alive_selector = None
        self.recall_tuning = None
        if self.index_type == "auto" and self._kind == "flat" and self._n_alive >= self.auto_hnsw_threshold:
            self.compact(kind="hnsw")

    def delete(self, ids: Sequence[str]) -> int:
        if isinstance(ids, str):
            ids = [ids]
        removed = self._tombstone(ids)
        self._alive_selector = None
        if removed:
            self.recall_tuning = None
        return removed

    def _tombstone(self, ids: Sequence[str]) -> int:
        removed = 0
        for id_ in ids:
            row = self._row_of.pop(id_, None)
            if row is not None:
                self._alive[row] = False
                self._row_ids[row] = None
                self._meta[row] = None
                removed += 1
        self._n_alive -= removed
        return removed

    def compact(self, kind: str | None = None) -> None:
        """Rebuild the index from live rows only (drops tombstones); optionally switch flat <-> hnsw."""
        if kind is None:
            kind = self._kind
            if self.index_type == "auto":
                kind = "hnsw" if self._n_alive >= self.auto_hnsw_threshold else "flat"
        keep = np.flatnonzero(self._alive)
        index = self._new_index(kind)
        chunks = (self._index.reconstruct_batch(keep[lo : lo + _ADD_CHUNK]) for lo in range(0, len(keep), _ADD_CHUNK))
        self._add_to_index(index, chunks, total=len(keep))
        self._index, self._kind = index, kind
        self._row_ids = [self._row_ids[r] for r in keep]
        self._meta = [self._meta[r] for r in keep]
        self._row_of = {id_: row for row, id_ in enumerate(self._row_ids)}  # type: ignore[misc]
        self._alive = np.ones(len(keep), dtype=bool)
        self._columns = self._columns.take(keep)
        self._alive_selector = None
        self.recall_tuning = None

    def _new_index(self, kind: str) -> faiss.Index:
        if kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    @staticmethod
    def _add_to_index(index: faiss.Index, chunks: Iterable[np.ndarray], total: int) -> None:
        """Add vectors chunk by chunk; HNSW insertion is the slow part of a large build, so it shows progress."""
        show = isinstance(index, faiss.IndexHNSW) and total >= 100_000
        with tqdm(total=total, desc="hnsw add", unit="vec", disable=None if show else True, leave=False) as bar:
            for chunk in chunks:
                index.add(chunk)
                bar.update(len(chunk))

    # -- search ----------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[list[StoreHit]]:
        queries = self._check_vectors(queries, what="queries")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        rows, scores = self.search_rows(queries, int(k), filters)
        row_ids, meta = self._row_ids, self._meta
        return [
            [
                StoreHit(row_ids[r], s, _decode(meta[r])[0])  # type: ignore[arg-type]
                for r, s in zip(q_rows, q_scores)
                if r >= 0
            ]
            for q_rows, q_scores in zip(rows.tolist(), scores.tolist())
        ]

    def search_rows(
        self, queries: np.ndarray, k: int, filters: Filters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Internal rows and scores, shape (nq, min(k, matching rows)): the part of search() that is FAISS."""
        nq = queries.shape[0]

        def empty() -> tuple[np.ndarray, np.ndarray]:
            return np.empty((nq, 0), dtype=np.int64), np.empty((nq, 0), dtype=np.float32)

        sel = None
        if filters:
            mask = self._columns.mask(filters, always_valid=FILTERABLE_FIELDS, load_metas=self._decoded_metas)
            mask &= self._alive
            count = int(np.count_nonzero(mask))
            if count == 0:
                return empty()
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        else:
            count = self._n_alive
            if count == 0:
                return empty()
            if count < self._index.ntotal:
                bitmap, sel = self._alive_bitmap_selector()
        kk = min(k, count)
        if self._kind == "flat" or (sel is not None and count <= self.flat_search_cutoff):
            distances, labels = self._exact(queries, kk, sel)
        else:
            if sel is None and kk <= self.ef_search:
                distances, labels = self._index.search(queries, kk)
            else:
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, kk))
                distances, labels = self._index.search(queries, kk, params=params)
            # A graph walk can end with fewer than kk matching rows (rare, under a filter): scan those exactly.
            short = np.flatnonzero((labels < 0).any(axis=1))
            if short.size:
                distances[short], labels[short] = self._exact(queries[short], kk, sel)
        return labels, distances

    def _exact(self, queries: np.ndarray, k: int, sel: Any) -> tuple[np.ndarray, np.ndarray]:
        flat = self._index if self._kind == "flat" else faiss.downcast_index(self._index.storage)
        params = None if sel is None else faiss.SearchParameters(sel=sel)
        return flat.search(queries, k, params=params)

    # -- recall tuning ---------------------------------------------------------------------------

    def tune_ef(
        self,
        target_recall: float,
        queries: np.ndarray | None = None,
        *,
        k: int = recall_mod.DEFAULT_K,
        n_queries: int = recall_mod.DEFAULT_QUERIES,
        sweep: Sequence[int] = recall_mod.DEFAULT_SWEEP,
        seed: int = 0,
    ) -> RecallTuning:
        """Set ``ef_search`` to the smallest ef in ``sweep`` whose recall@k reaches ``target_recall``.

        Recall is measured against exact search on ``queries`` (e.g. real held-out query embeddings) or, by
        default, on ``n_queries`` perturbed stored vectors whose source row is left out of the answers (see
        :mod:`.recall`). An exact (flat) index records recall 1 and keeps no ef. An unreachable target keeps the
        largest ef and warns (:class:`~fashionrag.stores.recall.RecallTargetWarning`). The result is kept in
        ``recall_tuning`` and written to the manifest by :meth:`save`.
        """
        target = recall_mod.check_target(target_recall)
        if self._n_alive == 0:
            raise InvalidInputError("cannot measure recall on an empty store: add vectors first")
        if self._kind == "flat":
            self.recall_tuning = recall_mod.exact_tuning(target, k)
            return self.recall_tuning
        if queries is None and self._n_alive == 1:
            self.recall_tuning = recall_mod.single_row_tuning(target, self._ef_search)
            return self.recall_tuning
        sel = self._alive_bitmap_selector()[1] if self._n_alive < self._index.ntotal else None
        exclude = None
        if queries is None:
            rng = np.random.default_rng(seed)
            live = np.flatnonzero(self._alive)
            rows = np.sort(rng.choice(live, size=min(n_queries, len(live)), replace=False))
            sources = self._index.reconstruct_batch(rows)
            scores, labels = self._exact(sources, 2, sel)
            # nearest *other* row: the first hit that is not the source itself (duplicates score ~1)
            nn = np.where(labels[:, 0] == rows, scores[:, 1], scores[:, 0])
            nn = nn[np.isfinite(nn) & (nn >= -1.001)]  # a 1-row store has no other row (FAISS pads with -3e38)
            nn_cos = float(np.median(nn)) if nn.size else 0.9
            queries = recall_mod.perturbed_queries(sources, nn_cos, rng)
            exclude, source = rows, recall_mod.self_query_source(nn_cos, len(rows))
        else:
            queries = self._check_vectors(queries, what="queries")
            source = f"{len(queries)} given queries"
        saved_ef = self._ef_search

        def search_at(q: np.ndarray, kk: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
            self._set_ef(ef)  # the store's own search path (what a user's query runs)
            labels, dist = self.search_rows(q, kk)
            return labels, dist

        def exact(q: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
            dist, labels = self._exact(q, min(kk, self._n_alive), sel)
            return labels, dist

        try:
            kk = max(1, min(k, self._n_alive - (exclude is not None)))
            tuning = recall_mod.sweep_ef(search_at, exact, queries, target, k=kk, sweep=sweep,
                                         exclude=exclude, query_source=source)
        except BaseException:
            self._set_ef(saved_ef)
            raise
        self._set_ef(int(tuning.ef_search))
        self.recall_tuning = tuning
        return tuning

    def _alive_bitmap_selector(self) -> tuple[np.ndarray, Any]:
        # Cached until the next write: unfiltered searches of a store with tombstones reuse it.
        if self._alive_selector is None:
            bitmap = np.packbits(self._alive, bitorder="little")
            self._alive_selector = (bitmap, faiss.IDSelectorBitmap(len(self._alive), faiss.swig_ptr(bitmap)))
        return self._alive_selector

    def _decoded_metas(self) -> Iterator[dict[str, Any] | None]:
        return (None if m is None else _decode(m)[0] for m in self._meta)

    def _check_vectors(self, x: Any, *, what: str) -> np.ndarray:
        return self.check_vectors(x, what=what)

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: str | Path, **manifest_extra: Any) -> None:
        unknown = set(manifest_extra) - (set(IndexManifest.model_fields) - _COMPUTED_MANIFEST_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"unknown manifest field(s) {sorted(unknown)}; pass catalog_fingerprint= and/or catalog_source="
            )
        if self._row_ids and self.n_tombstones / len(self._row_ids) > self.compact_threshold:
            self.compact()
        if self.target_recall is not None and self.recall_tuning is None and self._n_alive:
            self.tune_ef(self.target_recall)
        hnsw = self._kind == "hnsw"
        manifest = IndexManifest(
            encoder=self.encoder,
            dim=self.dim,
            count=self._n_alive,
            index_type=self._kind,
            hnsw_m=self.hnsw_m if hnsw else None,
            hnsw_ef_construction=self.ef_construction if hnsw else None,
            hnsw_ef_search=self.ef_search if hnsw else None,
            recall_tuning=self.recall_tuning,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **manifest_extra,
        )
        col_state, codes = self._columns.to_state()
        config = {
            "index_type": self.index_type,
            "kind": self._kind,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "auto_hnsw_threshold": self.auto_hnsw_threshold,
            "flat_search_cutoff": self.flat_search_cutoff,
            "compact_threshold": self.compact_threshold,
            "target_recall": self.target_recall,
            "columns": col_state,
        }
        with versioned_dir.VersionWriter(path) as writer:
            faiss.write_index(self._index, str(writer.path("index.faiss")))
            writer.add("index.faiss")
            writer.write_bytes("ids.json", json.dumps(self._row_ids, ensure_ascii=False).encode())
            with open(writer.path("meta.jsonl"), "w", encoding="utf-8", newline="\n") as fh:
                for lo in range(0, len(self._meta), 65_536):
                    fh.write("".join((m or "") + "\n" for m in self._meta[lo : lo + 65_536]))
            writer.add("meta.jsonl")
            np.save(writer.path("columns.npy"), codes, allow_pickle=False)
            writer.add("columns.npy")
            writer.write_bytes("store.json", json.dumps(config, ensure_ascii=False).encode())
            writer.commit(manifest.model_dump(mode="json"))
        self.manifest = manifest.model_copy(update={"files": writer.files})

    @staticmethod
    def read_manifest(path: str | Path) -> IndexManifest:
        """The live manifest of a saved store, without loading (or verifying) its data files."""
        return _manifest_at(versioned_dir.current_version(path))

    @classmethod
    def load(cls, path: str | Path, expect_encoder: str | None = None) -> "FaissStore":
        """Open a saved store, verifying every file against the manifest's sha256."""
        root = Path(path)
        version = versioned_dir.current_version(root)
        manifest = _manifest_at(version)
        if expect_encoder is not None and manifest.encoder != expect_encoder:
            raise IndexMismatchError(
                f"index {root} was built with encoder {manifest.encoder!r}, query encoder is {expect_encoder!r}: "
                f"query with --encoder {manifest.encoder} or rebuild with `fashionrag index build --encoder "
                f"{expect_encoder} ...`"
            )
        versioned_dir.verify_files(version, manifest.files, required=_FILES)
        try:
            return cls._from_files(version, manifest)
        except IndexCorruptError:
            raise
        except Exception as exc:  # sha256 matched, so the files are as written: a bug or a foreign format.
            raise IndexCorruptError(
                f"index {root} cannot be read ({exc.__class__.__name__}: {exc}); {versioned_dir.REBUILD_HINT}"
            ) from None

    @classmethod
    def _from_files(cls, version: Path, manifest: IndexManifest) -> "FaissStore":
        config = json.loads((version / "store.json").read_text(encoding="utf-8"))
        store = cls(
            dim=manifest.dim,
            encoder=manifest.encoder,
            index_type=config["index_type"],
            hnsw_m=config["hnsw_m"],
            ef_construction=config["ef_construction"],
            ef_search=config["ef_search"],
            auto_hnsw_threshold=config["auto_hnsw_threshold"],
            flat_search_cutoff=config["flat_search_cutoff"],
            compact_threshold=config["compact_threshold"],
            target_recall=config.get("target_recall"),
        )
        index = faiss.read_index(str(version / "index.faiss"))
        row_ids = json.loads((version / "ids.json").read_text(encoding="utf-8"))
        blob = (version / "meta.jsonl").read_bytes().decode("utf-8")
        meta: list[str | None] = blob.split("\n")[:-1] if blob else []
        codes = np.load(version / "columns.npy", allow_pickle=False)
        columns = FilterColumns.from_state(config["columns"], codes)

        def corrupt(what: str) -> IndexCorruptError:
            return IndexCorruptError(f"index {version.parent} is inconsistent ({what}); {versioned_dir.REBUILD_HINT}")

        n = index.ntotal
        if index.d != manifest.dim:
            raise corrupt(f"faiss index is {index.d}-d, manifest says {manifest.dim}")
        if not (len(row_ids) == len(meta) == len(columns) == n):
            raise corrupt(f"{n} vectors, {len(row_ids)} ids, {len(meta)} metadata rows, {len(columns)} column rows")
        alive = np.fromiter((i is not None for i in row_ids), dtype=bool, count=n)
        if int(alive.sum()) != manifest.count:
            raise corrupt(f"{int(alive.sum())} live rows, manifest says {manifest.count}")
        for row in np.flatnonzero(~alive).tolist():
            meta[row] = None
        if config["kind"] == "hnsw":
            if not isinstance(index, faiss.IndexHNSW):
                raise corrupt("store.json says hnsw but the faiss file is not an HNSW index")
            index.hnsw.efSearch = store.ef_search
        store._index, store._kind = index, config["kind"]
        store._row_ids, store._meta = row_ids, meta
        store._row_of = {id_: row for row, id_ in enumerate(row_ids) if id_ is not None}
        if len(store._row_of) != manifest.count:
            raise corrupt("duplicate ids")
        store._alive, store._n_alive = alive, manifest.count
        store._columns = columns
        store.recall_tuning = manifest.recall_tuning
        store.manifest = manifest
        return store


def _manifest_at(version: Path) -> IndexManifest:
    data = versioned_dir.read_manifest_dict(version)
    try:
        return IndexManifest.model_validate(data)
    except ValueError as exc:
        raise IndexCorruptError(
            f"{version / versioned_dir.MANIFEST} is not a valid manifest ({exc.__class__.__name__}); "
            f"{versioned_dir.REBUILD_HINT}"
        ) from None


STORES.register("faiss", FaissStore)
