"""Editing components: inversion adapter, pseudo-token injection, 27-channel UNet, hf weight loading."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
import torch
from transformers import CLIPTextConfig, CLIPTextModel

from fashionrag.core.errors import InvalidInputError, ModelUnavailableError
from fashionrag.models.edit_unet import EDIT_IN_CHANNELS, load_edit_unet, tiny_unet_config, widen_conv_in
from fashionrag.models.inversion_adapter import InversionAdapter, InversionAdapterConfig
from fashionrag.models.text_injection import (
    build_prompt_ids,
    encode_with_pseudo_tokens,
    placeholder_token_id,
    prompt_text,
)
from fashionrag.models.tiny_tokenizer import build_tiny_clip_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tiny_clip_tokenizer()


@pytest.fixture(scope="module")
def text_encoder(tok):
    torch.manual_seed(0)
    cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return CLIPTextModel(cfg).eval()


def _ids(tok, text):
    return tok(text, padding="max_length", max_length=77, return_tensors="pt").input_ids


def test_placeholder_is_one_token_like_sd2(tok):
    assert placeholder_token_id(tok) == 259  # '$</w>' in the real CLIP vocabulary too


@torch.no_grad()
def test_injecting_word_embeddings_equals_the_normal_forward(tok, text_encoder):
    ph = placeholder_token_id(tok)
    with_ph = _ids(tok, "a photo of $ $ dress")
    with_red = _ids(tok, "a photo of red red dress")
    assert with_ph.shape == with_red.shape and int((with_ph == ph).sum()) == 2
    red = text_encoder.get_input_embeddings()(_ids(tok, "red")[:, 1:2])  # (1,1,D)
    injected = encode_with_pseudo_tokens(text_encoder, with_ph, red.repeat(1, 2, 1), ph)
    normal = text_encoder(input_ids=with_red).last_hidden_state
    torch.testing.assert_close(injected, normal)
    # and injecting the '$' token's own embedding is exactly the plain forward of the '$' prompt
    own = text_encoder.get_input_embeddings()(torch.tensor([[ph, ph]]))
    torch.testing.assert_close(encode_with_pseudo_tokens(text_encoder, with_ph, own, ph),
                               text_encoder(input_ids=with_ph).last_hidden_state)


@torch.no_grad()
def test_only_placeholder_positions_carry_the_pseudo_tokens(tok, text_encoder):
    ph = placeholder_token_id(tok)
    ids = build_prompt_ids(tok, "a photo of a model wearing a dress made of", 16)
    pos = (ids[0] == ph).nonzero().flatten()
    assert len(pos) == 16
    pseudo = torch.randn(1, 16, 32)
    seen: dict[str, torch.Tensor] = {}
    # what the transformer layers receive (token + position embeddings)
    handle = text_encoder.encoder.register_forward_pre_hook(
        lambda m, args, kwargs: seen.__setitem__("x", kwargs["inputs_embeds"][0].clone()), with_kwargs=True)
    try:
        text_encoder(input_ids=ids)
        plain = seen["x"]
        out_a = encode_with_pseudo_tokens(text_encoder, ids, pseudo, ph)
        injected = seen["x"]
    finally:
        handle.remove()
    positions = text_encoder.embeddings.position_embedding.weight[:77]
    torch.testing.assert_close(injected[pos] - positions[pos], pseudo[0])
    others = torch.ones(77, dtype=torch.bool)
    others[pos] = False
    torch.testing.assert_close(injected[others], plain[others])
    # the encoder is causal: positions before the first '$' do not depend on the garment
    out_b = encode_with_pseudo_tokens(text_encoder, ids, torch.randn(1, 16, 32), ph)
    first = int(pos[0])
    torch.testing.assert_close(out_a[0, :first], out_b[0, :first])
    assert not torch.allclose(out_a[0, first:], out_b[0, first:])


def test_placeholder_count_must_match(tok, text_encoder):
    ph = placeholder_token_id(tok)
    ids = build_prompt_ids(tok, "a dress", 16)
    with pytest.raises(InvalidInputError, match="placeholders"):
        encode_with_pseudo_tokens(text_encoder, ids, torch.zeros(1, 32, 32), ph)
    with pytest.raises(InvalidInputError):
        encode_with_pseudo_tokens(text_encoder, ids, None, ph)


def test_long_text_is_truncated_not_the_placeholders(tok):
    ph = placeholder_token_id(tok)
    ids = build_prompt_ids(tok, "red " * 100, 64)
    assert ids.shape == (1, 77)
    assert int((ids == ph).sum()) == 64
    assert ids[0, 0] == tok.bos_token_id and ids[0, 1 + 11 + 64] == tok.eos_token_id
    with pytest.raises(InvalidInputError):
        build_prompt_ids(tok, "x", 80)
    assert prompt_text("dresses", "", "category") == "a photo of a model wearing a dress made of"
    assert prompt_text("dresses", "red floral midi dress", "caption") == "red floral midi dress."


def test_adapter_shapes_independence_and_roundtrip(tmp_path):
    torch.manual_seed(0)
    cfg = InversionAdapterConfig.tiny()
    adapter = InversionAdapter(cfg).eval()
    x = torch.randn(3, 17, cfg.vision_hidden_size)
    with torch.no_grad():
        y = adapter(x)
        assert y.shape == (3, 16, cfg.token_dim)
        torch.testing.assert_close(adapter(x[1:2]), y[1:2], atol=1e-5, rtol=1e-5)  # garments are independent
        adapter.save_pretrained(tmp_path / "a")
        torch.testing.assert_close(InversionAdapter.from_pretrained(tmp_path / "a")(x), y)
    # the reference's state-dict key names load as they are
    torch.save(adapter.state_dict(), tmp_path / "inversion_adapter_120000.pth")
    other = InversionAdapter(cfg).eval()
    other.load_reference_checkpoint(tmp_path / "inversion_adapter_120000.pth")
    with torch.no_grad():
        torch.testing.assert_close(other(x), y)
    full = InversionAdapterConfig()
    assert (full.vision_hidden_size, full.hidden_dim, full.token_dim, full.num_vstar, full.dropout) == (1280, 5120, 1024, 16, 0.5)
    assert [m.__class__.__name__ for m in adapter.layers] == ["Linear", "GELU", "Dropout"] * 2 + ["Linear"]


def test_widened_unet_starts_as_the_inpainting_unet(tmp_path):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    base = UNet2DConditionModel(**tiny_unet_config(in_channels=9)).eval()
    w9 = base.conv_in.weight.detach().clone()
    x = torch.randn(1, 9, 16, 12)
    ctx = torch.randn(1, 77, 32)
    with torch.no_grad():
        ref = base(x, 10, encoder_hidden_states=ctx).sample
        unet = widen_conv_in(base)
        assert unet.config.in_channels == EDIT_IN_CHANNELS == 27
        torch.testing.assert_close(unet.conv_in.weight[:, :9], w9)
        assert torch.count_nonzero(unet.conv_in.weight[:, 9:]) == 0
        pose = torch.rand(1, 18, 16, 12)
        torch.testing.assert_close(unet(torch.cat([x, pose], 1), 10, encoder_hidden_states=ctx).sample, ref)
    base9 = UNet2DConditionModel(**tiny_unet_config(in_channels=9))
    base9.save_pretrained(tmp_path / "u9")
    assert load_edit_unet(tmp_path / "u9").config.in_channels == 27  # converted on load


def test_hf_profile_offline_names_the_missing_files(monkeypatch, tmp_path):
    from fashionrag.pipelines.edit import FashionRAGPipeline

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelUnavailableError) as err:
        FashionRAGPipeline.from_profile("hf", local_files_only=True)
    msg = str(err.value)
    assert "unet_120000.pth" in msg and "inversion_adapter_120000.pth" in msg
    assert "stabilityai/stable-diffusion-2-inpainting" in msg and "huggingface-cli download" in msg
    with pytest.raises(ModelUnavailableError, match="'lite' is not a diffusion profile|unknown edit profile 'lite'"):
        FashionRAGPipeline.from_profile("lite")
    with pytest.raises(ModelUnavailableError, match="not a saved editing pipeline"):
        FashionRAGPipeline.from_pretrained(tmp_path)


def test_hf_loader_at_tiny_size(monkeypatch, tmp_path):
    """The real hf code path: a 9-channel SD-2-inpainting layout is widened, then the released .pth files load."""
    import huggingface_hub
    from transformers import CLIPVisionModel

    from fashionrag.models.edit_unet import build_edit_unet
    from fashionrag.pipelines import edit_profiles as edit_mod

    torch.manual_seed(0)
    tiny = edit_mod.build_tiny_pipeline()
    base = tmp_path / "sd2-inpainting"
    tiny.save_pretrained(base)
    from diffusers import UNet2DConditionModel

    UNet2DConditionModel(**tiny_unet_config(in_channels=9)).save_pretrained(str(base / "unet"))  # the base is 9-channel
    released_unet = build_edit_unet(tiny_unet_config())
    released_adapter = InversionAdapter(InversionAdapterConfig.tiny())
    torch.save(released_unet.state_dict(), tmp_path / "unet_120000.pth")
    torch.save(released_adapter.state_dict(), tmp_path / "inversion_adapter_120000.pth")
    asked = []

    def fake_download(repo, filename, **kw):
        asked.append((repo, filename, kw.get("local_files_only")))
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    pipe = edit_mod.load_hf_pipeline(base=str(base), vision=str(base / "image_encoder"), local_files_only=True, device="cpu")
    assert [a[:2] for a in asked] == [("furio19/fashion-rag", "unet_120000.pth"), ("furio19/fashion-rag", "inversion_adapter_120000.pth")]
    assert pipe.unet.config.in_channels == 27 and pipe.config.profile == "hf"
    torch.testing.assert_close(pipe.unet.conv_in.weight, released_unet.conv_in.weight)
    torch.testing.assert_close(pipe.inversion_adapter.layers[6].weight, released_adapter.layers[6].weight)
    assert isinstance(pipe.image_encoder, CLIPVisionModel)
