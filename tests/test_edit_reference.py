"""Fashion-RAG as the reference runs it (issue: step 7): pose heatmaps, garment pixels, the k = 0 prompt,
paste-back, k = 4, training's prompt mode and the Dress Code masks — each pinned to the reference's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
import torch
from PIL import Image

from fashionrag.core.errors import InvalidInputError
from fashionrag.models.inversion_adapter import preprocess_garments
from fashionrag.models.text_injection import build_prompt_ids, prompt_text
from fashionrag.pipelines.edit import EditConfig, FashionRAGPipeline
from fashionrag.pipelines.edit_data import DC_LABELS, dresscode_inpaint_mask
from fashionrag.pipelines.edit_inputs import keypoint_heatmaps
from fashionrag.vision import keypoints as kpts


def test_heatmap_is_exp_minus_d2_over_sigma2_at_512x384():
    kp = kpts.empty()
    kp[kpts.NECK] = (100, 200, 1)
    maps = keypoint_heatmaps(kp, 512, 384)
    # the reference's utils/posemap.py: exp(-d^2 / sigma^2), sigma = 9, max-normalised
    for dx, dy in ((0, 0), (9, 0), (0, 5), (6, 8), (20, 3)):
        assert maps[1, 200 + dy, 100 + dx] == pytest.approx(math.exp(-(dx * dx + dy * dy) / 81.0), rel=1e-5, abs=1e-7)
    assert maps[1].max() == pytest.approx(1.0) and not maps[0].any()
    # sigma scales with the working height: 4.5 px at 256
    small = keypoint_heatmaps(kp / [2, 2, 1], 256, 192)
    assert small[1, 100, 50 + 3] == pytest.approx(math.exp(-9 / 4.5**2), rel=1e-5)


@pytest.mark.parametrize("size", [(300, 300), (500, 200), (150, 400)])
@pytest.mark.parametrize("crop", [224, 32])
def test_garment_pixels_match_clip_image_processor_on_the_3x4_resized_image(size, crop):
    from transformers import CLIPImageProcessor

    rng = np.random.default_rng(sum(size))
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    ours = preprocess_garments([img], crop)[0]
    proc = CLIPImageProcessor(size={"shortest_edge": crop}, crop_size={"height": crop, "width": crop})
    ref = proc(images=img.resize((384, 512), Image.BICUBIC), return_tensors="pt").pixel_values[0]
    assert ours.shape == ref.shape == (3, crop, crop)
    # rounding-level differences only (one 8-bit step is 1/255/std ~ 0.015)
    assert (ours - ref).abs().mean() < 2e-3 and (ours - ref).abs().max() < 0.05


def test_k0_prompt_uses_the_text():
    assert prompt_text("upper_body", "red silk blouse", "category", n_garments=0) == \
        "a photo of a model wearing an upper body garment. red silk blouse"
    assert prompt_text("dresses", "red dress", "category", n_garments=2) == "a photo of a model wearing a dress made of"
    assert prompt_text("lower_body", "blue jeans", "caption", n_garments=0) == "blue jeans"
    pipe = FashionRAGPipeline.from_profile("tiny", device="cpu")
    with torch.no_grad():
        _, prompt = pipe.encode_conditioning("red silk blouse", "upper_body", [])
    assert prompt == "a photo of a model wearing an upper body garment. red silk blouse"
    ids = build_prompt_ids(pipe.tokenizer, prompt, 0)[0].tolist()
    expect = [pipe.tokenizer.bos_token_id, *pipe.tokenizer(prompt, add_special_tokens=False).input_ids, pipe.tokenizer.eos_token_id]
    assert ids[: len(expect)] == expect
    category_only = build_prompt_ids(pipe.tokenizer, prompt_text("upper_body", "", "category", n_garments=0), 0)[0].tolist()
    assert ids != category_only and len(expect) > category_only.index(pipe.tokenizer.eos_token_id) + 1


def test_k4_refused_where_the_template_does_not_fit():
    pipe = FashionRAGPipeline.from_profile("tiny", device="cpu")
    g = [Image.new("RGB", (30, 40), (200, 0, 0))] * 4
    with torch.no_grad():
        with pytest.raises(InvalidInputError, match="k = 4"):
            pipe.encode_conditioning("", "upper_body", g)
        _, prompt = pipe.encode_conditioning("", "dresses", g)  # 10 words + 64 + 2 fit in 77
    assert prompt.count("$") == 64


def _kp() -> np.ndarray:
    kp = kpts.empty()
    for i, (x, y) in {0: (48, 15), 1: (48, 30), 2: (38, 30), 5: (58, 30), 3: (35, 45), 6: (61, 45), 4: (34, 60),
                      7: (62, 60), 8: (41, 65), 11: (55, 65), 9: (41, 90), 12: (55, 90), 10: (41, 117), 13: (55, 117)}.items():
        kp[i] = (x, y, 1)
    return kp


def test_paste_back_false_returns_the_decoders_image():
    pipe = FashionRAGPipeline.from_profile("tiny", device="cpu")
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 255, (128, 96, 3), dtype=np.uint8))
    decoded = []
    real_decode = pipe.vae.decode

    def spy(z, *a, **kw):
        out = real_decode(z, *a, **kw)
        decoded.append(out.sample[0].float().clamp(-1, 1))
        return out

    pipe.vae.decode = spy
    raw = pipe(photo, "red top", k=0, keypoints=_kp(), num_inference_steps=1, seed=0, paste_back=False)
    pasted = pipe(photo, "red top", k=0, keypoints=_kp(), num_inference_steps=1, seed=0)
    pipe.vae.decode = real_decode
    dec = ((decoded[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    assert raw.image.size == photo.size == (96, 128)  # same size as the working size: no letterbox to undo
    assert np.abs(np.asarray(raw.image, np.int16) - dec).max() <= 1 and not raw.paste_back
    m = np.asarray(pasted.mask_image) > 0
    src = np.asarray(photo)
    assert np.array_equal(np.asarray(pasted.image)[~m], src[~m])
    assert (np.asarray(raw.image)[~m] != src[~m]).mean() > 0.5  # the raw image repaints outside the mask too
    assert np.array_equal(np.asarray(raw.image)[m], np.asarray(pasted.image)[m])


def test_training_prompt_mode_defaults_to_inference():
    from fashionrag.train.editor import EditorTrainSettings

    assert EditorTrainSettings().prompt_mode == EditConfig().prompt_mode == "category"


def test_dresscode_masks_as_the_reference():
    L = DC_LABELS
    h, w = 512, 384
    labels = np.zeros((h, w), np.uint8)
    labels[20:80, 150:230] = L["head"]
    labels[0:25, 150:230] = L["hair"]
    labels[110:280, 130:250] = L["upper_clothes"]
    labels[110:260, 90:130] = L["right_arm"]
    labels[260:300, 90:130] = L["right_arm"]  # the hand, below the wrist
    labels[280:480, 140:240] = L["pants"]
    labels[480:512, 140:240] = L["left_shoe"]
    kp = kpts.empty()
    for i, (x, y) in {2: (140, 110), 5: (240, 110), 3: (110, 180), 6: (270, 180), 4: (110, 250), 7: (270, 250),
                      8: (160, 280), 11: (220, 280)}.items():
        kp[i] = (x, y, 1)
    up = dresscode_inpaint_mask(labels, kp, "upper_body").astype(bool)
    assert up[200, 190] and up[200, 110]  # the top and the arm band
    assert not up[290, 110]  # the hand stays
    assert not up[10, 190] and not up[40, 190]  # hair and face above the shoulder line stay
    assert up[95, 190]  # the neck under the shoulder line (20 px slack) is repainted
    assert not up[400, 190] and not up[500, 190]  # trousers and shoes stay
    assert up[285, 135]  # the dilation (about 10 px) reaches past the top's edge into background
    low = dresscode_inpaint_mask(labels, kp, "lower_body").astype(bool)
    assert low[400, 190] and not low[200, 190] and not low[200, 110] and not low[500, 190]
    box = dresscode_inpaint_mask(labels, kp, "upper_body", bounding_box=True).astype(bool)
    assert box.sum() > up.sum() and not box[10, 190] and not (up & ~box).any()
