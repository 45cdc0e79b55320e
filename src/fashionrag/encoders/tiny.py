"""Tiny random-init encoders for tests and install smoke checks: ``tiny`` (= ``tiny-clip``),
``tiny-siglip``, ``tiny-siglip2`` and ``tiny-openclip``.

Each is a few-layer, 32-wide version of the exact class the real models use (transformers CLIPModel,
SiglipModel, Siglip2Model, an open_clip SigLIP-style CLIP), built from a fixed seed, saved to
``<cache_dir>/tiny-<kind>`` and loaded back through the very same ``hf:`` / ``openclip:`` loaders, so
the tests exercise the real loading and encoding code without any download. Tokenizers are built
locally (byte-level BPE vocabularies with no merges) and saved beside the weights, so each directory
is self-contained.

Their weights are random: outputs are deterministic and well-formed, but rankings are meaningless.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable

from ..core.tiny import tiny_model_dir
from ..core.errors import ModelUnavailableError
from .base import Encoder, register

#: Bump when a builder changes so stale cached directories are rebuilt.
TINY_VERSION = 1
SEED = 0
WIDTH, LAYERS, HEADS, IMAGE, PATCH, CONTEXT = 32, 2, 2, 32, 8, 16


def _byte_alphabet() -> list[str]:
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _tiny_text(vocab_size: int, **extra: object) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, max_position_embeddings=CONTEXT, **extra)


def _tiny_vision() -> dict:
    return dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                image_size=IMAGE, patch_size=PATCH)


def _clip_tokenizer(directory: Path):
    """A real CLIPTokenizer over the 256 byte symbols (+ their end-of-word forms) and CLIP's two specials,
    which keep CLIP's convention of being the highest ids (the model pools at the EOS id)."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    vocab = {sym: i for i, sym in enumerate(alphabet + [a + "</w>" for a in alphabet])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=CONTEXT)
    tokenizer.save_pretrained(directory)
    return tokenizer


def _siglip_tokenizer(directory: Path):
    """A SigLIP-style tokenizer (lower-case, ``</s>`` appended, padded with ``</s>``) as a plain
    ``tokenizers`` pipeline, because the real SigLIP one needs sentencepiece."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for sym in _byte_alphabet():
        vocab[sym] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", pad_token="</s>",
                                        unk_token="<unk>", model_max_length=CONTEXT)
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_clip(directory: Path) -> None:
    """transformers CLIPModel + CLIPTokenizer + CLIPImageProcessor, hf layout."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tokenizer = _clip_tokenizer(directory)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer.convert_tokens_to_ids("<|startoftext|>")
    config = CLIPConfig(
        text_config=_tiny_text(len(tokenizer), bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
        vision_config=_tiny_vision(),
        projection_dim=WIDTH,
    )
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}).save_pretrained(directory)


def build_tiny_siglip(directory: Path) -> None:
    """transformers SiglipModel + SigLIP-style tokenizer + SiglipImageProcessor, hf layout."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    tokenizer = _siglip_tokenizer(directory)
    config = SiglipConfig(
        text_config=_tiny_text(len(tokenizer), pad_token_id=1, eos_token_id=1, bos_token_id=None,
                               projection_size=WIDTH),
        vision_config=_tiny_vision(),
    )
    SiglipModel(config).save_pretrained(directory)
    SiglipImageProcessor(size={"height": IMAGE, "width": IMAGE}).save_pretrained(directory)


def build_tiny_siglip2(directory: Path) -> None:
    """transformers Siglip2Model (NaFlex: variable aspect ratio, at most 16 patches) + Siglip2ImageProcessor."""
    from transformers import Siglip2Config, Siglip2ImageProcessor, Siglip2Model

    tokenizer = _siglip_tokenizer(directory)
    vision = {k: v for k, v in _tiny_vision().items() if k != "image_size"}
    config = Siglip2Config(
        text_config=_tiny_text(len(tokenizer), pad_token_id=1, eos_token_id=1, bos_token_id=None,
                               projection_size=WIDTH),
        vision_config=dict(vision, num_patches=(IMAGE // PATCH) ** 2),
    )
    Siglip2Model(config).save_pretrained(directory)
    Siglip2ImageProcessor(patch_size=PATCH, max_num_patches=(IMAGE // PATCH) ** 2).save_pretrained(directory)


def build_tiny_openclip(directory: Path) -> None:
    """An open_clip CLIP shaped like Marqo-FashionSigLIP (custom text tower, no causal mask, last-token
    pooling, logit bias, HF tokenizer) with a tiny built-in ViT, written in the hub repo layout."""
    import open_clip
    from safetensors.torch import save_file

    tokenizer = _siglip_tokenizer(directory)
    model_cfg = {
        "embed_dim": WIDTH,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": IMAGE, "layers": LAYERS, "width": WIDTH, "head_width": WIDTH // HEADS,
                       "patch_size": PATCH},
        "text_cfg": {"context_length": CONTEXT, "vocab_size": len(tokenizer), "hf_tokenizer_name": "local",
                     "width": WIDTH, "heads": HEADS, "layers": LAYERS, "no_causal_mask": True,
                     "proj_bias": True, "pool_type": "last"},
    }
    preprocess_cfg = {"size": IMAGE, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic",
                      "resize_mode": "squash"}
    model = open_clip.CustomTextCLIP(embed_dim=model_cfg["embed_dim"], vision_cfg=model_cfg["vision_cfg"],
                                     text_cfg=model_cfg["text_cfg"], init_logit_bias=-10)
    (directory / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, indent=2))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))


#: kind -> (builder, registry prefix of the loader that reads its directory)
_KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "clip": (build_tiny_clip, "hf"),
    "siglip": (build_tiny_siglip, "hf"),
    "siglip2": (build_tiny_siglip2, "hf"),
    "openclip": (build_tiny_openclip, "openclip"),
}


def tiny_dir(kind: str, root: Path | None = None) -> Path:
    """Directory holding the tiny ``kind`` model, built (seeded, atomically) if missing or stale."""
    if kind not in _KINDS:
        raise ModelUnavailableError(f"unknown tiny encoder 'tiny-{kind}'; use one of: " +
                                    ", ".join(f"tiny-{k}" for k in _KINDS))
    def build(directory: Path) -> None:
        _KINDS[kind][0](directory)
        # the marker this backend wrote before the shared builder existed (tests and users look for it)
        (directory / "fashionrag_tiny.json").write_text(json.dumps({"kind": kind, "version": TINY_VERSION, "seed": SEED}))

    return tiny_model_dir(f"tiny-{kind}", build, version=TINY_VERSION, seed=SEED, root=root, kind=kind)


def create_tiny(kind: str, *, device: str | None = None, **kwargs) -> Encoder:
    """Build (or reuse) the tiny ``kind`` directory and load it through its real backend."""
    from .base import ENCODERS

    directory = tiny_dir(kind)  # raises ModelUnavailableError for an unknown kind
    return ENCODERS.get(_KINDS[kind][1])(str(directory), device=device, name=f"tiny-{kind}", **kwargs)


def _factory(kind: str) -> Callable[..., Encoder]:
    def factory(spec: str, *, device: str | None = None, **kwargs) -> Encoder:
        return create_tiny(kind, device=device, **kwargs)

    factory.__doc__ = f"Registry factory for tiny-{kind} (random weights, tests only)."
    return factory


register("tiny")(_factory("clip"))
for _kind in _KINDS:
    register(f"tiny-{_kind}")(_factory(_kind))
