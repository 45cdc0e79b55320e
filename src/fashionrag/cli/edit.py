"""`fashionrag edit`: repaint a person's garment after a sentence, conditioned on retrieved catalog garments."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..core import config
from ..core.errors import InvalidInputError
from . import add_json_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="edit the garment in a person photo (Fashion-RAG: retrieval + textual inversion + SD inpainting)")
    p.add_argument("image", help="photo of one person (JPEG/PNG)")
    p.add_argument("--text", required=True, help='what the new garment looks like, e.g. "red floral midi dress"')
    p.add_argument("--category", default="upper_body", choices=["upper_body", "lower_body", "dresses"], help="garment to replace")
    p.add_argument("--k", type=int, default=3, help="garments to retrieve (0 = text only, at most 4; default 3)")
    p.add_argument("--index", default=None, help=f"index to retrieve from (default: {config.default_index_dir()})")
    p.add_argument("--garment", action="append", default=None, metavar="PATH", help="use this garment image instead of retrieving (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="ID", help="never retrieve this product id (repeatable)")
    p.add_argument("--mask", default="auto", help="'auto' (from the pose) or a PNG of the photo's size, white = repaint")
    p.add_argument("--mask-style", default="bbox", choices=["bbox", "segmentation"], help="automatic mask style")
    p.add_argument("--keypoints", default=None, metavar="JSON", help="18 OpenPose-COCO points [[x, y(, conf)], ...] in photo pixels")
    p.add_argument("--prompt", default="category", choices=["category", "caption"],
                   help="'category': 'a photo of a model wearing ... made of $..' ; 'caption': '<text>. $..'")
    p.add_argument("--profile", default="hf", choices=["hf", "tiny"], help="weights: hf (released Fashion-RAG) or tiny (random, smoke tests)")
    p.add_argument("--weights", default=None, metavar="DIR", help="a pipeline saved with FashionRAGPipeline.save_pretrained (overrides --profile)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=50, help="DDIM steps (default 50)")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument("--out", required=True, help="edited image path (PNG); the mask and sheet are written beside it")
    add_json_flag(p)
    p.set_defaults(func=cmd_edit)


def read_keypoints(path: str) -> np.ndarray:
    """A JSON list of 18 points, or a Dress Code keypoint file ({"keypoints": [[x, y, score, id], ...]})."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: cannot read keypoints JSON ({exc})") from exc
    if isinstance(data, dict):
        data = data.get("keypoints", data.get("pose_keypoints_2d"))
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 1 and arr.size in (36, 54, 72):
        arr = arr.reshape(18, -1)
    if arr.ndim != 2 or arr.shape[0] != 18 or arr.shape[1] < 2:
        raise InvalidInputError(f"{path}: expected 18 keypoints [x, y(, conf)], got shape {arr.shape}")
    if arr.shape[1] == 2 or arr.shape[1] == 4:  # Dress Code rows are x, y, score, id; missing points are (0, 0) / (-1, -1)
        present = (arr[:, 0] > 0) & (arr[:, 1] > 0)
        arr = np.concatenate([arr[:, :2], present[:, None].astype(np.float32)], 1)
    return arr[:, :3]


def output_paths(out: str) -> tuple[Path, Path, Path]:
    path = Path(out)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise InvalidInputError(f"--out {out}: use an image file name (.png, .jpg, .webp)")
    stem = path.with_suffix("")
    return path, Path(f"{stem}.mask.png"), Path(f"{stem}.sheet.png")


def cmd_edit(args: argparse.Namespace):
    from ..core.images import load_image
    from ..core.schemas import EditResult
    from ..pipelines.edit import FashionRAGPipeline

    out_path, mask_path, sheet_path = output_paths(args.out)
    photo = load_image(args.image)  # fail fast on a non-image, before loading any model
    if not 0 <= args.k <= 4:
        raise InvalidInputError(f"--k must be between 0 and 4, got {args.k}")
    store, index_dir = None, None
    if args.garment is None and args.k > 0:
        from ..stores import open_store

        index_dir = Path(args.index) if args.index else config.default_index_dir()
        if not index_dir.exists():
            raise InvalidInputError(
                f"no index at {index_dir}; build one with `fashionrag index build --catalog DIR`, "
                "pass --index DIR, --garment PATH, or use --k 0 for text only"
            )
        store = open_store(index_dir)
    keypoints = read_keypoints(args.keypoints) if args.keypoints else None
    mask = None if args.mask == "auto" else args.mask

    pipe = FashionRAGPipeline.from_profile(args.profile, weights=args.weights, device=args.device)
    pipe.store = store
    out = pipe(
        photo, args.text, category=args.category, k=args.k, garments=args.garment, exclude_ids=args.exclude,
        mask=mask, keypoints=keypoints, mask_style=args.mask_style, num_inference_steps=args.steps,
        guidance_scale=args.guidance, seed=args.seed, prompt_mode=args.prompt, progress=not args.json,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out.image.save(out_path)
    out.mask.save(mask_path)
    out.sheet().save(sheet_path)
    s = out.settings
    result = EditResult(
        input=str(args.image), output=str(out_path), mask=str(mask_path), sheet=str(sheet_path), text=args.text,
        category=args.category, k=len(out.retrieved), retrieved=out.retrieved, prompt=out.prompt,
        mask_source=out.mask_source, pose_source=out.pose_source, profile=s["profile"] if args.weights is None else str(args.weights),
        index=str(index_dir) if index_dir else None, encoder=getattr(store, "encoder", None), seed=args.seed,
        steps=s["steps"], guidance_scale=s["guidance_scale"], device=s["device"], dtype=s["dtype"], seconds=s["seconds"],
    )
    if args.json:
        return result
    print(f"edited {args.image} -> {out_path}  ({result.seconds:.1f}s on {result.device}, {result.steps} steps)")
    for g in result.retrieved:
        score = f"{g.score:.3f}" if g.score is not None else "given"
        print(f"  garment {g.id:<12} {score:>6}  {g.title[:60]}")
    print(f"mask: {mask_path} ({result.mask_source})   sheet: {sheet_path}")
    if pipe.config.profile == "tiny":
        print("note: the tiny profile has random weights; the image is noise by design (smoke test only)")
    return None
