"""The editing part of `make demo`: two held-out catalog photos edited offline (one ``restyle``, one ``replace``)
into ``out/edits.html``.

The photos come from the catalog's ``val`` split (the demo index holds ``train`` only); each request is the colour
and article type of another val product, so the garment really changes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

from ..core.errors import FashionRAGError, InvalidInputError
from ..core.schemas import EditResult
from ..retrieval.catalog import load_catalog
from ..retrieval.retriever import Retriever
from .edit_lite import LiteEditPipeline


class EditDemoItem(BaseModel):
    photo_id: str
    text: str
    mode: str
    garment: str
    seconds: float


class EditDemoReport(BaseModel):
    html: str
    edits: list[EditDemoItem] = Field(default_factory=list)
    tried: int
    missing_modes: list[str] = Field(default_factory=list, description="Modes no tried photo produced.")


def run_edit_demo(catalog: str | Path, index_dir: str | Path, out: str | Path, *, split: str = "val",
                  max_tries: int = 40, seed: int = 0, pipe: Optional[LiteEditPipeline] = None) -> EditDemoReport:
    from ..reports.edit_sheet import edit_sheet, write_edits_html

    cat = load_catalog(catalog)
    held = [p for p in cat.products if (p.split or split) == split and (p.subcategory or "") == "Topwear" and p.image_path
            and p.colour and p.article_type]
    if not held:
        raise InvalidInputError(f"{catalog}: no {split} Topwear photos to edit")
    rng = random.Random(seed)
    photos = sorted(held, key=lambda p: p.id)
    rng.shuffle(photos)
    pipe = pipe or LiteEditPipeline(Retriever.open(index_dir))
    found: dict[str, tuple[str, EditResult, str]] = {}

    def request_for(p) -> str:
        """'{colour} {article type}' of another held-out product, in a colour the photo's garment is not."""
        q = rng.choice([x for x in held if x.colour != p.colour])
        return f"{q.colour} {q.article_type}".lower()

    tried = 0
    for p in photos[:max_tries]:
        tried += 1
        want = "replace" if "restyle" in found else "restyle"
        text = request_for(p)
        try:
            res = pipe(p.image_path, text, category="upper_body", exclude_ids=[p.id], mode="auto")
        except FashionRAGError:
            continue
        if res.mode == want:
            found[res.mode] = (f"{p.id}: {p.title}", res, text)
        if len(found) == 2:
            break
    if "replace" not in found and "restyle" in found:  # no natural replace: force one on another photo
        used = found["restyle"][0].split(":")[0]
        for p in [x for x in photos[:max_tries] if x.id != used][:10]:
            text = request_for(p)
            try:
                res = pipe(p.image_path, text, category="upper_body", exclude_ids=[p.id], mode="replace")
            except FashionRAGError:
                continue
            found["replace"] = (f"{p.id}: {p.title} (mode forced)", res, text)
            break
    rows = [(label, res) for label, res, _ in found.values()]
    path = write_edits_html(out, rows, title="fashionrag demo: offline edits (lite profile)")
    for label, res in rows:  # the sheets as PNGs too: photo | mask | pose | garments | result
        edit_sheet(res, 256).save(path.with_name(f"{path.stem}.{res.mode}.png"))
    return EditDemoReport(
        html=str(path), tried=tried, missing_modes=[m for m in ("restyle", "replace") if m not in found],
        edits=[EditDemoItem(photo_id=label.split(":")[0], text=text, mode=res.mode or "", garment=res.retrieved[0].id,
                            seconds=res.seconds) for label, res, text in found.values()],
    )
