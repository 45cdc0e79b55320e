"""Edit profiles: which editor and which weights ``--profile`` names, as one :class:`~fashionrag.core.registry.Registry`.

- ``hf``: SD-2-inpainting (its 9-channel UNet widened to 27) + CLIP ViT-H/14 + the released Fashion-RAG UNet and
  inversion adapter (``furio19/fashion-rag``), from the Hugging Face cache (downloaded once with internet);
- ``tiny``: tiny random versions of every ``hf`` class, built once into the cache (:func:`fashionrag.core.tiny.tiny_model_dir`)
  and loaded back through :meth:`FashionRAGPipeline.from_pretrained` — tests and install smoke checks;
- ``lite``: the offline pixel-transfer editor (:mod:`fashionrag.pipelines.edit_lite`), registered by that module;
- ``auto`` (not a registry entry, see :func:`resolve_profile`): ``hf`` when its weights are in the local cache,
  else ``lite``.

A profile factory takes ``device=``, ``dtype=`` and the pipeline's components (``retriever=``, ...) as keywords.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..core.errors import ModelUnavailableError
from ..core.registry import Registry

log = logging.getLogger(__name__)

EDIT_PROFILES: Registry = Registry(
    "edit profile",
    builtins=["fashionrag.pipelines.edit_profiles"],
    error=ModelUnavailableError,
    hint="(or --weights DIR for a saved pipeline)",
)
#: Profiles that are FashionRAGPipeline (diffusion) instances; ``train editor --base`` and ``eval edit`` use these.
DIFFUSION_PROFILES = ("hf", "tiny")

HF_BASE = "stabilityai/stable-diffusion-2-inpainting"
HF_VISION = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
HF_WEIGHTS = "furio19/fashion-rag"
HF_UNET_FILE = "unet_120000.pth"
HF_ADAPTER_FILE = "inversion_adapter_120000.pth"

TINY_VERSION = 1
TINY_SEED = 1234
#: The tiny profile works at 128x96 (a quarter of 512x384 per side) so tests run in seconds.
TINY_SIZE = (128, 96)


# ---------------------------------------------------------------------------------------------------- tiny

def build_tiny_pipeline(height: int = TINY_SIZE[0], width: int = TINY_SIZE[1]):
    """Tiny random versions of every ``hf`` class (seed it yourself for reproducible weights)."""
    from diffusers import DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionModel

    from ..models.edit_unet import build_edit_unet, build_vae, tiny_unet_config, tiny_vae_config
    from ..models.inversion_adapter import InversionAdapter, InversionAdapterConfig, tiny_vision_config
    from ..models.tiny_tokenizer import build_tiny_clip_tokenizer
    from .edit import EditConfig, FashionRAGPipeline

    tok = build_tiny_clip_tokenizer()
    text_cfg = CLIPTextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, projection_dim=32,
    )
    adapter_cfg = InversionAdapterConfig.tiny()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")
    return FashionRAGPipeline(
        vae=build_vae(tiny_vae_config()),
        text_encoder=CLIPTextModel(text_cfg),
        tokenizer=tok,
        unet=build_edit_unet(tiny_unet_config(cross_attention_dim=32)),
        scheduler=scheduler,
        image_encoder=CLIPVisionModel(tiny_vision_config()),
        inversion_adapter=InversionAdapter(adapter_cfg),
        config=EditConfig(num_vstar=adapter_cfg.num_vstar, height=height, width=width, profile="tiny"),
    )


def tiny_pipeline_dir(root: Path | None = None) -> Path:
    """Directory of the tiny pipeline, built once (seeded, atomically) under the cache."""
    from ..core.tiny import tiny_model_dir

    return tiny_model_dir("tiny-edit", lambda d: build_tiny_pipeline().save_pretrained(d),
                          version=TINY_VERSION, seed=TINY_SEED, root=root)


@EDIT_PROFILES.register("tiny")
def _tiny(*, device=None, dtype=None, local_files_only=None, **kwargs: Any):
    from .edit import FashionRAGPipeline

    return FashionRAGPipeline.from_pretrained(tiny_pipeline_dir(), device=device, dtype=dtype, **kwargs)


# ---------------------------------------------------------------------------------------------------- hf

def _offline_default() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FASHIONRAG_OFFLINE"))


def _hf_missing_message(what: str, exc: Exception | None = None) -> str:
    return (
        f"the 'hf' editing weights are not available offline ({what}). The profile needs {HF_BASE} "
        f"(vae, unet, text_encoder, tokenizer, scheduler), {HF_VISION} (vision tower) and {HF_WEIGHTS} "
        f"({HF_UNET_FILE}, {HF_ADAPTER_FILE}); fetch them once with internet, e.g. "
        f"`huggingface-cli download {HF_WEIGHTS} {HF_UNET_FILE} {HF_ADAPTER_FILE}` (and the two other repos), "
        "then save a converted pipeline with FashionRAGPipeline.save_pretrained and pass --weights DIR; "
        "or use --profile lite (offline pixel transfer)"
        + (f" [{type(exc).__name__}]" if exc is not None else "")
    )


def hf_weights_available(weights_repo: str = HF_WEIGHTS) -> bool:
    """Whether the released Fashion-RAG files are in the local Hugging Face cache (no network call)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for name in (HF_UNET_FILE, HF_ADAPTER_FILE):
        try:
            hit = try_to_load_from_cache(weights_repo, name)
        except Exception:  # noqa: BLE001 - a malformed cache is "not available"
            return False
        if not isinstance(hit, str):
            return False
    return True


def load_hf_pipeline(*, device=None, dtype=None, local_files_only: bool | None = None, base: str = HF_BASE,
                     vision: str = HF_VISION, weights_repo: str = HF_WEIGHTS, **kwargs: Any):
    """SD-2-inpainting (9-channel UNet widened to 27) + CLIP ViT-H/14 + the released Fashion-RAG checkpoints."""
    local_only = _offline_default() if local_files_only is None else local_files_only
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover
        raise ModelUnavailableError(_hf_missing_message("huggingface_hub is not installed", exc)) from exc
    # The two small released files first: the cheapest way to find out that nothing is available.
    try:
        unet_pth = hf_hub_download(weights_repo, HF_UNET_FILE, local_files_only=local_only)
        adapter_pth = hf_hub_download(weights_repo, HF_ADAPTER_FILE, local_files_only=local_only)
    except Exception as exc:  # noqa: BLE001 - any hub failure means "not available"
        raise ModelUnavailableError(_hf_missing_message(f"{weights_repo}/{HF_UNET_FILE} not found", exc)) from exc

    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModel

    from ..models.edit_unet import load_reference_unet_checkpoint, widen_conv_in
    from ..models.inversion_adapter import InversionAdapter, InversionAdapterConfig
    from .edit import EditConfig, FashionRAGPipeline

    try:
        common = dict(local_files_only=local_only)
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae", **common)
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", **common)
        text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder", **common)
        tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", **common)
        scheduler = DDIMScheduler.from_pretrained(base, subfolder="scheduler", **common)
        image_encoder = CLIPVisionModel.from_pretrained(vision, **common)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailableError(_hf_missing_message(f"{base} or {vision} not found", exc)) from exc

    widen_conv_in(unet)
    extra = load_reference_unet_checkpoint(unet, unet_pth)
    if extra:
        log.info("ignored %d keys of %s that the SD-2 UNet does not have (e.g. %s)", len(extra), HF_UNET_FILE, extra[0])
    adapter = InversionAdapter(InversionAdapterConfig.for_models(image_encoder.config, text_encoder.config.hidden_size))
    adapter.load_reference_checkpoint(adapter_pth)
    pipe = FashionRAGPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                              image_encoder=image_encoder, inversion_adapter=adapter,
                              config=EditConfig(profile="hf"), **kwargs)
    return pipe.to(device, dtype)


EDIT_PROFILES.register("hf", load_hf_pipeline)


@EDIT_PROFILES.register("lite")
def _lite(**kwargs: Any):
    """The offline editor (pixel transfer from the catalog); imported when asked for, so listing the profiles (the
    CLI's choices) loads no OpenCV."""
    from .edit_lite import create_lite_editor

    return create_lite_editor(**kwargs)


# ---------------------------------------------------------------------------------------------------- choice

def profile_choices() -> list[str]:
    """The CLI's ``--profile`` choices: ``auto`` plus every registered profile."""
    return ["auto", *EDIT_PROFILES.names()]


def resolve_profile(profile: str, weights: str | Path | None = None) -> str:
    """``auto`` -> ``hf`` when its weights are cached locally (or ``weights=DIR`` is given), else ``lite``."""
    if profile != "auto":
        EDIT_PROFILES.get(profile)  # unknown names fail here, with the list of known ones
        return profile
    if weights is not None or hf_weights_available():
        return "hf"
    return "lite" if "lite" in EDIT_PROFILES else "hf"


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub (``HF_ENDPOINT`` or huggingface.co): a no-network machine answers in
    milliseconds here, where huggingface_hub would retry for ~25 s and log every retry."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)),
                                 timeout=timeout).close()
        return True
    except OSError:
        return False


def check_weights(profile: str, weights: str | Path | None = None) -> None:
    """Fail before any other work (retrieval, model loads) when ``profile``'s weights cannot be had: the ``hf``
    files are neither in the local cache nor downloadable (offline mode, or the hub unreachable). Cheap: a cache
    lookup and at most one connection attempt. One clear error, not a page of retry warnings."""
    if profile != "hf" or weights is not None or hf_weights_available():
        return
    if _offline_default():
        raise ModelUnavailableError(_hf_missing_message(f"{HF_WEIGHTS} is not in the local cache and offline mode "
                                                        "is on (HF_HUB_OFFLINE)"))
    if not _hub_reachable():
        raise ModelUnavailableError(_hf_missing_message(f"{HF_WEIGHTS} is not in the local cache and the hub "
                                                        "cannot be reached"))


def create_editor(profile: str = "auto", *, weights: str | Path | None = None, device=None, dtype=None, **kwargs: Any):
    """The editor a ``--profile`` (and optional ``--weights DIR``) names, components passed as keywords."""
    from .edit import FashionRAGPipeline

    if weights is not None:
        return FashionRAGPipeline.from_pretrained(weights, device=device, dtype=dtype, **kwargs)
    return EDIT_PROFILES.create(resolve_profile(profile), device=device, dtype=dtype, **kwargs)


def work_size(base: str, weights: str | Path | None) -> tuple[int, int]:
    """(height, width) a diffusion pipeline works at: from a saved pipeline's config, else the profile's."""
    import json

    from .edit import CONFIG_NAME, EditConfig

    if weights is not None:
        cfg_file = Path(weights) / CONFIG_NAME
        if cfg_file.is_file():
            cfg = EditConfig(**json.loads(cfg_file.read_text()))
            return cfg.height, cfg.width
    return TINY_SIZE if base == "tiny" else (512, 384)
