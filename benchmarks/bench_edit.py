"""Latency and peak memory of the Fashion-RAG editor at full size (random weights, same compute as the real ones).

Builds the exact ``hf`` architectures locally — SD-2-inpainting UNet widened to 27 channels, SD VAE, the
OpenCLIP ViT-H text encoder (23 layers, 1024 wide), the CLIP ViT-H/14 vision tower and the inversion
adapter — with random weights (no download), then measures at 512x384:

- ``per_step``: one denoising step = one UNet call on the classifier-free-guidance batch of 2;
- ``end_to_end``: one whole edit (garment encoding for k garments, prompt encoding, VAE encode, N steps,
  decode, paste-back) with N = ``--steps`` (keep it small on a CPU: 1-2 steps take minutes);
- the peak resident memory (CPU) or the peak allocated CUDA memory (GPU).

    python benchmarks/bench_edit.py                 # CPU, fp32, 2 steps
    python benchmarks/bench_edit.py --device cuda   # GPU, fp16
    python benchmarks/bench_edit.py --tiny          # the tiny profile (a smoke check of this script)
    python benchmarks/bench_edit.py --profile lite --index DIR   # the offline lite editor on real photos

``--profile lite`` times whole lite edits (models loaded first) on catalog photos at their own resolution and
upscaled to 1024 px, with retrieval from ``--index`` (or the given ``--garment`` images), and writes
``benchmarks/results/bench_edit_lite.json`` (targets: <= 1 s per edit at catalog size, <= 3 s at 1024 px).

Results go to ``benchmarks/results/bench_edit_<device>[_tiny].json``. An edit with the default 50 steps
costs about ``end_to_end + (50 - steps) * per_step``; that estimate is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def build_full_pipeline():
    """Every component at its real size, random weights."""
    from diffusers import DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionModel

    from fashionrag.models.edit_unet import build_edit_unet, build_vae, sd2_inpainting_unet_config, sd_vae_config
    from fashionrag.models.inversion_adapter import InversionAdapter, InversionAdapterConfig, vit_h14_vision_config
    from fashionrag.models.tiny_tokenizer import build_tiny_clip_tokenizer
    from fashionrag.pipelines.edit import EditConfig, FashionRAGPipeline

    # The real SD-2 tokenizer is not available offline; sequence length (77) and therefore compute are the same.
    tok = build_tiny_clip_tokenizer()
    text_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                              num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=512,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = CLIPVisionModel(vit_h14_vision_config())
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return FashionRAGPipeline(
        vae=build_vae(sd_vae_config()), text_encoder=CLIPTextModel(text_cfg), tokenizer=tok,
        unet=build_edit_unet(sd2_inpainting_unet_config()), scheduler=scheduler, image_encoder=vision,
        inversion_adapter=InversionAdapter(InversionAdapterConfig.for_models(vision.config, 1024)),
        config=EditConfig(profile="bench-full"),
    )


def count_params(pipe) -> dict[str, int]:
    return {name: sum(p.numel() for p in getattr(pipe, name).parameters())
            for name in ("unet", "vae", "text_encoder", "image_encoder", "inversion_adapter")}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"], help="default: fp16 on CUDA, fp32 elsewhere")
    ap.add_argument("--steps", type=int, default=2, help="denoising steps of the end-to-end run")
    ap.add_argument("--step-repeats", type=int, default=3, help="timed UNet calls for the per-step figure")
    ap.add_argument("--k", type=int, default=3, help="garments conditioning the edit")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--tiny", action="store_true", help="benchmark the tiny profile instead (smoke check)")
    ap.add_argument("--out", default=None, help="result JSON path")
    ap.add_argument("--profile", default="hf", choices=["hf", "lite"], help="hf: the diffusion editor (default); lite")
    ap.add_argument("--index", default=None, help="lite: index to retrieve from")
    ap.add_argument("--photos", default=None, help="lite: folder of person photos (default: the KAGL developer set)")
    ap.add_argument("--ids", default="10051,10065,10339,10370,10382,10415,10044,10068",
                    help="lite: photo file stems to edit")
    ap.add_argument("--repeats", type=int, default=2, help="lite: timed passes over the photos")
    args = ap.parse_args(argv)
    if args.profile == "lite":
        return bench_lite(args)

    from fashionrag.pipelines.edit import FashionRAGPipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, None: None}[args.dtype]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    torch.manual_seed(0)
    pipe = FashionRAGPipeline.from_profile("tiny", device="cpu") if args.tiny else build_full_pipeline()
    pipe.to(device, dtype)
    build_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    H, W = pipe.config.height, pipe.config.width
    lh, lw = H // pipe.vae_scale_factor, W // pipe.vae_scale_factor

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # per denoising step: one UNet call on the CFG batch of 2
    x = torch.randn(2, 27, lh, lw, device=device, dtype=pipe.dtype)
    ctx = torch.randn(2, 77, pipe.text_encoder.config.hidden_size, device=device, dtype=pipe.dtype)
    times = []
    with torch.no_grad():
        for i in range(args.step_repeats + 1):  # the first call warms up kernels / allocators
            sync()
            t = time.perf_counter()
            pipe.unet(x, torch.tensor(500, device=device), encoder_hidden_states=ctx)
            sync()
            if i:
                times.append(time.perf_counter() - t)
    per_step = statistics.median(times)

    # one whole edit
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    garments = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(args.k)]
    kp = np.zeros((18, 3), np.float32)
    for i, (fx, fy) in {1: (0.5, 0.2), 2: (0.35, 0.2), 5: (0.65, 0.2), 8: (0.4, 0.5), 11: (0.6, 0.5)}.items():
        kp[i] = (fx * W, fy * H, 1)
    sync()
    t = time.perf_counter()
    pipe(photo, "a red floral midi dress", category="upper_body", garments=garments, keypoints=kp,
         num_inference_steps=args.steps, seed=0)
    sync()
    e2e = time.perf_counter() - t

    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
    result = {
        "benchmark": "edit", "architecture": "tiny" if args.tiny else "full (SD-2-inpainting 27ch UNet, ViT-H/14, OpenCLIP-H text)",
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "dtype": str(pipe.dtype).removeprefix("torch."),
        "height": H, "width": W, "k": args.k, "steps": args.steps, "params": count_params(pipe),
        "build_seconds": round(build_s, 2), "per_step_seconds": round(per_step, 4),
        "per_step_all": [round(v, 4) for v in times], "end_to_end_seconds": round(e2e, 3),
        "estimated_50_step_edit_seconds": round(e2e + (50 - args.steps) * per_step, 1),
        "peak_memory_mb": round(peak, 1), "peak_memory_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
        "torch": torch.__version__,
        # a shared machine's other jobs slow CPU figures down: record how busy it was
        "load_average_1min": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        "cpu_count": os.cpu_count(),
    }
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"bench_edit_{device.type}{'_tiny' if args.tiny else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


def bench_lite(args) -> dict:
    """Seconds per lite edit (after the models are loaded) at catalog size and at 1024 px."""
    from PIL import Image

    from fashionrag.pipelines.edit_lite import LiteEditPipeline
    from fashionrag.retrieval.retriever import Retriever

    root = Path(args.photos) if args.photos else Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kagl" / "images"
    photos = [root / f"{i}.jpg" for i in args.ids.split(",") if (root / f"{i}.jpg").is_file()]
    if len(photos) < 2:
        raise SystemExit(f"need person photos: none of --ids found in {root}")
    retriever = Retriever.open(args.index) if args.index else None
    pipe = LiteEditPipeline(retriever)
    texts = ["navy blue check shirt", "red tshirt", "white shirt", "black top", "green tshirt", "pink top",
             "grey sweatshirt", "yellow tshirt"]
    given = None if retriever is not None else [str(photos[-1])]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t = time.perf_counter()
    pipe(photos[0], texts[0], k=args.k, garments=given)  # loads the models and the query vocabulary
    warm = time.perf_counter() - t
    out: dict = {"benchmark": "edit", "profile": "lite", "k": args.k, "retrieval": "index" if retriever else "given garment",
                 "garment_cache": "cleared before every edit",
                 "warmup_seconds": round(warm, 3), "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    for label, side in (("catalog", None), ("1024px", 1024)):
        times, stages, modes = [], {}, {}
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "fashionrag-bench-lite"
        tmp.mkdir(parents=True, exist_ok=True)
        for r in range(args.repeats):
            for i, p in enumerate(photos):
                img = Image.open(p).convert("RGB")
                if side:
                    img = img.resize((side, side), Image.BICUBIC)
                pipe._cache.clear()  # every edit analyses its candidates' photos afresh (no cached garment cut-outs)
                t = time.perf_counter()
                res = pipe(img, texts[i % len(texts)], k=args.k, garments=given)
                times.append(time.perf_counter() - t)
                modes[res.mode] = modes.get(res.mode, 0) + 1
                for k, v in res.timings.items():
                    stages.setdefault(k, []).append(v)
        out[label] = {"size": "as stored (224x224 KAGL)" if side is None else f"{side}x{side}", "edits": len(times),
                      "median_seconds": round(statistics.median(times), 4), "max_seconds": round(max(times), 4),
                      "stage_median_seconds": {k: round(statistics.median(v), 4) for k, v in stages.items()},
                      "modes": modes}
    out["targets"] = {"catalog_seconds": 1.0, "1024px_seconds": 3.0}
    out["met"] = {"catalog": out["catalog"]["median_seconds"] <= 1.0, "1024px": out["1024px"]["median_seconds"] <= 3.0}
    out["load_average_1min"] = [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None]
    path = Path(args.out) if args.out else Path(__file__).parent / "results" / "bench_edit_lite.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
