"""Shared fixtures. Tests never touch the network nor the user's ~/.fashionrag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
KAGL = (ROOT / ".." / "shared" / "datasets" / "kagl").resolve()


@pytest.fixture(scope="session", autouse=True)
def _fashionrag_home(tmp_path_factory):
    """Caches go to a per-session temp dir unless FASHIONRAG_HOME is set (make sets it to .fashionrag/)."""
    if "FASHIONRAG_HOME" not in os.environ:
        os.environ["FASHIONRAG_HOME"] = str(tmp_path_factory.mktemp("fashionrag_home"))
    yield


@pytest.fixture(scope="session")
def kagl_dir() -> Path:
    if not (KAGL / "styles.csv").is_file():
        pytest.skip(f"KAGL sample not found at {KAGL}")
    return KAGL
