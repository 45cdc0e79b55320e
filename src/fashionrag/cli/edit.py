"""`fashionrag edit`: repaint a person's garment after a sentence, from retrieved catalog garments."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core import config
from ..core.errors import InvalidInputError
from ..core.vocabulary import EDIT_CATEGORIES
from . import add_json_flag
from .store_options import add_store_options, open_index


def register(sub: argparse._SubParsersAction) -> None:
    from ..pipelines.edit_profiles import profile_choices

    p = sub.add_parser("edit", help="edit the garment in a person photo after a sentence, from retrieved catalog garments")
    p.add_argument("image", help="photo of one person (JPEG/PNG)")
    p.add_argument("--text", required=True, help='what the new garment looks like, e.g. "navy blue check shirt"')
    p.add_argument("--category", default=None, choices=list(EDIT_CATEGORIES),
                   help="garment to replace (default: from the text's article type, else upper_body)")
    p.add_argument("--k", type=int, default=3, help="garments to retrieve (0 = text only, at most 4; default 3)")
    p.add_argument("--index", default=None, help=f"index to retrieve from (default: {config.default_index_dir()})")
    add_store_options(p)
    p.add_argument("--garment", action="append", default=None, metavar="PATH", help="use this garment image instead of retrieving (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="ID", help="never retrieve this product id (repeatable)")
    p.add_argument("--mask", default="auto", help="'auto' (from the pose) or a PNG of the photo's size, white = repaint")
    p.add_argument("--mask-style", default="bbox", choices=["bbox", "segmentation"], help="automatic mask style (diffusion profiles)")
    p.add_argument("--keypoints", default=None, metavar="JSON", help="18 OpenPose-COCO points [[x, y(, conf)], ...] in photo pixels, or a Dress Code keypoint file")
    p.add_argument("--prompt", default="category", choices=["category", "caption"],
                   help="'category': 'a photo of a model wearing ... made of $..' ; 'caption': '<text>. $..' (diffusion profiles)")
    p.add_argument("--profile", default="auto", choices=profile_choices(),
                   help="auto (hf when its weights are cached, else lite), lite (offline pixel transfer), "
                   "hf (released Fashion-RAG), tiny (random, smoke tests)")
    p.add_argument("--mode", default="auto", choices=["auto", "restyle", "replace"],
                   help="lite: restyle (recolour/re-pattern the worn garment) or replace (warp the retrieved one on)")
    p.add_argument("--no-parse-query", dest="parse_query", action="store_false",
                   help="lite: do not turn the text's colour/type/gender words into retrieval filters")
    p.add_argument("--weights", default=None, metavar="DIR", help="a pipeline saved with FashionRAGPipeline.save_pretrained (overrides --profile)")
    p.add_argument("--no-paste-back", dest="paste_back", action="store_false",
                   help="return the raw decoded image (the paper's protocol) instead of keeping every pixel outside the mask")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=50, help="DDIM steps (default 50)")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument("--out", required=True, help="edited image path (PNG); the mask and sheet are written beside it")
    add_json_flag(p)
    p.set_defaults(func=cmd_edit)

    d = sub.add_parser("edit-demo", help="edit two held-out catalog photos offline (restyle + replace) into an HTML page")
    d.add_argument("--catalog", required=True, help="catalog with a val split (e.g. the KAGL developer set)")
    d.add_argument("--index", default=None, help=f"index of its train split (default: {config.default_index_dir()})")
    d.add_argument("--out", default="out/edits.html", help="HTML page to write (default out/edits.html)")
    add_json_flag(d)
    d.set_defaults(func=cmd_edit_demo)


def cmd_edit_demo(args: argparse.Namespace):
    from ..pipelines.edit_demo import run_edit_demo

    index_dir = Path(args.index) if args.index else config.default_index_dir()
    if not index_dir.exists():
        raise InvalidInputError(f"no index at {index_dir}; run `fashionrag demo` (or `fashionrag index build`) first")
    report = run_edit_demo(args.catalog, index_dir, args.out)
    if args.json:
        return report
    for e in report.edits:
        print(f"edited {e.photo_id} after {e.text!r}: {e.mode} with garment {e.garment} ({e.seconds:.2f}s)")
    if report.missing_modes:
        print(f"note: no {', '.join(report.missing_modes)} edit among the {report.tried} photos tried")
    print(f"page: {report.html}")
    return None


def cmd_edit(args: argparse.Namespace):
    from ..core.images import load_image
    from ..pipelines.edit_common import MAX_K, output_paths, save_edit
    from ..pipelines.edit_profiles import check_weights, create_editor, resolve_profile
    from ..vision.keypoints import read_keypoints

    output_paths(args.out)  # a bad --out fails before any work
    photo = load_image(args.image)  # fail fast on a non-image, before loading any model
    if not 0 <= args.k <= MAX_K:
        raise InvalidInputError(f"--k must be between 0 and {MAX_K}, got {args.k}")
    profile = resolve_profile(args.profile, args.weights)
    check_weights(profile, args.weights)  # missing weights fail now, not after the retrieval
    retriever, index_dir = None, None
    if args.garment is None and args.k > 0:
        from ..retrieval.retriever import Retriever

        index = open_index(args, args.index)  # a FAISS directory, or an opened Milvus store (--store)
        if index is None or isinstance(index, (str, Path)):
            index_dir = Path(index) if index else config.default_index_dir()
            if not index_dir.exists():
                raise InvalidInputError(
                    f"no index at {index_dir}; build one with `fashionrag index build --catalog DIR`, "
                    "pass --index DIR or --store URI, --garment PATH, or use --k 0 for text only"
                )
            index = index_dir
        else:
            index_dir = args.store
        retriever = Retriever.open(index)
    keypoints = read_keypoints(args.keypoints) if args.keypoints else None
    mask = None if args.mask == "auto" else args.mask

    editor = create_editor(profile, weights=args.weights, device=args.device, retriever=retriever)
    options = dict(category=args.category, k=args.k, garments=args.garment, exclude_ids=args.exclude, mask=mask,
                   keypoints=keypoints, seed=args.seed, paste_back=args.paste_back)
    if getattr(editor, "kind", "diffusion") == "diffusion":
        options.update(category=args.category or "upper_body", mask_style=args.mask_style, num_inference_steps=args.steps,
                       guidance_scale=args.guidance, prompt_mode=args.prompt, progress=not args.json)
    else:
        options.update(mode=args.mode, parse_query=args.parse_query)
    result = editor(photo, args.text, **options)
    result = save_edit(result, args.out)
    result = result.model_copy(update={"input": str(args.image), "index": str(index_dir) if index_dir else None,
                                       "profile": result.profile if args.weights is None else str(args.weights)})
    if args.json:
        return result
    how = f"{result.steps} steps" if result.steps else f"mode {result.mode}"
    print(f"edited {args.image} -> {result.output}  ({result.seconds:.2f}s on {result.device}, profile {result.profile}, {how})")
    for g in result.retrieved:
        score = f"{g.score:.3f}" if g.score is not None else "given"
        print(f"  garment {g.id:<12} {score:>6}  {g.title[:60]}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"mask: {result.mask} ({result.mask_source})   sheet: {result.sheet}")
    if result.profile == "tiny":
        print("note: the tiny profile has random weights; the image is noise by design (smoke test only)")
    return None
