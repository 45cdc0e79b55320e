"""Request counts and latencies per route, kept in memory (the last ``window`` latencies of each route)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np


class RouteStats:
    def __init__(self, window: int):
        self.count = 0
        self.status: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=window)

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies, dtype=np.float64) * 1000.0
        pct = (lambda q: round(float(np.percentile(lat, q)), 2)) if lat.size else (lambda q: None)
        return {"count": self.count, "status": dict(sorted(self.status.items())),
                "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99),
                               "mean": round(float(lat.mean()), 2) if lat.size else None, "window": int(lat.size)}}


class Metrics:
    def __init__(self, window: int = 2048):
        self.window = window
        self.started = time.time()
        self._lock = threading.Lock()
        self._routes: dict[str, RouteStats] = {}

    def record(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            stats = self._routes.get(route)
            if stats is None:
                stats = self._routes[route] = RouteStats(self.window)
            stats.count += 1
            stats.status[str(status)] += 1
            stats.latencies.append(seconds)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {route: s.summary() for route, s in sorted(self._routes.items())}
