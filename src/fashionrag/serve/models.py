"""The service's response bodies: the project's own schemas, with image URLs instead of server paths.

A client never sees a file path of the server (``image_path`` is dropped) and never sends one: catalog images are
addressed by product id only (``image_url``).
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..core.evidence import CaptionResult, GarmentEvidence
from ..core.schemas import EditResult, MaskRLE, Product, SearchHit, SearchResult


def json_response(model: BaseModel) -> Response:
    """The model serialised once, in the worker thread that made it (FastAPI would otherwise validate and
    serialise it again on the event loop, which every other request waits for)."""
    return Response(model.model_dump_json(), media_type="application/json")


def image_url(product_id: str) -> str:
    return f"/v1/products/{quote(str(product_id), safe='')}/image"


class ApiProduct(Product):
    """A catalog product as the API shows it."""

    image_url: str = Field(description="The product photo, served by id: GET /v1/products/{id}/image[?w=320].")

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> "ApiProduct":
        product = Product.model_validate(metadata)
        return cls(**product.model_dump(exclude={"image_path"}), image_url=image_url(product.id))


class ApiSearchHit(SearchHit):
    product: ApiProduct


class ApiSearchResult(SearchResult):
    """:class:`~fashionrag.core.schemas.SearchResult` with API products."""

    hits: list[ApiSearchHit]
    seconds: float = Field(default=0.0, description="Server time spent on the query.")

    @classmethod
    def from_result(cls, result: SearchResult, seconds: float = 0.0) -> "ApiSearchResult":
        data = result.model_dump(exclude={"hits"})
        if data.get("query_image"):
            data["query_image"] = "<upload>"
        hits = [ApiSearchHit(rank=h.rank, id=h.id, score=h.score,
                             product=ApiProduct.from_metadata(h.product.model_dump())) for h in result.hits]
        return cls(**data, hits=hits, seconds=round(seconds, 4))


class ShopGarment(BaseModel):
    """One garment of a captioned photo, with the catalog products its attribute votes came from."""

    region: str
    box: Optional[tuple[int, int, int, int]] = Field(default=None, description="(x0, y0, x1, y1) in photo pixels.")
    is_subject: bool = Field(description="The garment the photo is about (it leads the caption).")
    mask: Optional[MaskRLE] = Field(default=None, description="The garment's pixels (row-major run lengths).")
    evidence: GarmentEvidence
    similar: list[ApiSearchHit] = Field(default_factory=list, description="Closest catalog products: the neighbours "
                                        "the votes used ('shop the look'), best first.")


class ApiCaptionResult(CaptionResult):
    """:class:`~fashionrag.core.evidence.CaptionResult` plus each garment's outline and similar products."""

    image_size: Optional[tuple[int, int]] = Field(default=None, description="(width, height) of the upload.")
    garments: list[ShopGarment] = Field(default_factory=list, description="Same order as evidence.garments.")
    seconds: float = 0.0


class ApiEditResult(EditResult):
    """:class:`~fashionrag.core.schemas.EditResult` with the images inline (no server paths)."""

    image_data: Optional[str] = Field(default=None, description="The edited photo as a data: URI (JPEG).")
    mask_data: Optional[str] = Field(default=None, description="The repainted region as a data: URI (PNG).")
    retrieved_urls: list[str] = Field(default_factory=list, description="image_url of each retrieved garment.")


class HealthResponse(BaseModel):
    status: str = "ok"
    index: str = Field(description="Name of the index directory (not its path).")
    encoder: str
    dim: int
    count: int = Field(description="Products in the index.")
    routes: dict[str, bool] = Field(description="Which model routes are loaded.")
    edit_profile: Optional[str] = Field(default=None, description="The edit profile loaded ('lite', 'hf', ...).")
    edit_unavailable: Optional[str] = Field(default=None, description="Why /v1/edit is off, when it is.")
    auth_required: bool
    limits: dict[str, Any]
    versions: dict[str, str]
    uptime_s: float


class MetricsResponse(BaseModel):
    uptime_s: float
    routes: dict[str, dict[str, Any]] = Field(description="Per route: count, status counts, latency_ms p50/p90/p99.")
    pools: dict[str, dict[str, Any]] = Field(description="Per work pool: running, queued, rejected_503, timed_out.")
    memory_rss_mb: Optional[float] = None
