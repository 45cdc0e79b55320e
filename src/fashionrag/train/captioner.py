"""`fashionrag train captioner`: the supervised baseline (image tower + small decoder) on a catalog's train split.

The image tower is frozen, so every train photo is embedded once; the decoder then learns, for each photo, its
title and an attribute sentence made from its catalog row ("men navy blue shirts, casual, fall"). Only the
``train`` split is used; ``val`` is for `eval caption --writer captioner`.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..core.errors import CatalogError
from ..core.schemas import Product
from ..models.captioner import CaptionDecoder, CaptionerConfig, WordTokenizer, batch_ids


class CaptionerTrainSettings(BaseModel):
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    d_model: int = CaptionerConfig.d_model
    n_layers: int = CaptionerConfig.n_layers
    n_heads: int = CaptionerConfig.n_heads
    ff_dim: int = CaptionerConfig.ff_dim
    prefix_tokens: int = CaptionerConfig.prefix_tokens
    max_len: int = CaptionerConfig.max_len
    min_word_count: int = 2
    seed: int = 0
    threads: Optional[int] = Field(default=1, description="torch CPU threads (1: polite on a shared machine).")
    limit: Optional[int] = Field(default=None, description="Use only the first N train rows (quick trials).")
    encoder: str = CaptionerConfig.encoder


class CaptionerTrainResult(BaseModel):
    model_dir: str
    encoder: str
    train_images: int
    train_texts: int
    vocab_size: int
    parameters: int
    epochs: int
    seconds: float
    losses: list[float] = Field(description="Mean training loss per epoch.")
    file_bytes: int


def attribute_sentence(p: Product) -> str:
    """The catalog row as a short sentence: 'men navy blue shirts, casual, fall'."""
    head = " ".join(x for x in (p.gender, p.colour, p.article_type) if x).lower()
    tail = ", ".join(x.lower() for x in (p.usage, p.season) if x)
    return f"{head}, {tail}" if tail else head


def training_texts(products: Sequence[Product]) -> list[tuple[int, str]]:
    """(product index, text) pairs: the title and the attribute sentence of each product."""
    out = []
    for i, p in enumerate(products):
        if p.title:
            out.append((i, p.title))
        sent = attribute_sentence(p)
        if sent:
            out.append((i, sent))
    return out


def fit_decoder(
    features: np.ndarray,
    texts: Sequence[tuple[int, str]],
    settings: CaptionerTrainSettings,
    *,
    tokenizer: WordTokenizer | None = None,
    log: Callable[[str], None] = lambda s: None,
    progress: bool = False,
) -> tuple[CaptionDecoder, WordTokenizer, list[float]]:
    """Train a decoder on precomputed image ``features`` (N, D) and ``texts`` [(row, text)]; the loop itself."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    tok = tokenizer or WordTokenizer.fit((t for _, t in texts), min_count=settings.min_word_count)
    cfg = CaptionerConfig(image_dim=int(features.shape[1]), vocab_size=len(tok), d_model=settings.d_model,
                          n_layers=settings.n_layers, n_heads=settings.n_heads, ff_dim=settings.ff_dim,
                          prefix_tokens=settings.prefix_tokens, max_len=settings.max_len, encoder=settings.encoder)
    model = CaptionDecoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = max(1, (len(texts) + settings.batch_size - 1) // settings.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps_per_epoch * settings.epochs,
                                                pct_start=0.1)
    feats = torch.from_numpy(np.asarray(features, dtype=np.float32))
    order = list(range(len(texts)))
    losses = []
    for epoch in range(settings.epochs):
        model.train()
        rng.shuffle(order)
        total, n = 0.0, 0
        bar = tqdm(range(0, len(order), settings.batch_size), desc=f"epoch {epoch + 1}", disable=not progress,
                   leave=False)
        for start in bar:
            idx = order[start:start + settings.batch_size]
            ids = batch_ids(tok, [texts[i][1] for i in idx], settings.max_len)
            img = feats[[texts[i][0] for i in idx]]
            loss = model.loss(img, ids)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        losses.append(round(total / max(n, 1), 4))
        log(f"epoch {epoch + 1}/{settings.epochs}  loss {losses[-1]:.3f}")
    model.eval()
    return model, tok, losses


def train_captioner(
    catalog: Any,
    out: str | Path,
    settings: CaptionerTrainSettings | None = None,
    *,
    encoder: Any = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> CaptionerTrainResult:
    """Embed the train photos with the (frozen) image tower, fit the decoder, save it with a model card."""
    import torch

    from .. import encoders

    s = settings or CaptionerTrainSettings()
    if s.threads:
        torch.set_num_threads(s.threads)
    t0 = time.perf_counter()
    products = [p for p in catalog.products if (p.split or "train") == "train" and p.image_path]
    if s.limit:
        products = products[: s.limit]
    if not products:
        raise CatalogError("no train rows with images: the captioner learns from the train split only")
    enc = encoder if encoder is not None else encoders.create(s.encoder)
    log(f"embedding {len(products)} train photos with {enc.name}")
    feats = enc.encode_images([p.image_path for p in products], progress=progress)
    texts = training_texts(products)
    model, tok, losses = fit_decoder(feats, texts, s, log=log, progress=progress)
    model.config.encoder = getattr(enc, "name", s.encoder)
    out_dir = Path(out)
    model.save_pretrained(out_dir, tok)
    n_params = sum(p.numel() for n, p in model.named_parameters() if n != "head.weight")
    result = CaptionerTrainResult(
        model_dir=str(out_dir), encoder=model.config.encoder, train_images=len(products), train_texts=len(texts),
        vocab_size=len(tok), parameters=int(n_params), epochs=s.epochs, seconds=round(time.perf_counter() - t0, 1),
        losses=losses, file_bytes=(out_dir / "model.safetensors").stat().st_size,
    )
    (out_dir / "train_log.json").write_text(json.dumps({"settings": s.model_dump(), **result.model_dump()},
                                                       indent=2) + "\n")
    return result
