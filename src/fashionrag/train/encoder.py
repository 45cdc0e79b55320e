"""Training of the ``lite`` encoder: a small image tower aligned to the frozen MiniLM text tower.

Why it looks like this:

- the text tower is frozen, so every training phrase is embedded once up front and each step only pays
  for the image tower and a linear text projection;
- every train image is decoded once into a uint8 tensor (cached on disk), so epochs pay no JPEG decoding;
- augmentations are label-preserving geometry only (mild random resized crop, small shifts, flips): colour
  is a label, so there is no colour jitter;
- the loss is contrastive against multi-field texts (see :mod:`.texts`): image->text over each field's
  whole phrase vocabulary and text->image over the batch, with every image sharing a phrase counted as a
  positive; small auxiliary heads (gender, usage, season, ...) add attribute supervision to the embedding;
- BatchNorm running statistics are recomputed on the train images before any evaluation or export.

Reproducible: each epoch's shuffling, augmentation and dropout draw from generators seeded by
``(seed, epoch)``, so a resumed run follows the same path as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from ..core import config as fr_config
from ..core.errors import CatalogError, InvalidImageError, InvalidInputError
from ..core.schemas import Product
from ..encoders.lite import (  # PREPROCESS_VERSION also keys the decoded-image cache
    PREPROCESS_VERSION,
    LiteConfig,
    LiteModel,
    prepare_image,
    recompute_batchnorm,
    save_lite,
    text_tower,
)
from ..encoders.texts import DEFAULT_FIELD_WEIGHTS, build_vocabularies
from ..eval.leaks import guard_reference

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.json"
MODEL_SUBDIR = "model"

#: Product fields that get an auxiliary classification head when enabled.
AUX_FIELDS = ("gender", "usage", "season", "article_type", "colour", "subcategory")


class TrainSettings(BaseModel):
    """Every knob of a training run (saved in the checkpoint and in the model's config)."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    image_size: int = 112
    width_mult: float = 1.0
    dim: int = 256
    dropout: float = 0.1
    seed: int = 0
    field_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    t2i_weight: float = 1.0
    aux_heads: list[str] = Field(default_factory=lambda: ["gender", "usage", "season", "article_type", "colour"])
    aux_weight: float = 0.2
    crop_scale_min: float = 0.7
    max_shift: float = 0.06
    flip: bool = True
    bn_momentum: float = 0.1
    eval_every: int = 1
    threads: Optional[int] = None
    limit: Optional[int] = Field(default=None, description="Use only the first N train products (quick trials).")
    max_steps_per_epoch: Optional[int] = Field(default=None, description="Cut epochs short (tests).")


class EpochLog(BaseModel):
    epoch: int
    loss: float
    loss_parts: dict[str, float]
    lr: float
    temperature: float
    seconds: float
    elapsed: float
    val: dict[str, Any] = Field(default_factory=dict)


class TrainResult(BaseModel):
    out_dir: str
    model_dir: str
    epochs: int
    train_images: int
    val_images: int
    seconds: float
    log: list[EpochLog]
    final_val: dict[str, Any] = Field(default_factory=dict)
    skipped_images: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------ data caches


def _hash(parts: list[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def image_cache(products: list[Product], size: int, *, cache_root: Path | None = None,
                progress: bool = True) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode every product image once into ``N x 3 x size x size`` uint8 (cached on disk).

    Returns the array, the indices of the products it holds, and one line per unreadable image (skipped).
    """
    root = Path(cache_root) if cache_root else fr_config.cache_dir() / "lite-images"
    key_parts = [f"v{PREPROCESS_VERSION}", str(size)]
    for p in products:
        try:
            st = os.stat(p.image_path) if p.image_path else None
            key_parts.append(f"{p.id}|{p.image_path}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}")
        except OSError:
            key_parts.append(f"{p.id}|{p.image_path}|missing")
    key = _hash(key_parts)
    arr_path, meta_path = root / f"{key}.npy", root / f"{key}.json"
    if arr_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return np.load(arr_path, mmap_mode=None), meta["kept"], meta["skipped"]

    def load(p: Product):
        try:
            if not p.image_path:
                raise InvalidImageError(f"product {p.id}: no image")
            return prepare_image(p.image_path, size), None
        except InvalidImageError as exc:
            return None, str(exc)

    kept: list[int] = []
    skipped: list[str] = []
    arrays = []
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        for i, (arr, err) in enumerate(
            tqdm(pool.map(load, products), total=len(products), desc="decode images", disable=not progress)
        ):
            if arr is None:
                skipped.append(err or f"product {products[i].id}: unreadable")
            else:
                kept.append(i)
                arrays.append(arr)
    data = np.stack(arrays) if arrays else np.zeros((0, 3, size, size), np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{key}.tmp.npy"
    np.save(tmp, data)
    os.replace(tmp, arr_path)
    meta_path.write_text(json.dumps({"kept": kept, "skipped": skipped}))
    return data, kept, skipped


def text_embeddings(texts: list[str], *, cache_root: Path | None = None, progress: bool = True) -> np.ndarray:
    """Frozen MiniLM embeddings of ``texts`` (cached on disk: the tower never changes)."""
    if not texts:
        return np.zeros((0, 384), np.float32)
    root = Path(cache_root) if cache_root else fr_config.cache_dir() / "lite-texts"
    path = root / f"{_hash(['minilm-v1', *texts])}.npy"
    if path.is_file():
        return np.load(path)
    emb = text_tower().encode(texts, batch_size=256, progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (path.stem + ".tmp.npy")
    np.save(tmp, emb)
    os.replace(tmp, path)
    return emb


# ------------------------------------------------------------------------------------------ augmentation


def augment(x, gen, *, crop_scale_min: float, max_shift: float, flip: bool):
    """Label-preserving geometry on a uint8 batch: random resized crop (mild), shift, horizontal flip.

    Done as one batched affine resampling; areas pulled in from outside the photo are filled white (the
    catalog background), never black.
    """
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    u = lambda: torch.rand(b, generator=gen)  # noqa: E731
    area = crop_scale_min + (1 - crop_scale_min) * u()
    log_ar = (u() - 0.5) * 2 * math.log(1.15)
    sx = torch.sqrt(area * torch.exp(log_ar)).clamp(max=1.0)
    sy = torch.sqrt(area / torch.exp(log_ar)).clamp(max=1.0)
    tx = (u() * 2 - 1) * ((1 - sx) + max_shift)
    ty = (u() * 2 - 1) * ((1 - sy) + max_shift)
    sign = torch.where(u() < 0.5, -1.0, 1.0) if flip else torch.ones(b)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = sx * sign
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float() - 255.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + 255.0


# ------------------------------------------------------------------------------------------ loss


def contrastive_loss(z, text_proj, targets, scale, t2i_weight: float):
    """Multi-positive InfoNCE between images ``z`` (B x D) and one field's projected vocabulary.

    image->text: softmax over the field's whole vocabulary (phrases are deduplicated, so the one target row
    stands for every product sharing it). text->image: for each distinct phrase in the batch, softmax over
    the batch's images with all images carrying that phrase as equal positives.
    """
    import torch
    import torch.nn.functional as F

    valid = targets >= 0
    if valid.sum() < 2:
        return z.sum() * 0.0
    zv, tv = z[valid], targets[valid]
    i2t = F.cross_entropy(scale * zv @ text_proj.T, tv)
    if t2i_weight <= 0:
        return i2t
    uniq, inv = torch.unique(tv, return_inverse=True)
    logits = scale * text_proj[uniq] @ zv.T  # U x Bv
    pos = (inv.unsqueeze(0) == torch.arange(len(uniq)).unsqueeze(1)).float()
    target = pos / pos.sum(1, keepdim=True)
    t2i = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    return (i2t + t2i_weight * t2i) / (1 + t2i_weight)


# ------------------------------------------------------------------------------------------ trainer


@dataclass
class _Prepared:
    train_products: list[Product]
    train_images: np.ndarray
    val_products: list[Product]
    val_images: np.ndarray
    vocab: dict[str, list[str]]
    targets: dict[str, np.ndarray]
    vocab_emb: dict[str, np.ndarray]
    aux_labels: dict[str, list[str]]
    aux_targets: dict[str, np.ndarray]
    skipped: list[str]
    #: Train rows that may be val neighbours: those whose image is byte-identical to a val image are not
    #: (:mod:`fashionrag.eval.leaks`); None = all.
    reference_rows: Optional[list[int]] = None


def _split(catalog, val_split: str = "val") -> tuple[list[Product], list[Product]]:
    """Train on rows of split 'train' (all rows when the catalog has no splits); validate on ``val_split``."""
    if any(p.split for p in catalog.products):
        train = [p for p in catalog.products if p.split == "train"]
        val = [p for p in catalog.products if p.split == val_split]
    else:
        train, val = list(catalog.products), []
    if not train:
        raise CatalogError(
            f"{catalog.source}: no training rows (split 'train'); mark rows with split=train, or drop the split column"
        )
    return train, val


def prepare(catalog, settings: TrainSettings, *, progress: bool = True, cache_root: Path | None = None) -> _Prepared:
    """Split, decode images, build the multi-field vocabularies and embed them with the frozen tower."""
    train, val = _split(catalog)
    if settings.limit:
        train = train[: settings.limit]
        val = val[: max(1, settings.limit // 4)] if val else val
    img_root = Path(cache_root) / "images" if cache_root else None
    txt_root = Path(cache_root) / "texts" if cache_root else None
    tr_imgs, tr_kept, tr_skip = image_cache(train, settings.image_size, cache_root=img_root, progress=progress)
    va_imgs, va_kept, va_skip = image_cache(val, settings.image_size, cache_root=img_root, progress=progress)
    train = [train[i] for i in tr_kept]
    val = [val[i] for i in va_kept]
    if len(train) < 2:
        raise CatalogError(f"{catalog.source}: fewer than 2 readable training images; nothing to train on")
    fields = [f for f, w in settings.field_weights.items() if w > 0]
    vocab, index = build_vocabularies(train, fields)
    all_texts = sorted({t for f in fields for t in vocab[f]})
    emb = text_embeddings(all_texts, cache_root=txt_root, progress=progress)
    row = {t: i for i, t in enumerate(all_texts)}
    vocab_emb = {f: emb[[row[t] for t in vocab[f]]] if vocab[f] else np.zeros((0, emb.shape[1]), np.float32)
                 for f in fields}
    aux_labels, aux_targets = {}, {}
    for f in settings.aux_heads:
        if f not in AUX_FIELDS:
            raise InvalidInputError(f"unknown auxiliary head {f!r}; choose from {', '.join(AUX_FIELDS)}")
        values = [p.field_value(f) for p in train]
        labels = sorted({str(v) for v in values if v})
        if len(labels) < 2:
            continue
        pos = {v: i for i, v in enumerate(labels)}
        aux_labels[f] = labels
        aux_targets[f] = np.array([pos[str(v)] if v else -1 for v in values], dtype=np.int64)
    leak = guard_reference(val, train) if val else None
    drop = set(leak.dropped) if leak else set()
    return _Prepared(train, tr_imgs, val, va_imgs, vocab, {f: np.asarray(index[f], np.int64) for f in fields},
                     vocab_emb, aux_labels, aux_targets, tr_skip + va_skip,
                     [i for i, p in enumerate(train) if p.id not in drop] if drop else None)


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _seeded(seed: int, epoch: int):
    import torch

    torch.manual_seed(seed * 100_003 + epoch)
    gen = torch.Generator()
    gen.manual_seed(seed * 1_000_003 + epoch)
    return gen


def evaluate_model(model, data: _Prepared, *, k: int = 20, progress: bool = False) -> dict[str, Any]:
    """Val metrics with train as the reference set (BN statistics must be current; see recompute)."""
    import torch

    from ..eval.retrieval import embedding_metrics

    if not data.val_products:
        return {}
    model.eval()

    def embed(arr):
        out = []
        with torch.inference_mode():
            for s in range(0, len(arr), 256):
                out.append(model.encode_image(torch.as_tensor(arr[s : s + 256])).numpy())
        return np.concatenate(out)

    rows = data.reference_rows if data.reference_rows is not None else list(range(len(data.train_products)))
    val_emb, ref_emb = embed(data.val_images), embed(data.train_images)[rows]
    ref_products = [data.train_products[i] for i in rows]

    def encode_texts(texts):
        base = text_embeddings(list(texts), progress=False)
        with torch.inference_mode():
            return model.project_text(torch.as_tensor(base)).numpy()

    metrics = embedding_metrics(val_emb, data.val_products, ref_emb, ref_products, encode_texts, k=k)
    model.train()
    return metrics


def _model_config(settings: TrainSettings, data: _Prepared, catalog) -> LiteConfig:
    return LiteConfig(
        width_mult=settings.width_mult,
        dim=settings.dim,
        image_size=settings.image_size,
        dropout=settings.dropout,
        aux_heads=data.aux_labels,
        training={
            "catalog": str(catalog.source),
            "catalog_fingerprint": catalog.fingerprint,
            "train_images": len(data.train_products),
            "settings": settings.model_dump(),
        },
    )


@dataclass
class _Schedule:
    """Steps per epoch, total steps and warm-up steps of a run."""

    steps_per_epoch: int
    total_steps: int
    warmup: int

    @classmethod
    def of(cls, n_train: int, settings: TrainSettings) -> "_Schedule":
        steps = max(1, n_train // settings.batch_size)
        if settings.max_steps_per_epoch:
            steps = min(steps, settings.max_steps_per_epoch)
        return cls(steps, steps * settings.epochs, int(settings.warmup_epochs * steps))


@dataclass
class _Tensors:
    """The prepared data as torch tensors (made once per run)."""

    images: Any
    targets: dict[str, Any]
    aux_targets: dict[str, Any]
    vocab_emb: dict[str, Any]

    @classmethod
    def of(cls, data: _Prepared) -> "_Tensors":
        import torch

        return cls(
            images=torch.as_tensor(data.train_images),
            targets={f: torch.as_tensor(t) for f, t in data.targets.items()},
            aux_targets={f: torch.as_tensor(t) for f, t in data.aux_targets.items()},
            vocab_emb={f: torch.as_tensor(e) for f, e in data.vocab_emb.items()},
        )


def _load_checkpoint(ckpt_path: Path, settings: TrainSettings, resume: bool) -> tuple[TrainSettings, dict | None]:
    """(the run's settings, the saved state or None). A resumed run keeps its saved settings but the epoch count."""
    import torch

    if not resume:
        return settings, None
    if not ckpt_path.is_file():
        raise InvalidInputError(f"{ckpt_path}: no checkpoint to resume from; drop --resume to start afresh")
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    saved = TrainSettings.model_validate(state["settings"])
    return saved.model_copy(update={"epochs": settings.epochs}), state  # only the epoch count may change


def _build_model(cfg: LiteConfig, settings: TrainSettings):
    """The seeded model (BatchNorm momentum from the settings) and AdamW with decay on matrices only."""
    import torch

    torch.manual_seed(settings.seed)
    model = LiteModel(cfg)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = settings.bn_momentum
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
    )
    return model, opt


def _restore(model, opt, state: dict | None) -> tuple[list[EpochLog], int, float]:
    """Load a saved state into ``model`` and ``opt``: (history, first epoch to run, seconds already spent)."""
    if state is None:
        return [], 0, 0.0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    history = [EpochLog.model_validate(e) for e in state["log"]]
    return history, state["epoch"] + 1, (history[-1].elapsed if history else 0.0)


def _step_loss(model, x, idx, tensors: _Tensors, settings: TrainSettings):
    """One batch's loss: weighted contrastive terms per text field plus the auxiliary heads; (loss, parts)."""
    import torch

    z = model.encode_image(x)
    scale = model.logit_scale.exp().clamp(max=100.0)
    loss = z.sum() * 0.0
    parts: dict[str, float] = {}
    for f, tgt in tensors.targets.items():
        lf = contrastive_loss(z, model.project_text(tensors.vocab_emb[f]), tgt[idx], scale, settings.t2i_weight)
        loss = loss + settings.field_weights[f] * lf
        parts[f] = float(lf.detach())
    for f, tgt in tensors.aux_targets.items():
        t = tgt[idx]
        ok = t >= 0
        if ok.any():
            lf = torch.nn.functional.cross_entropy(model.aux[f](z[ok] * 10.0), t[ok])
            loss = loss + settings.aux_weight * lf
            parts[f"aux_{f}"] = float(lf.detach())
    return loss, parts


def _run_epoch(model, opt, tensors: _Tensors, settings: TrainSettings, sched: _Schedule, epoch: int, n: int,
               progress: bool) -> EpochLog:
    """One epoch of shuffled, augmented steps (generators seeded by (seed, epoch)); its log entry, unevaluated."""
    import torch

    t0 = time.perf_counter()
    gen = _seeded(settings.seed, epoch)
    perm = torch.randperm(n, generator=gen)
    sums: dict[str, float] = {}
    total = 0.0
    lr = settings.lr
    bar = tqdm(range(sched.steps_per_epoch), desc=f"epoch {epoch + 1}/{settings.epochs}", disable=not progress)
    for step in bar:
        lr = _lr_at(epoch * sched.steps_per_epoch + step, sched.total_steps, sched.warmup, settings.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = perm[step * settings.batch_size : (step + 1) * settings.batch_size]
        x = augment(tensors.images[idx], gen, crop_scale_min=settings.crop_scale_min, max_shift=settings.max_shift,
                    flip=settings.flip)
        loss, parts = _step_loss(model, x, idx, tensors, settings)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100.0))
        total += float(loss.detach())
        for key, v in parts.items():
            sums[key] = sums.get(key, 0.0) + v
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    bar.close()
    steps = sched.steps_per_epoch
    return EpochLog(
        epoch=epoch + 1,
        loss=round(total / steps, 5),
        loss_parts={k: round(v / steps, 5) for k, v in sums.items()},
        lr=lr,
        temperature=round(float(1 / model.logit_scale.detach().exp()), 5),
        seconds=round(time.perf_counter() - t0, 2),
        elapsed=0.0,
    )


def _save_checkpoint(out: Path, model, opt, epoch: int, settings: TrainSettings, history: list[EpochLog]) -> None:
    """Checkpoint and log, atomically (temp file + rename), so an interrupted run resumes from this epoch."""
    import torch

    torch.save(
        {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
         "settings": settings.model_dump(), "log": [e.model_dump() for e in history]},
        out / (CHECKPOINT_NAME + ".tmp"),
    )
    os.replace(out / (CHECKPOINT_NAME + ".tmp"), out / CHECKPOINT_NAME)
    (out / LOG_NAME).write_text(json.dumps([e.model_dump() for e in history], indent=2))


def _export(model, cfg: LiteConfig, data: _Prepared, settings: TrainSettings, history: list[EpochLog],
            out: Path) -> Path:
    """Exact BN statistics from the un-augmented train images, then config + safetensors under ``out/model``."""
    recompute_batchnorm(model, data.train_images)
    model.eval()
    cfg.training["epochs"] = settings.epochs
    cfg.training["train_seconds"] = history[-1].elapsed if history else 0.0
    return save_lite(model, cfg, out / MODEL_SUBDIR)


def train_encoder(
    catalog,
    out_dir: str | Path,
    settings: TrainSettings | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    cache_root: Path | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train the lite encoder on ``catalog``'s train split; checkpoints, logs and the model go to ``out_dir``."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings, state = _load_checkpoint(out / CHECKPOINT_NAME, settings or TrainSettings(), resume)
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    t_start = time.perf_counter()

    data = prepare(catalog, settings, progress=progress, cache_root=cache_root)
    cfg = _model_config(settings, data, catalog)
    model, opt = _build_model(cfg, settings)
    n = len(data.train_products)
    sched = _Schedule.of(n, settings)
    history, start_epoch, elapsed_before = _restore(model, opt, state)
    if state is not None:
        log(f"resuming from epoch {start_epoch} ({out / CHECKPOINT_NAME})")
    tensors = _Tensors.of(data)
    log(
        f"training lite encoder: {n} train / {len(data.val_products)} val images at {settings.image_size}px, "
        f"{sched.steps_per_epoch} steps x {settings.epochs} epochs, fields {list(tensors.targets)}, "
        f"aux {list(tensors.aux_targets)}"
    )

    model.train()
    for epoch in range(start_epoch, settings.epochs):
        entry = _run_epoch(model, opt, tensors, settings, sched, epoch, n, progress)
        last = epoch + 1 == settings.epochs
        if data.val_products and settings.eval_every and ((epoch + 1) % settings.eval_every == 0 or last):
            recompute_batchnorm(model, data.train_images)
            entry.val = evaluate_model(model, data)
        entry.elapsed = round(elapsed_before + time.perf_counter() - t_start, 1)
        history.append(entry)
        _save_checkpoint(out, model, opt, epoch, settings, history)
        log(_format_epoch(entry))  # after the checkpoint: an interrupted run resumes from here

    model_dir = _export(model, cfg, data, settings, history, out)
    return TrainResult(
        out_dir=str(out),
        model_dir=str(model_dir),
        epochs=settings.epochs,
        train_images=n,
        val_images=len(data.val_products),
        seconds=round(time.perf_counter() - t_start, 1),
        log=history,
        final_val=history[-1].val if history else {},
        skipped_images=data.skipped,
    )


def _format_epoch(e: EpochLog) -> str:
    s = f"epoch {e.epoch}: loss {e.loss:.4f} lr {e.lr:.2e} T {e.temperature:.4f} ({e.seconds:.0f}s, total {e.elapsed:.0f}s)"
    if e.val:
        v = e.val
        s += (
            f" | val t2i R@1 {v['t2i']['r1']:.3f} R@10 {v['t2i']['r10']:.3f} MRR {v['t2i']['mrr']:.3f}"
            f" cat P@1 {v['category_p1']:.3f} col P@1 {v['color_p1']:.3f} prompt wF1 {v['prompt_articleType_wf1']:.3f}"
            f" knn type {v['knn_accuracy']['articleType']:.3f} col {v['knn_accuracy']['baseColour']:.3f}"
            f" gender {v['knn_accuracy']['gender']:.3f}"
        )
    return s
