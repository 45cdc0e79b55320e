"""Helpers shared by the service tests (no tests here): a small real index, the loaded services, a free port and a
real server process on 127.0.0.1."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from fashionrag import encoders
from fashionrag.retrieval.catalog import load_catalog
from fashionrag.retrieval.indexing import Indexer

SUBCATEGORIES = ("Topwear", "Bottomwear", "Shoes", "Dress", "Bags")


def build_small_index(kagl_dir: Path, root: Path, per_sub: int = 12) -> Path:
    """A real index of a few KAGL train products per sub-category, embedded with the tiny encoder."""
    cat = load_catalog(kagl_dir, split="train")
    by_sub: dict[str, list[str]] = {}
    for p in cat.products:
        by_sub.setdefault(p.subcategory, []).append(p.id)
    ids = [i for sub in SUBCATEGORIES for i in by_sub.get(sub, [])[:per_sub]]
    Indexer(encoders.create("tiny"), cache_path=root / "cache.sqlite", progress=False).build(
        cat.subset(ids=ids), root / "index")
    return root / "index"


#: Val photos of a person wearing the article (the first val photo of some types shows only the product).
PERSON_PHOTOS = {"Shirts": "10051"}


def val_photo(kagl_dir: Path, article_type: str, person: bool = False) -> Path:
    cat = load_catalog(kagl_dir, split="val")
    if person:
        return Path(next(p for p in cat.products if p.id == PERSON_PHOTOS[article_type]).image_path)
    return Path(next(p for p in cat.products if p.article_type == article_type).image_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_bytes(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


class ServerProcess:
    """``fashionrag serve`` as a child process on 127.0.0.1 (stopped with SIGTERM, like a service manager)."""

    def __init__(self, index: Path, *extra: str, env: dict | None = None, edit_profile: str = "none"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "fashionrag", "serve", "--index", str(index), "--host", "127.0.0.1",
               "--port", str(self.port), "--edit-profile", edit_profile, *extra]
        self.log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 180.0) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def small_index(kagl_dir, tmp_path_factory) -> Path:
    """Built once per test session and shared by the service test modules (they only read it)."""
    root = tmp_path_factory.getbasetemp() / "serve_small_index"
    if not (root / "index" / "manifest.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        build_small_index(kagl_dir, root)
    return root / "index"
