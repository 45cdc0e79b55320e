"""`fashionrag train encoder` (and, later, other models this project trains).

Each trainable model registers its own sub-sub-command through a ``register_<model>(train_subparsers)``
function, so another module can add e.g. ``train editor`` without touching this one's code.
"""

from __future__ import annotations

import argparse
import sys

from . import add_json_flag

#: Functions that add one ``train <model>`` sub-command each; extend this list to add more models.
TRAIN_COMMANDS: list = []


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model: the lite encoder, the Fashion-RAG editor, the BLIP baseline")
    tsub = p.add_subparsers(dest="train_command", metavar="MODEL")
    tsub.required = True
    for add in TRAIN_COMMANDS:
        add(tsub)


def register_encoder(tsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train encoder`` to the ``train`` sub-parsers."""
    from ..train.encoder import TrainSettings

    d = TrainSettings()
    e = tsub.add_parser(
        "encoder",
        help="train the lite image-text encoder (image tower vs frozen MiniLM text tower)",
        description="Train the lite encoder on the catalog's train split; val rows (if any) only report metrics.",
    )
    e.add_argument("--catalog", required=True, help="catalog with a split column (train/val), e.g. a KAGL dir")
    e.add_argument("--out", required=True, help="output dir: checkpoint.pt, train_log.json and model/ (the checkpoint)")
    e.add_argument("--epochs", type=int, default=d.epochs)
    e.add_argument("--image-size", type=int, default=d.image_size, help="square input size in pixels")
    e.add_argument("--seed", type=int, default=d.seed)
    e.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (same settings)")
    e.add_argument("--batch-size", type=int, default=d.batch_size)
    e.add_argument("--lr", type=float, default=d.lr)
    e.add_argument("--width", type=float, default=d.width_mult, help="MobileNetV3-small width multiplier")
    e.add_argument("--dim", type=int, default=d.dim, help="embedding dimension")
    e.add_argument("--eval-every", type=int, default=d.eval_every, help="val metrics every N epochs (0: never)")
    e.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: all cores; 1 is faster on a busy shared machine)")
    e.add_argument("--limit", type=int, default=None, help="use only the first N train rows (quick trials)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(e)
    e.set_defaults(func=cmd_encoder)
    return e


TRAIN_COMMANDS.append(register_encoder)


def cmd_encoder(args: argparse.Namespace):
    from ..retrieval.catalog import load_catalog
    from ..train.encoder import TrainSettings, train_encoder

    settings = TrainSettings(
        epochs=args.epochs,
        image_size=args.image_size,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        width_mult=args.width,
        dim=args.dim,
        eval_every=args.eval_every,
        threads=args.threads,
        limit=args.limit,
    )
    catalog = load_catalog(args.catalog)
    # With --json, stdout carries only the JSON document: progress and epoch lines go to stderr.
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    result = train_encoder(catalog, args.out, settings, resume=args.resume, progress=not args.quiet, log=log)
    if args.json:
        return result
    print(f"model      {result.model_dir}  (load it with --encoder lite:{result.model_dir})")
    print(f"trained    {result.epochs} epochs on {result.train_images} images in {result.seconds:.0f}s")
    if result.skipped_images:
        print(f"skipped    {len(result.skipped_images)} unreadable images", file=sys.stderr)
    return None


def register_blip(tsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``train blip``: fine-tune the BLIP captioning baseline on a catalog's titles (the paper's baseline)."""
    b = tsub.add_parser("blip", help="fine-tune a BLIP captioner on catalog titles (the baseline of Pixels to Posts)")
    b.add_argument("--model", required=True, help="a local BlipForConditionalGeneration directory to start from")
    b.add_argument("--catalog", required=True)
    b.add_argument("--split", default="train")
    b.add_argument("--steps", type=int, default=1000)
    b.add_argument("--lr", type=float, default=5e-5)
    b.add_argument("--batch-size", type=int, default=8)
    b.add_argument("--limit", type=int, default=None, help="use at most this many catalog rows")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--device", default="cpu")
    b.add_argument("--out", required=True, help="where to save the fine-tuned model")
    add_json_flag(b)
    b.set_defaults(func=cmd_blip)
    return b


def cmd_blip(args: argparse.Namespace):
    from ..baselines.blip import finetune_on_catalog

    report = finetune_on_catalog(
        args.model, args.catalog, args.out, split=args.split, steps=args.steps, lr=args.lr,
        batch_size=args.batch_size, limit=args.limit, seed=args.seed, device=args.device, progress=not args.json,
    )
    if args.json:
        return report
    print(report.model_dump_json(indent=2))
    return None


from .train_editor import register_editor  # noqa: E402
from .train_captioner import register_captioner  # noqa: E402

TRAIN_COMMANDS.extend([register_editor, register_blip, register_captioner])
