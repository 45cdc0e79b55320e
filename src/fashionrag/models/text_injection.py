"""Pseudo-token injection into a frozen CLIP text encoder (the SD-2 text encoder in ``hf``).

A prompt carries ``$`` placeholders; the token embeddings at those positions are overwritten by the
inversion adapter's outputs *before* the encoder runs. We do this with a forward hook on the
token-embedding layer and then call the text encoder's own ``forward``: position embeddings, the
causal mask and the final layer norm are therefore exactly what the model normally applies (no copy of
transformers internals that could drift between versions).
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from ..core.errors import InvalidInputError

PLACEHOLDER = "$"

#: How the reference names each garment category in its prompt.
CATEGORY_TEXT = {
    "dresses": "a dress",
    "upper_body": "an upper body garment",
    "lower_body": "a lower body garment",
}


def placeholder_token_id(tokenizer: CLIPTokenizer) -> int:
    ids = tokenizer(PLACEHOLDER, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise InvalidInputError(f"the tokenizer splits {PLACEHOLDER!r} into {len(ids)} tokens; it must be one token")
    return int(ids[0])


def prompt_text(category: str, text: str | None, mode: str = "category", n_garments: int | None = None) -> str:
    """The words before the placeholders, as the reference's ``text_usage`` modes build them.

    ``category`` (``prompt_noun_chunks``): with garments ``a photo of a model wearing {a dress|...} made of``; with
    none (``n_garments=0``, text only) ``a photo of a model wearing {a dress|...}. {text}``.
    ``caption`` (``noun_chunks``): ``{text}.`` before the garments' placeholders; ``{text}`` alone with none.
    ``n_garments=None`` means "some" (the words before the placeholders).
    """
    words = (text or "").strip()
    if mode == "category":
        if category not in CATEGORY_TEXT:
            raise InvalidInputError(f"unknown category {category!r}; use one of {', '.join(CATEGORY_TEXT)}")
        if n_garments == 0:
            return f"a photo of a model wearing {CATEGORY_TEXT[category]}. {words}".strip()
        return f"a photo of a model wearing {CATEGORY_TEXT[category]} made of"
    if mode == "caption":
        if n_garments == 0:
            return words
        return f"{words.rstrip('.')}." if words else ""
    raise InvalidInputError(f"unknown prompt mode {mode!r}; use 'category' or 'caption'")


def build_prompt_ids(tokenizer: CLIPTokenizer, text: str, n_pseudo: int, *, keep_words: bool = False) -> torch.Tensor:
    """Token ids ``<bos> text $ x n_pseudo <eos> <pad>...`` of length ``model_max_length`` -> (1, L).

    When the text is too long, the *text* is truncated so that every placeholder survives (the tokenizer's
    own truncation would cut the pseudo-tokens of the last garments). ``keep_words=True`` (the fixed category
    template) refuses instead: the reference would let its last pseudo-token overwrite ``<eos>`` (k = 4 with
    upper/lower-body prompts), a sequence the text encoder never sees otherwise, so we do not imitate it.
    """
    max_len = int(tokenizer.model_max_length)
    budget = max_len - 2 - n_pseudo
    if budget < 0:
        raise InvalidInputError(f"{n_pseudo} pseudo-tokens do not fit in the text encoder's {max_len} positions; use fewer garments")
    text_ids = tokenizer(text, add_special_tokens=False).input_ids if text else []
    if keep_words and len(text_ids) > budget:
        raise InvalidInputError(
            f"the prompt {text!r} ({len(text_ids)} tokens) and {n_pseudo} pseudo-tokens do not fit in the text encoder's "
            f"{max_len} positions: use fewer garments (k = 4 fits only 'dresses' prompts; the reference overwrites "
            "<eos> there, which we do not imitate) or --prompt caption"
        )
    text_ids = text_ids[:budget]
    ph = placeholder_token_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = [tokenizer.bos_token_id, *text_ids, *([ph] * n_pseudo), tokenizer.eos_token_id]
    ids += [pad] * (max_len - len(ids))
    return torch.tensor([ids], dtype=torch.long)


def encode_plain(text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer, texts: Sequence[str]) -> torch.Tensor:
    """The normal SD prompt encoding (used for the unconditional branch)."""
    ids = tokenizer(list(texts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
    return text_encoder(input_ids=ids.to(text_encoder.device)).last_hidden_state


def encode_with_pseudo_tokens(
    text_encoder: CLIPTextModel,
    input_ids: torch.Tensor,
    pseudo_embeds: torch.Tensor | None,
    placeholder_id: int,
) -> torch.Tensor:
    """Run ``text_encoder`` on ``input_ids`` (B, L) with the placeholder positions' token embeddings
    replaced, row by row and in order, by ``pseudo_embeds`` (B, N, D). Returns the last hidden state.

    Every row must hold exactly N placeholders. ``pseudo_embeds=None`` (or N=0) is the plain forward.
    Gradients flow into ``pseudo_embeds`` (for training the adapter).
    """
    input_ids = input_ids.to(text_encoder.device)
    positions = input_ids == placeholder_id
    counts = positions.sum(dim=1)
    n = 0 if pseudo_embeds is None else int(pseudo_embeds.shape[1])
    if pseudo_embeds is not None and pseudo_embeds.shape[0] != input_ids.shape[0]:
        raise InvalidInputError(f"{pseudo_embeds.shape[0]} rows of pseudo-tokens for {input_ids.shape[0]} prompts")
    if n == 0:
        if bool(counts.any()):
            raise InvalidInputError("the prompt has $ placeholders but no pseudo-tokens were given")
        return text_encoder(input_ids=input_ids).last_hidden_state
    if not bool((counts == n).all()):
        raise InvalidInputError(f"each prompt must carry {n} placeholders, found {counts.tolist()}")

    embedding = text_encoder.get_input_embeddings()

    def _inject(_module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[positions] = pseudo_embeds.reshape(-1, pseudo_embeds.shape[-1]).to(output.dtype)
        return output

    handle = embedding.register_forward_hook(_inject)
    try:
        return text_encoder(input_ids=input_ids).last_hidden_state
    finally:
        handle.remove()
