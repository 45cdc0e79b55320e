"""The editing UNet: SD-2-inpainting's UNet with ``conv_in`` widened from 9 to 27 input channels.

Channels, in order: noisy latent (4) | mask (1) | masked-image latent (4) | 18 OpenPose-COCO keypoint
heatmaps. Converting a base inpainting UNet copies the first 9 channels' weights and bias and
zero-initialises the 18 new ones, so the converted model starts out computing exactly what the base
model computed (the pose is ignored until trained).

It is a plain ``diffusers.UNet2DConditionModel``: ``save_pretrained`` / ``from_pretrained`` are diffusers'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from ..core.errors import ModelUnavailableError

LATENT_CHANNELS = 4
POSE_CHANNELS = 18
INPAINT_IN_CHANNELS = 9
EDIT_IN_CHANNELS = LATENT_CHANNELS + 1 + LATENT_CHANNELS + POSE_CHANNELS  # 27


def widen_conv_in(unet: UNet2DConditionModel, new_in_channels: int = EDIT_IN_CHANNELS) -> UNet2DConditionModel:
    """Replace ``unet.conv_in`` by one with ``new_in_channels`` inputs: old weights copied, new ones zero."""
    old = unet.conv_in
    if old.in_channels == new_in_channels:
        return unet
    if old.in_channels > new_in_channels:
        raise ValueError(f"conv_in already has {old.in_channels} > {new_in_channels} input channels")
    new = torch.nn.Conv2d(
        new_in_channels, old.out_channels, kernel_size=old.kernel_size, stride=old.stride, padding=old.padding,
        device=old.weight.device, dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=new_in_channels)
    return unet


def sd2_inpainting_unet_config(in_channels: int = INPAINT_IN_CHANNELS) -> dict[str, Any]:
    """The architecture of ``stabilityai/stable-diffusion-2-inpainting``'s UNet (for random-weight benchmarks)."""
    return dict(
        sample_size=64, in_channels=in_channels, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
        act_fn="silu", norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
    )


def tiny_unet_config(in_channels: int = EDIT_IN_CHANNELS, cross_attention_dim: int = 32) -> dict[str, Any]:
    """Same block types as SD-2, tiny widths: for tests."""
    return dict(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=cross_attention_dim,
        attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=8,
    )


def sd_vae_config() -> dict[str, Any]:
    """The SD-2 VAE architecture (8x downsampling, 4 latent channels)."""
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=768,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=0.18215,
    )


def tiny_vae_config() -> dict[str, Any]:
    """A tiny VAE that still downsamples by 8 (so latent sizes match the real one)."""
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, sample_size=64,
        block_out_channels=(8, 8, 16, 16), norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=0.18215,
    )


def build_edit_unet(config: dict[str, Any]) -> UNet2DConditionModel:
    """A random-init editing UNet from a config (``in_channels`` forced to 27)."""
    return UNet2DConditionModel(**{**config, "in_channels": EDIT_IN_CHANNELS})


def load_edit_unet(path: str | Path, **kwargs: Any) -> UNet2DConditionModel:
    """Load a saved editing UNet; a 9-channel inpainting UNet is converted on the fly."""
    try:
        unet = UNet2DConditionModel.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ModelUnavailableError(f"cannot load the editing UNet from {path}: {exc}") from exc
    if unet.config.in_channels == INPAINT_IN_CHANNELS:
        widen_conv_in(unet)
    if unet.config.in_channels != EDIT_IN_CHANNELS:
        raise ModelUnavailableError(
            f"the UNet at {path} has {unet.config.in_channels} input channels; the editor needs "
            f"{EDIT_IN_CHANNELS} (or a 9-channel inpainting UNet to convert)"
        )
    return unet


def load_reference_unet_checkpoint(unet: UNet2DConditionModel, pth_path: str | Path) -> list[str]:
    """Load the reference's ``unet_*.pth`` (a full state dict of the 27-channel UNet).

    Returns the names of keys the checkpoint holds that this UNet does not (the reference's UNet class
    is a modified diffusers copy; any extra module it saved is reported, not silently used).
    """
    state = torch.load(str(pth_path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = unet.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise ModelUnavailableError(
            f"{pth_path} does not fit the SD-2 editing UNet: {len(result.missing_keys)} missing keys "
            f"(first: {result.missing_keys[0]}); is it the Fashion-RAG unet checkpoint?"
        )
    return list(result.unexpected_keys)


def build_vae(config: dict[str, Any]) -> AutoencoderKL:
    return AutoencoderKL(**config)
