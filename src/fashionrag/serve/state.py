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
                 editors: list[Any] | None = None, edit_profile: Optional[str] = None, edit_error: Optional[str] = None):
        self.settings = settings
        self.retriever = retriever
        self.index_dir = Path(settings.index_dir) if settings.index_dir else config.default_index_dir()
        self._captioners: "queue.Queue[Any]" = queue.Queue()
        for pipe in caption_pipelines or []:
            self._captioners.put(pipe)
        self.has_caption = bool(caption_pipelines)
        self._editors: "queue.Queue[Any]" = queue.Queue()
        for editor in editors or []:
            self._editors.put(editor)
        self.has_edit = bool(editors)
        self.edit_profile = edit_profile if editors else None
        self.edit_error = edit_error
        self.metrics = Metrics()
        s = settings
        self.pools = {name: WorkPool(name, s.workers, s.queue, s.timeout_s, s.retry_after_s,
                                     initializer=lambda: _share_cores(s.workers)) for name in ROUTE_POOLS}
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
        _share_cores(settings.workers)
        retriever = Retriever.open(settings.index_dir)
        writer = writers.create(settings.writer, **settings.writer_kwargs)
        # one detector per worker thread: each holds its own LiteRT interpreters, so captions run in parallel
        captioners = [CaptionPipeline(create_detector(settings.detector), retriever, writer)
                      for _ in range(settings.workers)]
        editors, edit_profile, edit_error = load_edit(settings, retriever)
        warm_up(retriever, captioners)
        log.info("models loaded in %.1f s (edit profile: %s)", time.perf_counter() - t0, edit_profile or "off")
        return cls(settings, retriever, captioners, editors, edit_profile, edit_error)

    @contextmanager
    def captioner(self) -> Iterator[Any]:
        """A caption pipeline of its own for this worker thread (there is one per worker)."""
        pipe = self._captioners.get()
        try:
            yield pipe
        finally:
            self._captioners.put(pipe)

    @contextmanager
    def editor(self) -> Iterator[Any]:
        """An editor for this worker thread (one per worker for ``lite``; a single shared diffusion pipeline)."""
        ed = self._editors.get()
        try:
            yield ed
        finally:
            self._editors.put(ed)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown()


def _share_cores(workers: int) -> None:
    """Give each worker thread its share of the cores: N workers x T torch threads > cores makes every request
    slower (intra-op threads spin waiting on each other), worst exactly when the queue is full. Called in each
    worker thread too: OpenMP's thread count is a per-thread setting."""
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, workers)))


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


def load_edit(settings: ServeSettings, retriever: Retriever) -> tuple[list[Any], Optional[str], Optional[str]]:
    """Editors of ``settings.edit_profile`` sharing the retriever, or ([], None, why-not). The offline ``lite``
    editor is light: one per worker, so edits run in parallel; a diffusion profile loads once (edits take turns)."""
    if not settings.edit_profile:
        return [], None, "editing is switched off on this server (--edit-profile none)"
    from ..core.errors import FashionRAGError
    from ..pipelines.edit_profiles import create_editor, resolve_profile

    try:
        profile = resolve_profile(settings.edit_profile)
        first = create_editor(profile, retriever=retriever)
        copies = settings.workers if getattr(first, "kind", "diffusion") == "lite" else 1
        editors = [first] + [create_editor(profile, retriever=retriever) for _ in range(copies - 1)]
    except (FashionRAGError, ImportError) as exc:
        # the rest of the service is still useful: /v1/edit answers 503 with this reason
        log.warning("editing is off: %s", exc)
        return [], None, f"editing is not available: {exc}"
    return editors, profile, None
