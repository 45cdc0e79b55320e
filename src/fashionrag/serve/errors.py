"""Every error leaves the service as JSON ``{"error": code, "detail": message}``; never a stack trace.

The package's own hierarchy (:mod:`fashionrag.core.errors`) maps to status codes here, in one table: the client's
fault is a 4xx, a missing model or a dead LLM endpoint a 5xx that says so.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import errors as E

log = logging.getLogger("fashionrag.serve")

#: error class -> (HTTP status, error code). Checked in order: subclasses before their bases.
STATUS: list[tuple[type[E.FashionRAGError], int, str]] = [
    (E.InvalidImageError, 422, "invalid_image"),
    (E.InvalidInputError, 400, "invalid_input"),
    (E.CatalogError, 422, "catalog"),
    (E.IndexMismatchError, 409, "index_mismatch"),
    (E.IndexCorruptError, 500, "index_corrupt"),
    (E.ModelUnavailableError, 503, "model_unavailable"),
    (E.EndpointError, 502, "endpoint"),
    (E.FashionRAGError, 400, "error"),
]

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
               503: "busy", 504: "timeout"}


class ApiError(Exception):
    """An HTTP answer raised by the service itself (auth, limits, unknown ids)."""

    def __init__(self, status: int, detail: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _HTTP_CODES.get(status, "error")
        self.headers = headers or {}


def status_of(exc: E.FashionRAGError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "error"  # pragma: no cover - FashionRAGError is last in the table


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(E.FashionRAGError)
    async def _ours(_: Request, exc: E.FashionRAGError):
        status, code = status_of(exc)
        return error_response(status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), detail,
                              getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # logged with its traceback on the server; the client learns only that it was not its fault
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error (the server log has the details)")
