"""Indexing: embed a catalog's images in batches (with a content-addressed cache) into a vector store.

Re-indexing only embeds images that are new or changed: vectors are cached by (encoder, image sha256).
Unreadable images are reported and skipped; they never abort the build.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from .. import engines, stores
from .catalog import Catalog, format_issue
from ..core import config
from ..core.errors import CatalogError
from ..core.images import file_sha256
from ..core.schemas import RecallTuning, RowIssue
from ..encoders.base import Encoder
from ..engines.embedding import decode_vector, image_embedder
from ..stores.base import VectorStore, is_store_uri
from ..stores.lock import IndexLock

log = logging.getLogger(__name__)


class IndexBuildReport(BaseModel):
    """What ``index build`` did (the ``--json`` output of the command)."""

    index_dir: str | None
    encoder: str
    dim: int
    index_type: str
    catalog_source: str
    catalog_fingerprint: str
    products: int = Field(description="Products in the catalog after validation.")
    indexed: int = Field(description="Products in the saved index.")
    embedded: int = Field(description="Images embedded in this run (cache misses).")
    cached: int = Field(description="Images whose vectors came from the cache.")
    skipped: list[RowIssue] = Field(default_factory=list, description="Catalog rows and images rejected.")
    recall_tuning: RecallTuning | None = Field(
        default=None, description="How the HNSW search ef was chosen (--target-recall), as in the manifest.")
    seconds: float


def _encoder_cache_key(encoder: Encoder) -> str:
    # Weights can change under the same name (a retrained `lite`): encoders may expose a fingerprint.
    return str(getattr(encoder, "fingerprint", None) or encoder.name)


class EmbeddingCache:
    """sqlite table (encoder key, image sha256) -> float32 vector. Crash-safe by sqlite's transactions."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else config.cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS emb (enc TEXT NOT NULL, sha TEXT NOT NULL, vec BLOB NOT NULL, "
            "PRIMARY KEY (enc, sha))"
        )
        self._db.commit()

    def get_many(self, enc: str, shas: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        shas = list(dict.fromkeys(shas))
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            q = f"SELECT sha, vec FROM emb WHERE enc=? AND sha IN ({','.join('?' * len(chunk))})"
            for sha, blob in self._db.execute(q, [enc, *chunk]):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == dim:
                    out[sha] = vec
        return out

    def put_many(self, enc: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO emb (enc, sha, vec) VALUES (?, ?, ?)",
            [(enc, sha, np.asarray(v, dtype=np.float32).tobytes()) for sha, v in items],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


@dataclass
class Indexer:
    """Builds a vector store from a catalog with one encoder."""

    encoder: Encoder
    batch_size: int = 64
    index_type: str = "auto"
    use_cache: bool = True
    cache_path: str | Path | None = None
    max_pixels: int | None = None
    progress: bool = True
    store_kwargs: dict = field(default_factory=dict)
    #: A :mod:`fashionrag.engines` engine for the embedding step (default: the local one, in this process).
    engine: object = None

    def build(self, catalog: Catalog, out_dir: str | Path | None = None) -> tuple[VectorStore, IndexBuildReport]:
        """Embed ``catalog`` and, with ``out_dir``, save the index there. The folder is locked for the whole build:
        a second build into it fails at once (:class:`IndexBusyError`, naming this process), before any work."""
        if out_dir is None or is_store_uri(out_dir):  # a Milvus URI: the server keeps its own house
            return self._build(catalog, out_dir)
        with IndexLock(out_dir):
            return self._build(catalog, out_dir)

    def _build(self, catalog: Catalog, out_dir: str | Path | None) -> tuple[VectorStore, IndexBuildReport]:
        t0 = time.perf_counter()
        enc = self.encoder
        enc_key = _encoder_cache_key(enc)
        skipped: list[RowIssue] = list(catalog.issues)
        cache = EmbeddingCache(self.cache_path) if self.use_cache else None

        # 1. hash every image (cheap) so cached vectors can be reused
        items: list[tuple[int, str]] = []  # (product index, sha)
        for i, p in enumerate(catalog.products):
            if not p.image_path:
                skipped.append(RowIssue(source=catalog.source, item_id=p.id, reason="product has no image"))
                continue
            try:
                items.append((i, file_sha256(p.image_path)))
            except OSError as exc:
                skipped.append(
                    RowIssue(source=p.image_path, item_id=p.id, reason=f"cannot read image ({exc.strerror or exc})")
                )
        shas = [s for _, s in items]
        cached = cache.get_many(enc_key, shas, enc.dim) if cache else {}
        todo = list(dict.fromkeys(s for s in shas if s not in cached))
        first_index = {}
        for i, s in items:
            first_index.setdefault(s, i)

        # 2. embed cache misses in batches; a bad image is reported and skipped
        fresh: dict[str, np.ndarray] = {}
        failed: dict[str, str] = {}  # sha -> why it could not be embedded
        engine = self.engine or engines.create("local")
        names = {sha: str(catalog.products[first_index[sha]].image_path) for sha in todo}
        # absolute paths: a worker's cwd (a Ray actor's) is not ours; errors name the image as the catalog does
        jobs = [{"key": sha, "path": os.path.abspath(name), "name": name} for sha, name in names.items()]
        worker = image_embedder(enc, max_pixels=self.max_pixels, batch_size=self.batch_size)
        pending: list[tuple[str, np.ndarray]] = []
        try:  # results are cached as they arrive: a killed build resumes from the cache
            for row in engine.run(jobs, worker, batch_size=self.batch_size, progress=self.progress,
                                  desc=f"embedding ({enc.name})"):
                if row["error"]:
                    failed[row["key"]] = row["error"]
                    continue
                pending.append((row["key"], decode_vector(row["data"], enc.dim)))
                if len(pending) >= self.batch_size:
                    fresh.update(pending)
                    if cache:
                        cache.put_many(enc_key, pending)
                    pending = []
        finally:
            fresh.update(pending)
            if cache:
                if pending:
                    cache.put_many(enc_key, pending)
                cache.close()
        vectors_by_sha = {**cached, **fresh}

        # 3. assemble the store (every product whose image embedded, duplicates of one image included)
        ids, rows, meta = [], [], []
        for i, sha in items:
            vec = vectors_by_sha.get(sha)
            p = catalog.products[i]
            if vec is None:
                reason = failed.get(sha, "image could not be embedded")
                source = p.image_path or ""
                reason = reason.removeprefix(f"{source}: ")  # image errors start with the path: say it once
                skipped.append(RowIssue(source=source, item_id=p.id, reason=reason))
                continue
            ids.append(p.id)
            rows.append(vec)
            meta.append(p.model_dump())
        if not ids:
            raise CatalogError(
                f"{catalog.source}: no image could be embedded; first problems:\n"
                + "\n".join(f"  {format_issue(s)}" for s in skipped[:5])
            )
        store = stores.create(
            out_dir if is_store_uri(out_dir) else "faiss", dim=enc.dim, encoder=enc.name, index_type=self.index_type,
            **self.store_kwargs,
        )
        store.upsert(ids, np.vstack(rows).astype(np.float32), meta)
        fingerprint = catalog.fingerprint
        if out_dir is not None:
            store.save(out_dir, catalog_fingerprint=fingerprint, catalog_source=catalog.source)
        report = IndexBuildReport(
            index_dir=str(out_dir) if out_dir is not None else None,
            encoder=enc.name,
            dim=enc.dim,
            index_type=getattr(store, "kind", self.index_type),
            catalog_source=catalog.source,
            catalog_fingerprint=fingerprint,
            products=len(catalog),
            indexed=len(ids),
            embedded=len(fresh),
            cached=len([s for s in shas if s in cached]),
            skipped=skipped,
            recall_tuning=getattr(store, "recall_tuning", None),
            seconds=round(time.perf_counter() - t0, 3),
        )
        return store, report


def build_index(
    catalog: Catalog,
    encoder: Encoder,
    out_dir: str | Path | None = None,
    *,
    index_type: str = "auto",
    batch_size: int = 64,
    use_cache: bool = True,
    cache_path: str | Path | None = None,
    progress: bool = True,
) -> VectorStore:
    """Embed ``catalog`` with ``encoder`` into a store (saved to ``out_dir`` when given) and return it."""
    store, _ = Indexer(
        encoder,
        batch_size=batch_size,
        index_type=index_type,
        use_cache=use_cache,
        cache_path=cache_path,
        progress=progress,
    ).build(catalog, out_dir)
    return store
