"""`fashionrag train captioner`: the supervised baseline (image tower + small transformer decoder)."""

from __future__ import annotations

import argparse
import sys

from . import add_json_flag


def register_captioner(tsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train captioner`` to the ``train`` sub-parsers. Nothing heavy is imported here (the training code
    imports torch, and every `fashionrag` command builds this parser): unset options take CaptionerTrainSettings'
    defaults when the command runs."""
    c = tsub.add_parser(
        "captioner",
        help="train the supervised caption baseline (frozen image tower + small decoder) on train titles",
        description="Train the baseline the paper compares against (a supervised captioner; BLIP stands here as the "
        "project's image tower + a small transformer decoder) on the catalog's train titles and attribute "
        "sentences. Score it with `fashionrag eval caption --writer captioner`.",
    )
    c.add_argument("--catalog", required=True, help="catalog with a split column (only train rows are used)")
    c.add_argument("--out", required=True, help="output model dir (config.json, tokenizer.json, model.safetensors)")
    c.add_argument("--encoder", default=None, help="image tower: an encoder name (frozen)")
    c.add_argument("--epochs", type=int, default=None)
    c.add_argument("--batch-size", type=int, default=None)
    c.add_argument("--lr", type=float, default=None)
    c.add_argument("--d-model", type=int, default=None)
    c.add_argument("--layers", type=int, default=None)
    c.add_argument("--max-len", type=int, default=None, help="longest text in words (+2)")
    c.add_argument("--seed", type=int, default=None)
    c.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1: shared machines)")
    c.add_argument("--limit", type=int, default=None, help="use only the first N train rows (quick trials)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(c)
    c.set_defaults(func=cmd_captioner)
    return c


def cmd_captioner(args: argparse.Namespace):
    from ..retrieval.catalog import load_catalog
    from ..train.captioner import CaptionerTrainSettings, train_captioner

    given = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, d_model=args.d_model,
                 n_layers=args.layers, max_len=args.max_len, seed=args.seed, threads=args.threads, limit=args.limit,
                 encoder=args.encoder)
    settings = CaptionerTrainSettings(**{k: v for k, v in given.items() if v is not None})
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    result = train_captioner(load_catalog(args.catalog), args.out, settings, progress=not (args.quiet or args.json),
                             log=log)
    if args.json:
        return result
    print(f"model      {result.model_dir}  ({result.file_bytes / 1e6:.1f} MB, {result.parameters:,} parameters)")
    print(f"trained    {result.epochs} epochs on {result.train_texts} texts of {result.train_images} photos "
          f"in {result.seconds:.0f}s; loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}")
    print(f"score it   fashionrag eval caption --writer captioner --writer-model {result.model_dir} ...")
    return None
