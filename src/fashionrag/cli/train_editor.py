"""`fashionrag train editor`: the command line of :mod:`fashionrag.train.editor`."""

from __future__ import annotations

import argparse

from ..core.vocabulary import EDIT_CATEGORIES
from ..pipelines.edit_profiles import DIFFUSION_PROFILES, work_size
from . import add_json_flag

# Torch and the training code are imported by the command, not here: building the CLI parser (which every
# `fashionrag` command does, a one-line search too) must not pay for importing torch. Unset training options
# take EditorTrainSettings' defaults.
_SETTINGS = {"max_steps": "max_steps", "batch_size": "batch_size", "lr": "lr", "warmup_steps": "warmup", "k": "k",
             "text_drop": "text_drop", "uncond_prob": "uncond_prob", "mixed_precision": "mixed_precision",
             "grad_accum": "grad_accum", "seed": "seed", "save_every": "save_every", "prompt_mode": "prompt_mode"}


def register_editor(tsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train editor`` to the ``train`` sub-parsers (called by :mod:`fashionrag.cli.train`)."""
    e = tsub.add_parser("editor", help="fine-tune the Fashion-RAG editing UNet and inversion adapter",
                        description="Train on a Dress Code layout (--dresscode) or on a catalog of on-model photos (--catalog).")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--dresscode", metavar="DIR", help="Dress Code root (images, keypoints, label_maps, fine_captions.json)")
    src.add_argument("--catalog", metavar="DIR", help="catalog of on-model photos (pose and masks are automatic)")
    e.add_argument("--base", default="tiny", choices=list(DIFFUSION_PROFILES), help="starting weights (hf: the released Fashion-RAG)")
    e.add_argument("--weights", default=None, metavar="DIR", help="start from a saved pipeline instead")
    e.add_argument("--out", required=True, help="output dir (final/ holds the trained pipeline)")
    e.add_argument("--phase", default="train")
    e.add_argument("--categories", default=",".join(EDIT_CATEGORIES))
    e.add_argument("--mask-style", default="segmentation", choices=["bbox", "segmentation"],
                   help="catalog photos: automatic mask style; Dress Code always uses the reference's masks "
                   "(segmentation -> its 'mask', bbox -> its 'bounding_box')")
    e.add_argument("--prompt-mode", default=None, choices=["category", "caption"],
                   help="prompt template (default: the one `fashionrag edit --prompt` uses by default)")
    e.add_argument("--max-steps", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=None)
    e.add_argument("--lr", type=float, default=None)
    e.add_argument("--warmup", type=int, default=None)
    e.add_argument("--k", type=int, default=None, help="at most this many garments per sample (random 1..k)")
    e.add_argument("--text-drop", type=float, default=None)
    e.add_argument("--uncond-prob", type=float, default=None)
    e.add_argument("--mixed-precision", default=None, choices=["no", "fp16", "bf16"])
    e.add_argument("--grad-accum", type=int, default=None)
    e.add_argument("--save-every", type=int, default=None)
    e.add_argument("--seed", type=int, default=None)
    e.add_argument("--device", default=None, help="cpu to force the CPU")
    e.add_argument("--quiet", action="store_true")
    add_json_flag(e)
    e.set_defaults(func=cmd_train_editor)
    return e


def cmd_train_editor(args: argparse.Namespace):
    import torch

    from ..pipelines.edit_data import CatalogEditDataset, DressCodeDataset
    from ..train.editor import EditorTrainSettings, train_editor

    settings = EditorTrainSettings(**{f: getattr(args, a) for f, a in _SETTINGS.items() if getattr(args, a) is not None})
    size = work_size(args.base, args.weights)
    if args.dresscode:
        dataset: torch.utils.data.Dataset = DressCodeDataset(args.dresscode, args.phase, args.categories.split(","), size=size,
                                                             mask_style=args.mask_style)
    else:
        from ..retrieval.catalog import load_catalog

        dataset = CatalogEditDataset(load_catalog(args.catalog).products, size=size, mask_style=args.mask_style)
    result = train_editor(dataset, args.out, settings, base=args.base, weights=args.weights, device=args.device,
                          progress=not (args.quiet or args.json))
    if args.json:
        return result
    print(f"trained {result.steps} steps on {result.samples} samples in {result.seconds:.0f}s; "
          f"loss {result.first_loss:.4f} -> {result.last_loss:.4f}")
    print(f"pipeline  {result.output}  (use it with: fashionrag edit ... --weights {result.output})")
    return None
