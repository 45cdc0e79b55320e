"""The BLIP captioning baseline (the comparison system of the Pixels-to-Posts paper).

``BlipCaptioner`` wraps transformers' ``BlipForConditionalGeneration`` + ``BlipProcessor``: caption images,
fine-tune on (image, title) pairs, save and load with the usual ``save_pretrained`` / ``from_pretrained``. Users
with weights (e.g. ``Salesforce/blip-image-captioning-base`` already in their HF cache, or a local directory) can
fine-tune on their catalog and run the same ``fashionrag eval caption`` metrics against it.

Loading is offline by default (``local_files_only=True``). :meth:`BlipCaptioner.build_tiny` writes a random tiny
BLIP with a locally built word-level BERT tokenizer: the exact classes of the real model, at test size.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

from pydantic import BaseModel, Field

from ..core.errors import CatalogError, InvalidInputError, ModelUnavailableError
from ..core.images import ImageInput, load_image

#: Special tokens of the BLIP text side: BERT's plus the decoder's [DEC] start token.
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]


class BlipCaptioner:
    """An image captioner with a fine-tuning loop. Use :meth:`from_pretrained` to create one."""

    def __init__(self, model, processor, *, device: str = "cpu", max_new_tokens: int = 30,
                 name: Optional[str] = None) -> None:
        self.model = model.to(device)
        self.processor = processor
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.name = name or "blip"

    # -- loading / saving ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, *, device: str = "cpu", local_files_only: bool = True,
                        **kwargs) -> "BlipCaptioner":
        from transformers import BlipForConditionalGeneration, BlipProcessor

        try:
            processor = BlipProcessor.from_pretrained(str(path_or_id), local_files_only=local_files_only)
            model = BlipForConditionalGeneration.from_pretrained(str(path_or_id), local_files_only=local_files_only)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load BLIP from {str(path_or_id)!r} offline; pass a directory written by save_pretrained "
                "or a hub id already in the Hugging Face cache"
            ) from exc
        return cls(model.eval(), processor, device=device, name=str(path_or_id), **kwargs)

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(directory))
        self.processor.save_pretrained(str(directory))
        return directory

    @staticmethod
    def build_tiny(directory: str | Path, words: Sequence[str], *, image_size: int = 32, hidden: int = 32,
                   seed: int = 0) -> Path:
        """Write a random tiny BLIP (word-level tokenizer over ``words``) to ``directory``; load it with
        :meth:`from_pretrained`. For tests and install checks only: its captions are noise until trained."""
        import torch
        from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                                  BlipProcessor)

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocab = list(_SPECIALS) + sorted({w.lower() for w in words} - set(_SPECIALS))
        vocab_file = directory / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True, bos_token="[DEC]",
                                  model_max_length=32)
        ids = {t: i for i, t in enumerate(vocab)}
        text_config = dict(vocab_size=len(vocab), hidden_size=hidden, encoder_hidden_size=hidden,
                           intermediate_size=hidden * 2, num_hidden_layers=1, num_attention_heads=2,
                           max_position_embeddings=64, bos_token_id=ids["[DEC]"], eos_token_id=ids["[SEP]"],
                           pad_token_id=ids["[PAD]"], sep_token_id=ids["[SEP]"])
        vision_config = dict(hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=1,
                             num_attention_heads=2, image_size=image_size, patch_size=8, projection_dim=hidden)
        config = BlipConfig(text_config=text_config, vision_config=vision_config, projection_dim=hidden,
                            image_text_hidden_size=hidden)
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config)
        image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
        processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
        model.save_pretrained(str(directory))
        processor.save_pretrained(str(directory))
        return directory

    # -- inference -------------------------------------------------------------------------------------------------
    def _pixels(self, images: Sequence[ImageInput]):
        pil = [load_image(im) for im in images]
        return self.processor(images=pil, return_tensors="pt")["pixel_values"].to(self.device)

    def caption(self, images: Sequence[ImageInput], *, batch_size: int = 16, progress: bool = False) -> list[str]:
        """One caption per image (greedy decoding)."""
        import torch
        from tqdm.auto import tqdm

        self.model.eval()
        out: list[str] = []
        starts = range(0, len(images), batch_size)
        for i in tqdm(starts, desc="blip caption", disable=not progress):
            pixel_values = self._pixels(images[i : i + batch_size])
            with torch.no_grad():
                ids = self.model.generate(pixel_values=pixel_values, max_new_tokens=self.max_new_tokens,
                                          do_sample=False)
            out.extend(t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True))
        return out

    # -- training --------------------------------------------------------------------------------------------------
    def finetune(
        self,
        pairs: Sequence[tuple[ImageInput, str]],
        *,
        steps: int = 100,
        lr: float = 5e-5,
        batch_size: int = 8,
        max_length: int = 32,
        seed: int = 0,
        progress: bool = False,
    ) -> list[float]:
        """Fine-tune on (image, caption) pairs with teacher forcing; returns the loss of every step.

        As in the original BLIP training, the first text token is replaced by the decoder start token ([DEC]),
        the same token :meth:`caption` starts from, and padding is masked out of the loss.
        """
        import torch
        from tqdm.auto import tqdm

        if not pairs:
            raise InvalidInputError("finetune needs at least one (image, caption) pair")
        if steps < 1 or lr <= 0:
            raise InvalidInputError("finetune needs steps >= 1 and lr > 0")
        rng = random.Random(seed)
        torch.manual_seed(seed)
        bos = self.model.config.text_config.bos_token_id
        pad = self.model.config.text_config.pad_token_id
        texts = [t for _, t in pairs]
        optim = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=lr)
        self.model.train()
        losses: list[float] = []
        order: list[int] = []
        for _ in tqdm(range(steps), desc="blip finetune", disable=not progress):
            if len(order) < batch_size:
                extra = list(range(len(pairs)))
                rng.shuffle(extra)
                order.extend(extra)
            batch, order = order[:batch_size], order[batch_size:]
            # Images are decoded per batch so that a whole catalog never sits in memory.
            enc = self.processor(images=[load_image(pairs[i][0]) for i in batch], text=[texts[i] for i in batch],
                                 padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
            input_ids = enc["input_ids"].clone()
            input_ids[:, 0] = bos
            labels = input_ids.masked_fill(enc["attention_mask"] == 0, -100)
            out = self.model(pixel_values=enc["pixel_values"].to(self.device), input_ids=input_ids.to(self.device),
                             attention_mask=enc["attention_mask"].to(self.device), labels=labels.to(self.device))
            optim.zero_grad()
            out.loss.backward()
            optim.step()
            losses.append(float(out.loss.detach()))
        self.model.eval()
        return losses


class BlipFinetuneReport(BaseModel):
    """What :func:`finetune_on_catalog` did (the ``--json`` output of a fine-tuning command)."""

    model_in: str
    model_out: str
    catalog: str
    split: Optional[str]
    n_pairs: int = Field(description="(image, title) pairs trained on.")
    steps: int
    lr: float
    batch_size: int
    first_loss: float = Field(description="Mean loss of the first 10 steps.")
    last_loss: float = Field(description="Mean loss of the last 10 steps.")
    losses: list[float]


def finetune_on_catalog(
    model: str | Path,
    catalog: str | Path,
    out: str | Path,
    *,
    split: Optional[str] = "train",
    steps: int = 1000,
    lr: float = 5e-5,
    batch_size: int = 8,
    limit: Optional[int] = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> BlipFinetuneReport:
    """Fine-tune BLIP on a catalog's (image, title) pairs and save it to ``out`` — the paper's baseline recipe.

    The captions it then writes can be scored with the same text metrics as the writers (titles as references).
    """
    from ..retrieval.catalog import load_catalog

    cat = load_catalog(catalog, split=split)
    pairs = [(p.image_path, p.title) for p in cat.products if p.image_path and p.title.strip()]
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        where = f" in split {split!r}" if split else ""
        raise CatalogError(f"{catalog}: no product with both an image and a title{where}; check the catalog")
    cap = BlipCaptioner.from_pretrained(model, device=device)
    losses = cap.finetune(pairs, steps=steps, lr=lr, batch_size=batch_size, seed=seed, progress=progress)
    cap.save_pretrained(out)
    head, tail = losses[:10], losses[-10:]
    return BlipFinetuneReport(model_in=str(model), model_out=str(out), catalog=str(catalog), split=split,
                              n_pairs=len(pairs), steps=steps, lr=lr, batch_size=batch_size,
                              first_loss=sum(head) / len(head), last_loss=sum(tail) / len(tail), losses=losses)
