"""The Ray engine: the same batch job on Ray Data, local or on a cluster.

- ``address`` (or ``RAY_ADDRESS``) joins a running cluster: ``ray://head:10001`` or ``head:6379``. Without one, a
  local Ray is started, sized to this machine (or to ``num_cpus``), **on loopback only**: every Ray server
  (GCS, raylet, workers, object manager) binds 127.0.0.1, no dashboard, and it is shut down by :meth:`close`.
- The job is ``ray.data.from_items(items).map_batches(<callable class>, compute=ActorPoolStrategy(size=workers))``:
  each actor calls the worker factory once (models load once per actor) and then maps batch after batch.
- Results stream back to the driver as they finish, so a caller can append them to a file (resume) and show a
  progress bar while the job runs.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Iterator, Sequence

from tqdm.auto import tqdm

from ..core.errors import FashionRAGError, InvalidInputError
from .base import ENGINES, Engine, ResultRow, WorkerFactory

log = logging.getLogger(__name__)

#: Ray on Linux advertises (and binds) the machine's address; with this off it uses the loopback address.
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class _ActorWorker:
    """The callable class Ray Data instantiates once per actor."""

    def __init__(self, make_worker: WorkerFactory):
        self.worker = make_worker()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        keys = list(batch)
        n = len(batch[keys[0]]) if keys else 0
        columns = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in batch.items()}
        rows = [{k: columns[k][i] for k in keys} for i in range(n)]
        out = self.worker(rows)
        return {"key": [r["key"] for r in out], "error": [r["error"] for r in out], "data": [bytes(r["data"]) for r in out]}


class RayEngine(Engine):
    """Ray Data batch engine.

    Args:
        address: a cluster to join (default: ``RAY_ADDRESS``; none: start a local Ray on loopback).
        workers: actors in the pool (default: the CPUs Ray has, divided by ``cpus_per_worker``).
        num_cpus: CPUs of a local Ray (default: this machine's).
        cpus_per_worker: CPUs each actor reserves (a model's threads run inside it).
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
                 cpus_per_worker: float = 1.0, object_store_mb: int = 512, **_ignored) -> None:
        if workers is not None and int(workers) < 1:
            raise InvalidInputError(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise InvalidInputError(f"cpus_per_worker must be > 0, got {cpus_per_worker}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._workers = int(workers) if workers else None
        self.num_cpus = int(num_cpus) if num_cpus else None
        self.cpus_per_worker = float(cpus_per_worker)
        self.object_store_mb = int(object_store_mb)
        self._started = False

    # -- Ray itself ----------------------------------------------------------------------------------------------
    def _ray(self):
        if self.address is None:
            os.environ[_LOOPBACK_ENV] = "0"  # before `import ray`: its constants read it once
        try:
            import ray
        except ImportError:
            raise InvalidInputError("the ray engine needs Ray Data: pip install 'fashionrag[scale]'") from None
        if ray.is_initialized():
            return ray
        if self.address is None:
            # Ray read the flag at import if it was imported earlier by someone else: set it on the module too.
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
            cpus = self.num_cpus or os.cpu_count() or 1
            if self._workers:
                cpus = max(cpus, math.ceil(self._workers * self.cpus_per_worker))
            for attempt in (1, 2):
                try:
                    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                             logging_level=logging.WARNING, object_store_memory=self.object_store_mb * 1024 * 1024,
                             configure_logging=True)
                    break
                except Exception as exc:  # Ray gives its raylet 30 s to register: a busy machine can miss that
                    ray.shutdown()
                    if attempt == 2:
                        raise FashionRAGError(f"could not start a local Ray: {exc}") from None
                    log.warning("local Ray did not start (%s); trying once more", exc)
            self._started = True
        else:
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except Exception as exc:
                raise FashionRAGError(f"cannot join the Ray cluster at {self.address}: {exc}") from None
            self._started = True  # close() disconnects this driver; the cluster itself keeps running
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours counts items; Ray's per-operator bars are noise here
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ray

    @property
    def workers(self) -> int:
        if self._workers:
            return self._workers
        ray = self._ray()
        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // self.cpus_per_worker))

    def close(self) -> None:
        """Stop the local Ray this engine started, or disconnect from the cluster it joined."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    # -- the job -------------------------------------------------------------------------------------------------
    def run(self, items: Sequence[dict], make_worker: WorkerFactory, *, batch_size: int = 32,
            progress: bool = True, desc: str = "", unit: str = "item") -> Iterator[ResultRow]:
        items = list(items)
        if not items:
            return
        ray = self._ray()
        from ray.data import ActorPoolStrategy

        workers = min(self.workers, math.ceil(len(items) / batch_size)) or 1
        blocks = min(len(items), max(workers * 2, math.ceil(len(items) / batch_size)))
        ds = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            _ActorWorker, fn_constructor_args=(make_worker,), batch_size=batch_size, batch_format="numpy",
            compute=ActorPoolStrategy(size=workers), num_cpus=self.cpus_per_worker,
        )
        with tqdm(total=len(items), desc=desc or "batch", unit=unit, disable=not progress,
                  postfix=f"ray x{workers}") as bar:
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    keys, errors, data = batch["key"].tolist(), batch["error"].tolist(), batch["data"].tolist()
                    for key, error, payload in zip(keys, errors, data):
                        yield ResultRow(key=str(key), error=str(error), data=bytes(payload))
                    bar.update(len(keys))
            except ray.exceptions.RayError as exc:
                raise _job_error(exc) from None


def _job_error(exc: Exception) -> FashionRAGError:
    """A failure inside an actor, as our own error when it was one (e.g. a missing model), else one line."""
    cause = getattr(exc, "cause", None)
    while cause is not None and not isinstance(cause, FashionRAGError):
        cause = getattr(cause, "cause", None) or getattr(cause, "__cause__", None)
    if isinstance(cause, FashionRAGError):
        return cause
    text = str(exc).strip().splitlines()
    return FashionRAGError(f"the Ray job failed: {text[-1] if text else exc.__class__.__name__}")


ENGINES.register("ray", RayEngine)
