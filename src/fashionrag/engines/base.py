"""The engine interface and its registry."""

from __future__ import annotations

import abc
from typing import Callable, Iterator, Sequence, TypedDict

from ..core.registry import Registry


class ResultRow(TypedDict):
    """What a worker returns per item: its key, an error message ('' when it worked) and a payload."""

    key: str
    error: str
    data: bytes


#: A worker maps a batch of items to one result row per item (any order).
Worker = Callable[[list[dict]], list[ResultRow]]
#: Builds a worker; called once per process/actor, so it is where models are loaded. Must pickle for Ray.
WorkerFactory = Callable[[], Worker]


class Engine(abc.ABC):
    """Runs a batch job: ``run(items, make_worker)`` yields every item's :class:`ResultRow` once."""

    name: str = ""

    @abc.abstractmethod
    def run(self, items: Sequence[dict], make_worker: WorkerFactory, *, batch_size: int = 32,
            progress: bool = True, desc: str = "", unit: str = "item") -> Iterator[ResultRow]:
        """Yield result rows as they complete (order not guaranteed). A progress bar counts items."""

    #: Whether workers run in other processes (so they open stores and load models themselves).
    remote: bool = False

    @property
    def workers(self) -> int:
        """How many workers run at once."""
        return 1

    def close(self) -> None:
        """Release what the engine started (a local Ray); a no-op for the local engine."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


ENGINES: Registry[Engine] = Registry("engine", builtins=("fashionrag.engines.local", "fashionrag.engines.ray_engine"))


def create(name: str = "local", **kwargs) -> Engine:
    """An engine by name (``local`` or ``ray``); the CLI's ``--engine`` choices are :data:`ENGINES` names."""
    return ENGINES.create(name, **kwargs)
