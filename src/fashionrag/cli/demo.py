"""`fashionrag demo`: the end-to-end demo (`make demo`)."""

from __future__ import annotations

import argparse

from . import add_json_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="index a catalog, run example searches, write an HTML page to --out")
    p.add_argument("--catalog", default="../shared/datasets/kagl", help="catalog to index (default: the KAGL sample)")
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--encoder", default=None, help="encoder (default: lite, or tiny if lite is unavailable)")
    p.add_argument("--k", type=int, default=8)
    add_json_flag(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace):
    from ..pipelines.demo import run_demo

    return run_demo(args.catalog, args.out, encoder=args.encoder, k=args.k, quiet=args.json)
