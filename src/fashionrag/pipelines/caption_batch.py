"""Batch captioning: many photos into one JSONL file, resumable, with an optional contact sheet.

>>> batch = CaptionBatch(CaptionPipeline.from_index())
>>> report = batch(expand_inputs(["photos/"]), "captions.jsonl", sheet="sheet.html")

- **Resume**: photos whose successful record is already in the JSONL are not captioned again; a line cut by a
  kill is ignored (that photo is redone).
- **Skip and report**: a photo that cannot be captioned gets an error record (``{"image", "error"}``) and is
  listed in the report; it never stops the batch or touches what was already written.
- **Contact sheet**: always shows every caption in the JSONL, old and new (old ones without masks: their boxes).

The CLI and the HTTP service call this; neither holds batch logic of its own.
"""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from pydantic import BaseModel, Field

from ..core import vocabulary
from ..core.errors import FashionRAGError, InvalidInputError
from ..core.evidence import CaptionResult
from .caption import CaptionPipeline


class BatchItemError(BaseModel):
    """One photo the batch skipped, and why."""

    image: str
    error: str


class CaptionBatchReport(BaseModel):
    """What one batch run did (``fashionrag caption DIR --json`` prints this)."""

    out: str = Field(description="The JSONL file of results.")
    images: int = Field(description="Photos asked for.")
    already_done: int = Field(description="Photos skipped because the JSONL already held their caption.")
    written: int = Field(description="New captions appended in this run.")
    errors: list[BatchItemError] = Field(default_factory=list, description="Photos skipped in this run, with why.")
    sheet: Optional[str] = Field(default=None, description="The contact sheet, when one was asked for.")
    sheet_cards: int = Field(default=0, description="Captions shown on the sheet (every one in the JSONL).")
    seconds: float = 0.0


def expand_inputs(items: Iterable[str]) -> list[str]:
    """Files, folders (recursive) and glob patterns -> sorted unique paths (missing paths kept, reported later)."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file() and vocabulary.is_image_file(f.name))
        elif any(ch in item for ch in "*?[") and not p.exists():
            out.extend(sorted(glob.glob(item, recursive=True)))
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def read_results(path: Path) -> dict[str, CaptionResult]:
    """Image key -> its latest successful caption in a JSONL file (error records and cut lines ignored)."""
    done: dict[str, CaptionResult] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that image is redone
        if not isinstance(rec, dict) or "error" in rec or not rec.get("image"):
            continue
        try:
            done[rec["image"]] = CaptionResult.model_validate(rec)
        except ValueError:
            continue  # not one of ours: redone
    return done


class CaptionBatch:
    """Runs a :class:`CaptionPipeline` over many photos (see the module docstring)."""

    def __init__(self, pipeline: CaptionPipeline):
        self.pipeline = pipeline

    def __call__(
        self,
        images: Sequence[str],
        out: str | Path,
        *,
        sheet: str | Path | None = None,
        style: str = "instagram",
        seed: int = 0,
        platform: str = "default",
        n_hashtags: int | None = None,
        progress: bool = True,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> CaptionBatchReport:
        from tqdm.auto import tqdm

        from ..reports.sheets import card, write_sheet

        t0 = time.perf_counter()
        out = Path(out)
        if out.is_dir():
            raise InvalidInputError(f"--out {out} is a directory; give a file name, e.g. {out / 'captions.jsonl'}")
        if sheet is not None and Path(sheet).is_dir():
            raise InvalidInputError(f"--sheet {sheet} is a directory; give a file name, e.g. {Path(sheet) / 'sheet.html'}")
        out.parent.mkdir(parents=True, exist_ok=True)
        previous = read_results(out)
        todo = [i for i in images if str(Path(i).resolve()) not in previous]
        errors: list[BatchItemError] = []
        new_cards: dict[str, str] = {}
        written = 0
        with out.open("a", encoding="utf-8") as fh:
            for path in tqdm(todo, desc="captioning", unit="img", disable=not progress):
                key = str(Path(path).resolve())
                try:
                    result, analysis = self.pipeline.run(path, name=key, style=style, seed=seed, platform=platform,
                                                         n_hashtags=n_hashtags)
                except FashionRAGError as exc:
                    errors.append(BatchItemError(image=key, error=str(exc)))
                    fh.write(json.dumps({"image": key, "error": str(exc)}) + "\n")
                    fh.flush()
                    if on_skip is not None:
                        on_skip(path, str(exc))
                    continue
                fh.write(result.model_dump_json() + "\n")
                fh.flush()
                written += 1
                if sheet is not None:
                    new_cards[key] = card(path, result, analysis)
        n_cards = 0
        if sheet is not None:
            cards = []
            for key, result in read_results(out).items():  # every caption in the file, in file order
                cards.append(new_cards.get(key) or card(key, result))
            write_sheet(sheet, cards)
            n_cards = len(cards)
        return CaptionBatchReport(out=str(out), images=len(images), already_done=len(images) - len(todo),
                                  written=written, errors=errors, sheet=str(sheet) if sheet is not None else None,
                                  sheet_cards=n_cards, seconds=round(time.perf_counter() - t0, 3))
