"""The Fashion-RAG editing pipeline: person photo + text -> retrieved garments -> repainted garment.

Read :meth:`FashionRAGPipeline.__call__` top to bottom for how the parts work together:

1. letterbox the photo to 512x384; keypoints (user's, or MediaPipe's mapped to OpenPose-18) become 18
   Gaussian heatmaps; the mask (user's, or from the keypoints / a person segmentation) marks the garment;
2. retrieve k garments from the vector store by the text, inside the garment category, with the
   *store's own* encoder (named in its manifest);
3. CLIP vision tower -> inversion adapter -> 16 pseudo-tokens per garment, injected at the ``$``
   placeholders of the prompt into the frozen text encoder;
4. DDIM with classifier-free guidance; the unconditional branch has the empty prompt *and* zero pose;
5. decode, undo the letterbox, and paste into the photo: pixels outside the mask are the input's.

Profiles: ``hf`` loads SD-2-inpainting + CLIP ViT-H/14 + the released Fashion-RAG checkpoints;
``tiny`` builds tiny random versions of the very same classes locally (tests, smoke checks);
any directory written by :meth:`FashionRAGPipeline.save_pretrained` loads with ``from_pretrained``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel

from ..core.errors import CatalogError, InvalidImageError, InvalidInputError, ModelUnavailableError
from ..core.images import ImageInput, load_image
from ..core.schemas import EditGarment
from ..models.edit_unet import (
    EDIT_IN_CHANNELS,
    POSE_CHANNELS,
    build_edit_unet,
    build_vae,
    load_edit_unet,
    load_reference_unet_checkpoint,
    tiny_unet_config,
    tiny_vae_config,
    widen_conv_in,
)
from ..models.inversion_adapter import (
    InversionAdapter,
    InversionAdapterConfig,
    garment_tokens,
    preprocess_garments,
    tiny_vision_config,
)
from ..models.text_injection import (
    build_prompt_ids,
    encode_plain,
    encode_with_pseudo_tokens,
    placeholder_token_id,
    prompt_text,
)
from .edit_inputs import (
    CATEGORIES,
    Letterbox,
    bbox_mask,
    check_mask,
    keypoint_heatmaps,
    mediapipe_to_openpose18,
    pose_preview,
    resize_heatmaps,
    segmentation_mask,
)

log = logging.getLogger(__name__)

CONFIG_NAME = "fashionrag_edit.json"
#: Hard cap on retrieved garments: 4 x 16 pseudo-tokens + <bos>/<eos> + a few words fill CLIP's 77 positions.
MAX_K = 4

HF_BASE = "stabilityai/stable-diffusion-2-inpainting"
HF_VISION = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
HF_WEIGHTS = "furio19/fashion-rag"
HF_UNET_FILE = "unet_120000.pth"
HF_ADAPTER_FILE = "inversion_adapter_120000.pth"

#: Default store filters per garment category; values cover KAGL subcategories and Dress Code names.
CATEGORY_FILTERS: dict[str, dict[str, list[str]]] = {
    "upper_body": {"subcategory": ["Topwear", "upper_body"]},
    "lower_body": {"subcategory": ["Bottomwear", "lower_body"]},
    "dresses": {"subcategory": ["Dress", "Dresses", "dresses"]},
}


class EditConfig(BaseModel):
    """Pipeline-level settings saved beside the components."""

    num_vstar: int = 16
    height: int = 512
    width: int = 384
    default_k: int = 3
    prompt_mode: str = "category"
    profile: str = "custom"


@dataclass
class EditOutput:
    """What one edit produced (images at the input photo's size)."""

    input: Image.Image
    image: Image.Image
    mask: Image.Image
    pose: Image.Image
    garments: list[Image.Image]
    retrieved: list[EditGarment]
    prompt: str
    keypoints: Optional[np.ndarray]
    mask_source: str
    pose_source: str
    settings: dict[str, Any] = field(default_factory=dict)

    def sheet(self, height: int = 256) -> Image.Image:
        """input | mask | pose | retrieved garments | result, side by side."""
        return make_sheet([self.input, self.mask.convert("RGB"), self.pose, *self.garments, self.image], height)


def make_sheet(images: Sequence[Optional[Image.Image]], height: int = 256) -> Image.Image:
    tiles = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height)) for im in images if im is not None]
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height), (255, 255, 255))
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 4
    return sheet


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class FashionRAGPipeline:
    """Retrieval-augmented, pose-conditioned garment inpainting (see the module docstring).

    Components are passed in (dependency injection); ``store`` / ``retrieval_encoder`` may be None for
    edits with explicit garments or k = 0. ``pose_estimator(rgb) -> (33, 3|4|5) landmarks or None`` and
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
        store=None,
        retrieval_encoder=None,
        pose_estimator: Callable[[np.ndarray], Optional[np.ndarray]] | None = None,
        person_segmenter: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.vae, self.text_encoder, self.tokenizer, self.unet = vae, text_encoder, tokenizer, unet
        self.scheduler, self.image_encoder, self.inversion_adapter = scheduler, image_encoder, inversion_adapter
        self.config = config or EditConfig(num_vstar=inversion_adapter.config.num_vstar)
        self.store, self.retrieval_encoder = store, retrieval_encoder
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
        device = torch.device(device) if device is not None else default_device()
        dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
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
                     dtype: torch.dtype | None = None, local_files_only: bool | None = None, **kwargs: Any) -> "FashionRAGPipeline":
        """``tiny`` (random, built locally), ``hf`` (the released weights) or ``weights=DIR`` (a saved pipeline)."""
        if weights is not None:
            return cls.from_pretrained(weights, device=device, dtype=dtype, **kwargs)
        if profile == "tiny":
            return cls.from_pretrained(tiny_pipeline_dir(), device=device, dtype=dtype, **kwargs)
        if profile == "hf":
            return load_hf_pipeline(device=device, dtype=dtype, local_files_only=local_files_only, **kwargs)
        raise ModelUnavailableError(
            f"the editor has no {profile!r} profile; use --profile hf (released Fashion-RAG weights) or tiny "
            "(random weights, smoke tests), or --weights DIR"
        )

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, text: str, category: str, k: int, exclude_ids: Sequence[str] = ()) -> list[tuple[EditGarment, Image.Image]]:
        """Top-k garments of ``category`` for ``text`` from the store, skipping ``exclude_ids`` and unreadable images."""
        if k == 0:
            return []
        if self.store is None:
            raise InvalidInputError("retrieval needs an index: pass --index DIR (or garments explicitly, or --k 0)")
        if self.retrieval_encoder is None:
            from .. import encoders

            self.retrieval_encoder = encoders.create(self.store.encoder)
        query = self.retrieval_encoder.encode_texts([text or category.replace("_", " ")])
        exclude = set(map(str, exclude_ids))
        filters = CATEGORY_FILTERS[category]
        hits = self.store.search(query, k=k + len(exclude) + 4, filters=filters)[0]
        if not hits:
            raise CatalogError(
                f"the index has no {category} garments ({', '.join(f'{f}={v}' for f, v in filters.items())}); "
                "index a catalog that has some, choose another --category, or use --k 0 for text only"
            )
        out: list[tuple[EditGarment, Image.Image]] = []
        for hit in hits:
            if hit.id in exclude:
                continue
            meta = hit.metadata or {}
            path = meta.get("image_path")
            try:
                img = load_image(path) if path else None
            except InvalidImageError as exc:
                log.warning("skipping retrieved garment %s: %s", hit.id, exc)
                img = None
            if img is None:
                continue
            out.append((EditGarment(id=hit.id, score=float(hit.score), title=meta.get("title") or "", image_path=path,
                                    subcategory=meta.get("subcategory"), article_type=meta.get("article_type"),
                                    colour=meta.get("colour")), img))
            if len(out) == k:
                break
        if not out:
            raise CatalogError(f"none of the {category} garments found in the index has a readable image")
        return out

    # -- conditioning --------------------------------------------------------------------------
    @torch.no_grad()
    def encode_conditioning(self, text: str, category: str, garments: Sequence[Image.Image], prompt_mode: str | None = None):
        """Prompt embeddings (1, 77, D) with the garments' pseudo-tokens at the ``$`` positions, and the prompt."""
        n = len(garments) * self.config.num_vstar
        words = prompt_text(category, text, prompt_mode or self.config.prompt_mode)
        ids = build_prompt_ids(self.tokenizer, words, n)
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
        progress: bool = False,
    ) -> EditOutput:
        """Edit the garment of ``category`` in ``image`` after ``text``.

        ``garments`` (images) replaces retrieval; otherwise k (default 3, at most 4; 0 = text only) garments
        are retrieved. ``mask`` (white = repaint, the photo's size) and ``keypoints`` ((18, 2|3) OpenPose in
        photo pixels) override the automatic ones. ``seed`` makes the run reproducible on a given device.
        """
        t0 = time.perf_counter()
        if category not in CATEGORIES:
            raise InvalidInputError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
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
            found = self.retrieve(text, category, k, exclude_ids)
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
        result = Image.fromarray(np.where(keep, rgb, np.asarray(gen)).astype(np.uint8))

        preview = pose_preview(kp, w0, h0) if kp is not None else Image.new("RGB", (w0, h0))
        settings = dict(steps=num_inference_steps, guidance_scale=guidance_scale, seed=seed, device=str(self.device),
                        dtype=str(self.dtype).removeprefix("torch."), seconds=round(time.perf_counter() - t0, 3),
                        profile=self.config.profile)
        return EditOutput(input=photo, image=result, mask=Image.fromarray(mask_src * 255), pose=preview, garments=list(garment_imgs),
                          retrieved=retrieved, prompt=prompt, keypoints=kp, mask_source=mask_source,
                          pose_source=pose_source, settings=settings)

    # -- automatic inputs ------------------------------------------------------------------------
    def _keypoints(self, rgb: np.ndarray, keypoints: np.ndarray | None, need: bool) -> tuple[Optional[np.ndarray], str]:
        h, w = rgb.shape[:2]
        if keypoints is not None:
            kp = np.asarray(keypoints, dtype=np.float32)
            if kp.shape not in ((18, 2), (18, 3)):
                raise InvalidInputError(f"keypoints must be (18, 2) or (18, 3) OpenPose-COCO points, got shape {kp.shape}")
            if kp.shape[1] == 2:
                inside = (kp[:, 0] >= 0) & (kp[:, 1] >= 0)
                kp = np.concatenate([kp, inside[:, None].astype(np.float32)], 1)
            return kp, "user"
        if self.pose_estimator is None:
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
        return mediapipe_to_openpose18(landmarks), "auto"

    def _mask(self, rgb: np.ndarray, mask: Any, kp: Optional[np.ndarray], category: str, style: str) -> tuple[np.ndarray, str]:
        h, w = rgb.shape[:2]
        if mask is not None:
            if not isinstance(mask, np.ndarray):
                mask = load_image(mask, name=str(mask) if isinstance(mask, (str, os.PathLike)) else "mask")
            return check_mask(mask, (w, h)), "user"
        assert kp is not None
        if style == "segmentation":
            if self.person_segmenter is None:
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


# ---------------------------------------------------------------------------------------- defaults

def default_pose_estimator() -> Callable[[np.ndarray], Optional[np.ndarray]]:
    """MediaPipe pose (fashionrag.vision) -> the best person's (33, 5) landmarks, or None."""
    try:
        from ..vision.pose import PoseEstimator
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ModelUnavailableError(
            f"automatic keypoints need the vision extra (pip install 'fashionrag[vision]'): {exc}; or pass keypoints"
        ) from exc
    estimator = PoseEstimator()

    def estimate(rgb: np.ndarray) -> Optional[np.ndarray]:
        poses = estimator(rgb)
        return poses[0].landmarks if poses else None

    return estimate


def default_person_segmenter() -> Callable[[np.ndarray], np.ndarray]:
    try:
        from ..vision.segmentation import SelfieSegmenter
    except ImportError as exc:  # pragma: no cover
        raise ModelUnavailableError(f"segmentation masks need the vision extra (pip install 'fashionrag[vision]'): {exc}") from exc
    return SelfieSegmenter()


# ---------------------------------------------------------------------------------------- profiles

TINY_VERSION = 1
TINY_SEED = 1234
#: The tiny profile works at 128x96 (a quarter of 512x384 per side) so tests run in seconds.
TINY_SIZE = (128, 96)


def build_tiny_pipeline(height: int = TINY_SIZE[0], width: int = TINY_SIZE[1]) -> FashionRAGPipeline:
    """Tiny random versions of every ``hf`` class (seed it yourself for reproducible weights)."""
    from diffusers import DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionModel

    from ..models.tiny_tokenizer import build_tiny_clip_tokenizer

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
    from ..core.config import cache_dir

    target = (root or cache_dir()) / "tiny-edit"
    marker = target / "tiny.json"
    if marker.is_file() and json.loads(marker.read_text()).get("version") == TINY_VERSION:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-edit-", dir=target.parent))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_SEED)
            build_tiny_pipeline().save_pretrained(tmp)
        (tmp / "tiny.json").write_text(json.dumps({"version": TINY_VERSION, "seed": TINY_SEED}))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not marker.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _offline_default() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FASHIONRAG_OFFLINE"))


def _hf_missing_message(what: str, exc: Exception | None = None) -> str:
    return (
        f"the 'hf' editing weights are not available offline ({what}). The profile needs {HF_BASE} "
        f"(vae, unet, text_encoder, tokenizer, scheduler), {HF_VISION} (vision tower) and {HF_WEIGHTS} "
        f"({HF_UNET_FILE}, {HF_ADAPTER_FILE}); fetch them once with internet, e.g. "
        f"`huggingface-cli download {HF_WEIGHTS} {HF_UNET_FILE} {HF_ADAPTER_FILE}` (and the two other repos), "
        "then save a converted pipeline with FashionRAGPipeline.save_pretrained and pass --weights DIR"
        + (f" [{type(exc).__name__}]" if exc is not None else "")
    )


def load_hf_pipeline(*, device=None, dtype=None, local_files_only: bool | None = None, base: str = HF_BASE,
                     vision: str = HF_VISION, weights_repo: str = HF_WEIGHTS, **kwargs: Any) -> FashionRAGPipeline:
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
