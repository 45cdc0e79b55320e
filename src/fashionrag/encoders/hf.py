"""Hugging Face transformers CLIP / SigLIP / SigLIP2 encoders: ``hf:<hub id or local dir>``.

Covers FashionCLIP (``hf:patrickjohncyh/fashion-clip``), ``hf:openai/clip-vit-base-patch32``,
``hf:openai/clip-vit-large-patch14`` and ``hf:google/siglip-*``. The family is read from the
checkpoint's ``config.json`` (``model_type``), and the tokenizer and image processor always come from
the same path, so a checkpoint is used exactly the way it was trained.

Hub ids are looked up in the local Hugging Face cache first, so a downloaded model works offline
without any flag; only a model missing from the cache needs the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import ModelUnavailableError
from ..core.images import ImageInput
from . import _torch_utils as tu
from .base import Encoder, register

#: model_type -> how its text side must be padded. SigLIP was trained on fixed-length, padded text
#: and pools the last token, so it needs ``max_length`` padding; CLIP pools the EOS token.
_FAMILIES = {"clip": True, "siglip": "max_length", "siglip2": "max_length"}


class HFEncoder(Encoder):
    """A transformers dual encoder (CLIPModel, SiglipModel or Siglip2Model) with its own preprocessing."""

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any, *, name: str, device: str | None = None,
                 fp16: bool = False) -> None:
        self.device = tu.pick_device(device)
        self.dtype = tu.pick_dtype(self.device, fp16)
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.name = name
        config = model.config
        self.model_type: str = config.model_type
        if self.model_type == "clip":
            self.dim = int(config.projection_dim)
        else:  # SigLIP heads keep the hidden size
            self.dim = int(config.vision_config.hidden_size)
        self._padding = _FAMILIES[self.model_type]
        self._max_length = int(config.text_config.max_position_embeddings)

    # ---- loading / saving -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path_or_id: str, *, device: str | None = None, fp16: bool = False,
                        name: str | None = None) -> "HFEncoder":
        """Load a CLIP/SigLIP checkpoint from a local directory or a hub id (cache first, then network)."""
        if not path_or_id or path_or_id == "hf":
            raise ModelUnavailableError("no model given; use hf:<hub id or local dir>, e.g. hf:patrickjohncyh/fashion-clip")
        if tu.looks_like_path(path_or_id):
            local = Path(path_or_id).expanduser().resolve()
            if not (local / "config.json").is_file():
                raise ModelUnavailableError(
                    f"{path_or_id}: not a saved transformers model (no config.json); "
                    "pass a directory written by save_pretrained, or a hub id like hf:patrickjohncyh/fashion-clip"
                )
            try:
                parts = _load_parts(str(local), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ModelUnavailableError(
                    f"{path_or_id}: cannot load the saved model ({str(exc).splitlines()[0]}); re-save it with save_pretrained"
                ) from exc
            default_name = f"hf:{local}"
        else:
            parts = _load_from_hub(path_or_id)
            default_name = f"hf:{path_or_id}"
        return cls(*parts, name=name or default_name, device=device, fp16=fp16)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write model, tokenizer and image processor side by side; ``hf:<directory>`` loads it back."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)
        return directory

    # ---- encoding ---------------------------------------------------------------------------------
    def encode_images(self, images: Sequence[ImageInput], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        import torch

        chunks = []
        for start, chunk in tu.batches(images, batch_size, progress=progress, desc=f"{self.name} images"):
            pil = tu.load_batch(chunk, start)
            inputs = self.image_processor(images=pil, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with torch.inference_mode():
                chunks.append(tu.features_to_numpy(self.model.get_image_features(**inputs)))
        return np.concatenate(chunks) if chunks else tu.empty(self.dim)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        chunks = []
        for _, chunk in tu.batches(texts, batch_size, progress=progress, desc=f"{self.name} texts"):
            inputs = self.tokenizer(list(chunk), padding=self._padding, truncation=True,
                                    max_length=self._max_length, return_tensors="pt")
            # Only what the text tower takes (some tokenizers also return token_type_ids).
            inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                chunks.append(tu.features_to_numpy(self.model.get_text_features(**inputs)))
        return np.concatenate(chunks) if chunks else tu.empty(self.dim)


def _load_parts(path: str, *, local_files_only: bool) -> tuple[Any, Any, Any]:
    """Config -> family check -> model, tokenizer, image processor, all from ``path``."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(path, local_files_only=local_files_only)
    if config.model_type not in _FAMILIES:
        raise ModelUnavailableError(
            f"{path}: model_type {config.model_type!r} is not a supported dual encoder; "
            f"use a CLIP or SigLIP checkpoint ({', '.join(_FAMILIES)}) or the openclip: backend"
        )
    model = AutoModel.from_pretrained(path, local_files_only=local_files_only)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
    except (ImportError, ValueError) as exc:
        # SigLIP v1 checkpoints ship a sentencepiece tokenizer only.
        if isinstance(exc, ImportError) or "sentencepiece" in str(exc).lower():
            raise ModelUnavailableError(
                f"{path}: its tokenizer needs the sentencepiece package; pip install sentencepiece"
            ) from exc
        raise
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=local_files_only)
    return model, tokenizer, image_processor


def _load_from_hub(model_id: str) -> tuple[Any, Any, Any]:
    try:
        return _load_parts(model_id, local_files_only=True)
    except ModelUnavailableError:
        raise
    except (OSError, ValueError) as exc:
        cached_error: Exception = exc
    if tu.hub_offline():
        raise ModelUnavailableError(
            f"hf:{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            + tu.hub_hint("hf")
        ) from cached_error
    try:
        return _load_parts(model_id, local_files_only=False)
    except ModelUnavailableError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"hf:{model_id} could not be loaded from the cache or the hub ({str(exc).splitlines()[0]}); "
            + tu.hub_hint("hf")
        ) from exc


@register("hf")
def create_hf(spec: str, *, device: str | None = None, fp16: bool = False, name: str | None = None) -> HFEncoder:
    """Registry factory for ``hf:<hub id or local dir>``."""
    return HFEncoder.from_pretrained(spec, device=device, fp16=fp16, name=name)
