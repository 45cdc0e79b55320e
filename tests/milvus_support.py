"""A `milvus-lite server` process for tests: bound to 127.0.0.1 (never 0.0.0.0), started and stopped by the test."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path, start_timeout_s: float = 60.0):
    """Run ``milvus-lite server --host 127.0.0.1`` on a free port; yields its ``milvus://127.0.0.1:PORT`` URI."""
    port = free_port()
    exe = Path(sys.executable).with_name("milvus-lite")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "milvus_lite"]
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "server.log", "wb")  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen([*cmd, "server", "--data-dir", str(data_dir / "srv"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    tail = (data_dir / "server.log").read_bytes().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"milvus-lite server did not start: {tail}")
                time.sleep(0.2)
        yield f"milvus://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
