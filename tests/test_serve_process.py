"""The real `fashionrag serve` process on 127.0.0.1: HTTP end to end, clean refusal to start, graceful SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from test_serve_support import ServerProcess, png_bytes, small_index, val_photo  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def server(small_index):
    srv = ServerProcess(small_index, "--workers", "2", "--queue", "8", "--quiet").wait_ready()
    yield srv
    srv.stop()


def test_real_server_answers_every_route_over_http(server, kagl_dir):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        h = c.get("/v1/health").json()
        assert h["count"] > 0 and h["routes"]["caption"] and not h["routes"]["edit"]
        page = c.get("/")
        assert page.status_code == 200 and "fashionrag" in page.text
        res = c.post("/v1/search", json={"text": "blue jeans", "k": 3}).json()
        assert len(res["hits"]) == 3
        pid = res["hits"][0]["id"]
        assert c.get(f"/v1/products/{pid}").json()["id"] == pid
        img = c.get(res["hits"][0]["product"]["image_url"] + "?w=160")
        assert img.status_code == 200 and img.content[:3] == b"\xff\xd8\xff"
        photo = val_photo(kagl_dir, "Jeans").read_bytes()
        cap = c.post("/v1/caption", files={"image": ("j.jpg", photo, "image/jpeg")})
        assert cap.status_code == 200 and cap.json()["caption"]
        bad = c.post("/v1/caption", files={"image": ("j.jpg", b"GIF89a-but-not-really", "image/gif")})
        assert bad.status_code == 422 and set(bad.json()) == {"error", "detail"}
        m = c.get("/v1/metrics").json()
        assert m["routes"]["POST /v1/caption"]["status"] == {"200": 1, "422": 1}


def test_sigterm_lets_in_flight_requests_finish(small_index, kagl_dir):
    srv = ServerProcess(small_index, "--workers", "1", "--queue", "8", "--quiet").wait_ready()
    photo = val_photo(kagl_dir, "Tshirts").read_bytes()
    results: list[int] = []

    def send():
        try:
            r = httpx.post(srv.url + "/v1/caption", files={"image": ("t.jpg", photo, "image/jpeg")}, timeout=120)
            results.append(r.status_code)
        except httpx.HTTPError as exc:  # a dropped request is a failure of the test
            results.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    in_flight = 0
    while time.monotonic() < deadline:  # wait until all three requests have reached the server
        pool = httpx.get(srv.url + "/v1/metrics", timeout=10).json()["pools"]["caption"]
        in_flight = pool["running"] + pool["queued"]
        if in_flight + pool["completed"] >= 3:
            break
        time.sleep(0.01)
    code = srv.stop(timeout=120)
    assert in_flight >= 1  # SIGTERM really arrived with work in progress (one worker, three photos)
    for t in threads:
        t.join(120)
    assert results == [200, 200, 200], (results, srv.output())
    # uvicorn finishes the requests, runs the shutdown, then re-raises SIGTERM (exit by the signal, as a service
    # manager expects); an older uvicorn exits 0
    assert code in (0, -15), srv.output()
    assert "Application shutdown complete" in srv.output()
    with pytest.raises(httpx.HTTPError):
        httpx.get(srv.url + "/v1/health", timeout=2)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashionrag", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_refuses_to_start_off_loopback_without_a_key(small_index):
    r = _cli("--index", str(small_index), "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert r.returncode == 2, r.stderr
    assert "API key" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_index_is_one_clear_line(tmp_path):
    r = _cli("--index", str(tmp_path / "nope"), "--port", "0", timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "nope" in r.stderr
