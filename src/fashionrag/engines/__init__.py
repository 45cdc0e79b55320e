"""Batch engines: the same batch job in this process (``local``) or on a Ray cluster (``ray``).

>>> from fashionrag import engines
>>> engine = engines.create("ray", address=None, workers=2)   # a local Ray on loopback; RAY_ADDRESS joins a cluster
>>> for row in engine.run(items, make_worker, batch_size=32): ...

A job is a list of small items (dicts of strings) and a *worker factory*: a picklable callable that builds the
worker (models loaded once) and returns ``worker(rows) -> result rows``. The local engine builds one worker; the
Ray engine builds one per actor (Ray Data ``map_batches`` with a callable class).
"""

from .base import ENGINES, Engine, ResultRow, create

__all__ = ["ENGINES", "Engine", "ResultRow", "create"]
