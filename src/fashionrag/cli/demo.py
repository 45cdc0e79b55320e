"""`fashionrag demo`: the end-to-end demo (`make demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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

    report = run_demo(args.catalog, args.out, encoder=args.encoder, k=args.k, quiet=args.json)
    if args.json:
        return report
    # the program as it was started (.venv/bin/fashionrag under make), so the lines work when pasted as printed
    prog = sys.argv[0] if Path(sys.argv[0]).name == "fashionrag" else "fashionrag"
    print("\nnext, on the demo's index:")
    for cmd in report.next_commands:
        print("  " + prog + cmd.removeprefix("fashionrag"))
    return None
