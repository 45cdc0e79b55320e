"""Bad and unusual images: every failure is an InvalidImageError naming the file; odd modes become RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fashionrag.core.errors import InvalidImageError
from fashionrag.core.images import file_sha256, load_image


def _save(img: Image.Image, path, fmt=None, **kw):
    img.save(path, format=fmt, **kw)
    return path


def test_rgb_jpeg_roundtrip(tmp_path):
    p = _save(Image.new("RGB", (20, 10), (200, 10, 10)), tmp_path / "a.jpg")
    img = load_image(p)
    assert img.mode == "RGB" and img.size == (20, 10)
    r, g, b = img.getpixel((5, 5))
    assert r > 180 and g < 40 and b < 40


def test_truncated_jpeg_is_rejected(tmp_path):
    good = tmp_path / "good.jpg"
    arr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(good, quality=90)
    data = good.read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="cut.jpg"):
        load_image(bad)


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image")
    with pytest.raises(InvalidImageError, match="notes.jpg.*not a recognised image"):
        load_image(p)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty file"):
        load_image(empty)
    with pytest.raises(InvalidImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_16bit_grayscale_png(tmp_path):
    arr = np.linspace(0, 65535, 32 * 16, dtype=np.uint16).reshape(16, 32)
    p = tmp_path / "g16.png"
    Image.fromarray(arr).save(p)  # uint16 array -> 16-bit grayscale PNG
    assert Image.open(p).mode.startswith("I")
    img = load_image(p)
    assert img.mode == "RGB" and img.size == (32, 16)
    px = np.asarray(img)
    assert px[0, 0, 0] < 10 and px[-1, -1, 0] > 240  # full range kept, not clipped to white


def test_cmyk_jpeg(tmp_path):
    p = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")  # pure red in CMYK
    img = load_image(p)
    r, g, b = img.getpixel((8, 8))
    assert img.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_alpha_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (0, 0, 255, 0))  # fully transparent blue
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    p = _save(rgba, tmp_path / "a.png")
    img = load_image(p)
    assert img.getpixel((5, 5)) == (255, 255, 255)
    assert img.getpixel((0, 0)) == (0, 0, 255)


def test_grayscale_and_palette(tmp_path):
    g = load_image(_save(Image.new("L", (8, 8), 128), tmp_path / "g.png"))
    assert g.mode == "RGB" and g.getpixel((1, 1)) == (128, 128, 128)
    pal = Image.new("P", (8, 8), 3)
    pal.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 250, 0, 0] + [0] * 756)
    assert load_image(_save(pal, tmp_path / "p.png")).getpixel((0, 0)) == (250, 0, 0)


def test_exif_rotation_applied(tmp_path):
    # A 40x20 landscape image stored with EXIF orientation 6 (rotate 90 CW to display) must come out 20x40.
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # left band white
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif, quality=95)
    out = load_image(p)
    assert out.size == (20, 40)
    arr = np.asarray(out).mean(axis=2)
    assert arr[:10, :].mean() > 200 and arr[-10:, :].mean() < 50  # white band is now on top


def test_decompression_bomb_refused_by_limit(tmp_path):
    p = _save(Image.new("L", (3000, 3000), 0), tmp_path / "big.png")  # compresses to a few KB
    with pytest.raises(InvalidImageError, match="exceeds the limit"):
        load_image(p, max_pixels=1_000_000)
    assert load_image(p, max_pixels=10_000_000).size == (3000, 3000)


def test_limit_from_environment(tmp_path, monkeypatch):
    p = _save(Image.new("L", (100, 100), 0), tmp_path / "x.png")
    monkeypatch.setenv("FASHIONRAG_MAX_PIXELS", "5000")
    with pytest.raises(InvalidImageError, match="exceeds"):
        load_image(p)


def test_bytes_array_and_pil_inputs(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (5, 6), (1, 2, 3)).save(buf, format="PNG")
    assert load_image(buf.getvalue()).size == (5, 6)
    assert load_image(np.zeros((6, 5, 3), dtype=np.uint8)).size == (5, 6)
    assert load_image(np.zeros((6, 5), dtype=np.uint8)).mode == "RGB"
    with pytest.raises(InvalidImageError):
        load_image(np.zeros((6, 5, 7)))


def test_content_hash_changes_with_content(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"one")
    h1 = file_sha256(a)
    a.write_bytes(b"two")
    assert file_sha256(a) != h1


def test_minimum_side_refuses_tiny_images_where_asked(tmp_path, monkeypatch):
    from fashionrag.core.images import CLI_MIN_SIDE, minimum_side

    p = _save(Image.new("RGB", (8, 40), (9, 9, 9)), tmp_path / "thin.png")
    assert load_image(p).size == (8, 40)  # a library call has no minimum unless it asks
    with pytest.raises(InvalidImageError, match=r"thin.png: 8x40 is too small .* below 32 px"):
        load_image(p, min_side=32)
    with minimum_side(CLI_MIN_SIDE):  # what the CLI wraps every command in
        for src in (p, Image.new("RGB", (1, 1)), np.zeros((8, 8, 3), np.uint8)):
            with pytest.raises(InvalidImageError, match="too small"):
                load_image(src)
        assert load_image(Image.new("RGB", (32, 32))).size == (32, 32)
        monkeypatch.setenv("FASHIONRAG_MIN_SIDE", "4")  # the documented escape hatch
        assert load_image(p).size == (8, 40)
    monkeypatch.delenv("FASHIONRAG_MIN_SIDE")
    assert load_image(p).size == (8, 40)  # the default is back after the block


def test_pixel_limit_message_names_the_option_and_the_variable(tmp_path):
    p = _save(Image.new("L", (300, 300), 0), tmp_path / "big.png")
    with pytest.raises(InvalidImageError) as err:
        load_image(p, max_pixels=1000)
    assert "--max-pixels N" in str(err.value) and "FASHIONRAG_MAX_PIXELS=N" in str(err.value)
