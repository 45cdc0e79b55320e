"""`fashionrag eval edit`: image quality, text and garment fidelity of edits, and the retrieval ablation.

Metrics (per k in the ablation, k = 0 is text only):

- **FID / KID** between the edited images and the real photos: with clean-fid when it is installed and
  its Inception weights can be loaded; otherwise a Fréchet distance and a KID on the *active encoder's*
  image features, reported as ``fd_<encoder>`` / ``kd_<encoder>`` (not comparable with papers' FID);
- **CLIP-T**: cosine between the text and the edited garment region (the mask's bounding-box crop);
- **CLIP-I**: mean cosine between that crop and the retrieved garments (k > 0);
- **masked PSNR / SSIM** against the original photo inside the mask (outside it the pipeline copies the
  input, so whole-image scores would be inflated).

The ground-truth garment is excluded from the retrieval gallery by default; the reference's evaluation
retrieves from a gallery that contains it, so its numbers are not directly comparable (say so).
``protocol="paper"`` runs the reference's setting: ground truth kept in the gallery, no paste-back.

Before anything runs, the shared leak guard (:func:`fashionrag.eval.leaks.guard_reference`) compares the evaluated
photos with the gallery index by product id *and* by image content hash: a shared id is an error unless
``allow_overlap``; a byte-identical image under another id is kept out of retrieval and reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from ..core.errors import InvalidInputError
from ..core.schemas import Product
from .leaks import LeakCheck, guard_reference

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ metrics

def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples)."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise InvalidInputError("the Fréchet distance needs at least 2 images per set")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    import warnings

    with warnings.catch_warnings():  # few samples give singular covariances: expected, handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def kernel_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 1, subset_size: int = 1000, seed: int = 0) -> float:
    """KID: unbiased MMD^2 with the cubic polynomial kernel.

    With ``subset_size`` >= both set sizes this is one KID on the whole sets (``subsets`` must then be 1:
    averaging several "subsets" that are all the whole set only repeats one number). Otherwise it is the mean
    over ``subsets`` random proper subsets of ``subset_size`` (clean-fid's definition)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b), subset_size)
    if n < 2:
        raise InvalidInputError("the kernel distance needs at least 2 images per set")
    whole = n >= len(a) and n >= len(b)
    if whole and subsets != 1:
        raise InvalidInputError(f"{subsets} KID subsets of the whole set are one KID repeated; use subsets=1 "
                                "or a subset_size smaller than the sets")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        x = a if n == len(a) else a[rng.choice(len(a), n, replace=False)]
        y = b if n == len(b) else b[rng.choice(len(b), n, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        mmd = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals))


def kid_settings(n: int) -> tuple[int, int, str]:
    """(subsets, subset_size, description) for ``n`` images a side: 10 proper subsets of n // 2 when there are
    at least 100 images, else one KID on the whole set."""
    if n >= 100:
        return 10, n // 2, f"KID: mean of 10 random subsets of {n // 2} of {n}"
    return 1, n, f"KID: one KID on all {n} (too few images for subsets)"


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, 8-bit range) over the pixels where ``mask`` > 0."""
    m = np.asarray(mask) > 0
    if not m.any():
        raise InvalidInputError("empty mask")
    diff = np.asarray(a, np.float64)[m] - np.asarray(b, np.float64)[m]
    mse = float((diff**2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray, sigma: float = 1.5) -> float:
    """Mean SSIM (Gaussian window, luminance) over the pixels where ``mask`` > 0."""
    import cv2

    def gray(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x @ [0.299, 0.587, 0.114] if x.ndim == 3 else x

    x, y = gray(a), gray(b)
    blur = lambda z: cv2.GaussianBlur(z, (0, 0), sigma)  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    m = np.asarray(mask) > 0
    if not m.any():
        raise InvalidInputError("empty mask")
    return float(ssim[m].mean())


def mask_crop(image: Image.Image, mask: np.ndarray) -> Image.Image:
    ys, xs = np.nonzero(np.asarray(mask) > 0)
    if len(ys) == 0:
        return image
    return image.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


# ------------------------------------------------------------------------------------------ results

class EditEvalRow(BaseModel):
    k: int
    n: int
    fid: Optional[float] = Field(default=None, description="clean-fid FID (when available)")
    kid: Optional[float] = None
    fd_encoder: Optional[float] = Field(default=None, description="Fréchet distance on the metric encoder's features")
    kd_encoder: Optional[float] = Field(default=None, description="KID on the metric encoder's features")
    clip_t: float
    clip_i: Optional[float] = None
    psnr_mask: float
    ssim_mask: float


class EditEvalResult(BaseModel):
    dataset: str
    samples: int
    protocol: str = Field(default="ours", description="'ours' or 'paper' (ground truth in the gallery, no paste-back).")
    paste_back: bool = Field(default=True, description="Whether pixels outside the mask were the input's.")
    kid: str = Field(default="", description="How KID was computed (subsets or one KID on the whole set).")
    leak_check: Optional[LeakCheck] = Field(default=None, description="Evaluated photos found in the gallery index.")
    encoder: str = Field(description="Encoder for CLIP-T / CLIP-I (and the Fréchet fallback).")
    fid_backend: str = Field(description="'clean-fid' or 'encoder:<name>' (Fréchet distance on its features).")
    gt_excluded: bool
    note: str
    steps: int
    rows: list[EditEvalRow]


# ------------------------------------------------------------------------------------------ runner

def _clean_fid(gen_dir: Path, real_dir: Path) -> tuple[Optional[float], Optional[float]]:
    try:
        from cleanfid import fid  # type: ignore[import-not-found]
    except ImportError:
        return None, None
    try:
        return float(fid.compute_fid(str(gen_dir), str(real_dir), mode="clean")), float(fid.compute_kid(str(gen_dir), str(real_dir), mode="clean"))
    except Exception as exc:  # noqa: BLE001 - the Inception weights may be unavailable offline
        log.warning("clean-fid unavailable (%s); using the encoder's Fréchet distance", exc)
        return None, None


def run_edit_eval(
    pipe,
    dataset,
    *,
    k_values: Sequence[int] = (0, 1, 2, 3),
    limit: Optional[int] = None,
    steps: int = 50,
    guidance_scale: float = 7.5,
    seed: int = 0,
    exclude_gt: bool = True,
    metric_encoder=None,
    out_dir: str | Path | None = None,
    dataset_name: str = "",
    paste_back: bool = True,
    protocol: str = "ours",
    allow_overlap: bool = False,
    progress: bool = True,
) -> EditEvalResult:
    """Edit each sample of ``dataset`` (its own mask and keypoints, its caption as text) for every k and score it.

    ``protocol="paper"`` forces the reference's setting (ground truth kept in the gallery, ``paste_back=False``)."""
    import tempfile

    from .. import encoders

    if protocol not in ("ours", "paper"):
        raise InvalidInputError(f"unknown protocol {protocol!r}; use 'ours' or 'paper'")
    if protocol == "paper":
        exclude_gt, paste_back = False, False
    retriever = getattr(pipe, "retriever", None)
    if metric_encoder is None:
        metric_encoder = retriever.encoder if retriever is not None else encoders.create("lite")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    samples = [s for s in (dataset[i] for i in range(n)) if s is not None]
    if len(samples) < 2:
        raise InvalidInputError("the edit evaluation needs at least 2 samples")
    leak = None
    if retriever is not None:
        store = retriever.store
        ref_rows = [Product(id=str(i), image_path=(store.get(i) or {}).get("image_path")) for i in store.ids()]
        leak = guard_reference([Product(id=s.id, image_path=s.image_path) for s in samples], ref_rows,
                               allow_overlap=allow_overlap, reference_name="the garment gallery index")
    leaked = list(leak.dropped) if leak is not None else []
    kid_subsets, kid_size, kid_note = kid_settings(len(samples))
    root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="fashionrag-eval-edit-"))
    real_dir = root / "real"
    real_dir.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(samples):
        s.image.save(real_dir / f"{i:05d}.png")
    real_feats = metric_encoder.encode_images([s.image for s in samples])
    rows: list[EditEvalRow] = []
    fid_backend = f"encoder:{metric_encoder.name}"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(samples) * len(k_values), desc="eval edit", unit="edit")
    for k in k_values:
        gen_dir = root / f"k{k}"
        gen_dir.mkdir(parents=True, exist_ok=True)
        outs, crops, texts, psnr, ssim, clip_i = [], [], [], [], [], []
        for i, s in enumerate(samples):
            out = pipe(s.image, s.caption, category=s.category, k=k, mask=s.mask * 255, keypoints=s.keypoints,
                       exclude_ids=exclusions(s, exclude_gt, leaked),
                       num_inference_steps=steps, guidance_scale=guidance_scale, seed=seed, paste_back=paste_back)
            out.image.save(gen_dir / f"{i:05d}.png")
            outs.append(out.image)
            crop = mask_crop(out.image, s.mask)
            crops.append(crop)
            texts.append(s.caption or s.category.replace("_", " "))
            a, b = np.asarray(out.image), np.asarray(s.image.convert("RGB"))
            psnr.append(masked_psnr(a, b, s.mask))
            ssim.append(masked_ssim(a, b, s.mask))
            if out.garment_images:
                g = metric_encoder.encode_images(out.garment_images)
                c = metric_encoder.encode_images([crop])
                clip_i.append(float(_cos(c, g).mean()))
            if bar is not None:
                bar.update(1)
        gen_feats = metric_encoder.encode_images(outs)
        ct = _cos(metric_encoder.encode_images(crops), metric_encoder.encode_texts(texts))
        fid, kid = _clean_fid(gen_dir, real_dir)
        if fid is not None:
            fid_backend = "clean-fid"
        finite = [p for p in psnr if np.isfinite(p)]
        rows.append(EditEvalRow(
            k=k, n=len(samples), fid=fid, kid=kid, fd_encoder=frechet_distance(gen_feats, real_feats),
            kd_encoder=kernel_distance(gen_feats, real_feats, subsets=kid_subsets, subset_size=kid_size),
            clip_t=float(ct.mean()), clip_i=float(np.mean(clip_i)) if clip_i else None,
            psnr_mask=float(np.mean(finite)) if finite else float("inf"), ssim_mask=float(np.mean(ssim)),
        ))
    if bar is not None:
        bar.close()
    note = ("ground-truth garment excluded from the gallery" if exclude_gt else
            "ground-truth garment included in the gallery (as the reference's evaluation)")
    note += "; paste-back on (pixels outside the mask are the input's)" if paste_back else "; no paste-back (raw decoded images, as the paper)"
    if fid_backend != "clean-fid":
        note += f"; FID/KID are Fréchet/kernel distances on {metric_encoder.name} features, not Inception FID"
    note += f"; kd_encoder {kid_note}"
    if leak is not None:
        note += "; " + "; ".join(leak.notes())
    return EditEvalResult(dataset=dataset_name, samples=len(samples), encoder=metric_encoder.name, fid_backend=fid_backend,
                          gt_excluded=exclude_gt, note=note, steps=steps, rows=rows, protocol=protocol,
                          paste_back=paste_back, kid=kid_note, leak_check=leak)


def exclusions(sample, exclude_gt: bool, leaked: Sequence[str] = ()) -> list[str]:
    """The ids kept out of one sample's retrieval: its ground-truth garment (unless the protocol keeps it) and the
    gallery rows the leak guard dropped (byte-identical copies of evaluated photos)."""
    ids = [sample.garment_id] if exclude_gt and sample.garment_id else []
    return ids + [i for i in leaked if i not in ids]
