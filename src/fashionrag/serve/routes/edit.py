"""POST /v1/edit: person photo + text -> retrieved garments -> edited photo (the profile the server loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ..deps import require_key, services
from ..errors import ApiError
from ..models import ApiEditResult
from ..state import Services

router = APIRouter(tags=["edit"], dependencies=[Depends(require_key)])


@router.post("/v1/edit", response_model=ApiEditResult, summary="Edit a garment in a person photo")
async def edit(image: UploadFile = File(...), text: str = Form(...), category: str = Form("upper_body"),
               k: int = Form(1, ge=0, le=4), svc: Services = Depends(services)) -> ApiEditResult:
    raise ApiError(503, svc.edit_error or "editing is not loaded on this server", code="model_unavailable")
