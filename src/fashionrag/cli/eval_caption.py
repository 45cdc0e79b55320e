"""`fashionrag eval caption`: the command line of :func:`fashionrag.eval.caption.run_caption_eval`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import writers
from ..core import config, vocabulary
from . import add_json_flag
from .eval_flags import add_allow_overlap_flag


def register_eval_caption(eval_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``eval caption`` to the ``eval`` sub-parsers (called by :mod:`fashionrag.cli.eval`)."""
    p = eval_sub.add_parser(
        "caption", help="evaluate the caption pipeline on a labelled catalog",
        description="Caption labelled photos of EVAL_DIR with votes from an index of REF_DIR and score them against "
        "the catalog rows. The reference is checked against the evaluated photos by product id and by image bytes; "
        "by default the photos the packaged settings were tuned on are left out (--subset).",
    )
    p.add_argument("--catalog", required=True, help="EVAL_DIR: labelled photos to caption")
    p.add_argument("--index-catalog", required=True, help="REF_DIR: the catalog whose index supplies the votes")
    p.add_argument("--split", default=None, help="only EVAL rows of this split (REF then excludes them)")
    p.add_argument("--encoder", default=None,
                   help="encoder of the REF index built here (default: the tower the packaged caption config's "
                   f"thresholds were chosen for, its reference_encoder, else {config.default_encoder()}); with "
                   "--index the index's own encoder")
    p.add_argument("--index", default=None, help="use this prebuilt REF index instead of building one")
    p.add_argument("--style", default="product", choices=list(vocabulary.STYLES))
    p.add_argument("--subset", default="held-out", choices=["held-out", "tuning", "all"],
                   help="held-out (default): leave out the photos the settings were chosen on; tuning: only those; "
                   "all: every photo")
    p.add_argument("--tune-ids", default=None, metavar="FILE",
                   help="the tuning photos: a JSON like assets/caption/tune_ids.json (default: that packaged file) "
                   "or a text file of ids")
    p.add_argument("--limit", type=int, default=None, help="caption a seeded random sample of this many images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", default=None, help="write per-image rows (JSONL) here")
    p.add_argument("--writer", default="template", choices=writers.available(),
                   help="caption writer to score (captioner: the supervised baseline, `fashionrag train captioner`)")
    p.add_argument("--writer-model", default=None, metavar="DIR",
                   help="captioner writer: the model dir (default: the packaged one)")
    p.add_argument("--strict", action="store_true",
                   help="the tighter operating point of the packaged config (fewer facts, fewer contradictions)")
    p.add_argument("--no-curve", action="store_true", help="skip the risk-coverage curve (re-gated captions)")
    add_allow_overlap_flag(p)
    p.add_argument("--quiet", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=cmd_eval_caption)
    return p


def cmd_eval_caption(args: argparse.Namespace):
    from .. import writers as writer_registry
    from ..eval.caption import TuningSet, run_caption_eval
    from ..pipelines.caption import CaptionConfig

    report, rows = run_caption_eval(
        args.catalog, args.index_catalog, split=args.split, encoder=args.encoder, index=args.index, style=args.style,
        limit=args.limit, seed=args.seed, subset=args.subset,
        tuning=TuningSet.load(args.tune_ids) if args.tune_ids else None,
        allow_overlap=args.allow_overlap, progress=not (args.quiet or args.json),
        writer=writer_registry.create(args.writer, **({"model": args.writer_model} if args.writer_model else {})),
        caption_config=CaptionConfig.default().strict() if args.strict else None, curve=not args.no_curve,
    )
    if args.rows:
        Path(args.rows).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if args.json:
        return report
    from ..eval.risk_coverage import CurvePoint, format_curve

    for key, value in report.model_dump(exclude={"notes", "leak_check", "risk_coverage"}).items():
        print(f"{key:30s} {value}")
    if report.risk_coverage:
        for line in format_curve([CurvePoint.model_validate(pt) if isinstance(pt, dict) else pt
                                  for pt in report.risk_coverage]):
            print(line)
    for note in report.notes:
        print(f"note: {note}")
    return None
