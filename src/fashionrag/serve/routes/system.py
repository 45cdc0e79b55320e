"""GET /v1/health, /v1/metrics and /v1/filters."""

from __future__ import annotations

import platform
import time
from collections import Counter
from importlib import metadata

from fastapi import APIRouter, Depends

from ... import __version__
from ..deps import require_key, services
from ..models import HealthResponse, MetricsResponse
from ..state import Services

router = APIRouter(tags=["system"])

#: Fields the web page offers as filter menus.
FACET_FIELDS = ("gender", "subcategory", "article_type", "colour", "usage", "season")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


@router.get("/v1/health", response_model=HealthResponse, summary="Liveness, index and versions (no key needed)")
async def health(svc: Services = Depends(services)) -> HealthResponse:
    s = svc.settings
    return HealthResponse(
        index=svc.index_dir.name,
        encoder=svc.retriever.encoder.name,
        dim=int(svc.store.dim),
        count=len(svc.store),
        routes={"search": True, "caption": svc.has_caption, "edit": svc.has_edit},
        edit_profile=svc.edit_profile,
        edit_unavailable=svc.edit_error,
        auth_required=bool(s.api_key),
        limits={"max_upload_bytes": s.max_upload_bytes, "max_pixels": s.max_pixels, "max_k": s.max_k,
                "workers": s.workers, "queue": s.queue, "timeout_s": s.timeout_s},
        versions={"fashionrag": __version__, "python": platform.python_version(),
                  **{d: _version(d) for d in ("torch", "fastapi", "uvicorn", "faiss-cpu")}},
        uptime_s=round(time.time() - svc.started, 1),
    )


@router.get("/v1/metrics", response_model=MetricsResponse, dependencies=[Depends(require_key)],
            summary="Request counts, latencies and queue depth")
async def metrics(svc: Services = Depends(services)) -> MetricsResponse:
    rss = None
    try:
        import psutil

        rss = round(psutil.Process().memory_info().rss / 2**20, 1)
    except Exception:  # psutil is optional
        pass
    return MetricsResponse(uptime_s=round(time.time() - svc.started, 1), routes=svc.metrics.snapshot(),
                           pools={name: p.stats() for name, p in svc.pools.items()}, memory_rss_mb=rss)


@router.get("/v1/filters", dependencies=[Depends(require_key)], summary="Filterable fields and their values")
async def filters(svc: Services = Depends(services)) -> dict[str, list[str]]:
    """Values present in the index, most frequent first (computed once)."""
    cached = getattr(svc, "_facets", None)
    if cached is None:
        counts: dict[str, Counter] = {f: Counter() for f in FACET_FIELDS}
        for pid in svc.store.ids():
            meta = svc.store.get(pid) or {}
            for f in FACET_FIELDS:
                if meta.get(f):
                    counts[f][str(meta[f])] += 1
        cached = svc._facets = {f: [v for v, _ in c.most_common()] for f, c in counts.items()}
    return cached
