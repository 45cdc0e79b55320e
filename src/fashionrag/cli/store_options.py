"""The `--store` and `--engine` options shared by `index`, `search`, `caption` and `edit` (parsing only)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

STORE_HELP = (
    "vector store: 'faiss' (default; the index directory), 'milvus:./x.db' (Milvus Lite file), "
    "'milvus://host:19530' or 'http(s)://...' (Milvus server or cluster); add '#name' for a collection other "
    "than 'fashionrag'"
)


def add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default="faiss", metavar="SPEC", help=STORE_HELP)
    p.add_argument("--store-token", default=None, metavar="TOKEN",
                   help="Milvus token, e.g. user:password (default: $FASHIONRAG_MILVUS_TOKEN)")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    from ..engines import ENGINES

    p.add_argument("--engine", default="local", choices=ENGINES.names(),
                   help="where the batch runs: 'local' (this process) or 'ray' (Ray Data)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="ray: join this cluster (default: $RAY_ADDRESS; none: a local Ray on loopback)")
    p.add_argument("--workers", type=int, default=None, help="ray: actors in the pool (default: one per CPU)")


def store_location(args: argparse.Namespace, directory: str | Path | None) -> str | Path | None:
    """What a command builds or opens: the ``--store`` URI, or (``--store faiss``) the index directory."""
    from ..core.errors import InvalidInputError
    from ..stores.base import is_store_uri

    spec = getattr(args, "store", "faiss") or "faiss"
    if spec == "faiss":
        return directory
    if not is_store_uri(spec):
        raise InvalidInputError(f"--store {spec!r}: use faiss, milvus:./x.db, milvus://host:port or http(s)://...")
    if directory is not None:
        raise InvalidInputError("--index/--out name a FAISS directory; with a Milvus --store leave them out")
    return spec


def open_index(args: argparse.Namespace, directory: str | Path | None, *, expect_encoder: str | None = None):
    """The index to query: a FAISS directory (opened by the retriever) or an opened Milvus store."""
    from .. import stores

    where = store_location(args, directory)
    if isinstance(where, str) and where == getattr(args, "store", None):
        return stores.open_store(where, expect_encoder=expect_encoder, token=args.store_token)
    return where


def store_kwargs(args: argparse.Namespace) -> dict:
    token = getattr(args, "store_token", None)
    return {"token": token} if token else {}


def make_engine(args: argparse.Namespace):
    from .. import engines

    name = getattr(args, "engine", "local") or "local"
    return engines.create(name, address=args.ray_address or os.environ.get("RAY_ADDRESS"), workers=args.workers)
