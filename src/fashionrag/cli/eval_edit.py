"""`fashionrag eval edit`: the command line of :mod:`fashionrag.eval.edit`."""

from __future__ import annotations

import argparse

from ..core.errors import InvalidInputError
from ..eval.edit import run_edit_eval
from ..pipelines.edit_profiles import DIFFUSION_PROFILES
from . import add_json_flag


def register_edit_eval(esub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``eval edit`` to the ``eval`` sub-parsers (called by :mod:`fashionrag.cli.eval`)."""
    e = esub.add_parser("edit", help="FID/KID, CLIP-T, CLIP-I, masked SSIM/PSNR of edits; retrieval ablation k=0..3",
                        description="Edits the Dress Code test pairs with their own masks and keypoints. The index's ids "
                        "must be the garment file stems (e.g. 048393_1) so the ground truth can be excluded.")
    e.add_argument("--dresscode", required=True, metavar="DIR", help="Dress Code root")
    e.add_argument("--index", default=None, help="index of the garment gallery (needed for k > 0)")
    e.add_argument("--phase", default="test")
    e.add_argument("--categories", default="upper_body,lower_body,dresses")
    e.add_argument("--profile", default="hf", choices=list(DIFFUSION_PROFILES))
    e.add_argument("--weights", default=None, metavar="DIR")
    e.add_argument("--k-values", default="0,1,2,3")
    e.add_argument("--limit", type=int, default=None, help="first N samples only")
    e.add_argument("--steps", type=int, default=50)
    e.add_argument("--include-gt", action="store_true", help="keep the ground-truth garment in the gallery (as the reference)")
    e.add_argument("--no-paste-back", dest="paste_back", action="store_false",
                   help="score the raw decoded images (the paper's protocol) instead of pasting into the photo")
    e.add_argument("--protocol", default="ours", choices=["ours", "paper"],
                   help="paper: the reference's setting (ground truth in the gallery, no paste-back, Dress Code masks)")
    e.add_argument("--mask-type", default="mask", choices=["mask", "bounding_box"],
                   help="Dress Code inpainting masks as the reference builds them (default: mask)")
    e.add_argument("--allow-overlap", action="store_true",
                   help="evaluate even when evaluated photos are in the reference index (those rows are then excluded)")
    e.add_argument("--encoder", default=None, help="metric encoder (default: the index's)")
    e.add_argument("--out", default=None, help="directory for the generated images")
    e.add_argument("--device", default=None)
    add_json_flag(e)
    e.set_defaults(func=cmd_eval_edit)
    return e


def cmd_eval_edit(args: argparse.Namespace):
    from .. import encoders
    from ..pipelines.edit import FashionRAGPipeline
    from ..pipelines.edit_data import DressCodeDataset
    from ..pipelines.edit_profiles import work_size
    from ..retrieval.retriever import Retriever

    ks = [int(x) for x in args.k_values.split(",") if x.strip()]
    if any(not 0 <= k <= 4 for k in ks):
        raise InvalidInputError(f"--k-values must be between 0 and 4, got {args.k_values}")
    retriever = Retriever.open(args.index) if args.index else None
    if retriever is None and any(ks):
        raise InvalidInputError("k > 0 needs --index DIR (a gallery of garments); or use --k-values 0")
    pipe = FashionRAGPipeline.from_profile(args.profile, weights=args.weights, device=args.device, retriever=retriever)
    ds = DressCodeDataset(args.dresscode, args.phase, args.categories.split(","), size=work_size(args.profile, args.weights),
                          mask_style=args.mask_type)
    enc = encoders.create(args.encoder) if args.encoder else None
    result = run_edit_eval(pipe, ds, k_values=ks, limit=args.limit, steps=args.steps, exclude_gt=not args.include_gt,
                           metric_encoder=enc, out_dir=args.out, dataset_name=str(args.dresscode), progress=not args.json,
                           paste_back=args.paste_back, protocol=args.protocol, allow_overlap=args.allow_overlap)
    if args.json:
        return result
    print(f"{result.samples} samples, {result.steps} steps, protocol {result.protocol}, paste-back "
          f"{'on' if result.paste_back else 'off'}, metric encoder {result.encoder}; {result.note}")
    print(f"{'k':>2} {'FD':>9} {'KD':>9} {'CLIP-T':>7} {'CLIP-I':>7} {'PSNR-m':>7} {'SSIM-m':>7}")
    for r in result.rows:
        fd = r.fid if r.fid is not None else r.fd_encoder
        kd = r.kid if r.kid is not None else r.kd_encoder
        ci = f"{r.clip_i:7.3f}" if r.clip_i is not None else "      -"
        print(f"{r.k:>2} {fd:9.4f} {kd:9.4f} {r.clip_t:7.3f} {ci} {r.psnr_mask:7.2f} {r.ssim_mask:7.3f}")
    return None
