"""Typed data that crosses a boundary (CLI --json, API responses, files on disk).

Written down once; the docs, the CLI and the tests use these same classes.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from . import vocabulary

#: Product fields that can be used in search filters (``--filter gender=Men``), besides ``attributes.*``.
FILTERABLE_FIELDS = ("category", "subcategory", "article_type", "gender", "colour", "fabric", "season", "usage")


class Product(BaseModel):
    """One catalog item."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Unique product id (string, even when the source uses integers).")
    image_path: Optional[str] = Field(default=None, description="Absolute path of the product image.")
    title: str = Field(default="", description="Display name, e.g. 'Turtle Check Men Navy Blue Shirt'.")
    description: str = ""
    category: Optional[str] = Field(default=None, description="Top level, e.g. 'Apparel' (KAGL masterCategory).")
    subcategory: Optional[str] = Field(default=None, description="e.g. 'Topwear' (KAGL subCategory).")
    article_type: Optional[str] = Field(default=None, description="e.g. 'Shirts' (KAGL articleType).")
    gender: Optional[str] = None
    colour: Optional[str] = Field(default=None, description="Catalog colour name, e.g. 'Navy Blue'.")
    fabric: Optional[str] = Field(default=None, description="From a fabric column, else inferred from the title.")
    fabric_source: Optional[str] = Field(default=None, description="'column', 'title' or None when unknown.")
    season: Optional[str] = None
    usage: Optional[str] = None
    split: Optional[str] = Field(default=None, description="Dataset split ('train'/'val') when the catalog has one.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Any further columns, verbatim.")

    def field_value(self, key: str) -> Any:
        """Value of a top-level field or ``attributes.<key>`` (used by filters)."""
        if key.startswith("attributes."):
            return self.attributes.get(key.split(".", 1)[1])
        if key in type(self).model_fields:
            return getattr(self, key)
        return self.attributes.get(key)


class RowIssue(BaseModel):
    """A row, column or file of a catalog that was rejected, and why."""

    source: str = Field(description="File the problem is in.")
    row: Optional[int] = Field(default=None, description="1-based data row (header excluded), if any.")
    column: Optional[str] = None
    item_id: Optional[str] = None
    reason: str


class SearchHit(BaseModel):
    rank: int
    id: str
    score: float = Field(description="Similarity (inner product of L2-normalised embeddings, -1..1).")
    product: Product


class SearchResult(BaseModel):
    """Answer to one query."""

    query_text: Optional[str] = None
    query_image: Optional[str] = None
    text_weight: Optional[float] = Field(default=None, description="Weight of the text side in a text+image query.")
    filters: dict[str, list[str]] = Field(default_factory=dict, description="The filters the search ran with.")
    parsed_filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Filters read from the text (--parse-query), as kept after any relaxing.")
    k: int
    encoder: str
    hits: list[SearchHit]
    notes: list[str] = Field(default_factory=list, description="What the query parser found and relaxed, and why.")


class RecallTuning(BaseModel):
    """How an HNSW index's search beam ``ef`` was chosen for a requested recall (``--target-recall``), measured on
    held-out queries against exact search when the index was built (:mod:`fashionrag.stores.recall`)."""

    target_recall: float = Field(description="The recall@k asked for, in (0, 1].")
    k: int = 10
    ef_search: Optional[int] = Field(default=None, description="The ef chosen (None: exact index, nothing to tune).")
    recall: float = Field(description="recall@k measured at the chosen ef (at the largest tried if not reached).")
    reached: bool = Field(description="Whether some ef in the sweep reached the target.")
    queries: int = Field(description="Held-out queries the recall was measured on.")
    query_source: str = Field(description="How those queries were made.")
    sweep: list[tuple[int, float]] = Field(default_factory=list, description="(ef, recall@k) pairs tried, ascending.")
    seconds: float = 0.0


class IndexManifest(BaseModel):
    """Written beside every index; checked on every load."""

    format_version: int = 1
    encoder: str = Field(description="Registry name of the encoder that embedded the catalog.")
    dim: int
    count: int
    index_type: str = Field(description="'flat' (exact inner product) or 'hnsw'.")
    hnsw_m: Optional[int] = None
    hnsw_ef_construction: Optional[int] = None
    hnsw_ef_search: Optional[int] = None
    recall_tuning: Optional[RecallTuning] = Field(
        default=None, description="How hnsw_ef_search was chosen for a target recall (index build --target-recall).")
    catalog_fingerprint: Optional[str] = None
    catalog_source: Optional[str] = None
    created_at: str
    files: dict[str, str] = Field(default_factory=dict, description="File name -> sha256, verified on load.")


class EditGarment(BaseModel):
    """One catalog garment retrieved for an edit (its pseudo-tokens condition the generation)."""

    id: str
    score: Optional[float] = Field(default=None, description="Retrieval similarity; None for garments given directly.")
    title: str = ""
    image_path: Optional[str] = None
    subcategory: Optional[str] = None
    article_type: Optional[str] = None
    colour: Optional[str] = None


class EditResult(BaseModel):
    """What one edit produced (``fashionrag edit --json`` prints exactly this), diffusers-style: the images ride
    along as Python objects (``image``, ``mask_image``, ...) and are left out of the JSON, which carries the file
    paths once the face has saved them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    input: Optional[str] = Field(default=None, description="Path of the person photo.")
    output: Optional[str] = Field(default=None, description="Edited image, same size as the input.")
    mask: Optional[str] = Field(default=None, description="Mask PNG at input size (white = repainted).")
    sheet: Optional[str] = Field(default=None, description="input | mask | pose | garments | result.")
    text: str
    category: str
    k: int = Field(description="Number of garments that conditioned the edit (0 = text only).")
    retrieved: list[EditGarment] = Field(default_factory=list)
    prompt: str = Field(default="", description="The prompt with its $ placeholders (one per pseudo-token); the "
                        "parsed query for the lite profile.")
    mask_source: str = Field(description="'user', 'auto-bbox', 'auto-segmentation' or 'auto-garment' (lite).")
    pose_source: str = Field(description="'user', 'auto' or 'none' (zero pose heatmaps).")
    profile: Optional[str] = Field(default=None, description="The profile that ran: 'hf', 'tiny', 'lite' or a directory.")
    mode: Optional[str] = Field(default=None, description="Lite transfer mode that ran: 'restyle' or 'replace'.")
    paste_back: bool = Field(default=True, description="Pixels outside the mask are the input's (False: the raw "
                             "decoded image, as the paper).")
    index: Optional[str] = None
    encoder: Optional[str] = Field(default=None, description="Encoder that embedded the query (the index's).")
    filters: dict[str, list[str]] = Field(default_factory=dict, description="Store filters the retrieval used.")
    notes: list[str] = Field(default_factory=list, description="What was relaxed or chosen automatically, and why.")
    scores: dict[str, float] = Field(default_factory=dict, description="Per-candidate fit scores (lite) by garment id.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    seed: Optional[int] = None
    steps: Optional[int] = Field(default=None, description="Denoising steps (diffusion profiles only).")
    guidance_scale: Optional[float] = None
    device: str = "cpu"
    dtype: Optional[str] = None
    seconds: float

    # the images (not serialised)
    input_image: Any = Field(default=None, exclude=True, repr=False, description="The photo (PIL).")
    image: Any = Field(default=None, exclude=True, repr=False, description="The edited photo (PIL), input size.")
    mask_image: Any = Field(default=None, exclude=True, repr=False, description="The mask (PIL 'L', 255 = edited).")
    pose_image: Any = Field(default=None, exclude=True, repr=False, description="Pose preview (PIL).")
    garment_images: list[Any] = Field(default_factory=list, exclude=True, repr=False,
                                      description="The garments that conditioned the edit (PIL).")
    keypoints: Any = Field(default=None, exclude=True, repr=False, description="(18, 3) OpenPose keypoints or None.")

    @property
    def garments(self) -> list[Any]:
        return self.garment_images


# ----------------------------------------------------------------------------- garments (vision)

#: Garment regions the detectors produce. ``full_length`` (dresses, kurtas) overlaps the upper and
#: lower regions of the same person; consumers keep whichever the retrieved category supports.
GARMENT_REGIONS = vocabulary.REGIONS


class GarmentColour(BaseModel):
    """One measured colour of a garment (a k-means cluster in CIELAB)."""

    name: Optional[str] = Field(default=None, description="Catalog colour name, e.g. 'Navy Blue'.")
    hex: str = Field(description="sRGB hex, e.g. '#1f2a44'.")
    lab: list[float] = Field(description="CIELAB (D65) L, a, b.")
    share: float = Field(description="Share of the garment's (non-skin) pixels, 0..1.")
    name_scores: dict[str, float] = Field(
        default_factory=dict, description="A learned namer's probability of each likely name (>= 0.02), for the "
        "main colour only; empty when the namer gives none (the palette).")


class MaskRLE(BaseModel):
    """Run-length encoded binary mask: row-major runs, alternating 0s and 1s, starting with 0s."""

    size: list[int] = Field(description="[height, width] of the image the mask belongs to.")
    counts: list[int]


class Garment(BaseModel):
    """One garment (or product) found in a photo; coordinates are pixels of the input image."""

    region: str = Field(description="One of GARMENT_REGIONS (a YOLO class map may add its own).")
    box: list[float] = Field(description="[x0, y0, x1, y1] in pixels.")
    score: float = Field(description="Detector confidence, 0..1.")
    label: Optional[str] = Field(default=None, description="Detector class name, when the detector has classes.")
    person: Optional[int] = Field(default=None, description="Index of the person wearing it (None for products).")
    landmarks: Optional[list[list[float]]] = Field(
        default=None, description="The person's 33 MediaPipe landmarks: [x, y, visibility, presence] each."
    )
    mask: Optional[MaskRLE] = Field(default=None, description="Pixel mask (follows the body, not the box).")
    colours: list[GarmentColour] = Field(default_factory=list, description="Top colours, largest first.")
    source: str = Field(default="pose", description="Backend that found it: 'pose', 'product', 'yolo'.")
