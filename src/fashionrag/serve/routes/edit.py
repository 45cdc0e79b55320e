"""POST /v1/edit: person photo + text -> retrieved garments -> edited photo, with the profile the server loaded
(the offline ``lite`` transfer by default; a diffusion profile when started with one)."""

from __future__ import annotations

import base64
import io
import time
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from ...core import vocabulary
from ..deps import require_key, services
from ..errors import ApiError
from ..models import ApiEditResult, image_url, json_response
from ..state import Services
from ..uploads import decode_image, read_image

router = APIRouter(tags=["edit"], dependencies=[Depends(require_key)])

MODES = ("auto", "restyle", "replace")
MAX_STEPS = 50


def _data_uri(img, fmt: str) -> Optional[str]:
    if img is None:
        return None
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, "JPEG", quality=90)
    else:
        img.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


@router.post("/v1/edit", response_model=ApiEditResult, summary="Edit a garment in a person photo")
async def edit(
    image: UploadFile = File(description="A photo of one person (front view)."),
    text: str = Form(description='What the garment should become, e.g. "a red floral dress".'),
    category: Optional[str] = Form(None, description=f"One of: {', '.join(vocabulary.EDIT_CATEGORIES)} (lite: "
                                   "guessed from the text when omitted)."),
    k: int = Form(1, ge=0, le=4, description="Catalog garments to retrieve (lite: candidates; 0 = text only, "
                  "diffusion profiles)."),
    mode: str = Form("auto", description="Lite transfer: auto, restyle or replace."),
    seed: int = Form(0),
    steps: Optional[int] = Form(None, ge=1, le=MAX_STEPS, description="Denoising steps (diffusion profiles)."),
    svc: Services = Depends(services),
) -> Response:
    if not svc.has_edit:
        raise ApiError(503, svc.edit_error or "editing is not loaded on this server", code="model_unavailable")
    if not text.strip():
        raise ApiError(422, "text: say what the garment should become", code="invalid_request")
    if category is not None and category not in vocabulary.EDIT_CATEGORIES:
        raise ApiError(422, f"category: use one of {', '.join(vocabulary.EDIT_CATEGORIES)}", code="invalid_request")
    if mode not in MODES:
        raise ApiError(422, f"mode: use one of {', '.join(MODES)}", code="invalid_request")
    s = svc.settings
    upload = await read_image(image, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels)

    def work() -> Response:
        t0 = time.perf_counter()
        photo = decode_image(upload, max_pixels=s.max_pixels)
        with svc.editor() as editor:
            if getattr(editor, "kind", "diffusion") == "lite":
                result = editor(photo, text, category=category, k=k, mode=mode, seed=seed)
            else:
                options = dict(category=category or "upper_body", k=k, seed=seed, progress=False)
                if steps is not None:
                    options["num_inference_steps"] = steps
                result = editor(photo, text, **options)
        data = result.model_dump(exclude={"input", "output", "mask", "sheet", "index", "retrieved"})
        retrieved = [g.model_copy(update={"image_path": None}) for g in result.retrieved]
        urls = [image_url(g.id) if svc.store.get(g.id) is not None else "" for g in retrieved]
        data["seconds"] = round(time.perf_counter() - t0, 4)
        return json_response(ApiEditResult(
            **data, retrieved=retrieved, index=svc.index_dir.name, image_data=_data_uri(result.image, "JPEG"),
            mask_data=_data_uri(result.mask_image, "PNG"), retrieved_urls=urls))

    return await svc.pools["edit"].run(work)
