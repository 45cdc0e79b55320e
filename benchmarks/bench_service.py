"""Load benchmark of `fashionrag serve`: the real server process on 127.0.0.1, bounded clients.

    python benchmarks/bench_service.py [--index out/index] [--catalog ../shared/datasets/kagl]
                                       [--concurrency 1,4,8,32] [--search-requests 400] [--caption-requests 120]

For each route (search, caption) and each concurrency level, that many client threads (one keep-alive connection
each) send a fixed number of requests between them, and stop early at ``--max-seconds`` per level: the run is
bounded in count and time and stops by itself. Traffic goes to 127.0.0.1 only. Reported per level: requests/s
(2xx answers per second of wall time), latency p50/p90/p99 of the 2xx answers, errors (any non-2xx other than the
deliberate 503s), the 503 share, and the server's peak resident memory. Search queries are typed texts with and
without filters; caption uploads are val photos of the catalog (not in the demo index). Results go to
``benchmarks/results/service.json``. Targets (issue 11, 2 cores): search p99 <= 100 ms at 8 concurrent; caption
>= 20 images/s at 4 concurrent; 0 errors and bounded memory at 32 concurrent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

QUERIES = [
    ("navy blue check shirt", {}), ("black leather handbag", {}), ("red dress", {"gender": ["Women"]}),
    ("white running shoes", {}), ("blue denim jeans", {"gender": ["Men"]}), ("brown formal shoes", {}),
    ("floral summer top", {"gender": ["Women"]}), ("grey hoodie", {}), ("silver watch", {}),
    ("green kurta", {"usage": ["Ethnic"]}), ("black tshirt", {"subcategory": ["Topwear"]}), ("pink sandals", {}),
    ("striped polo shirt", {"gender": ["Men"]}), ("yellow sports shoes", {}), ("blue backpack", {}),
    ("white formal shirt", {"usage": ["Formal"]}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: str, workers: int, queue: int, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "fashionrag", "serve", "--index", index, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--queue", str(queue), "--edit-profile", "none", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see its log")
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("server did not become ready in 300 s")


class MemorySampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.every = every
        self.peak = 0.0
        self.samples: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                rss = self.proc.memory_info().rss / 2**20
            except Exception:
                break
            self.samples.append(rss)
            self.peak = max(self.peak, rss)
            self._halt.wait(self.every)

    def stop(self) -> float:
        self._halt.set()
        self.join(2)
        return self.peak


def run_level(url: str, route: str, concurrency: int, total: int, max_seconds: float, make_request, pid: int) -> dict:
    lock = threading.Lock()
    state = {"next": 0}
    records: list[tuple[float, int]] = []
    samples: list[str] = []
    deadline = time.monotonic() + max_seconds
    mem = MemorySampler(pid)
    mem.start()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            while time.monotonic() < deadline:
                with lock:
                    i = state["next"]
                    if i >= total:
                        return
                    state["next"] += 1
                t = time.perf_counter()
                try:
                    resp = make_request(c, i)
                    status = resp.status_code
                except httpx.HTTPError as exc:
                    resp, status = None, -1  # connection error: counted as an error
                    detail = repr(exc)
                dt = time.perf_counter() - t
                with lock:
                    records.append((dt, status))
                    if status != 503 and not 200 <= status < 300 and len(samples) < 5:
                        samples.append(f"{status}: {resp.text[:300] if resp is not None else detail}")

    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    peak = mem.stop()
    ok = np.array([dt for dt, s in records if 200 <= s < 300]) * 1000
    busy = sum(1 for _, s in records if s == 503)
    errors = sum(1 for _, s in records if not (200 <= s < 300) and s != 503)
    pct = (lambda q: round(float(np.percentile(ok, q)), 1)) if ok.size else (lambda q: None)
    return {
        "route": route, "concurrency": concurrency, "requests": len(records), "ok": int(ok.size),
        "wall_s": round(wall, 2), "requests_per_s": round(ok.size / wall, 2) if wall else None,
        "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(float(ok.max()), 1) if ok.size else None,
        "errors": errors, "status_503": busy, "share_503": round(busy / len(records), 4) if records else None,
        "stopped_by_time": len(records) < total, "server_rss_peak_mb": round(peak, 1),
        "statuses": {str(s): sum(1 for _, x in records if x == s) for s in sorted({s for _, s in records})},
        "error_samples": samples,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=str(ROOT / "out" / "index"))
    ap.add_argument("--catalog", default=str(ROOT / ".." / "shared" / "datasets" / "kagl"))
    ap.add_argument("--concurrency", default="1,4,8,32")
    ap.add_argument("--search-requests", type=int, default=400, help="search requests per level")
    ap.add_argument("--caption-requests", type=int, default=120, help="caption requests per level")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="time cap per level")
    ap.add_argument("--workers", type=int, default=2, help="server --workers")
    ap.add_argument("--queue", type=int, default=16, help="server --queue")
    ap.add_argument("--photos", type=int, default=48, help="distinct val photos to caption")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "service.json"))
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    from fashionrag.retrieval.catalog import load_catalog

    val = [p for p in load_catalog(args.catalog).products if p.split == "val"]
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(val), size=min(args.photos, len(val)), replace=False)
    photos = [Path(val[i].image_path).read_bytes() for i in chosen]

    def search(c: httpx.Client, i: int):
        text, flt = QUERIES[i % len(QUERIES)]
        return c.post("/v1/search", json={"text": text, "k": 10, "filters": flt})

    def caption(c: httpx.Client, i: int):
        return c.post("/v1/caption", files={"image": (f"{i}.jpg", photos[i % len(photos)], "image/jpeg")},
                      data={"similar": "6"})

    log = tempfile.NamedTemporaryFile(prefix="bench_service_", suffix=".log", delete=False)
    proc, url = start_server(args.index, args.workers, args.queue, log)
    results = []
    try:
        health = httpx.get(url + "/v1/health").json()
        with httpx.Client(base_url=url, timeout=120) as c:  # warm-up, not measured
            for i in range(8):
                search(c, i)
                caption(c, i)
        rss_start = MemorySampler(proc.pid).proc.memory_info().rss / 2**20
        for route, fn, total in (("search", search, args.search_requests), ("caption", caption, args.caption_requests)):
            for conc in levels:
                r = run_level(url, route, conc, total, args.max_seconds, fn, proc.pid)
                results.append(r)
                print(f"{route:8s} c={conc:<3d} {r['requests_per_s']:>7} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms"
                      f"  errors {r['errors']}  503 {r['share_503']:.1%}  rss {r['server_rss_peak_mb']} MB", flush=True)
        metrics = httpx.get(url + "/v1/metrics").json()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()

    def level(route, conc):
        return next((r for r in results if r["route"] == route and r["concurrency"] == conc), None)

    s8, c4, all32 = level("search", 8), level("caption", 4), [r for r in results if r["concurrency"] == 32]
    peak = max(r["server_rss_peak_mb"] for r in results)
    targets = {
        "search_p99_ms_at_8_le_100": None if s8 is None else {"value": s8["p99_ms"], "met": s8["p99_ms"] is not None and s8["p99_ms"] <= 100},
        "caption_images_per_s_at_4_ge_20": None if c4 is None else {"value": c4["requests_per_s"], "met": c4["requests_per_s"] >= 20},
        "zero_errors_at_32": {"value": sum(r["errors"] for r in all32), "met": all(r["errors"] == 0 for r in all32)},
        "bounded_memory": {"rss_start_mb": round(rss_start, 1), "rss_peak_mb": peak,
                           "growth_mb": round(peak - rss_start, 1)},
    }
    report = {
        "benchmark": "bench_service",
        "command": "python benchmarks/bench_service.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "note": "client threads run on the same 2 cores as the server, so the figures include the client's own CPU; "
                "load_average_* (1/5/15 min) shows how busy the machine was with other work during each level",
        "server": {"workers": args.workers, "queue": args.queue, "index_count": health["count"],
                   "encoder": health["encoder"], "versions": health["versions"]},
        "requests": {"search": args.search_requests, "caption": args.caption_requests, "max_seconds": args.max_seconds,
                     "photos": len(photos)},
        "results": results,
        "targets": targets,
        "server_metrics_after": {k: v for k, v in metrics.items() if k in ("pools", "memory_rss_mb")},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(targets, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
