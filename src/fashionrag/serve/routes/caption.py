"""POST /v1/caption: a photo in, a grounded caption + hashtags out, with each garment's similar products."""

from __future__ import annotations

import time
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from ...core import vocabulary
from ...core.schemas import Product
from ..deps import require_key, services
from ..errors import ApiError
from ..models import ApiCaptionResult, ApiProduct, ApiSearchHit, ShopGarment, json_response
from ..state import Services
from ..uploads import decode_image, read_image

router = APIRouter(tags=["caption"], dependencies=[Depends(require_key)])

MAX_SIMILAR = 20


def shop_the_look(analysis, similar: int) -> list[ShopGarment]:
    """Each analysed garment with the neighbours its votes used (the pipeline's own, not a new search)."""
    out = []
    for a in analysis.garments:
        hits = [ApiSearchHit(rank=r + 1, id=h.id, score=round(float(h.score), 4),
                             product=ApiProduct.from_metadata(Product.model_validate(h.metadata).model_dump()))
                for r, h in enumerate(a.neighbours[:similar])]
        out.append(ShopGarment(region=a.evidence.region, box=a.evidence.box, is_subject=a.is_subject,
                               mask=a.garment.mask, evidence=a.evidence, similar=hits))
    return out


@router.post("/v1/caption", response_model=ApiCaptionResult, summary="Caption a photo, with shop-the-look products")
async def caption(
    image: UploadFile = File(description="The photo (JPEG, PNG, WebP, ...)."),
    style: str = Form("instagram", description=f"One of: {', '.join(vocabulary.STYLES)}."),
    seed: int = Form(0),
    platform: str = Form("default", description="Hashtag count preset (default, instagram, tiktok, ...)."),
    hashtags: Optional[int] = Form(None, ge=0, le=30, description="Number of hashtags (overrides platform)."),
    similar: int = Form(6, ge=0, le=MAX_SIMILAR, description="Similar catalog products per garment."),
    masks: bool = Form(True, description="Include each garment's mask (for outlines)."),
    svc: Services = Depends(services),
) -> Response:
    if not svc.has_caption:
        raise ApiError(503, "captioning is not loaded on this server", code="model_unavailable")
    if style not in vocabulary.STYLES:
        raise ApiError(422, f"style: use one of {', '.join(vocabulary.STYLES)}", code="invalid_request")
    s = svc.settings
    data = await read_image(image, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels)

    def work() -> Response:
        t0 = time.perf_counter()
        photo = decode_image(data, max_pixels=s.max_pixels)
        with svc.captioner() as pipe:
            result, analysis = pipe.run(photo, style=style, seed=seed, platform=platform, n_hashtags=hashtags,
                                        name="upload")
        garments = shop_the_look(analysis, similar)
        if not masks:
            for g in garments:
                g.mask = None
        return json_response(ApiCaptionResult(**result.model_dump(), image_size=photo.size, garments=garments,
                                              seconds=round(time.perf_counter() - t0, 4)))

    return await svc.pools["caption"].run(work)
