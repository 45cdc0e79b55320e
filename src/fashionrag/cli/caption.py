"""`fashionrag caption`: one photo, or a batch (folder / glob) written as JSONL with resume and a contact sheet."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path

from ..core import config
from . import add_json_flag

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="caption photos with grounded captions and hashtags")
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--index", default=None, help=f"index directory (default: {config.default_index_dir()})")
    p.add_argument("--style", default="instagram", choices=["instagram", "product", "minimal"])
    p.add_argument("--writer", default="template", choices=["template", "openai", "transformers"])
    p.add_argument("--base-url", default=None, help="openai writer: endpoint, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--model", default=None, help="openai writer: model name; transformers writer: model dir")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai writer: environment variable with the key")
    p.add_argument("--timeout", type=float, default=30.0, help="openai writer: seconds per request")
    p.add_argument("--detector", default="pose", help="garment detector backend (pose, yolo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--platform", default="default", help="hashtag count preset (default, instagram, tiktok, ...)")
    p.add_argument("--hashtags", type=int, default=None, help="number of hashtags (overrides --platform)")
    p.add_argument("--out", default=None, help="batch: JSONL file of results (default captions.jsonl); resumes")
    p.add_argument("--sheet", default=None, help="write an HTML contact sheet here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(func=cmd_caption)


def expand_inputs(items: list[str]) -> list[str]:
    """Files, folders (recursive) and glob patterns -> sorted unique paths (missing paths kept, reported later)."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in item for ch in "*?[") and not p.exists():
            out.extend(sorted(glob.glob(item, recursive=True)))
        else:
            out.append(item)
    return list(dict.fromkeys(out))


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


def _done_images(path: Path) -> set[str]:
    done: set[str] = set()
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that image is redone
        if isinstance(rec, dict) and "error" not in rec and rec.get("image"):
            done.add(rec["image"])
    return done


def cmd_caption(args: argparse.Namespace):
    from tqdm.auto import tqdm

    from ..core.errors import FashionRAGError
    from ..pipelines.caption import CaptionPipeline
    from ..reports.sheets import card, write_sheet

    images = expand_inputs(args.images)
    if not images:
        from ..core.errors import InvalidInputError

        raise InvalidInputError(f"no images found in {' '.join(args.images)}")
    pipe = CaptionPipeline.from_index(args.index, writer=args.writer, detector=args.detector,
                                      writer_kwargs=_writer_kwargs(args))
    opts = dict(style=args.style, seed=args.seed, platform=args.platform, n_hashtags=args.hashtags)
    batch = len(images) > 1 or args.out is not None

    if not batch:
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

    out = Path(args.out or "captions.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_images(out)
    todo = [i for i in images if str(Path(i).resolve()) not in done]
    errors: list[dict] = []
    cards: list[str] = []
    written = 0
    with out.open("a", encoding="utf-8") as fh:
        for path in tqdm(todo, desc="captioning", unit="img", disable=args.quiet or args.json):
            key = str(Path(path).resolve())
            try:
                result, analysis = pipe.run(path, name=key, **opts)
            except FashionRAGError as exc:
                rec = {"image": key, "error": str(exc)}
                errors.append(rec)
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(f"skipped {path}: {exc}", file=sys.stderr)
                continue
            fh.write(result.model_dump_json() + "\n")
            fh.flush()
            written += 1
            if args.sheet:
                cards.append(card(path, result, analysis))
    if args.sheet:
        write_sheet(args.sheet, cards)
    summary = {"out": str(out), "images": len(images), "already_done": len(images) - len(todo), "written": written,
               "errors": errors, "sheet": args.sheet}
    if args.json:
        return summary
    print(f"wrote {written} captions to {out} ({summary['already_done']} already done, {len(errors)} skipped)")
    if args.sheet:
        print(f"contact sheet: {args.sheet}")
    return None


# --------------------------------------------------------------------------------------------- eval caption
def register_eval_caption(eval_sub: argparse._SubParsersAction) -> None:
    """`fashionrag eval caption`, registered by the `eval` command module."""
    p = eval_sub.add_parser("caption", help="evaluate the caption pipeline on a labelled catalog")
    p.add_argument("--catalog", required=True, help="EVAL_DIR: labelled photos to caption")
    p.add_argument("--index-catalog", required=True, help="REF_DIR: the catalog whose index supplies the votes")
    p.add_argument("--split", default=None, help="only EVAL rows of this split (REF then excludes them)")
    p.add_argument("--encoder", default=None, help="encoder of the REF index (default: lite)")
    p.add_argument("--index", default=None, help="use this prebuilt REF index instead of building one")
    p.add_argument("--style", default="product", choices=["instagram", "product", "minimal"])
    p.add_argument("--limit", type=int, default=None, help="caption a seeded random sample of this many images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", default=None, help="write per-image rows (JSONL) here")
    p.add_argument("--quiet", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=cmd_eval_caption)


def cmd_eval_caption(args: argparse.Namespace):
    from .. import encoders, stores, writers
    from ..eval.caption import evaluate_captions, sample, split_catalogs
    from ..retrieval.indexing import Indexer
    from ..pipelines.caption import CaptionPipeline
    from ..retrieval.retriever import Retriever
    from ..vision.garments import create_detector

    eval_cat, ref = split_catalogs(args.catalog, args.index_catalog, args.split)
    if args.index:
        store = stores.open_store(args.index)
        enc = encoders.create(store.encoder)
    else:
        enc = encoders.create(args.encoder or config.default_encoder())
        store, _ = Indexer(enc, progress=not (args.quiet or args.json)).build(ref)
    pipe = CaptionPipeline(create_detector("pose"), Retriever(store, enc), writers.create("template"))
    products = sample(eval_cat.products, args.limit, args.seed)
    report, rows = evaluate_captions(
        pipe, products, style=args.style, seed=args.seed, progress=not (args.quiet or args.json),
        gallery=f"{len(products)} images of {eval_cat.source}; index of {len(store)} products of {ref.source}",
    )
    if args.rows:
        Path(args.rows).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if args.json:
        return report
    for key, value in report.model_dump().items():
        if key != "notes":
            print(f"{key:30s} {value}")
    return None
