"""Typed data that crosses a boundary (CLI --json, API responses, files on disk).

Written down once; the docs, the CLI and the tests use these same classes.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

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
    filters: dict[str, list[str]] = Field(default_factory=dict)
    k: int
    encoder: str
    hits: list[SearchHit]


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
    catalog_fingerprint: Optional[str] = None
    catalog_source: Optional[str] = None
    created_at: str
    files: dict[str, str] = Field(default_factory=dict, description="File name -> sha256, verified on load.")
