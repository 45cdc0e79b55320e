"""Bounded work pools: CPU-bound model calls never run on the event loop, and never pile up without limit.

Each route has its own pool of ``workers`` threads and room for ``queue`` waiting requests. A request that finds
both full is refused at once with 503 + Retry-After, so memory stays bounded however hard clients push. A request
that runs past the time limit gets 504; its slot stays taken until the thread really finishes (a thread cannot be
killed), which keeps the bound honest.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .errors import ApiError

T = TypeVar("T")


class WorkPool:
    def __init__(self, name: str, workers: int, queue: int, timeout_s: float, retry_after_s: int = 1,
                 initializer: Callable[[], None] | None = None):
        self.name = name
        self.workers = workers
        self.capacity = workers + queue
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fashionrag-{name}",
                                            initializer=initializer)
        self._lock = threading.Lock()
        self._taken = 0  # running + waiting
        self._running = 0
        self.rejected = 0
        self.timed_out = 0
        self.completed = 0

    # -- numbers for /v1/metrics ---------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return max(0, self._taken - self._running)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"workers": self.workers, "capacity": self.capacity, "running": self._running,
                    "queued": max(0, self._taken - self._running), "completed": self.completed,
                    "rejected_503": self.rejected, "timed_out": self.timed_out}

    # -- the one entry point ---------------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if self._taken >= self.capacity:
                self.rejected += 1
                raise ApiError(503, f"the {self.name} queue is full ({self.capacity} requests in progress); retry "
                               f"in {self.retry_after_s} s", code="busy",
                               headers={"Retry-After": str(self.retry_after_s)})
            self._taken += 1

        def job() -> T:
            with self._lock:
                self._running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._running -= 1

        future = self._executor.submit(job)

        def release(_f) -> None:
            with self._lock:
                self._taken -= 1
                self.completed += 1

        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            with self._lock:
                self.timed_out += 1
            raise ApiError(504, f"the {self.name} request took longer than {self.timeout_s:g} s and was abandoned",
                           code="timeout") from None

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
