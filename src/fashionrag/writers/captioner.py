"""``captioner``: the supervised baseline as a writer (image in, text out; the evidence pack is not used).

It exists to be *compared*: the paper sets its retrieval-augmented captions against a supervised captioner. So this
writer keeps its own text even when the grounding guard finds contradictions (``guard_fallback = False``): the
guard report lists them, and `eval caption --writer captioner` counts them, instead of the template writer quietly
taking over. Hashtags are made from the captioner's own words (the colours, garments and genders it names, plus
reach tags), never from the evidence.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from ..core.evidence import EvidencePack
from ..core.images import load_image
from . import hashtags as hashtag_lib
from .base import Draft, Writer, register

PACKAGED = "assets/captioner"


def packaged_dir() -> Path:
    return Path(str(resources.files("fashionrag").joinpath(PACKAGED)))


@lru_cache(maxsize=4)
def _load(model_dir: str, encoder: Optional[str]):
    from .. import encoders
    from ..models.captioner import CaptionDecoder

    model, tok = CaptionDecoder.from_pretrained(model_dir)
    return model, tok, encoders.create(encoder or model.config.encoder)


class CaptionerWriter(Writer):
    """Greedy decoding of a :class:`~fashionrag.models.captioner.CaptionDecoder` on the photo's embedding."""

    name = "captioner"
    needs_image = True
    guard_fallback = False
    merge_evidence_hashtags = False

    def __init__(self, model: str | Path | None = None, encoder: str | None = None, **_: Any):
        self.model_dir = str(model or packaged_dir())
        self.encoder_name = encoder
        self.model = Path(self.model_dir).name

    def draft(self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int,
              feedback: Optional[str] = None, image: Any = None) -> Draft:
        import torch

        if image is None:
            raise ValueError("the captioner writer needs the photo itself (pass image=...)")
        model, tok, enc = _load(self.model_dir, self.encoder_name)
        vec = enc.encode_images([load_image(image)])
        text = tok.decode(model.generate(torch.from_numpy(vec), no_repeat=tok.word_mask())[0]).strip()
        if not text:
            raise ValueError("the captioner produced no words")
        caption = text[:1].upper() + text[1:]
        if caption[-1] not in ".!?":
            caption += "."
        return Draft(caption, caption_hashtags(caption, n_hashtags, seed))


def caption_hashtags(caption: str, n: int, seed: int) -> list[str]:
    """Tags of the colour / garment / gender phrases the caption itself names, topped up with reach tags."""
    import random

    from .guard import find_mentions

    own = [hashtag_lib.tag(m.word) for m in find_mentions(caption)]
    broad = list(hashtag_lib.BROAD_TAGS)
    random.Random(seed).shuffle(broad)
    return hashtag_lib.dedupe([t for t in own if t] + broad)[:n]


@register("captioner")
def _create(**kwargs) -> CaptionerWriter:
    return CaptionerWriter(**kwargs)
