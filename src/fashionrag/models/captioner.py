"""The supervised captioning baseline: the project's image tower + a small transformer decoder.

The paper (Pixels to Posts) compares its retrieval-augmented captions with a supervised captioner (fine-tuned BLIP).
BLIP weights cannot be had here, so this stands in for it: the image tower of an encoder (``lite`` by default,
frozen) gives one embedding per photo; a linear map turns it into ``prefix_tokens`` prefix vectors, and a causal
transformer (a prefix language model, GPT-style) writes the text word by word. It learns from the catalog's train
titles and attribute sentences only; it never sees the retrieval evidence, so it can say what the photo does not
show (the baseline's known weakness, which `eval caption` measures).

One file, one family: :class:`CaptionerConfig` (JSON), :class:`WordTokenizer` (JSON), :class:`CaptionDecoder`
with ``from_pretrained(dir)`` / ``save_pretrained(dir)`` (``config.json``, ``tokenizer.json``,
``model.safetensors``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import ModelUnavailableError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
_TOKEN = re.compile(r"[a-z0-9]+(?:[\-'][a-z0-9]+)*|[.,!?:;&]")


@dataclass
class CaptionerConfig:
    image_dim: int = 256
    vocab_size: int = 4
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    ff_dim: int = 256
    prefix_tokens: int = 4
    max_len: int = 24
    dropout: float = 0.1
    encoder: str = "lite"
    extra: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "CaptionerConfig":
        return cls(**json.loads(Path(path).read_text()))


class WordTokenizer:
    """Lower-case words and punctuation; words seen fewer than ``min_count`` times are ``<unk>``."""

    def __init__(self, words: Sequence[str]):
        self.itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return _TOKEN.findall(text.lower())

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 2) -> "WordTokenizer":
        counts = Counter(t for text in texts for t in cls.tokenize(text))
        return cls(sorted(w for w, n in counts.items() if n >= min_count))

    def __len__(self) -> int:
        return len(self.itos)

    def word_mask(self) -> torch.Tensor:
        """True for word ids (not specials, not punctuation): the ids decoding uses at most once."""
        return torch.tensor([i >= len(SPECIALS) and any(ch.isalnum() for ch in w) for i, w in enumerate(self.itos)])

    def encode(self, text: str, max_len: int) -> list[int]:
        """<bos> words <eos>, cut to ``max_len`` ids."""
        ids = [BOS] + [self.stoi.get(t, UNK) for t in self.tokenize(text)][: max_len - 2] + [EOS]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        words = []
        for i in ids:
            if i == EOS:
                break
            if i in (PAD, BOS, UNK):
                continue
            words.append(self.itos[i])
        text = " ".join(words)
        return re.sub(r" ([.,!?:;])", r"\1", text)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"itos": self.itos}) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "WordTokenizer":
        return cls(json.loads(Path(path).read_text())["itos"])


class CaptionDecoder(nn.Module):
    """Image embedding -> prefix vectors -> causal transformer over [prefix; words] -> next-word logits."""

    def __init__(self, config: CaptionerConfig):
        super().__init__()
        self.config = config
        c = config
        self.prefix = nn.Sequential(nn.Linear(c.image_dim, c.d_model * c.prefix_tokens), nn.Tanh())
        self.tokens = nn.Embedding(c.vocab_size, c.d_model, padding_idx=PAD)
        self.positions = nn.Embedding(c.prefix_tokens + c.max_len, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.ff_dim, c.dropout, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.head.weight = self.tokens.weight  # tied: fewer parameters, a smaller file

    def forward(self, image: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Logits for every word position: ``image`` (B, image_dim), ``ids`` (B, T) -> (B, T, vocab)."""
        c = self.config
        b, t = ids.shape
        prefix = self.prefix(image).view(b, c.prefix_tokens, c.d_model)
        x = torch.cat([prefix, self.tokens(ids)], dim=1)
        x = x + self.positions(torch.arange(x.shape[1], device=ids.device))[None]
        n = x.shape[1]
        causal = torch.ones((n, n), dtype=torch.bool, device=ids.device).triu(diagonal=1)
        causal[:, : c.prefix_tokens] = False  # every position sees the whole image prefix
        pad = torch.cat([torch.zeros(b, c.prefix_tokens, dtype=torch.bool, device=ids.device), ids == PAD], dim=1)
        h = self.blocks(x, mask=causal, src_key_padding_mask=pad)
        return self.head(self.norm(h[:, c.prefix_tokens:]))

    def loss(self, image: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: predict ids[1:] from ids[:-1] (padding ignored)."""
        logits = self.forward(image, ids[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                           ignore_index=PAD)

    @torch.no_grad()
    def generate(self, image: torch.Tensor, *, max_len: int | None = None,
                 no_repeat: torch.Tensor | None = None) -> list[list[int]]:
        """Greedy decoding (deterministic): one id list per image, without <bos>, up to <eos>. ``no_repeat``: a
        boolean (vocab,) mask of ids that may be used only once (see :meth:`WordTokenizer.word_mask`)."""
        self.eval()
        max_len = min(max_len or self.config.max_len, self.config.max_len) - 1
        ids = torch.full((image.shape[0], 1), BOS, dtype=torch.long, device=image.device)
        done = torch.zeros(image.shape[0], dtype=torch.bool, device=image.device)
        for _ in range(max_len):
            nxt = self.forward(image, ids)[:, -1]
            nxt[:, [PAD, BOS, UNK]] = float("-inf")
            if no_repeat is not None:
                # greedy decoding loops ("as as as"): a word may appear once per text (punctuation may repeat)
                seen = ids.clone()
                seen[~no_repeat[seen]] = PAD
                nxt.scatter_(1, seen, float("-inf"))
                nxt[:, EOS] = torch.where(torch.isinf(nxt).all(1), torch.zeros_like(nxt[:, EOS]), nxt[:, EOS])
            tok = nxt.argmax(-1)
            tok = torch.where(done, torch.full_like(tok, PAD), tok)
            ids = torch.cat([ids, tok[:, None]], dim=1)
            done |= tok == EOS
            if bool(done.all()):
                break
        return [row[1:].tolist() for row in ids]

    # -- persistence -----------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, tokenizer: WordTokenizer, *, half: bool = True) -> Path:
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / "config.json")
        tokenizer.save(out / "tokenizer.json")
        state = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
                 for k, v in self.state_dict().items() if k != "head.weight"}
        save_file(state, str(out / "model.safetensors"))
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> tuple["CaptionDecoder", WordTokenizer]:
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / "config.json").is_file() or not (d / "model.safetensors").is_file():
            raise ModelUnavailableError(
                f"no captioner in {d}: train one with `fashionrag train captioner --catalog DIR --out {d}`")
        model = cls(CaptionerConfig.load(d / "config.json"))
        state = {k: v.float() for k, v in load_file(str(d / "model.safetensors")).items()}
        state["head.weight"] = state["tokens.weight"]
        model.load_state_dict(state)
        model.eval()
        return model, WordTokenizer.load(d / "tokenizer.json")


def batch_ids(tokenizer: WordTokenizer, texts: Sequence[str], max_len: int) -> torch.Tensor:
    """Padded (B, T) id tensor."""
    rows = [tokenizer.encode(t, max_len) for t in texts]
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out)
