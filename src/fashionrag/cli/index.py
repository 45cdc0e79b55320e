"""`fashionrag index build|info`."""

from __future__ import annotations

import argparse
import sys

from ..core import config
from . import add_json_flag
from .store_options import add_engine_options, add_store_options, make_engine, store_kwargs, store_location


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build or inspect a product index")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True

    b = isub.add_parser("build", help="embed a catalog into a vector index")
    b.add_argument("--catalog", required=True, help="catalog: KAGL dir (styles.csv+images/), .csv, .jsonl or image folder")
    b.add_argument("--encoder", default=None, help=f"encoder name (default: {config.default_encoder()})")
    b.add_argument("--out", default=None, help=f"index directory (default: {config.default_index_dir()})")
    b.add_argument("--index-type", choices=["auto", "flat", "hnsw"], default="auto", help="exact (flat) or HNSW; auto picks by size")
    b.add_argument("--target-recall", default=None, metavar="R",
                   help="HNSW: choose the search ef as the smallest reaching recall@10 >= R (0 < R <= 1, e.g. 0.95), "
                   "measured on held-out queries against exact search at build time and recorded in the manifest")
    b.add_argument("--split", default=None, help="only rows of this split (e.g. train)")
    b.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN", help="CSV column mapping, repeatable")
    b.add_argument("--image-template", default=None, help="image file name built from the row, e.g. '{id}.jpg'")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    b.add_argument("--no-cache", action="store_true", help="ignore the embedding cache")
    b.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this many pixels")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    add_store_options(b)
    add_engine_options(b)
    add_json_flag(b)
    b.set_defaults(func=cmd_build)

    i = isub.add_parser("info", help="show an index's manifest")
    i.add_argument("--index", default=None, help=f"index directory (default: {config.default_index_dir()})")
    add_store_options(i)
    add_json_flag(i)
    i.set_defaults(func=cmd_info)


def _parse_map(items: list[str]) -> dict[str, str] | None:
    from ..core.errors import InvalidInputError

    if not items:
        return None
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k or not v:
            raise InvalidInputError(f"bad --map {item!r}: use FIELD=COLUMN, e.g. --map id=sku")
        out[k.strip()] = v.strip()
    return out


def _check_target_recall(args: argparse.Namespace) -> float | None:
    from ..core.errors import InvalidInputError
    from ..stores.recall import check_target

    target = check_target(args.target_recall, "--target-recall")
    if target is not None and args.index_type == "flat":
        raise InvalidInputError(
            "--target-recall tunes HNSW's search ef; a flat index is exact (recall 1): use --index-type hnsw (or "
            "auto) or leave --target-recall out"
        )
    return target


def cmd_build(args: argparse.Namespace):
    from ..stores.base import is_store_uri
    from ..stores.lock import IndexLock

    args.target_recall = _check_target_recall(args)
    out = store_location(args, args.out) or str(config.default_index_dir())
    if is_store_uri(out):  # a Milvus server keeps its own house
        return _build(args, out)
    with IndexLock(out):  # a second build into DIR fails here, before loading the catalog or the encoder
        return _build(args, out)


def _build(args: argparse.Namespace, out: str):
    import warnings

    from .. import encoders
    from ..retrieval.catalog import format_issue, load_catalog
    from ..retrieval.indexing import Indexer
    from ..stores.recall import RecallTargetWarning

    catalog = load_catalog(args.catalog, mapping=_parse_map(args.map), split=args.split, image_template=args.image_template)
    encoder = encoders.create(args.encoder or config.default_encoder(), device=args.device)
    indexer = Indexer(
        encoder,
        batch_size=args.batch_size,
        index_type=args.index_type,
        use_cache=not args.no_cache,
        max_pixels=args.max_pixels,
        progress=not (args.quiet or args.json),
        store_kwargs={**store_kwargs(args), **({"target_recall": args.target_recall} if args.target_recall else {})},
        engine=make_engine(args),
    )
    with indexer.engine, warnings.catch_warnings():
        warnings.simplefilter("ignore", RecallTargetWarning)  # said below, in one line
        _, report = indexer.build(catalog, out)
    tuning = report.recall_tuning
    if tuning is not None and not tuning.reached:
        print(f"fashionrag: warning: target recall@{tuning.k} {tuning.target_recall:g} not reached: the largest ef "
              f"tried ({tuning.ef_search}) gives {tuning.recall:.3f}; build with --index-type flat for exact search",
              file=sys.stderr)
    if args.json:
        return report
    print(f"index      {report.index_dir}")
    print(f"encoder    {report.encoder} ({report.dim}-d, {report.index_type})")
    print(f"catalog    {report.catalog_source}: {report.products} products")
    print(f"indexed    {report.indexed}  (embedded now: {report.embedded}, from cache: {report.cached})")
    if tuning is not None:
        how = "exact index" if tuning.ef_search is None else f"ef={tuning.ef_search}, {tuning.queries} held-out queries"
        print(f"recall@{tuning.k:<3d} {tuning.recall:.3f}  (target {tuning.target_recall:g}; {how})")
    print(f"skipped    {len(report.skipped)}")
    for issue in report.skipped[:10]:
        print(f"  - {format_issue(issue)}", file=sys.stderr)
    if len(report.skipped) > 10:
        print(f"  ... and {len(report.skipped) - 10} more (see --json)", file=sys.stderr)
    print(f"time       {report.seconds:.1f} s")
    if report.encoder.startswith("tiny"):
        print("note       the tiny encoder is random: its rankings are not meaningful (tests and smoke checks only)")
    return None


def cmd_info(args: argparse.Namespace):
    from .. import stores

    store = stores.open_store(store_location(args, args.index) or config.default_index_dir(), token=args.store_token)
    manifest = store.manifest
    if args.json:
        return manifest
    for key, value in manifest.model_dump().items():
        if key != "files":
            print(f"{key:22s} {value}")
    return None
