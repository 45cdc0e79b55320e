"""The inversion adapter: a garment image -> 16 pseudo-word embeddings (textual inversion).

Architecture of the Fashion-RAG reference (inherited from LaDI-VTON): the frozen CLIP vision encoder's
*last hidden state* (all 257 tokens of ViT-H/14, before the post-layernorm) goes through one trainable
CLIP encoder layer; its CLS token is layer-normed and mapped by an MLP
(1280 -> 5120 -> 5120 -> 16 x 1024, GELU, dropout 0.5) to 16 vectors in the text encoder's
token-embedding space. Garments are processed independently; a caller concatenates their tokens.

Module names (``encoder_layers``, ``post_layernorm``, ``layers``) match the reference so that the
released ``inversion_adapter_120000.pth`` loads as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel
from transformers.models.clip.modeling_clip import CLIPEncoderLayer

from ..core.errors import ModelUnavailableError

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter.safetensors"

#: CLIP image normalisation (OpenAI and LAION CLIP use the same constants).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class InversionAdapterConfig(BaseModel):
    """Sizes of the adapter. Defaults are the reference (ViT-H/14 -> SD-2 text encoder)."""

    vision_hidden_size: int = 1280
    num_attention_heads: int = 16
    intermediate_size: int = 5120
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    num_encoder_layers: int = 1
    hidden_dim: int = 5120
    token_dim: int = 1024
    num_vstar: int = 16
    dropout: float = 0.5

    @classmethod
    def tiny(cls) -> "InversionAdapterConfig":
        """Same shape of network, tiny widths: for tests."""
        return cls(vision_hidden_size=32, num_attention_heads=4, intermediate_size=64, hidden_dim=128, token_dim=32)

    @classmethod
    def for_models(cls, vision_config: CLIPVisionConfig, token_dim: int, num_vstar: int = 16) -> "InversionAdapterConfig":
        """The reference rule: the encoder layer copies the vision config, the MLP is 4x its width."""
        return cls(
            vision_hidden_size=vision_config.hidden_size,
            num_attention_heads=vision_config.num_attention_heads,
            intermediate_size=vision_config.intermediate_size,
            hidden_act=vision_config.hidden_act,
            layer_norm_eps=vision_config.layer_norm_eps,
            hidden_dim=vision_config.hidden_size * 4,
            token_dim=token_dim,
            num_vstar=num_vstar,
        )

    def clip_layer_config(self) -> CLIPVisionConfig:
        return CLIPVisionConfig(
            hidden_size=self.vision_hidden_size,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            attention_dropout=0.0,
        )


class InversionAdapter(nn.Module):
    """CLIP vision hidden states (B, 257, 1280) -> pseudo-token embeddings (B, num_vstar, token_dim)."""

    def __init__(self, config: InversionAdapterConfig):
        super().__init__()
        self.config = config
        layer_cfg = config.clip_layer_config()
        # The attention implementation must be set before the layer is built (transformers 5).
        layer_cfg._attn_implementation = "sdpa"
        self.encoder_layers = nn.ModuleList([CLIPEncoderLayer(layer_cfg) for _ in range(config.num_encoder_layers)])
        self.post_layernorm = nn.LayerNorm(config.vision_hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.Sequential(
            nn.Linear(config.vision_hidden_size, config.hidden_dim),
            nn.GELU(),
            nn.Dropout(p=config.dropout),
            nn.Linear(config.hidden_dim, config.hidden_dim),
            nn.GELU(),
            nn.Dropout(p=config.dropout),
            nn.Linear(config.hidden_dim, config.token_dim * config.num_vstar),
        )

    def forward(self, vision_hidden_states: torch.Tensor) -> torch.Tensor:
        x = vision_hidden_states
        for layer in self.encoder_layers:
            out = layer(x, None)
            x = out[0] if isinstance(out, tuple) else out
        x = self.post_layernorm(x[:, 0, :])  # CLS token only
        x = self.layers(x)
        return x.view(x.shape[0], self.config.num_vstar, self.config.token_dim)

    # -- serialisation -------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_NAME).write_text(self.config.model_dump_json(indent=2))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(path / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "InversionAdapter":
        path = Path(path)
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise ModelUnavailableError(
                f"no inversion adapter at {path} (expected {CONFIG_NAME} and {WEIGHTS_NAME}); "
                "save one with InversionAdapter.save_pretrained or train one with `fashionrag train editor`"
            )
        config = InversionAdapterConfig(**json.loads((path / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
        return model.eval()

    def load_reference_checkpoint(self, pth_path: str | Path) -> None:
        """Load the reference's ``inversion_adapter_*.pth`` (a plain state dict with our key names)."""
        state = torch.load(str(pth_path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        self.load_state_dict(state, strict=True)


#: Every garment is first resized to the reference's working size, 384x512 (w x h), as its Dress Code loader does.
GARMENT_SIZE = (384, 512)


def preprocess_garments(
    images: Sequence[Image.Image], image_size: int, *, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD,
    pre_size: tuple[int, int] | None = GARMENT_SIZE,
) -> torch.Tensor:
    """The reference's garment pixels: resize to ``pre_size`` (384x512, bicubic) first, then ``CLIPImageProcessor``
    semantics — bicubic resize of the shortest side to ``image_size`` with the long side *floored*, centre crop,
    rescale to [0, 1], OpenAI mean/std -> (N, 3, S, S)."""
    out = []
    for img in images:
        img = img.convert("RGB")
        if pre_size is not None:
            img = img.resize(pre_size, Image.BICUBIC)
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(image_size * long / short)  # floored, as transformers' get_resize_output_image_size
        nw, nh = (image_size, new_long) if w <= h else (new_long, image_size)
        img = img.resize((nw, nh), Image.BICUBIC)
        top, left = (nh - image_size) // 2, (nw - image_size) // 2
        img = img.crop((left, top, left + image_size, top + image_size))
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
        out.append(torch.from_numpy(arr).permute(2, 0, 1))
    return torch.stack(out) if out else torch.zeros(0, 3, image_size, image_size)


def garment_tokens(
    vision_model: CLIPVisionModel, adapter: InversionAdapter, pixel_values: torch.Tensor
) -> torch.Tensor:
    """(k,3,S,S) garment pixels -> (k, num_vstar, token_dim) pseudo-token embeddings.

    Uses the vision encoder's ``last_hidden_state`` (all tokens, before post-layernorm), as the reference.
    """
    param = next(vision_model.parameters())
    hidden = vision_model(pixel_values=pixel_values.to(param.device, param.dtype)).last_hidden_state
    adapter_param = next(adapter.parameters())
    return adapter(hidden.to(adapter_param.dtype))


def tiny_vision_config() -> CLIPVisionConfig:
    """A tiny CLIP vision tower (same class as ViT-H/14, 32 wide, 2 layers, 32px images)."""
    return CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=32,
    )


def vit_h14_vision_config() -> CLIPVisionConfig:
    """The config of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``'s vision tower (for random-weight benchmarks)."""
    return CLIPVisionConfig(
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
        image_size=224, patch_size=14, projection_dim=1024, hidden_act="gelu", layer_norm_eps=1e-5,
    )
