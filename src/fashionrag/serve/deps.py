"""FastAPI dependencies: the loaded services and the API-key check."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import ApiError
from .state import Services

_bearer = HTTPBearer(auto_error=False, description="The server's API key (`fashionrag serve --api-key`).")


def services(request: Request) -> Services:
    return request.app.state.services


def require_key(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless ``Authorization: Bearer KEY`` matches the server's key (when it has one)."""
    key = request.app.state.services.settings.api_key
    if not key:
        return
    if creds is None:
        raise ApiError(401, "this server needs an API key: send 'Authorization: Bearer KEY'", code="unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(creds.credentials.encode(), key.encode()):
        raise ApiError(401, "wrong API key", code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
