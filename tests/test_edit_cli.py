"""`fashionrag edit` on the tiny profile: files written, EditResult JSON, one-line errors with exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the edit extra (diffusers, accelerate) is not installed")
from PIL import Image

from fashionrag import encoders, stores
from fashionrag.cli import main
from fashionrag.core.errors import ModelUnavailableError

KP = [[75, 25], [75, 55], [50, 55], [42, 90], [-1, -1], [100, 55], [108, 90], [-1, -1], [58, 120], [58, 160], [58, 190],
      [92, 120], [92, 160], [92, 190], [-1, -1], [-1, -1], [-1, -1], [-1, -1]]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit_cli")
    photo = d / "person.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 150, 3), dtype=np.uint8)).save(photo)
    (d / "kp.json").write_text(json.dumps(KP))
    enc = encoders.create("tiny")
    ids, paths, metas = [], [], []
    for i, (sub, colour) in enumerate([("Topwear", (200, 0, 0)), ("Topwear", (0, 0, 200)), ("Topwear", (0, 150, 0)), ("Bottomwear", (9, 9, 9))]):
        p = d / f"g{i}.png"
        Image.new("RGB", (48, 64), colour).save(p)
        ids.append(f"g{i}")
        paths.append(str(p))
        metas.append({"id": f"g{i}", "image_path": str(p), "title": f"garment {i}", "subcategory": sub})
    store = stores.create("faiss", dim=enc.dim, encoder=enc.name)
    store.upsert(ids, enc.encode_images(paths), metas)
    store.save(d / "index")
    return d


def _edit(files, *extra):
    return main(["edit", str(files / "person.jpg"), "--text", "red top", "--profile", "tiny", "--steps", "1",
                 "--keypoints", str(files / "kp.json"), "--index", str(files / "index"), *extra])


def test_edit_writes_image_mask_sheet_and_json(files, capsys):
    out = files / "out" / "edited.png"
    assert _edit(files, "--k", "2", "--out", str(out), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(out) and result["k"] == 2 and len(result["retrieved"]) == 2
    assert {g["subcategory"] for g in result["retrieved"]} == {"Topwear"}
    assert result["encoder"] == "tiny-clip" and result["pose_source"] == "user" and result["mask_source"] == "auto-bbox"
    assert result["prompt"].count("$") == 32 and result["steps"] == 1 and result["seed"] == 0
    src = Image.open(files / "person.jpg")
    edited, mask = Image.open(out), Image.open(result["mask"])
    assert edited.size == src.size == mask.size
    assert Image.open(result["sheet"]).width > 3 * Image.open(result["sheet"]).height
    m = np.asarray(mask) > 0
    assert np.array_equal(np.asarray(edited)[~m], np.asarray(src.convert("RGB"))[~m])


def test_edit_errors_are_one_line_with_exit_codes(files, capsys, tmp_path):
    bogus = tmp_path / "photo.jpg"
    bogus.write_text("not an image")
    assert main(["edit", str(bogus), "--text", "x", "--profile", "tiny", "--out", str(tmp_path / "o.png")]) == 3
    err = capsys.readouterr().err
    assert "photo.jpg" in err and err.count("\n") == 1
    # a mask of the wrong size
    Image.new("L", (10, 10), 255).save(tmp_path / "m.png")
    assert _edit(files, "--k", "0", "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "o.png")) == 2
    assert "mask is 10x10 but the photo is 150x200" in capsys.readouterr().err
    # an empty category in the catalog
    assert _edit(files, "--category", "dresses", "--out", str(tmp_path / "o.png")) == 4
    assert "no dresses garments" in capsys.readouterr().err
    # no index
    assert main(["edit", str(files / "person.jpg"), "--text", "x", "--profile", "tiny", "--index", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o.png")]) == 2
    assert "fashionrag index build" in capsys.readouterr().err
    # the hf weights are not available offline: say which files and how to get them
    assert main(["edit", str(files / "person.jpg"), "--text", "x", "--k", "0", "--profile", "hf",
                 "--out", str(tmp_path / "o.png")]) == ModelUnavailableError.exit_code
    err = capsys.readouterr().err
    assert "unet_120000.pth" in err and "huggingface-cli download" in err


def _pose_models() -> bool:
    try:
        from fashionrag.vision.litert import model_path

        model_path("pose_detection")
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(not _pose_models(), reason="mediapipe .tflite files not installed")
def test_no_person_is_a_clear_error(files, capsys, tmp_path):
    blank = tmp_path / "wall.png"
    Image.new("RGB", (150, 200), (200, 190, 180)).save(blank)
    assert main(["edit", str(blank), "--text", "x", "--profile", "tiny", "--k", "0", "--out", str(tmp_path / "o.png")]) == 2
    assert "no person found" in capsys.readouterr().err


def test_bench_script_smoke_on_tiny(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_edit.py"
    spec = importlib.util.spec_from_file_location("bench_edit", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--tiny", "--steps", "1", "--step-repeats", "1", "--k", "1", "--out", str(tmp_path / "b.json")])
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved == res and res["per_step_seconds"] > 0 and res["end_to_end_seconds"] > 0 and res["peak_memory_mb"] > 0
    assert res["architecture"] == "tiny" and res["params"]["unet"] > 0
