"""Two builds into one index folder (issue 9, item 3): real processes, an OS lock, the holder's pid in the error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from fashionrag import stores
from fashionrag.core.errors import IndexBusyError
from fashionrag.stores.lock import IndexLock


def write_catalog(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["id,image,title"]
    for i in range(n):
        Image.new("RGB", (32, 32), (20 * i % 256, 80, 160)).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i}")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    return root


def held_build(catalog: Path, out: Path, started: Path, go: Path) -> str:
    """A real `index build` that, once it holds the folder, waits for the file ``go`` before reading the catalog
    (so the test controls when it goes on)."""
    return textwrap.dedent(f"""
        import pathlib, sys, time
        from fashionrag.retrieval import catalog
        from fashionrag.cli import main
        real = catalog.load_catalog
        def held(*a, **k):
            pathlib.Path({str(started)!r}).write_text("x")
            while not pathlib.Path({str(go)!r}).exists():
                time.sleep(0.05)
            return real(*a, **k)
        catalog.load_catalog = held
        sys.exit(main(["index", "build", "--catalog", {str(catalog)!r}, "--encoder", "tiny", "--out", {str(out)!r},
                       "--quiet"]))
    """)


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashionrag", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the first build never started"
        time.sleep(0.05)


@pytest.fixture()
def env(tmp_path):
    return {**os.environ, "FASHIONRAG_HOME": str(tmp_path / "home")}


def test_second_build_fails_at_once_naming_the_first(tmp_path, env):
    cat = write_catalog(tmp_path / "cat", 6)
    idx = tmp_path / "idx"
    started, go = tmp_path / "started", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", held_build(cat, idx, started, go)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started, first)
        t0 = time.monotonic()
        second = cli("index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(idx), "--quiet",
                     env=env)
        assert second.returncode == IndexBusyError.exit_code == 9, second.stderr
        err = second.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert f"index {idx} is being built by pid {first.pid}" in err
        assert time.monotonic() - t0 < 60  # it did not wait for the first build
        go.write_text("x")
        out, errs = first.communicate(timeout=300)
        assert first.returncode == 0, errs[-2000:]
    finally:
        go.write_text("x")
        if first.poll() is None:
            first.kill()
    store = stores.open_store(idx, expect_encoder="tiny-clip")
    assert len(store) == 6  # the first build's index, whole
    assert not [p.name for p in idx.iterdir() if p.name.startswith(".tmp-")]
    assert (idx / ".lock").read_text() == ""  # released (a later build goes through: next test)


def test_lock_of_a_killed_build_does_not_block(tmp_path, env):
    cat = write_catalog(tmp_path / "cat", 4)
    idx = tmp_path / "idx"
    started, go = tmp_path / "started", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", held_build(cat, idx, started, go)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(started, first)
    assert str(first.pid) in (idx / ".lock").read_text()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    second = cli("index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(idx), "--quiet", env=env)
    assert second.returncode == 0, second.stderr
    assert len(stores.open_store(idx)) == 4


def test_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path):
    import threading

    idx = tmp_path / "idx"
    errors = []
    with IndexLock(idx):
        with IndexLock(idx):  # the indexer holds it, the store's save takes it again
            pass
        t = threading.Thread(target=lambda: errors.append(pytest.raises(IndexBusyError, IndexLock(idx).acquire)))
        t.start()
        t.join()
    assert len(errors) == 1
    with IndexLock(idx):  # released
        pass


def test_failed_build_leaves_no_empty_index_folder(tmp_path):
    from fashionrag import encoders
    from fashionrag.core.errors import FashionRAGError
    from fashionrag.retrieval.catalog import load_catalog
    from fashionrag.retrieval.indexing import Indexer

    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    (root / "images" / "0.jpg").write_text("not an image")
    (root / "catalog.csv").write_text("id,image\n0,0.jpg\n")
    with pytest.raises(FashionRAGError, match="no image could be embedded"):
        Indexer(encoders.create("tiny"), use_cache=False, progress=False).build(load_catalog(root), tmp_path / "idx")
    assert not (tmp_path / "idx").exists()
