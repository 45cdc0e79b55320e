"""Configuration: default locations and profiles.

Locations can be set by environment variables so that every command agrees without flags:

- ``FASHIONRAG_HOME``  (default ``~/.fashionrag``): caches and the default index live here;
- ``FASHIONRAG_INDEX`` (default ``$FASHIONRAG_HOME/index``): the index that ``search``/``caption``/``edit`` use;
- ``FASHIONRAG_ENCODER`` (default ``lite``): the encoder ``index build`` uses.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Profiles: which weights a pipeline uses. See ARCHITECTURE.md.
PROFILES = ("lite", "hf", "tiny")
DEFAULT_PROFILE = "lite"


def home() -> Path:
    return Path(os.environ.get("FASHIONRAG_HOME", Path.home() / ".fashionrag")).expanduser()


def default_index_dir() -> Path:
    env = os.environ.get("FASHIONRAG_INDEX")
    return Path(env).expanduser() if env else home() / "index"


def default_encoder() -> str:
    return os.environ.get("FASHIONRAG_ENCODER", "lite")


def cache_dir() -> Path:
    return home() / "cache"
