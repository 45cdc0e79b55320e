"""OpenCLIP encoders: ``openclip:hf-hub:<org/repo>`` or ``openclip:<local dir>``.

The main user is Marqo-FashionSigLIP (``openclip:hf-hub:Marqo/marqo-fashionSigLIP``), which is published
only in open_clip format. A local directory is laid out the way the hub repos are:
``open_clip_config.json`` (``model_cfg`` + ``preprocess_cfg``), ``open_clip_model.safetensors`` (or a
``.bin``), and the tokenizer files when the config names an ``hf_tokenizer_name``.
Needs the optional ``open-clip-torch`` package (``pip install fashionrag[openclip]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import ModelUnavailableError
from ..core.images import ImageInput
from . import _torch_utils as tu
from .base import Encoder, register

HUB = "hf-hub:"
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


class OpenCLIPEncoder(Encoder):
    """An open_clip model with its own eval transform and tokenizer."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, model_cfg: dict, *, name: str,
                 device: str | None = None, fp16: bool = False) -> None:
        self.device = tu.pick_device(device)
        self.dtype = tu.pick_dtype(self.device, fp16)
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_cfg = model_cfg
        self.name = name
        self.dim = int(model_cfg["embed_dim"])

    # ---- loading / saving -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, spec: str, *, device: str | None = None, fp16: bool = False,
                        name: str | None = None) -> "OpenCLIPEncoder":
        """Load from a local directory or ``hf-hub:<org/repo>`` (a bare ``org/repo`` means the hub too)."""
        if not spec or spec == "openclip":
            raise ModelUnavailableError(
                "no model given; use openclip:hf-hub:<org/repo> or openclip:<local dir>, "
                "e.g. openclip:hf-hub:Marqo/marqo-fashionSigLIP"
            )
        try:
            import open_clip
        except ImportError as exc:
            raise ModelUnavailableError(
                "the openclip backend needs open-clip-torch; pip install 'fashionrag[openclip]'"
            ) from exc

        if not spec.startswith(HUB) and tu.looks_like_path(spec):
            local = Path(spec).expanduser().resolve()
            if not (local / CONFIG_FILE).is_file():
                raise ModelUnavailableError(
                    f"{spec}: not an open_clip model directory (no {CONFIG_FILE}); "
                    "pass a directory laid out like the hub repos, or openclip:hf-hub:<org/repo>"
                )
            model_name, default_name = f"local-dir:{local}", f"openclip:{local}"
        else:
            repo = spec[len(HUB):] if spec.startswith(HUB) else spec
            _check_hub_cache(repo)
            model_name, default_name = f"{HUB}{repo}", f"openclip:{HUB}{repo}"

        try:
            model_cfg = open_clip.get_model_config(model_name)
            model, preprocess = open_clip.create_model_from_pretrained(model_name, device="cpu")
            tokenizer = open_clip.get_tokenizer(model_name)
        except (OSError, RuntimeError, ValueError, ImportError) as exc:
            hint = "pip install sentencepiece" if "sentencepiece" in str(exc).lower() else tu.hub_hint("openclip")
            raise ModelUnavailableError(
                f"openclip:{spec} could not be loaded ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); {hint}"
            ) from exc
        if not model_cfg or "embed_dim" not in model_cfg:
            raise ModelUnavailableError(f"openclip:{spec}: {CONFIG_FILE} has no model_cfg.embed_dim; re-save the model")
        return cls(model, preprocess, tokenizer, model_cfg, name=name or default_name, device=device, fp16=fp16)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the hub layout (config, safetensors weights, HF tokenizer files if any)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        preprocess_cfg = dict(getattr(self.model.visual, "preprocess_cfg", {}) or {})
        config = {"model_cfg": self.model_cfg, "preprocess_cfg": preprocess_cfg}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=list))
        state = {k: v.detach().float().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        hf_tokenizer = getattr(self.tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps one
        if hf_tokenizer is not None and hasattr(hf_tokenizer, "save_pretrained"):
            hf_tokenizer.save_pretrained(directory)
        return directory

    # ---- encoding ---------------------------------------------------------------------------------
    def encode_images(self, images: Sequence[ImageInput], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        import torch

        chunks = []
        for start, chunk in tu.batches(images, batch_size, progress=progress, desc=f"{self.name} images"):
            pixels = torch.stack([self.preprocess(img) for img in tu.load_batch(chunk, start)])
            with torch.inference_mode():
                feats = self.model.encode_image(pixels.to(self.device, dtype=self.dtype))
            chunks.append(tu.features_to_numpy(feats))
        return np.concatenate(chunks) if chunks else tu.empty(self.dim)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        chunks = []
        for _, chunk in tu.batches(texts, batch_size, progress=progress, desc=f"{self.name} texts"):
            tokens = self.tokenizer(list(chunk))
            with torch.inference_mode():
                feats = self.model.encode_text(tokens.to(self.device))
            chunks.append(tu.features_to_numpy(feats))
        return np.concatenate(chunks) if chunks else tu.empty(self.dim)


def _check_hub_cache(repo: str) -> None:
    """Fail fast (instead of retrying the network) when offline and the repo was never downloaded."""
    if not tu.hub_offline():
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo, CONFIG_FILE)
    except ValueError:  # malformed repo id
        cached = None
    if not isinstance(cached, str):
        raise ModelUnavailableError(
            f"openclip:{HUB}{repo} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            + tu.hub_hint("openclip")
        )


@register("openclip")
def create_openclip(spec: str, *, device: str | None = None, fp16: bool = False,
                    name: str | None = None) -> OpenCLIPEncoder:
    """Registry factory for ``openclip:<hf-hub:org/repo or local dir>``."""
    return OpenCLIPEncoder.from_pretrained(spec, device=device, fp16=fp16, name=name)
