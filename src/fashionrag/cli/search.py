"""`fashionrag search`."""

from __future__ import annotations

import argparse
import sys

from ..core import config
from ..reports.tables import format_table
from . import add_json_flag
from .store_options import add_store_options, open_index


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search an index by text, image, or both")
    p.add_argument("text", nargs="?", default=None, help='text query, e.g. "navy check shirt"')
    p.add_argument("--index", default=None, help=f"index directory (default: {config.default_index_dir()})")
    p.add_argument("--image", default=None, help="image query (path); with a text query too, both are combined")
    p.add_argument("--text-weight", type=float, default=0.5, help="weight of the text in a text+image query (0..1)")
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE[,VALUE]", help="e.g. gender=Men; repeatable")
    p.add_argument("--k", type=int, default=10, help="number of results")
    p.add_argument("--parse-query", action=argparse.BooleanOptionalAction, default=False,
                   help="read the colour, article type and gender the text names as filters (relaxed when nothing "
                   "matches); default off here, on in the HTTP service")
    p.add_argument("--encoder", default=None, help="query encoder (default: the one named in the index manifest)")
    add_store_options(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace):
    from ..retrieval.retriever import Retriever

    searcher = Retriever.open(open_index(args, args.index, expect_encoder=args.encoder), encoder=args.encoder)
    result = searcher.search(args.text, image=args.image, text_weight=args.text_weight, k=args.k, filters=args.filter,
                             parse_query=args.parse_query)
    if args.json:
        if result.filters and not result.hits and (hint := searcher.filter_hint(result.filters)):
            print(f"hint: {hint}", file=sys.stderr)
        return result
    query = " + ".join(x for x in [f'"{args.text}"' if args.text else "", f"image {args.image}" if args.image else ""] if x)
    flt = ", ".join(f"{k}={'|'.join(v)}" for k, v in result.filters.items())
    print(f"query: {query}" + (f"   filters: {flt}" if flt else "") + f"   encoder: {result.encoder}")
    for note in result.notes:
        print(f"note: {note}")
    print(format_table(result) if result.hits else "(no results)")
    hint = searcher.filter_hint(result.filters) if result.filters and not result.hits else None
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    if result.encoder.startswith("tiny"):
        print("note: the tiny encoder is random; these rankings are not meaningful")
    return None
