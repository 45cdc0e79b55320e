"""The FastAPI application: ``create_app(settings)`` loads the models once (at start-up) and mounts the routers
and the web page.

>>> from fashionrag.serve import create_app, ServeSettings
>>> app = create_app(ServeSettings(index_dir="out/index"))      # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Optional

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from .errors import install as install_errors
from .routes import caption, edit, products, search, system
from .routes.products import ThumbCache
from .settings import ServeSettings
from .state import Services

log = logging.getLogger("fashionrag.serve")

STATIC = resources.files("fashionrag") / "serve" / "static"

#: Multipart framing and form fields on top of the image itself.
BODY_OVERHEAD = 256 * 1024

#: The page loads only its own files; nothing from another origin (no CDN), no inline scripts.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before they are read into memory: a declared
    Content-Length is checked up front, a streamed body is counted as it arrives."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(scope, receive, send)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(scope, receive, send)
        except BaseExceptionGroup as group:  # a middleware that reads the body in a task group wraps it
            if group.subgroup(_TooLarge) is None or group.subgroup(lambda e: not isinstance(e, (_TooLarge, BaseExceptionGroup))):
                raise
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send):
        response = JSONResponse({"error": "too_large", "detail": f"the request body is larger than "
                                 f"{self.limit:,} bytes (uploads are capped)"}, status_code=413,
                                headers={"Connection": "close"})
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Timing:
    """Record each /v1 request's route template, status and latency; add the headers every response gets."""

    def __init__(self, app, get_services):
        self.app = app
        self.get_services = get_services

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-content-type-options", b"nosniff"),
                                                                 (b"referrer-policy", b"no-referrer")]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = getattr(scope.get("route"), "path", None)
            svc = self.get_services()
            if svc is not None and (path or scope.get("path", "")).startswith("/v1/"):
                name = f"{scope['method']} {path}" if path else "unmatched"
                svc.metrics.record(name, status, time.perf_counter() - t0)


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from files inside an installed wheel (fastapi-offline ships them): the machine may be
    offline, and FastAPI's own /docs loads them from a CDN. Without that wheel, FastAPI's page is used."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        assets_dir = resources.files("fastapi_offline") / "static"
        found = (assets_dir / "swagger-ui-bundle.js").is_file()
    except ModuleNotFoundError:  # pragma: no cover - the serve extra installs it
        found = False
    if found:
        app.mount("/docs-assets", StaticFiles(directory=str(assets_dir)), name="docs-assets")
        assets = dict(swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
                      swagger_favicon_url="/static/favicon.svg")
    else:  # pragma: no cover
        assets = {}

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="fashionrag API", **assets)


def create_app(settings: Optional[ServeSettings] = None, services: Optional[Services] = None) -> FastAPI:
    """The service. ``services`` (already loaded models) is for tests; otherwise they load at start-up."""
    settings = (settings or ServeSettings()).check()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = getattr(app.state, "services", None) is None
        if owned:
            app.state.services = Services.load(settings)
        yield
        if owned:  # injected services belong to whoever made them
            app.state.services.close()

    app = FastAPI(title="fashionrag", version=__version__, lifespan=lifespan,
                  description="Catalog search, grounded captions with shop-the-look products, and garment editing. "
                              "Errors are JSON {error, detail}.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.services = services
    app.state.thumbs = ThumbCache()
    install_errors(app)
    for module in (search, caption, edit, products, system):
        app.include_router(module.router)

    page_headers = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(STATIC / "index.html"), media_type="text/html", headers=page_headers)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return RedirectResponse("/static/favicon.svg")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _mount_docs(app)

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + BODY_OVERHEAD)
    app.add_middleware(Timing, get_services=lambda: app.state.services)
    return app
