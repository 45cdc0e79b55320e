"""The one tiny-model directory builder: build a seeded random model into the cache once, atomically.

Tiny models are real model classes at toy size, saved to a directory and loaded back through the very loader the
full-size weights use. Every tiny model (encoders, the editing pipeline) is built here: a marker file records the
builder's version and seed, a stale or half-written directory is rebuilt, and concurrent builders never see a
partial directory (build in a temporary folder, then rename).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from . import config

MARKER = "tiny.json"


def tiny_model_dir(name: str, build: Callable[[Path], None], *, version: int, seed: int,
                   root: Path | None = None, **marker: object) -> Path:
    """``<cache>/<name>``, built with ``build(tmp_dir)`` under ``torch.manual_seed(seed)`` if missing or stale."""
    target = (root or config.cache_dir()) / name
    mark = target / MARKER
    if mark.is_file():
        try:
            if json.loads(mark.read_text()).get("version") == version:
                return target
        except (OSError, ValueError):
            pass  # a damaged marker: rebuild
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's RNG
            torch.manual_seed(seed)
            build(tmp)
        (tmp / MARKER).write_text(json.dumps({**marker, "version": version, "seed": seed}))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)  # atomic; a concurrent builder may have won, which is fine
        except OSError:
            if not (target / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
