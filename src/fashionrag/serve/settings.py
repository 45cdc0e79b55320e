"""What one ``fashionrag serve`` process is allowed to do: limits, auth, CORS, which models it loads."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

from ..core.errors import InvalidInputError

#: Environment variable read for the API key when ``--api-key`` is not given.
API_KEY_ENV = "FASHIONRAG_API_KEY"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; every other bind address is reachable from outside."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServeSettings(BaseModel):
    """Settings of one service process (``fashionrag serve --help`` lists the flags that set them)."""

    index_dir: Optional[Path] = Field(default=None, description="Index to serve (default: the default index).")
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: Optional[str] = Field(default=None, description="Required as 'Authorization: Bearer KEY' when set.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins; empty = CORS off.")
    workers: int = Field(default=2, ge=1, le=64, description="Threads running CPU-bound work, per route.")
    queue: int = Field(default=16, ge=0, le=10_000, description="Requests waiting per route before 503.")
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request time limit for the model work.")
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After sent with a 503.")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest image upload.")
    max_pixels: int = Field(default=25_000_000, ge=1, description="Largest image (width x height).")
    max_k: int = Field(default=100, ge=1, description="Largest k a search may ask for.")
    writer: str = Field(default="template", description="Caption writer loaded at start-up.")
    writer_kwargs: dict = Field(default_factory=dict, exclude=True)
    detector: str = Field(default="pose", description="Garment detector backend.")
    edit_profile: Optional[str] = Field(default="lite", description="Edit profile loaded at start-up; None = no /v1/edit.")
    log_requests: bool = True

    def check(self) -> "ServeSettings":
        """Refuse a configuration that would expose the models to the network without a key."""
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidInputError(
                f"refusing to listen on {self.host} without an API key: anyone who can reach this address could use "
                f"the service. Pass --api-key KEY (or set {API_KEY_ENV}), or bind 127.0.0.1"
            )
        if self.api_key is not None and len(self.api_key) < 8:
            raise InvalidInputError("the API key is too short: use at least 8 characters (e.g. `openssl rand -hex 16`)")
        if "*" in self.cors_origins and self.api_key:
            # a wildcard origin plus a bearer key lets any web page drive the service with a stolen key
            raise InvalidInputError("--cors '*' cannot be combined with an API key: name the allowed origin(s)")
        return self
