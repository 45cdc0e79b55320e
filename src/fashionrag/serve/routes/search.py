"""POST /v1/search: text, image or both, with filters; JSON or multipart (for an image upload)."""

from __future__ import annotations

import json
import time
from typing import Optional, Union

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from ..deps import require_key, services
from ..errors import ApiError
from ..models import ApiSearchResult, json_response
from ..state import Services
from ..uploads import decode_image, read_image

router = APIRouter(tags=["search"], dependencies=[Depends(require_key)])


class SearchRequest(BaseModel):
    """A search. As JSON, or as multipart form fields (plus an ``image`` file; ``filter`` repeatable)."""

    text: Optional[str] = Field(default=None, description='e.g. "navy check shirt"')
    k: int = Field(default=10, ge=1, description="Number of results (the server caps it).")
    text_weight: float = Field(default=0.5, ge=0.0, le=1.0, description="Weight of the text in a text+image query.")
    filters: Union[dict[str, Union[str, list[str]]], list[str]] = Field(
        default_factory=dict, description='{"gender": ["Men"]} or ["gender=Men", "colour=Navy Blue,Blue"]')
    parse_query: bool = Field(default=True, description="Read the colour, article type and gender the text names as "
                              "filters (relaxed one at a time when nothing matches; the result's notes say so).")


_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "text": {"type": "string"}, "k": {"type": "integer", "default": 10},
                "text_weight": {"type": "number", "default": 0.5},
                "filter": {"type": "array", "items": {"type": "string"}, "description": "FIELD=VALUE[,VALUE]"},
                "parse_query": {"type": "boolean", "default": True},
                "image": {"type": "string", "format": "binary"}}}},
        },
    }
}


@router.post("/v1/search", response_model=ApiSearchResult, openapi_extra=_OPENAPI,
             summary="Search the catalog by text, image or both")
async def search(request: Request, svc: Services = Depends(services)) -> Response:
    s = svc.settings
    image = None
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
            form = await request.form(max_files=1, max_fields=64)
            upload = form.get("image")
            if isinstance(upload, UploadFile) or (upload is not None and hasattr(upload, "read")):
                image = await read_image(upload, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels)
            body = SearchRequest(
                text=(form.get("text") or None) if isinstance(form.get("text"), str) else None,
                k=form.get("k") or 10,
                text_weight=form.get("text_weight") or 0.5,
                filters=[f for f in form.getlist("filter") if isinstance(f, str) and f.strip()],
                parse_query=str(form.get("parse_query", "true")).lower() not in ("0", "false", "no", "off"),
            )
        elif ctype.startswith("application/json") or not ctype:
            raw = await request.body()
            body = SearchRequest.model_validate_json(raw or b"{}")
        else:
            raise ApiError(415, f"send application/json or multipart/form-data, not {ctype.split(';')[0]}")
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors())
        raise ApiError(422, detail or "invalid request", code="invalid_request") from None
    except json.JSONDecodeError:  # pragma: no cover - pydantic reports bad JSON as a ValidationError
        raise ApiError(422, "the body is not valid JSON", code="invalid_request") from None
    if body.k > s.max_k:
        raise ApiError(422, f"k: at most {s.max_k} results per query on this server", code="invalid_request")
    text = body.text if body.text is None or body.text.strip() else None
    if text is None and image is None:
        raise ApiError(422, "give a text query, an image, or both", code="invalid_request")

    def work() -> Response:
        t0 = time.perf_counter()
        photo = None if image is None else decode_image(image, max_pixels=s.max_pixels)
        result = svc.retriever.search(text, image=photo, text_weight=body.text_weight, k=body.k, filters=body.filters,
                                      parse_query=body.parse_query)
        return json_response(ApiSearchResult.from_result(result, time.perf_counter() - t0))

    return await svc.pools["search"].run(work)
