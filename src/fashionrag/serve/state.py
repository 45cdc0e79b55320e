"""What the service loads once at start-up and shares between requests: the retriever, the caption pipelines,
the edit pipeline and one bounded work pool per route."""

from __future__ import annotations

import logging
import queue
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ..core import config
from ..retrieval.retriever import Retriever
from .metrics import Metrics
from .pool import WorkPool
from .settings import ServeSettings

log = logging.getLogger("fashionrag.serve")

ROUTE_POOLS = ("search", "caption", "edit", "images")


class Services:
    """Models and pools of one process. Build with :meth:`load` (real models) or inject parts in tests."""

    def __init__(self, settings: ServeSettings, retriever: Retriever, caption_pipelines: list[Any] | None = None,
                 edit_pipeline: Any = None, edit_profile: Optional[str] = None, edit_error: Optional[str] = None):
        self.settings = settings
        self.retriever = retriever
        self.index_dir = Path(settings.index_dir) if settings.index_dir else config.default_index_dir()
        self._captioners: "queue.Queue[Any]" = queue.Queue()
        for pipe in caption_pipelines or []:
            self._captioners.put(pipe)
        self.has_caption = bool(caption_pipelines)
        self.edit_pipeline = edit_pipeline
        self.edit_profile = edit_profile
        self.edit_error = edit_error
        self.metrics = Metrics()
        s = settings
        self.pools = {name: WorkPool(name, s.workers, s.queue, s.timeout_s, s.retry_after_s) for name in ROUTE_POOLS}
        self.started = time.time()

    @property
    def store(self):
        return self.retriever.store

    @classmethod
    def load(cls, settings: ServeSettings) -> "Services":
        """Load every model once: the index and its encoder, one caption pipeline per worker, the edit pipeline."""
        from .. import writers
        from ..pipelines.caption import CaptionPipeline
        from ..vision.garments import create_detector

        t0 = time.perf_counter()
        retriever = Retriever.open(settings.index_dir)
        writer = writers.create(settings.writer, **settings.writer_kwargs)
        # one detector per worker thread: each holds its own LiteRT interpreters, so captions run in parallel
        captioners = [CaptionPipeline(create_detector(settings.detector), retriever, writer)
                      for _ in range(settings.workers)]
        edit_pipeline, edit_profile, edit_error = load_edit(settings, retriever)
        warm_up(retriever, captioners)
        log.info("models loaded in %.1f s", time.perf_counter() - t0)
        return cls(settings, retriever, captioners, edit_pipeline, edit_profile, edit_error)

    @contextmanager
    def captioner(self) -> Iterator[Any]:
        """A caption pipeline of its own for this worker thread (there is one per worker)."""
        pipe = self._captioners.get()
        try:
            yield pipe
        finally:
            self._captioners.put(pipe)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown()


def warm_up(retriever: Retriever, captioners: list[Any]) -> None:
    """One query of each kind now, so lazily built parts (the text tower, detector interpreters, first-call
    allocations) load at start-up and the first user does not pay for them."""
    import numpy as np

    photo = np.full((96, 64, 3), 235, np.uint8)
    photo[20:80, 16:48] = (30, 40, 120)
    retriever.search("shirt", k=1)
    retriever.search(image=photo, k=1)
    for pipe in captioners:
        pipe.run(photo)


def load_edit(settings: ServeSettings, retriever: Retriever) -> tuple[Any, Optional[str], Optional[str]]:
    """The edit pipeline of ``settings.edit_profile`` with the shared retriever, or (None, None, why-not)."""
    if not settings.edit_profile:
        return None, None, "editing is switched off (--edit-profile none)"
    return None, None, "editing is not available in this build of the service"
