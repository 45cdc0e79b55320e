"""`fashionrag train editor`: fine-tune the editing UNet and the inversion adapter (Fashion-RAG recipe).

Recipe (the reference's defaults): epsilon-prediction MSE on the 27-channel UNet input, AdamW lr 1e-4,
batch 16, 500 warm-up steps (then constant), accelerate for devices / mixed precision / accumulation.
Per sample: a random number 1..k of garments condition the prompt (the sample's own garment first, then
retrieved neighbours when the dataset has them), the caption is dropped with ``text_drop`` probability,
and with ``uncond_prob`` the whole conditioning is dropped (empty prompt, zero pose, no garments): that is
the unconditional branch classifier-free guidance uses at inference.

Datasets give :class:`EditSample` items at the working size (512x384 by default):

- :class:`DressCodeDataset` reads the Dress Code layout (``<category>/images``, ``keypoints``,
  ``label_maps``, ``<phase>_pairs.txt`` and the MGD noun-chunk captions ``fine_captions.json``);
- :class:`CatalogEditDataset` takes catalog products whose photos are on-model shots and computes pose
  and masks automatically (items without a person are skipped).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel

from ..core.errors import CatalogError, InvalidImageError, InvalidInputError
from ..core.images import load_image
from ..pipelines.edit_inputs import (
    CATEGORIES,
    Letterbox,
    bbox_mask,
    keypoint_heatmaps,
    mediapipe_to_openpose18,
    resize_heatmaps,
    segmentation_mask,
)

log = logging.getLogger(__name__)

#: Dress Code label-map classes of each garment (and the arms, repainted with tops and dresses).
DRESSCODE_LABELS = {"upper_body": (4, 14, 15), "lower_body": (5, 6), "dresses": (7, 14, 15)}
#: Catalog subcategories -> editing categories.
SUBCATEGORY_TO_CATEGORY = {"topwear": "upper_body", "bottomwear": "lower_body", "dress": "dresses", "dresses": "dresses",
                           "upper_body": "upper_body", "lower_body": "lower_body"}


@dataclass
class EditSample:
    """One training example at the working size (``image`` is W x H = 384 x 512 by default)."""

    image: Image.Image
    mask: np.ndarray  # (H, W) uint8, 1 = repaint
    keypoints: Optional[np.ndarray]  # (18, 3) in working pixels
    caption: str
    category: str
    garments: list[Image.Image] = field(default_factory=list)  # own garment first, then retrieved ones
    id: str = ""
    garment_id: str = ""  # the ground-truth garment's catalog id (excluded from retrieval in evaluation)


class EditorTrainSettings(BaseModel):
    max_steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 500
    k: int = 3
    text_drop: float = 0.2
    uncond_prob: float = 0.1
    prompt_mode: str = "caption"
    mixed_precision: str = "no"
    grad_accum: int = 1
    seed: int = 0
    save_every: int = 0
    train_unet: bool = True
    train_adapter: bool = True
    num_workers: int = 0


class EditorTrainResult(BaseModel):
    steps: int
    samples: int
    first_loss: float
    last_loss: float
    losses: list[float]
    output: str
    seconds: float
    settings: EditorTrainSettings


# ------------------------------------------------------------------------------------------ datasets

class DressCodeDataset(torch.utils.data.Dataset):
    """The Dress Code layout: ``ROOT/<category>/{images,keypoints,label_maps}``, ``<phase>_pairs.txt``
    (``<model>_0.jpg <garment>_1.jpg`` per line; the test split uses ``test_pairs_paired.txt``) and the
    MGD captions ``ROOT/fine_captions.json`` (garment id -> noun chunks)."""

    def __init__(self, root: str | Path, phase: str = "train", categories: Sequence[str] = CATEGORIES,
                 size: tuple[int, int] = (512, 384), mask_style: str = "segmentation"):
        self.root, self.size, self.mask_style = Path(root), size, mask_style
        captions_file = self.root / "fine_captions.json"
        self.captions: dict[str, list[str]] = json.loads(captions_file.read_text()) if captions_file.is_file() else {}
        self.items: list[tuple[str, str, str]] = []
        for cat in categories:
            if cat not in CATEGORIES:
                raise InvalidInputError(f"unknown Dress Code category {cat!r}; use {', '.join(CATEGORIES)}")
            pairs = next((p for p in (self.root / cat / f"{phase}_pairs.txt", self.root / cat / f"{phase}_pairs_paired.txt") if p.is_file()), None)
            if pairs is None:
                continue
            for line in pairs.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self.items.append((cat, parts[0], parts[1]))
        if not self.items:
            raise CatalogError(f"{self.root}: no Dress Code pairs for phase {phase!r} (expected <category>/{phase}_pairs.txt)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> EditSample:
        cat, im_name, c_name = self.items[i]
        d = self.root / cat
        h, w = self.size
        image = load_image(d / "images" / im_name).resize((w, h), Image.BICUBIC)
        garment = load_image(d / "images" / c_name)
        stem = im_name.rsplit("_", 1)[0]
        kp = None
        kp_file = d / "keypoints" / f"{stem}_2.json"
        if kp_file.is_file():
            raw = np.asarray(json.loads(kp_file.read_text())["keypoints"], np.float32).reshape(-1, 4)[:18]
            present = (raw[:, 0] > 1) & (raw[:, 1] > 1)  # Dress Code keypoints live on a 384x512 grid
            kp = np.zeros((18, 3), np.float32)
            kp[:, 0], kp[:, 1], kp[:, 2] = raw[:, 0] * w / 384.0, raw[:, 1] * h / 512.0, present
        labels = np.asarray(Image.open(d / "label_maps" / f"{stem}_4.png").resize((w, h), Image.NEAREST))
        garment_px = np.isin(labels, DRESSCODE_LABELS[cat]).astype(np.uint8)
        mask = self._mask(garment_px, kp, cat)
        words = self.captions.get(c_name.split("_")[0], [])
        return EditSample(image=image, mask=mask, keypoints=kp, caption=", ".join(words), category=cat,
                          garments=[garment], id=f"{cat}/{im_name}", garment_id=Path(c_name).stem)

    def _mask(self, garment_px: np.ndarray, kp: Optional[np.ndarray], cat: str) -> np.ndarray:
        import cv2

        grown = cv2.dilate(garment_px, np.ones((5, 5), np.uint8), iterations=5)
        if self.mask_style == "bbox" and grown.any():
            ys, xs = np.nonzero(grown)
            out = np.zeros_like(grown)
            out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = 1
            return out
        if not grown.any() and kp is not None:
            return bbox_mask(kp, cat, garment_px.shape[1], garment_px.shape[0])
        return grown


class CatalogEditDataset(torch.utils.data.Dataset):
    """Catalog products with on-model photos; pose and mask are computed from each photo.

    The conditioning garment is the photo's own garment region (the mask's bounding box), the caption the
    product title. Photos where no person is found yield ``None`` (dropped by the collate function).
    """

    def __init__(self, products: Sequence[Any], *, size: tuple[int, int] = (512, 384), mask_style: str = "bbox",
                 pose_estimator: Callable[[np.ndarray], Optional[np.ndarray]] | None = None,
                 person_segmenter: Callable[[np.ndarray], np.ndarray] | None = None):
        self.products = [p for p in products if _category_of(p) and getattr(p, "image_path", None)]
        if not self.products:
            raise CatalogError("no catalog product is a top, bottom or dress with an image (subcategory Topwear/Bottomwear/Dress)")
        self.size, self.mask_style = size, mask_style
        self.pose_estimator, self.person_segmenter = pose_estimator, person_segmenter

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, i: int) -> Optional[EditSample]:
        from ..pipelines.edit import default_person_segmenter, default_pose_estimator

        p = self.products[i]
        cat = _category_of(p)
        try:
            photo = load_image(p.image_path)
        except InvalidImageError as exc:
            log.warning("skipping %s: %s", p.id, exc)
            return None
        rgb = np.asarray(photo)
        if self.pose_estimator is None:
            self.pose_estimator = default_pose_estimator()
        landmarks = self.pose_estimator(rgb)
        if landmarks is None:
            return None
        kp = mediapipe_to_openpose18(landmarks)
        try:
            if self.mask_style == "segmentation":
                if self.person_segmenter is None:
                    self.person_segmenter = default_person_segmenter()
                mask = segmentation_mask(kp, np.asarray(self.person_segmenter(rgb)) > 0.5, cat)
            else:
                mask = bbox_mask(kp, cat, photo.width, photo.height)
        except InvalidInputError:
            return None
        if not mask.any():
            return None
        ys, xs = np.nonzero(mask)
        garment = photo.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
        h, w = self.size
        box = Letterbox(src=photo.size, dst=(w, h))
        return EditSample(image=box.image(photo), mask=box.mask(mask), keypoints=box.points(kp), caption=p.title or "",
                          category=cat, garments=[garment], id=str(p.id), garment_id=str(p.id))


def _category_of(product: Any) -> Optional[str]:
    for value in (getattr(product, "subcategory", None), getattr(product, "article_type", None)):
        if value and value.lower() in SUBCATEGORY_TO_CATEGORY:
            return SUBCATEGORY_TO_CATEGORY[value.lower()]
    return None


def collate_samples(batch: list[Optional[EditSample]]) -> list[EditSample]:
    """Keep samples as objects (garment counts vary); drop the ``None`` of skipped items."""
    return [b for b in batch if b is not None]


# ------------------------------------------------------------------------------------------ training

def train_editor(
    dataset: torch.utils.data.Dataset,
    output_dir: str | Path,
    settings: EditorTrainSettings | None = None,
    *,
    base: str = "tiny",
    weights: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
) -> EditorTrainResult:
    """Fine-tune the UNet and adapter of the ``base`` pipeline on ``dataset``; save the pipeline to ``output_dir/final``."""
    from accelerate import Accelerator
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler

    from ..models.inversion_adapter import preprocess_garments
    from ..models.text_injection import build_prompt_ids, encode_with_pseudo_tokens, prompt_text
    from ..pipelines.edit import FashionRAGPipeline

    s = settings or EditorTrainSettings()
    if not (s.train_unet or s.train_adapter):
        raise InvalidInputError("nothing to train: enable the UNet and/or the adapter")
    t0 = time.perf_counter()
    accelerator = Accelerator(mixed_precision=s.mixed_precision, gradient_accumulation_steps=s.grad_accum,
                              cpu=(device == "cpu"))
    rng = random.Random(s.seed)
    torch.manual_seed(s.seed)
    pipe = FashionRAGPipeline.from_profile(base, weights=weights, device=accelerator.device, dtype=torch.float32)
    unet, adapter = pipe.unet, pipe.inversion_adapter
    unet.requires_grad_(s.train_unet).train(s.train_unet)
    adapter.requires_grad_(s.train_adapter).train(s.train_adapter)
    params = [p for m in (unet, adapter) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.lr)
    lr_sched = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=s.warmup_steps)
    loader = torch.utils.data.DataLoader(dataset, batch_size=s.batch_size, shuffle=True, collate_fn=collate_samples,
                                         num_workers=s.num_workers, generator=torch.Generator().manual_seed(s.seed))
    unet, adapter, optimizer, loader, lr_sched = accelerator.prepare(unet, adapter, optimizer, loader, lr_sched)
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    H, W = pipe.config.height, pipe.config.width
    sf, vsf = pipe.vae.config.scaling_factor, pipe.vae_scale_factor
    lh, lw = H // vsf, W // vsf
    dev = accelerator.device
    out_dir = Path(output_dir)
    losses: list[float] = []
    seen = 0

    def batches():
        while True:
            for b in loader:
                if b:
                    yield b

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=s.max_steps, desc="train editor", unit="step")
    it = batches()
    step = 0
    while step < s.max_steps:
        batch: list[EditSample] = next(it)
        with accelerator.accumulate(unet, adapter):
            pixels, masks, poses, conds = [], [], [], []
            for ex in batch:
                if (ex.image.height, ex.image.width) != (H, W):
                    raise InvalidInputError(f"sample {ex.id} is {ex.image.width}x{ex.image.height}; the pipeline works at {W}x{H}")
                pixels.append(torch.from_numpy(np.asarray(ex.image.convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1))
                masks.append(torch.from_numpy(ex.mask.astype(np.float32))[None])
                uncond = rng.random() < s.uncond_prob
                pose = np.zeros((18, lh, lw), np.float32)
                if ex.keypoints is not None and not uncond:
                    pose = resize_heatmaps(keypoint_heatmaps(ex.keypoints, H, W), lh, lw)
                poses.append(torch.from_numpy(pose))
                if uncond:
                    words, garments = "", []
                else:
                    n = rng.randint(1, max(1, min(s.k, len(ex.garments)))) if ex.garments else 0
                    garments = ex.garments[:1] + rng.sample(ex.garments[1:], max(0, n - 1)) if n else []
                    text = "" if rng.random() < s.text_drop else ex.caption
                    words = prompt_text(ex.category, text, s.prompt_mode)
                ids = build_prompt_ids(pipe.tokenizer, words, len(garments) * pipe.config.num_vstar).to(dev)
                pseudo = None
                if garments:
                    px = preprocess_garments(garments, pipe.image_encoder.config.image_size).to(dev)
                    with torch.no_grad():
                        hidden = pipe.image_encoder(pixel_values=px).last_hidden_state
                    pseudo = adapter(hidden).reshape(1, -1, pipe.text_encoder.config.hidden_size)
                conds.append(encode_with_pseudo_tokens(pipe.text_encoder, ids, pseudo, pipe.placeholder_id))
            x = torch.stack(pixels).to(dev)
            m = torch.stack(masks).to(dev)
            with torch.no_grad():
                latents = pipe.vae.encode(x).latent_dist.sample() * sf
                masked_lat = pipe.vae.encode(x * (m < 0.5)).latent_dist.sample() * sf
            m_lat = torch.nn.functional.interpolate(m, size=(lh, lw))
            noise = torch.randn_like(latents)
            t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(batch),), device=dev)
            noisy = noise_sched.add_noise(latents, noise, t)
            inp = torch.cat([noisy, m_lat, masked_lat, torch.stack(poses).to(dev)], 1)
            pred = unet(inp, t, encoder_hidden_states=torch.cat(conds)).sample
            loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(params, 1.0)
            optimizer.step()
            lr_sched.step()
            optimizer.zero_grad(set_to_none=True)
        if accelerator.sync_gradients:
            step += 1
            seen += len(batch)
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if s.save_every and step % s.save_every == 0 and accelerator.is_main_process:
                _save(pipe, accelerator, unet, adapter, out_dir / f"step-{step}")
    if bar is not None:
        bar.close()
    if accelerator.is_main_process:
        _save(pipe, accelerator, unet, adapter, out_dir / "final")
        (out_dir / "train_settings.json").write_text(s.model_dump_json(indent=2))
    return EditorTrainResult(steps=step, samples=seen, first_loss=losses[0], last_loss=losses[-1], losses=losses,
                             output=str(out_dir / "final"), seconds=round(time.perf_counter() - t0, 2), settings=s)


def _save(pipe, accelerator, unet, adapter, path: Path) -> None:
    pipe.unet = accelerator.unwrap_model(unet)
    pipe.inversion_adapter = accelerator.unwrap_model(adapter)
    pipe.save_pretrained(path)


# ------------------------------------------------------------------------------------------ CLI

def register_editor(tsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train editor`` to the ``train`` sub-parsers (called by :mod:`fashionrag.cli.train`)."""
    from ..cli import add_json_flag

    d = EditorTrainSettings()
    e = tsub.add_parser("editor", help="fine-tune the Fashion-RAG editing UNet and inversion adapter",
                        description="Train on a Dress Code layout (--dresscode) or on a catalog of on-model photos (--catalog).")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--dresscode", metavar="DIR", help="Dress Code root (images, keypoints, label_maps, fine_captions.json)")
    src.add_argument("--catalog", metavar="DIR", help="catalog of on-model photos (pose and masks are automatic)")
    e.add_argument("--base", default="tiny", choices=["tiny", "hf"], help="starting weights (hf: the released Fashion-RAG)")
    e.add_argument("--weights", default=None, metavar="DIR", help="start from a saved pipeline instead")
    e.add_argument("--out", required=True, help="output dir (final/ holds the trained pipeline)")
    e.add_argument("--phase", default="train")
    e.add_argument("--categories", default=",".join(CATEGORIES))
    e.add_argument("--mask-style", default="segmentation", choices=["bbox", "segmentation"])
    e.add_argument("--max-steps", type=int, default=d.max_steps)
    e.add_argument("--batch-size", type=int, default=d.batch_size)
    e.add_argument("--lr", type=float, default=d.lr)
    e.add_argument("--warmup", type=int, default=d.warmup_steps)
    e.add_argument("--k", type=int, default=d.k, help="at most this many garments per sample (random 1..k)")
    e.add_argument("--text-drop", type=float, default=d.text_drop)
    e.add_argument("--uncond-prob", type=float, default=d.uncond_prob)
    e.add_argument("--mixed-precision", default=d.mixed_precision, choices=["no", "fp16", "bf16"])
    e.add_argument("--grad-accum", type=int, default=d.grad_accum)
    e.add_argument("--save-every", type=int, default=0)
    e.add_argument("--seed", type=int, default=d.seed)
    e.add_argument("--device", default=None, help="cpu to force the CPU")
    e.add_argument("--quiet", action="store_true")
    add_json_flag(e)
    e.set_defaults(func=cmd_train_editor)
    return e


def work_size(base: str, weights: str | Path | None) -> tuple[int, int]:
    """(height, width) the pipeline works at: from a saved pipeline's config, else the profile's."""
    from ..pipelines.edit import CONFIG_NAME, TINY_SIZE, EditConfig

    if weights is not None:
        cfg_file = Path(weights) / CONFIG_NAME
        if cfg_file.is_file():
            cfg = EditConfig(**json.loads(cfg_file.read_text()))
            return cfg.height, cfg.width
    return TINY_SIZE if base == "tiny" else (512, 384)


def cmd_train_editor(args: argparse.Namespace):
    settings = EditorTrainSettings(
        max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup, k=args.k,
        text_drop=args.text_drop, uncond_prob=args.uncond_prob, mixed_precision=args.mixed_precision,
        grad_accum=args.grad_accum, seed=args.seed, save_every=args.save_every,
    )
    size = work_size(args.base, args.weights)
    if args.dresscode:
        dataset: torch.utils.data.Dataset = DressCodeDataset(args.dresscode, args.phase, args.categories.split(","), size=size,
                                                             mask_style=args.mask_style)
    else:
        from ..catalog import load_catalog

        dataset = CatalogEditDataset(load_catalog(args.catalog).products, size=size, mask_style=args.mask_style)
    result = train_editor(dataset, args.out, settings, base=args.base, weights=args.weights, device=args.device,
                          progress=not (args.quiet or args.json))
    if args.json:
        return result
    print(f"trained {result.steps} steps on {result.samples} samples in {result.seconds:.0f}s; "
          f"loss {result.first_loss:.4f} -> {result.last_loss:.4f}")
    print(f"pipeline  {result.output}  (use it with: fashionrag edit ... --weights {result.output})")
    return None
