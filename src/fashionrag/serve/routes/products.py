"""GET /v1/products/{id} and its image: catalog items by id only (no path ever comes from the client)."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from PIL import Image

from ...core.images import load_image
from ..deps import require_key, services
from ..errors import ApiError
from ..models import ApiProduct
from ..state import Services

router = APIRouter(tags=["products"], dependencies=[Depends(require_key)])

#: Thumbnail widths the server renders (others are rounded up to the next one, so the cache stays small).
THUMB_WIDTHS = (96, 160, 240, 320, 480, 640)


class ThumbCache:
    """A small LRU of rendered JPEG thumbnails, bounded in bytes."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: "OrderedDict[tuple[str, int], bytes]" = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> Optional[bytes]:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[str, int], data: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


def _product(svc: Services, product_id: str) -> dict:
    # the id is only ever a lookup key into the store; anything not stored (a path, '..', a glob) is simply unknown
    meta = svc.store.get(product_id) if 0 < len(product_id) <= 256 else None
    if meta is None:
        raise ApiError(404, f"no product with id {product_id!r} in this index", code="not_found")
    return meta


@router.get("/v1/products/{product_id}", response_model=ApiProduct, summary="One catalog product by id")
async def product(product_id: str, svc: Services = Depends(services)) -> ApiProduct:
    return ApiProduct.from_metadata(_product(svc, product_id))


@router.get("/v1/products/{product_id}/image", summary="A catalog product's photo by id (optionally a thumbnail)",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
async def product_image(request: Request, product_id: str,
                        w: Optional[int] = Query(None, ge=16, le=2048, description="Thumbnail width in pixels."),
                        svc: Services = Depends(services)):
    meta = _product(svc, product_id)
    stored = meta.get("image_path")
    path = Path(stored) if stored else None
    if path is None or not path.is_file():
        raise ApiError(404, f"product {product_id!r} has no image on this server", code="not_found")
    headers = {"Cache-Control": "public, max-age=86400"}
    if w is None:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=ctype, headers=headers)
    width = next((t for t in THUMB_WIDTHS if t >= w), THUMB_WIDTHS[-1])
    key = (product_id, width)
    thumbs: ThumbCache = request.app.state.thumbs
    data = thumbs.get(key)
    if data is None:
        def render() -> bytes:
            img = load_image(path)
            if img.width > width:
                img = img.resize((width, max(1, round(img.height * width / img.width))), Image.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=85, optimize=True)
            return buf.getvalue()

        data = await svc.pools["images"].run(render)
        thumbs.put(key, data)
    etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={**headers, "ETag": etag})
    return Response(data, media_type="image/jpeg", headers={**headers, "ETag": etag})
