"""The Fashion-RAG editing pipeline: person photo + text -> retrieved garments -> repainted garment.

Read :meth:`FashionRAGPipeline.__call__` top to bottom for how the parts work together:

1. letterbox the photo to 512x384; keypoints (user's, or MediaPipe's mapped to OpenPose-18) become 18
   Gaussian heatmaps; the mask (user's, or from the keypoints / a person segmentation) marks the garment;
2. retrieve k garments by the text through the shared :class:`~fashionrag.retrieval.retriever.Retriever`,
   inside the garment category (the vocabulary's ``edit_categories``), with the index's own encoder;
3. CLIP vision tower -> inversion adapter -> 16 pseudo-tokens per garment, injected at the ``$``
   placeholders of the prompt into the frozen text encoder;
4. DDIM with classifier-free guidance; the unconditional branch has the empty prompt *and* zero pose;
5. decode, undo the letterbox, and (``paste_back``, the default) paste into the photo: pixels outside the mask
   are the input's; ``paste_back=False`` returns the raw decoded image, as the paper does.

Profiles (:mod:`.edit_profiles`, the ``EDIT_PROFILES`` registry): ``hf`` loads SD-2-inpainting + CLIP ViT-H/14 +
the released Fashion-RAG checkpoints; ``tiny`` builds tiny random versions of the very same classes locally;
``lite`` is the offline pixel-transfer editor (:mod:`.edit_lite`). Any directory written by
:meth:`FashionRAGPipeline.save_pretrained` loads with ``from_pretrained``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel

from ..core.device import pick_device, pick_dtype
from ..core.errors import InvalidInputError, ModelUnavailableError
from ..core.images import ImageInput, load_image
from ..core.schemas import EditGarment, EditResult
from ..models.edit_unet import EDIT_IN_CHANNELS, POSE_CHANNELS, load_edit_unet
from ..models.inversion_adapter import InversionAdapter, garment_tokens, preprocess_garments
from ..models.text_injection import (
    build_prompt_ids,
    encode_plain,
    encode_with_pseudo_tokens,
    placeholder_token_id,
    prompt_text,
)
from ..vision import keypoints as kpts
from .edit_common import MAX_K, check_category, retrieve_garments
from .edit_inputs import (
    Letterbox,
    bbox_mask,
    check_mask,
    keypoint_heatmaps,
    pose_preview,
    resize_heatmaps,
    segmentation_mask,
)

log = logging.getLogger(__name__)

CONFIG_NAME = "fashionrag_edit.json"


class EditConfig(BaseModel):
    """Pipeline-level settings saved beside the components."""

    num_vstar: int = 16
    height: int = 512
    width: int = 384
    default_k: int = 3
    prompt_mode: str = "category"
    profile: str = "custom"


class FashionRAGPipeline:
    #: What the faces branch on: the diffusion editors take steps/guidance/prompt options, ``lite`` takes a mode.
    kind = "diffusion"

    """Retrieval-augmented, pose-conditioned garment inpainting (see the module docstring).

    Components are passed in (dependency injection); ``retriever`` (the shared
    :class:`~fashionrag.retrieval.retriever.Retriever`) may be None for edits with explicit garments or k = 0. ``pose_estimator(rgb) -> (33, 3|4|5) landmarks or None`` and
    ``person_segmenter(rgb) -> (H, W) probabilities`` default to the MediaPipe models of
    :mod:`fashionrag.vision` when first needed.
    """

    def __init__(
        self,
        *,
        vae,
        text_encoder,
        tokenizer,
        unet,
        scheduler,
        image_encoder,
        inversion_adapter: InversionAdapter,
        config: EditConfig | None = None,
        retriever=None,
        pose_estimator: Callable[[np.ndarray], Optional[np.ndarray]] | None = None,
        person_segmenter: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.vae, self.text_encoder, self.tokenizer, self.unet = vae, text_encoder, tokenizer, unet
        self.scheduler, self.image_encoder, self.inversion_adapter = scheduler, image_encoder, inversion_adapter
        self.config = config or EditConfig(num_vstar=inversion_adapter.config.num_vstar)
        self.retriever = retriever
        self.pose_estimator, self.person_segmenter = pose_estimator, person_segmenter
        if unet.config.in_channels != EDIT_IN_CHANNELS:
            raise ModelUnavailableError(f"the UNet has {unet.config.in_channels} input channels, the editor needs {EDIT_IN_CHANNELS}")
        if inversion_adapter.config.token_dim != text_encoder.config.hidden_size:
            raise ModelUnavailableError("the inversion adapter's token size does not match the text encoder's")
        self.placeholder_id = placeholder_token_id(tokenizer)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        for m in self._modules():
            m.requires_grad_(False)
            m.eval()
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def _modules(self) -> list[torch.nn.Module]:
        return [self.vae, self.text_encoder, self.unet, self.image_encoder, self.inversion_adapter]

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "FashionRAGPipeline":
        """Move every model; ``dtype`` defaults to fp16 on CUDA and fp32 elsewhere."""
        device = pick_device(device)
        dtype = dtype or pick_dtype(device)
        for m in self._modules():
            # only cast when needed: diffusers warns on any dtype cast of a loaded model
            m.to(device=device) if next(m.parameters()).dtype == dtype else m.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self

    # -- serialisation -------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(str(path / "vae"))
        self.unet.save_pretrained(str(path / "unet"))
        self.text_encoder.save_pretrained(str(path / "text_encoder"))
        self.tokenizer.save_pretrained(str(path / "tokenizer"))
        self.scheduler.save_pretrained(str(path / "scheduler"))
        self.image_encoder.save_pretrained(str(path / "image_encoder"))
        self.inversion_adapter.save_pretrained(path / "inversion_adapter")
        (path / CONFIG_NAME).write_text(self.config.model_dump_json(indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None, **kwargs: Any) -> "FashionRAGPipeline":
        """Load a directory written by :meth:`save_pretrained`."""
        from diffusers import AutoencoderKL, DDIMScheduler
        from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModel

        path = Path(path)
        missing = [p for p in ("vae", "unet", "text_encoder", "tokenizer", "scheduler", "image_encoder", "inversion_adapter", CONFIG_NAME)
                   if not (path / p).exists()]
        if missing:
            raise ModelUnavailableError(
                f"{path} is not a saved editing pipeline (missing: {', '.join(missing)}); "
                "create one with FashionRAGPipeline.save_pretrained or use --profile hf|tiny"
            )
        try:
            pipe = cls(
                vae=AutoencoderKL.from_pretrained(str(path / "vae")),
                unet=load_edit_unet(path / "unet"),
                text_encoder=CLIPTextModel.from_pretrained(str(path / "text_encoder")),
                tokenizer=CLIPTokenizer.from_pretrained(str(path / "tokenizer")),
                scheduler=DDIMScheduler.from_pretrained(str(path / "scheduler")),
                image_encoder=CLIPVisionModel.from_pretrained(str(path / "image_encoder")),
                inversion_adapter=InversionAdapter.from_pretrained(path / "inversion_adapter"),
                config=EditConfig(**json.loads((path / CONFIG_NAME).read_text())),
                **kwargs,
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"cannot load the editing pipeline from {path}: {exc}") from exc
        return pipe.to(device, dtype)

    @classmethod
    def from_profile(cls, profile: str, *, weights: str | Path | None = None, device: str | torch.device | None = None,
                     dtype: torch.dtype | None = None, **kwargs: Any) -> "FashionRAGPipeline":
        """A diffusion profile of :data:`~fashionrag.pipelines.edit_profiles.EDIT_PROFILES` (``tiny``, ``hf``), or
        ``weights=DIR`` (a saved pipeline)."""
        if weights is not None:
            return cls.from_pretrained(weights, device=device, dtype=dtype, **kwargs)
        from .edit_profiles import DIFFUSION_PROFILES, EDIT_PROFILES

        if profile not in DIFFUSION_PROFILES:
            EDIT_PROFILES.get(profile)  # an unknown name: the registry's error lists the known ones
            raise ModelUnavailableError(
                f"{profile!r} is not a diffusion profile; use --profile hf (released Fashion-RAG weights) or tiny "
                "(random weights, smoke tests), or --weights DIR"
            )
        return EDIT_PROFILES.create(profile, device=device, dtype=dtype, **kwargs)

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, text: str, category: str, k: int, exclude_ids: Sequence[str] = (),
                 filters: Mapping[str, Sequence[str]] | None = None) -> list[tuple[EditGarment, Image.Image]]:
        """Top-k garments of ``category`` for ``text`` from the retriever, skipping ``exclude_ids`` and unreadable images."""
        return retrieve_garments(self.retriever, text, category, k, exclude_ids=exclude_ids, filters=filters)

    # -- conditioning --------------------------------------------------------------------------
    @torch.no_grad()
    def encode_conditioning(self, text: str, category: str, garments: Sequence[Image.Image], prompt_mode: str | None = None):
        """Prompt embeddings (1, 77, D) with the garments' pseudo-tokens at the ``$`` positions, and the prompt."""
        n = len(garments) * self.config.num_vstar
        words = prompt_text(category, text, prompt_mode or self.config.prompt_mode, n_garments=len(garments))
        ids = build_prompt_ids(self.tokenizer, words, n, keep_words=(prompt_mode or self.config.prompt_mode) == "category")
        pseudo = None
        if garments:
            px = preprocess_garments(garments, self.image_encoder.config.image_size).to(self.device, self.dtype)
            pseudo = garment_tokens(self.image_encoder, self.inversion_adapter, px).reshape(1, n, -1)
        embeds = encode_with_pseudo_tokens(self.text_encoder, ids.to(self.device), pseudo, self.placeholder_id)
        prompt = (words + " " + " ".join(["$"] * n)).strip()
        return embeds, prompt

    # -- the edit ------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        text: str = "",
        *,
        category: str = "upper_body",
        k: int | None = None,
        garments: Sequence[ImageInput] | None = None,
        exclude_ids: Sequence[str] = (),
        mask: ImageInput | np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
        mask_style: str = "bbox",
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        prompt_mode: str | None = None,
        eta: float = 0.0,
        paste_back: bool = True,
        filters: Mapping[str, Sequence[str]] | None = None,
        progress: bool = False,
    ) -> EditResult:
        """Edit the garment of ``category`` in ``image`` after ``text``.

        ``garments`` (images) replaces retrieval; otherwise k (default 3, at most 4; 0 = text only) garments
        are retrieved. ``mask`` (white = repaint, the photo's size) and ``keypoints`` ((18, 2|3) OpenPose in
        photo pixels) override the automatic ones. ``seed`` makes the run reproducible on a given device.
        ``paste_back=False`` returns the decoder's image (letterbox undone) instead of pasting the masked region
        into the photo.
        """
        t0 = time.perf_counter()
        check_category(category)
        if mask_style not in ("bbox", "segmentation"):
            raise InvalidInputError(f"unknown mask style {mask_style!r}; use 'bbox' or 'segmentation'")
        if num_inference_steps < 1:
            raise InvalidInputError("num_inference_steps must be >= 1")
        photo = load_image(image)
        w0, h0 = photo.size
        H, W = self.config.height, self.config.width
        box = Letterbox(src=(w0, h0), dst=(W, H))
        rgb = np.asarray(photo)

        # 1. keypoints and mask, at the photo's size
        kp, pose_source = self._keypoints(rgb, keypoints, need=mask is None)
        mask_src, mask_source = self._mask(rgb, mask, kp, category, mask_style)

        # 2. garments: given, or retrieved live
        if garments is not None:
            garment_imgs = [load_image(g) for g in garments]
            retrieved = [EditGarment(id=f"given-{i}", image_path=str(g) if isinstance(g, (str, os.PathLike)) else None)
                         for i, g in enumerate(garments)]
        else:
            k = self.config.default_k if k is None else int(k)
            if not 0 <= k <= MAX_K:
                raise InvalidInputError(f"k must be between 0 and {MAX_K}, got {k}")
            found = self.retrieve(text, category, k, exclude_ids, filters)
            retrieved, garment_imgs = [g for g, _ in found], [im for _, im in found]
        if len(garment_imgs) > MAX_K:
            raise InvalidInputError(f"at most {MAX_K} garments fit in the prompt, got {len(garment_imgs)}")

        # 3. conditioning
        cond, prompt = self.encode_conditioning(text, category, garment_imgs, prompt_mode)
        do_cfg = guidance_scale > 1.0
        if do_cfg:
            uncond = encode_plain(self.text_encoder, self.tokenizer, [""]).to(cond.dtype)
            cond = torch.cat([uncond, cond])

        # 4. the UNet's extra inputs at latent size
        lh, lw = H // self.vae_scale_factor, W // self.vae_scale_factor
        work = box.image(photo)
        work_mask = box.mask(mask_src)
        pixels = torch.from_numpy(np.asarray(work, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        m = torch.from_numpy(work_mask.astype(np.float32))[None, None]
        masked = pixels * (m < 0.5)
        pose = np.zeros((POSE_CHANNELS, lh, lw), np.float32)
        if kp is not None:
            pose = resize_heatmaps(keypoint_heatmaps(box.points(kp), H, W), lh, lw)
        pose_t = torch.from_numpy(pose)[None].to(self.device, self.dtype)

        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
        sf = self.vae.config.scaling_factor
        masked_lat = self.vae.encode(masked.to(self.device, self.dtype)).latent_dist.sample(generator=generator) * sf
        m_lat = torch.nn.functional.interpolate(m, size=(lh, lw)).to(self.device, self.dtype)
        if do_cfg:
            extra = torch.cat([torch.cat([m_lat, masked_lat, torch.zeros_like(pose_t)], 1),
                               torch.cat([m_lat, masked_lat, pose_t], 1)])
        else:
            extra = torch.cat([m_lat, masked_lat, pose_t], 1)

        # 5. DDIM
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        latents = torch.randn((1, 4, lh, lw), generator=generator, device=self.device, dtype=self.dtype)
        latents = latents * self.scheduler.init_noise_sigma
        steps = self.scheduler.timesteps
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="denoising", unit="step")
        for t in steps:
            inp = torch.cat([latents] * 2) if do_cfg else latents
            inp = self.scheduler.scale_model_input(inp, t)
            noise = self.unet(torch.cat([inp, extra], 1), t, encoder_hidden_states=cond).sample
            if do_cfg:
                n_uncond, n_cond = noise.chunk(2)
                noise = n_uncond + guidance_scale * (n_cond - n_uncond)
            latents = self.scheduler.step(noise, t, latents, eta=eta, generator=generator).prev_sample

        # 6. decode, undo the letterbox, paste back
        out = self.vae.decode(latents / sf).sample[0].float().clamp(-1, 1)
        gen = Image.fromarray(((out.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8))
        gen = box.invert_image(gen)
        keep = mask_src[..., None] == 0
        result = Image.fromarray(np.where(keep, rgb, np.asarray(gen)).astype(np.uint8)) if paste_back else gen

        preview = pose_preview(kp, w0, h0) if kp is not None else Image.new("RGB", (w0, h0))
        return EditResult(
            text=text, category=category, k=len(retrieved), retrieved=retrieved, prompt=prompt,
            mask_source=mask_source, pose_source=pose_source, profile=self.config.profile, paste_back=paste_back,
            encoder=self.retriever.encoder.name if (self.retriever is not None and garments is None and retrieved) else None,
            filters=self.retriever.category_filter(category) if (self.retriever is not None and garments is None and retrieved) else {},
            seed=seed, steps=num_inference_steps, guidance_scale=guidance_scale, device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."), seconds=round(time.perf_counter() - t0, 3),
            input_image=photo, image=result, mask_image=Image.fromarray(mask_src * 255), pose_image=preview,
            garment_images=list(garment_imgs), keypoints=kp,
        )

    # -- automatic inputs ------------------------------------------------------------------------
    def _keypoints(self, rgb: np.ndarray, keypoints: np.ndarray | None, need: bool) -> tuple[Optional[np.ndarray], str]:
        h, w = rgb.shape[:2]
        if keypoints is not None:
            return kpts.validate(keypoints), "user"
        if self.pose_estimator is None:
            from ..vision.person import default_pose_estimator

            self.pose_estimator = default_pose_estimator()
        landmarks = self.pose_estimator(rgb)
        if landmarks is None:
            if need:
                raise InvalidInputError(
                    "no person found in the photo; use a photo of one person (full torso visible) or pass "
                    "--mask PATH (and keypoints) yourself"
                )
            log.warning("no person found: editing with zero pose heatmaps inside the given mask")
            return None, "none"
        return kpts.from_mediapipe(landmarks, bounds=(w, h)), "auto"

    def _mask(self, rgb: np.ndarray, mask: Any, kp: Optional[np.ndarray], category: str, style: str) -> tuple[np.ndarray, str]:
        h, w = rgb.shape[:2]
        if mask is not None:
            if not isinstance(mask, np.ndarray):
                mask = load_image(mask, name=str(mask) if isinstance(mask, (str, os.PathLike)) else "mask", min_side=1)
            return check_mask(mask, (w, h)), "user"
        assert kp is not None
        if style == "segmentation":
            if self.person_segmenter is None:
                from ..vision.person import default_person_segmenter

                self.person_segmenter = default_person_segmenter()
            person = np.asarray(self.person_segmenter(rgb)) > 0.5
            out = segmentation_mask(kp, person, category)
            if out.any():
                return out, "auto-segmentation"
            log.warning("the person segmentation is empty; using the bounding-box mask")
        out = bbox_mask(kp, category, w, h)
        if not out.any():
            raise InvalidInputError(f"could not place a {category} mask on this photo; pass --mask PATH")
        return out, "auto-bbox"
