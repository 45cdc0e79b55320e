"""The local engine: one worker in this process, batches in order."""

from __future__ import annotations

from typing import Iterator, Sequence

from tqdm.auto import tqdm

from .base import ENGINES, Engine, ResultRow, WorkerFactory


class LocalEngine(Engine):
    name = "local"

    def __init__(self, **_ignored) -> None:
        pass

    def run(self, items: Sequence[dict], make_worker: WorkerFactory, *, batch_size: int = 32,
            progress: bool = True, desc: str = "", unit: str = "item") -> Iterator[ResultRow]:
        items = list(items)
        if not items:
            return
        worker = make_worker()
        with tqdm(total=len(items), desc=desc or "batch", unit=unit, disable=not progress) as bar:
            for lo in range(0, len(items), batch_size):
                batch = items[lo : lo + batch_size]
                yield from worker(batch)
                bar.update(len(batch))


ENGINES.register("local", LocalEngine)
