"""`fashionrag caption`: one photo, or a batch (folder / glob) written as JSONL with resume and a contact sheet."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import writers
from ..core import config, vocabulary
from ..vision.detectors import available_detectors
from . import add_json_flag
from .store_options import add_engine_options, add_store_options, make_engine, store_location

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="caption photos with grounded captions and hashtags")
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--index", default=None, help=f"index directory (default: {config.default_index_dir()})")
    p.add_argument("--style", default="instagram", choices=list(vocabulary.STYLES))
    p.add_argument("--writer", default="template", choices=writers.available())
    p.add_argument("--base-url", default=None, help="openai writer: endpoint, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--model", default=None, help="openai writer: model name; transformers writer: model dir")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai writer: environment variable with the key")
    p.add_argument("--timeout", type=float, default=30.0, help="openai writer: seconds per request")
    p.add_argument("--detector", default="pose", choices=available_detectors(), help="garment detector backend")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--platform", default="default", help="hashtag count preset (default, instagram, tiktok, ...)")
    p.add_argument("--hashtags", type=int, default=None, help="number of hashtags (overrides --platform)")
    p.add_argument("--out", default=None, help="batch: JSONL file of results (default captions.jsonl); resumes")
    p.add_argument("--sheet", default=None, help="write an HTML contact sheet here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_store_options(p)
    add_engine_options(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_caption)


def _writer_kwargs(args: argparse.Namespace) -> dict:
    if args.writer == "openai":
        if not args.base_url or not args.model:
            from ..core.errors import InvalidInputError

            raise InvalidInputError("--writer openai needs --base-url and --model")
        return {"base_url": args.base_url, "model": args.model, "api_key": os.environ.get(args.api_key_env),
                "timeout": args.timeout}
    if args.writer == "transformers":
        if not args.model:
            from ..core.errors import InvalidInputError

            raise InvalidInputError("--writer transformers needs --model DIR (a local causal LM)")
        return {"model": args.model}
    return {}


def _skip_line(path: str, message: str) -> str:
    # most image errors already start with the file's name: say it once
    return f"skipped: {message}" if path in message or Path(path).name in message.split(":")[0] else f"skipped {path}: {message}"


def cmd_caption(args: argparse.Namespace):
    from ..core.errors import InvalidInputError
    from ..pipelines.caption_batch import CaptionBatch, PipelineRecipe, expand_inputs
    from ..reports.sheets import card, write_sheet

    images = expand_inputs(args.images)
    if not images:
        raise InvalidInputError(f"no images found in {' '.join(args.images)}")
    where = store_location(args, args.index)
    recipe = PipelineRecipe(index=str(where or config.default_index_dir()), store_token=args.store_token,
                            writer=args.writer, detector=args.detector, writer_kwargs=_writer_kwargs(args))
    pipe = recipe()  # built here too with --engine ray: a missing index or model fails before Ray starts
    opts = dict(style=args.style, seed=args.seed, platform=args.platform, n_hashtags=args.hashtags)

    if len(images) == 1 and args.out is None:
        result, analysis = pipe.run(images[0], **opts)
        if args.sheet:
            write_sheet(args.sheet, [card(images[0], result, analysis)])
        if args.json:
            return result
        print(result.caption if result.caption else "(no garment found: nothing to caption)")
        if result.hashtags:
            print(" ".join(result.hashtags))
        if result.fallback_reason:
            print(f"note: {result.fallback_reason}", file=sys.stderr)
        return None

    with make_engine(args) as engine:
        report = CaptionBatch(pipe, engine=engine, recipe=recipe)(
            images, args.out or "captions.jsonl", sheet=args.sheet, progress=not (args.quiet or args.json),
            on_skip=lambda path, msg: print(_skip_line(path, msg), file=sys.stderr), **opts,
        )
    if args.json:
        return report
    print(f"wrote {report.written} captions to {report.out} ({report.already_done} already done, "
          f"{len(report.errors)} skipped)")
    if report.sheet:
        print(f"contact sheet: {report.sheet} ({report.sheet_cards} captions)")
    return None

