"""`fashionrag eval edit`: the command line of :mod:`fashionrag.eval.edit`."""

from __future__ import annotations

import argparse

from ..core.errors import InvalidInputError
from ..eval.edit import run_edit_eval
from ..pipelines.edit_profiles import EDIT_PROFILES
from . import add_json_flag
from .eval_flags import add_allow_overlap_flag


def register_edit_eval(esub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``eval edit`` to the ``eval`` sub-parsers (called by :mod:`fashionrag.cli.eval`)."""
    e = esub.add_parser("edit", help="edit quality: Dress Code FID/KID, CLIP-T/I, masked SSIM/PSNR (hf, tiny); "
                        "or colour/type success, coverage, preservation on catalog photos (lite)",
                        description="Diffusion profiles (--dresscode): edits the Dress Code test pairs with their own "
                        "masks and keypoints; the index's ids must be the garment file stems (e.g. 048393_1) so the "
                        "ground truth can be excluded. Lite (--profile lite --catalog EVAL --index-catalog REF): edits "
                        "the on-model photos of EVAL's split after requests built from other products and judges them "
                        "with the caption pipeline.")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--dresscode", metavar="DIR", help="Dress Code root (diffusion profiles)")
    src.add_argument("--catalog", metavar="EVAL", help="catalog of on-model photos to edit (lite)")
    e.add_argument("--index-catalog", metavar="REF", default=None, help="lite: the reference catalog retrieved from")
    e.add_argument("--split", default="val", help="lite: evaluate this split of EVAL (default val)")
    e.add_argument("--mode", default="auto", choices=["auto", "restyle", "replace"], help="lite transfer mode")
    e.add_argument("--seed", type=int, default=0, help="lite: seed of the request sampling")
    e.add_argument("--requests", default="wearer", choices=["wearer", "any"],
                   help="lite: draw each photo's request from products of its wearer's gender (default, as Dress Code "
                   "and VITON-HD pair people with garments of their own gender) or of either gender")
    e.add_argument("--index", default=None, help="index of the garment gallery (needed for k > 0)")
    e.add_argument("--phase", default="test")
    e.add_argument("--categories", default="upper_body,lower_body,dresses")
    e.add_argument("--profile", default="hf", choices=EDIT_PROFILES.names(),
                   help="hf / tiny: Dress Code evaluation (--dresscode); lite: catalog evaluation (--catalog)")
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
    add_allow_overlap_flag(e)
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

    if args.profile == "lite" or args.catalog:
        return _lite(args)
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


def _lite(args: argparse.Namespace):
    from ..eval.edit_lite import run_lite_edit_eval

    if args.profile != "lite" or not args.catalog:
        raise InvalidInputError("the catalog evaluation is for --profile lite with --catalog EVAL --index-catalog REF; "
                                "diffusion profiles are evaluated on --dresscode DIR")
    if not (args.index_catalog or args.index):
        raise InvalidInputError("--profile lite needs --index-catalog REF (or a prebuilt --index DIR)")
    res = run_lite_edit_eval(args.catalog, args.index_catalog or args.catalog, split=args.split, index=args.index,
                             limit=args.limit, seed=args.seed, requests=args.requests,
                             allow_overlap=args.allow_overlap, out_dir=args.out,
                             mode=args.mode, progress=not args.json)
    if args.json:
        return res
    ok = lambda key: "" if key not in res.met else ("  (target met)" if res.met[key] else "  (target NOT met)")  # noqa: E731
    print(f"lite edit eval: {res.evaluated} photos of {res.catalog} split={res.split}; reference {res.reference}")
    print(f"skipped        {res.skipped or 'none'}; modes {res.modes}")
    ceiling = f"  (ceiling: the judge on the unedited photos {res.colour_ceiling:.3f})" if res.colour_ceiling is not None else ""
    print(f"colour success {res.colour_success:.3f}{ok('colour_success')}{ceiling}")
    if res.type_success is not None:
        tc = (f"  (ceiling: the judge names their own type on those photos unedited {res.type_ceiling:.3f})"
              if res.type_ceiling is not None else "")
        print(f"type success   {res.type_success:.3f} over {res.type_n} replace edits{ok('type_success')}{tc}")
        split_by = "; ".join(f"{v['success']:.3f} over {int(v['n'])} requests of the {k} gender"
                             for k, v in res.type_by_request_gender.items())
        if split_by:
            print(f"               {split_by} (requests: {res.requests})")
    print(f"preservation   {res.preservation:.6f}{ok('preservation')}")
    if res.coverage is not None:
        cc = f"; {res.coverage_changed_colour:.3f} where the colour family changes" if res.coverage_changed_colour is not None else ""
        print(f"coverage       {res.coverage:.3f}{ok('coverage')}{cc}")
    if res.faithfulness_de2000 is not None:
        print(f"faithfulness   CIEDE2000 {res.faithfulness_de2000:.2f} (edited region vs used garment, dominant colours)")
    if res.kid_proxy is not None:
        print(f"KID proxy      {res.kid_proxy:.5f}  ({res.kid})")
    print(f"time           {res.seconds_per_edit:.3f} s/edit{ok('seconds_per_edit')}; stages {res.stage_seconds}")
    if res.sheet:
        print(f"sheet          {res.sheet} (every edit's row: rows.jsonl beside it)")
    for n in res.notes:
        print(f"note: {n}")
    return None
