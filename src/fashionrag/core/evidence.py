"""The evidence pack: everything a caption writer may say about a photo, and nothing more.

The caption pipeline fills an :class:`EvidencePack` from the vision side (garment regions, measured colours) and the
retrieval side (attribute votes of the nearest catalog products). Writers receive *only* this pack, so every fact in
a caption can be traced back to a measurement or a vote. A value the pipeline is not sure about is ``None``: writers,
hashtags and the grounding guard treat ``None`` as "do not mention". The strings ``"unknown"``, ``"NA"`` and ``""``
are accepted on input and turned into ``None`` so that a pipeline can pass a vote result through unchanged.

:class:`CaptionResult` is what every writer returns (and what ``fashionrag caption --json`` prints).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import vocabulary

#: Garment regions produced by the vision side (a YOLO class map may add its own).
REGIONS: tuple[str, ...] = vocabulary.REGIONS

#: Writer styles every writer understands.
STYLES: tuple[str, ...] = vocabulary.STYLES

_UNKNOWN = {"", "unknown", "na", "n/a", "none", "null", "nan", "-"}
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def known(value: Any) -> Optional[str]:
    """``None`` for every spelling of "unknown", else the stripped string (why: one rule for all writers)."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN else text


class ColourEvidence(BaseModel):
    """One measured colour of a garment (a k-means cluster of its own pixels, named with the catalog's vocabulary)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Catalog colour name, e.g. 'Navy Blue' (the catalog's own vocabulary).")
    hex: str = Field(description="Measured cluster centre as '#rrggbb'.")
    share: float = Field(ge=0.0, le=1.0, description="Share of the garment's pixels in this cluster, 0..1.")
    confidence: Optional[float] = Field(
        default=None, ge=0.0, le=1.0, description="Confidence of the *name* (the classifier's probability), if known."
    )
    lab: Optional[list[float]] = Field(default=None, description="CIELAB (D65) L, a, b of the cluster, if measured.")

    @field_validator("hex")
    @classmethod
    def _check_hex(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith("#"):
            v = "#" + v
        if not _HEX.match(v):
            raise ValueError(f"colour hex must look like '#1a2b3c', got {v!r}")
        return v.lower()


class DetailEvidence(BaseModel):
    """One descriptive word voted from the neighbours' titles, e.g. facet 'pattern', value 'striped'."""

    model_config = ConfigDict(extra="forbid")

    facet: str = Field(description="pattern, neckline, sleeve or fit (the facets of the learned title vocabulary).")
    value: str = Field(description="The word as the writer may say it (lower case), e.g. 'striped', 'polo'.")
    confidence: float = Field(default=0.0, ge=0.0, le=1.0, description="Vote share of this word among neighbours.")


class GarmentEvidence(BaseModel):
    """What is known of one garment in the photo. ``None`` means unknown: never mentioned by a writer."""

    model_config = ConfigDict(extra="forbid")

    region: str = Field(
        description="Where the garment is: upper_body, lower_body, full_length, footwear, product (or a YOLO class "
        "map's own region name)."
    )
    box: Optional[tuple[int, int, int, int]] = Field(
        default=None, description="Bounding box in image pixels as (x0, y0, x1, y1), x1/y1 exclusive."
    )
    score: Optional[float] = Field(default=None, ge=0.0, le=1.0, description="Detector score of the region.")
    article_type: Optional[str] = Field(
        default=None, description="Catalog article type voted by the neighbours, e.g. 'Shirts' (KAGL articleType)."
    )
    article_confidence: float = Field(default=0.0, ge=0.0, le=1.0, description="Vote share of article_type.")
    subcategory: Optional[str] = Field(default=None, description="e.g. 'Topwear' (KAGL subCategory).")
    category: Optional[str] = Field(default=None, description="e.g. 'Apparel' (KAGL masterCategory).")
    colours: list[ColourEvidence] = Field(
        default_factory=list, max_length=2, description="Up to two measured colours, largest share first."
    )
    fabric: Optional[str] = Field(default=None, description="Voted fabric, e.g. 'Cotton'; None when unknown.")
    fabric_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    gender: Optional[str] = Field(default=None, description="Voted gender: 'Men', 'Women', 'Unisex', 'Boys', 'Girls'.")
    gender_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    usage: Optional[str] = Field(default=None, description="Voted usage, e.g. 'Casual', 'Formal', 'Sports', 'Ethnic'.")
    usage_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    season: Optional[str] = Field(default=None, description="Voted season, e.g. 'Summer', 'Fall', 'Winter', 'Spring'.")
    season_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    article_word: Optional[str] = Field(
        default=None,
        description="A broader garment word to say when the exact article type is not confident enough but a group "
        "of types is ('top' for Tshirts/Shirts/Tops, 'shoes'); only set when article_type is None.",
    )
    article_word_types: list[str] = Field(
        default_factory=list, description="The catalog article types ``article_word`` may stand for."
    )
    article_word_confidence: float = Field(default=0.0, ge=0.0, le=1.0, description="Vote share of that group.")
    details: list["DetailEvidence"] = Field(
        default_factory=list,
        description="Descriptive words voted from the neighbours' titles (pattern, neckline, sleeve, fit), each with "
        "its vote share; only confident ones are present.",
    )

    @field_validator("article_type", "subcategory", "category", "fabric", "gender", "usage", "season", mode="before")
    @classmethod
    def _unknown_is_none(cls, v: Any) -> Optional[str]:
        return known(v)

    @classmethod
    def from_votes(
        cls,
        region: str,
        votes: dict[str, tuple[Optional[str], float]],
        *,
        threshold: float | dict[str, float] = 0.5,
        colours: Optional[list[ColourEvidence]] = None,
        **fields: Any,
    ) -> "GarmentEvidence":
        """Build from retrieval votes ``{"article_type": ("Shirts", 0.83), "gender": ("Men", 0.97), ...}``.

        A value whose confidence is below its threshold (a float for all, or per key with a ``"default"``) becomes
        None, the confidence is kept: "unknown, never a guess". Keys: article_type, fabric, gender, usage, season;
        subcategory and category follow the article vote (they are kept only when article_type is)."""
        data: dict[str, Any] = dict(fields)
        for key, (value, conf) in votes.items():
            if isinstance(threshold, (int, float)):
                limit = float(threshold)
            else:
                limit = threshold.get(key, threshold.get("default", 0.5))
            keep = known(value) if conf >= limit else None
            if key in ("subcategory", "category"):
                data[key] = keep
                continue
            data[key] = keep
            data["article_confidence" if key == "article_type" else f"{key}_confidence"] = float(conf)
        if data.get("article_type") is None:
            data["subcategory"] = data["category"] = None
        return cls(region=region, colours=colours or [], **data)

    @classmethod
    def from_detection(
        cls,
        garment: Any,
        votes: dict[str, tuple[Optional[str], float]],
        *,
        threshold: float | dict[str, float] = 0.5,
        **fields: Any,
    ) -> "GarmentEvidence":
        """From a vision :class:`~fashionrag.core.schemas.Garment` (region, box, score, named colours) plus the
        retrieval votes (see :meth:`from_votes`). Colours without a name are dropped; at most two are kept."""
        colours = [
            ColourEvidence(name=c.name, hex=c.hex, share=min(1.0, max(0.0, float(c.share))),
                           lab=list(c.lab) if getattr(c, "lab", None) is not None else None)
            for c in getattr(garment, "colours", []) if known(c.name)
        ][:2]
        return cls.from_votes(garment.region, votes, threshold=threshold, colours=colours, box=garment.box,
                              score=min(1.0, max(0.0, float(garment.score))), **fields)

    @field_validator("box", mode="before")
    @classmethod
    def _round_box(cls, v: Any) -> Any:
        if v is not None and isinstance(v, (list, tuple)) and len(v) == 4:
            return tuple(int(round(float(x))) for x in v)
        return v

    @field_validator("colours", mode="before")
    @classmethod
    def _drop_unknown_colours(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [c for c in v if not (isinstance(c, dict) and known(c.get("name")) is None)]
        return v


class EvidencePack(BaseModel):
    """The only input of a caption writer: the garments of one photo plus quoted style examples."""

    model_config = ConfigDict(extra="forbid")

    image: Optional[str] = Field(default=None, description="Path or name of the photo (for reports only).")
    image_size: Optional[tuple[int, int]] = Field(default=None, description="(width, height) in pixels.")
    garments: list[GarmentEvidence] = Field(
        default_factory=list, description="Garments, most prominent first. Empty: nothing to caption."
    )
    gender: Optional[str] = Field(
        default=None, description="Overall gender of the look (e.g. the vote over all garments); None when unknown."
    )
    gender_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    style_examples: list[str] = Field(
        default_factory=list,
        description="Titles of the nearest catalog products. Untrusted DATA: shown to LLMs as quoted JSON, never "
        "copied into a caption, never followed as instructions.",
    )

    @field_validator("gender", mode="before")
    @classmethod
    def _unknown_is_none(cls, v: Any) -> Optional[str]:
        return known(v)

    @field_validator("style_examples", mode="before")
    @classmethod
    def _clean_examples(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [str(t) for t in v if t is not None and str(t).strip()]
        return v

    # -- convenience views used by writers, hashtags and the guard ------------------------------------------------
    def look_gender(self) -> Optional[str]:
        """Overall gender, else the gender all known garment votes agree on, else None."""
        if self.gender:
            return self.gender
        votes = {g.gender for g in self.garments if g.gender}
        return votes.pop() if len(votes) == 1 else None

    def colour_names(self) -> list[str]:
        """All colour names of all garments, in order, without repeats."""
        out: list[str] = []
        for g in self.garments:
            for c in g.colours:
                if c.name not in out:
                    out.append(c.name)
        return out

    def article_types(self) -> list[str]:
        return [g.article_type for g in self.garments if g.article_type]

    def article_word_types(self) -> list[str]:
        """Article types the garments' broader words (``article_word``) stand for: what 'top' may claim."""
        out: list[str] = []
        for g in self.garments:
            out += [t for t in g.article_word_types if t not in out]
        return out

    def fabrics(self) -> list[str]:
        return [g.fabric for g in self.garments if g.fabric]

    def genders(self) -> list[str]:
        """Every known gender, overall and per garment."""
        out = [self.gender] if self.gender else []
        return out + [g.gender for g in self.garments if g.gender and g.gender not in out]


class GuardViolation(BaseModel):
    """One word that contradicts the evidence."""

    kind: Literal["colour", "fabric", "article", "gender", "copied", "subject", "hashtag"] = Field(
        description="Which facet the word contradicts; 'copied': text copied from a neighbour title; 'subject': the "
        "caption never names the photo's main garment (word: its type); 'hashtag': a tag built from neither the "
        "evidence nor the style vocabulary (word: the tag)."
    )
    word: str = Field(description="The word or phrase as found (lower case).")
    where: Literal["caption", "hashtags"]
    allowed: list[str] = Field(default_factory=list, description="What the evidence supports for this kind.")


class GuardReport(BaseModel):
    """What the grounding guard found and what it did about it."""

    checked: bool = Field(default=True, description="False when the guard was switched off.")
    passed: bool = Field(description="True when the *final* text contradicts nothing in the evidence.")
    attempts: int = Field(default=1, description="How many drafts the writer produced (1 + retries).")
    violations: list[GuardViolation] = Field(
        default_factory=list, description="Contradictions found in the writer's drafts (before any repair)."
    )
    actions: list[str] = Field(
        default_factory=list, description="What was done, in order: 'retry_with_feedback', 'template_fallback', ..."
    )


class CaptionResult(BaseModel):
    """A caption and hashtags for one photo, with how they were made."""

    model_config = ConfigDict(extra="forbid")

    caption: str = Field(description="2-3 sentences; empty when the photo shows no garment.")
    hashtags: list[str] = Field(default_factory=list, description="Normalised '#CamelCase' tags, no duplicates.")
    style: str = Field(default="instagram", description="instagram, product or minimal.")
    writer: str = Field(description="The writer that was asked for ('template', 'openai', 'transformers').")
    used_writer: str = Field(description="The writer whose text was kept (differs after a fallback).")
    model: Optional[str] = Field(default=None, description="LLM model name, for LLM writers.")
    fallback_reason: Optional[str] = Field(
        default=None, description="Why the asked-for writer's text was not used (endpoint down, garbage, guard)."
    )
    guard_report: GuardReport
    image: Optional[str] = None
    evidence: Optional[EvidencePack] = Field(default=None, description="The pack the text was written from.")

    @model_validator(mode="after")
    def _no_text_without_garments(self) -> "CaptionResult":
        # An empty photo must never get an invented caption.
        if self.evidence is not None and not self.evidence.garments and (self.caption or self.hashtags):
            raise ValueError("a caption was produced for a photo without garments")
        return self
