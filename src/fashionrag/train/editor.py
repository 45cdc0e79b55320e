"""`fashionrag train editor`: fine-tune the editing UNet and the inversion adapter (Fashion-RAG recipe).

Recipe (the reference's defaults): epsilon-prediction MSE on the 27-channel UNet input, AdamW lr 1e-4,
batch 16, 500 warm-up steps (then constant), accelerate for devices / mixed precision / accumulation.
Per sample: a random number 1..k of garments condition the prompt (the sample's own garment first, then
retrieved neighbours when the dataset has them), the caption is dropped with ``text_drop`` probability,
and with ``uncond_prob`` the whole conditioning is dropped (empty prompt, zero pose, no garments): that is
the unconditional branch classifier-free guidance uses at inference.

Datasets (:mod:`fashionrag.pipelines.edit_data`) give :class:`EditSample` items at the working size (512x384 by default):

- :class:`DressCodeDataset` reads the Dress Code layout (``<category>/images``, ``keypoints``,
  ``label_maps``, ``<phase>_pairs.txt`` and the MGD noun-chunk captions ``fine_captions.json``);
- :class:`CatalogEditDataset` takes catalog products whose photos are on-model shots and computes pose
  and masks automatically (items without a person are skipped).
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from pydantic import BaseModel

from ..core.errors import InvalidInputError
from ..pipelines.edit_data import EditSample, collate_samples
from ..pipelines.edit_inputs import keypoint_heatmaps, resize_heatmaps

log = logging.getLogger(__name__)

class EditorTrainSettings(BaseModel):
    max_steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 500
    k: int = 3
    text_drop: float = 0.2
    uncond_prob: float = 0.1
    #: The prompt template; defaults to what inference uses (EditConfig.prompt_mode), so training matches it.
    prompt_mode: str = "category"
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
    from ..pipelines.edit_profiles import DIFFUSION_PROFILES

    s = settings or EditorTrainSettings()
    if not (s.train_unet or s.train_adapter):
        raise InvalidInputError("nothing to train: enable the UNet and/or the adapter")
    t0 = time.perf_counter()
    accelerator = Accelerator(mixed_precision=s.mixed_precision, gradient_accumulation_steps=s.grad_accum,
                              cpu=(device == "cpu"))
    rng = random.Random(s.seed)
    torch.manual_seed(s.seed)
    if weights is None and base not in DIFFUSION_PROFILES:
        raise InvalidInputError(f"train editor starts from a diffusion profile ({', '.join(DIFFUSION_PROFILES)}) or --weights DIR, not {base!r}")
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
                    words = prompt_text(ex.category, text, s.prompt_mode, n_garments=len(garments))
                ids = build_prompt_ids(pipe.tokenizer, words, len(garments) * pipe.config.num_vstar,
                                       keep_words=s.prompt_mode == "category" and bool(garments)).to(dev)
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
