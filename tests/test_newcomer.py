"""What a new user hits on the command line (issue 9, items 2, 5 and 6): real processes where it matters."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders, stores
from fashionrag.cli import build_parser, main
from fashionrag.core.errors import IndexCorruptError, InvalidImageError
from fashionrag.core.schemas import Product

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def big_index(tmp_path_factory):
    """3,000 products (random unit vectors, tiny-encoder dimension): enough output to fill any pipe buffer."""
    tiny = encoders.create("tiny")
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, tiny.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [str(i) for i in range(3000)]
    meta = [Product(id=i, title=f"Red Dress number {i}", gender="Women").model_dump() for i in ids]
    store = stores.create("faiss", dim=tiny.dim, encoder=tiny.name)
    store.upsert(ids, vecs, meta)
    path = tmp_path_factory.mktemp("big") / "idx"
    store.save(path)
    return path


def _pipe_to_head(args: list[str]) -> tuple[int, str, bytes]:
    """Run ``fashionrag ARGS | head -1`` as two real processes: (fashionrag's exit code, its stderr, head's output)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "0"}
    producer = subprocess.Popen([sys.executable, "-m", "fashionrag", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # head alone holds the read end: when it exits, the pipe breaks
    first, _ = head.communicate(timeout=300)
    err = producer.stderr.read().decode()
    producer.wait(timeout=300)
    return producer.returncode, err, first


def test_search_into_a_closed_pipe_exits_quietly(big_index):
    code, err, first = _pipe_to_head(["search", "dress", "--k", "2000", "--index", str(big_index)])
    assert first.strip()  # head got its line
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code == 141  # as if killed by SIGPIPE, like any well-behaved Unix tool


def test_debug_and_max_pixels_are_accepted_after_every_sub_command():
    def leaves(parser, path=()):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
        for action in subs:
            for name, sp in action.choices.items():
                yield from leaves(sp, path + (name,))

    found = list(leaves(build_parser()))
    assert len(found) >= 10  # index build/info, search, caption, edit, train *, eval *, demo ...
    for path, parser in found:
        assert "--debug" in parser._option_string_actions, path
        assert "--max-pixels" in parser._option_string_actions, path


def test_debug_after_the_sub_command_shows_the_traceback(tmp_path, capsys):
    missing = str(tmp_path / "nothing")
    assert main(["search", "x", "--index", missing]) == IndexCorruptError.exit_code
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(IndexCorruptError):
        main(["search", "x", "--index", missing, "--debug"])
    with pytest.raises(IndexCorruptError):  # before the sub-command, as before; not reset by the sub-command
        main(["--debug", "search", "x", "--index", missing])


def _index_of_images(tmp_path: Path) -> Path:
    from fashionrag.retrieval.catalog import load_catalog
    from fashionrag.retrieval.indexing import Indexer

    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    rows = ["id,image,title"]
    for i in range(3):
        Image.new("RGB", (48, 48), (60 * i, 100, 200)).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i}")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    Indexer(encoders.create("tiny"), use_cache=False, progress=False).build(load_catalog(root), tmp_path / "idx")
    return tmp_path / "idx"


def test_pixel_limit_message_names_an_option_the_command_has(tmp_path, capsys, monkeypatch):
    idx = _index_of_images(tmp_path)
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100), (1, 2, 3)).save(big)
    monkeypatch.setenv("FASHIONRAG_MAX_PIXELS", "10000")  # restored after the test, whatever main() sets
    assert main(["search", "--image", str(big), "--index", str(idx)]) == InvalidImageError.exit_code
    err = capsys.readouterr().err
    assert "exceeds the limit of 10,000" in err and "--max-pixels N" in err
    # the option the message names exists on this command, after the sub-command's name
    assert main(["search", "--image", str(big), "--index", str(idx), "--max-pixels", "30000", "--k", "1"]) == 0
    assert "Product" in capsys.readouterr().out


def test_tiny_photos_are_refused_on_the_command_line(tmp_path, capsys):
    from fashionrag.core.images import load_image

    idx = _index_of_images(tmp_path)
    for side in (1, 8):
        small = tmp_path / f"s{side}.png"
        Image.new("RGB", (side, side), (200, 10, 10)).save(small)
        assert main(["search", "--image", str(small), "--index", str(idx)]) == InvalidImageError.exit_code
        out, err = capsys.readouterr()
        (line,) = [ln for ln in err.splitlines() if ln.startswith("fashionrag:")]  # one line (library bars aside)
        assert f"{side}x{side} is too small" in line and "32 px" in line
        assert "Product" not in out
    assert load_image(small).size == (8, 8)  # outside the command line nothing changed


@pytest.mark.parametrize("debug", [False, True])
def test_litert_info_line_only_with_debug(debug):
    from fashionrag.core.errors import ModelUnavailableError
    from fashionrag.vision import litert

    try:
        path = litert.model_path("selfie_segmentation")
        import ai_edge_litert  # noqa: F401
    except (ModelUnavailableError, ImportError):
        pytest.skip("mediapipe model files / ai-edge-litert not installed")
    script = (f"import logging; logging.basicConfig(level={'logging.DEBUG' if debug else 'logging.WARNING'}); "
              f"from fashionrag.vision import litert; m = litert.load_model({str(path)!r}); "
              "import numpy as np; m(np.zeros((1, *m.input_hw, 3), np.float32)); print('ran')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ran", proc.stderr
    assert ("XNNPACK" in proc.stderr) is debug, proc.stderr


def test_batch_caption_skip_lines_once_each_and_off_the_progress_bar(tmp_path):
    from fashionrag.core.errors import ModelUnavailableError
    from fashionrag.vision import litert

    try:
        litert.model_path("pose_detection")
    except ModelUnavailableError:
        pytest.skip("mediapipe model files not installed")
    idx = _index_of_images(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (300, 200), (20, 30, 200)).save(photos / "big.png")
    Image.new("RGB", (80, 120), (20, 30, 200)).save(photos / "ok.png")
    (photos / "text.jpg").write_text("hello")
    env = {**os.environ, "FASHIONRAG_MAX_PIXELS": "50000", "FASHIONRAG_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "fashionrag", "caption", str(photos), "--out",
                           str(tmp_path / "c.jsonl"), "--index", str(idx)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    # what a terminal shows of each line: the text after its last carriage return
    shown = [line.rsplit("\r", 1)[-1] for line in proc.stderr.split("\n")]
    skips = [line for line in shown if "skipped" in line]
    assert len(skips) == 2 and all(line.startswith("skipped") for line in skips), proc.stderr
    assert proc.stderr.count("big.png") == 1 and proc.stderr.count("text.jpg") == 1  # once, each path once
    assert "exceeds the limit of 50,000" in proc.stderr


def test_readme_commands_after_make_demo_work_as_printed(tmp_path, capsys, monkeypatch):
    """`make demo` then the README's next commands, in a checkout-like layout (demo on a small generated KAGL copy
    with the tiny encoder; the README's commands are run verbatim from the project folder)."""
    import re
    import shlex
    import shutil

    from fashionrag.pipelines.demo import run_demo

    readme = (ROOT / "README.md").read_text()
    block = readme.split("Then try the demo's index", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("fashionrag ")]
    assert commands and all("--index out/index" in c for c in commands)
    kagl = tmp_path / "shared" / "datasets" / "kagl"
    (kagl / "images").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "kagl_developer" / "styles.csv", kagl / "styles.csv")
    for i, line in enumerate((kagl / "styles.csv").read_text().splitlines()[1:]):
        Image.new("RGB", (64, 64), (25 * i, 120, 200)).save(kagl / "images" / f"{line.split(',')[0]}.jpg")
    for path in re.findall(r"\.\./shared/datasets/kagl/images/\S+\.jpg", block):  # the photos the README names
        Image.new("RGB", (96, 128), (30, 40, 160)).save(kagl / "images" / Path(path).name)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    old = os.getcwd()
    os.chdir(project)
    try:
        report = run_demo("../shared/datasets/kagl", "out", encoder="tiny", quiet=True)
    finally:
        os.chdir(old)
    assert report.index_dir == str(Path("out") / "index")
    assert report.next_commands[0] == 'fashionrag search "navy check shirt" --index out/index'
    os.chdir(project)
    try:
        for cmd in commands:  # as the console script runs them: main(argv) from the project folder
            assert main(shlex.split(cmd)[1:]) == 0, cmd
            assert capsys.readouterr().out.strip(), cmd
    finally:
        os.chdir(old)


@pytest.mark.parametrize("offline", [True, False])
def test_edit_checks_the_weights_before_any_other_work_and_says_so_once(tmp_path, offline):
    from fashionrag.core.errors import ModelUnavailableError

    photo = tmp_path / "person.png"
    Image.new("RGB", (96, 128), (120, 100, 90)).save(photo)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"))
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:  # "online" but nothing answers: a closed port on loopback stands for a machine without network
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    # the index does not exist: had retrieval come first, that would be the error
    proc = subprocess.run([sys.executable, "-m", "fashionrag", "edit", str(photo), "--text", "red shirt", "--profile",
                           "hf", "--index", str(tmp_path / "no-index"), "--out", str(tmp_path / "e.png")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == ModelUnavailableError.exit_code, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Retrying" not in err and "no index" not in err, err
    assert "furio19/fashion-rag" in err and "--profile lite" in err


def test_building_the_cli_parser_imports_no_model_library():
    """Every command, a one-line text search too, builds the whole parser first: importing torch there cost ~5 s and
    ~700 MB before any work (the start-up item of issue 9). Commands import their heavy modules when they run."""
    code = ("import sys; from fashionrag.cli import build_parser; build_parser(); "
            "print(','.join(m for m in ('torch', 'torchvision', 'transformers', 'diffusers', 'faiss', 'cv2', 'ray', "
            "'pymilvus') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported while building the parser: {proc.stdout.strip()}"
