"""A tiny CLIP BPE tokenizer built locally, for the ``tiny`` editing profile (no downloads).

It has the same layout as the real CLIP vocabulary where it matters: ids 0..255 are the byte-level
characters, 256..511 the same characters ending a word (so ``$`` is ``$</w>`` = 259 as in SD-2),
then whole words of the prompt templates (so prompts stay short), then the special tokens.
"""

from __future__ import annotations

from pathlib import Path

from transformers import CLIPTokenizer

#: Words merged into single tokens: the prompt templates plus common garment words.
_WORDS = (
    "a an photo of model wearing dress upper lower body garment made the and with in "
    "red blue green black white navy pink yellow grey gray brown floral striped check "
    "shirt tshirt top skirt jeans trousers pants midi mini long short sleeve cotton denim silk"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte -> printable-character table (same order as the real vocabulary)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_tiny_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """A working CLIPTokenizer with a ~600-token vocabulary."""
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in _WORDS:
        if len(word) < 2:
            continue
        left = word[0]
        for i, ch in enumerate(word[1:], start=1):
            right = ch + ("</w>" if i == len(word) - 1 else "")
            merged = left + right
            if (left, right) not in merges:
                merges.append((left, right))
            vocab.setdefault(merged, len(vocab))
            left = merged
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
    return tok


def save_tiny_clip_tokenizer(path: str | Path) -> CLIPTokenizer:
    tok = build_tiny_clip_tokenizer()
    tok.save_pretrained(str(path))
    return tok
