"""Batch captioning: many photos into one JSONL file, resumable, with an optional contact sheet.

>>> batch = CaptionBatch(CaptionPipeline.from_index())
>>> report = batch(expand_inputs(["photos/"]), "captions.jsonl", sheet="sheet.html")

- **Resume**: photos whose successful record is already in the JSONL are not captioned again; a line cut by a
  kill is ignored (that photo is redone).
- **Skip and report**: a photo that cannot be captioned gets an error record (``{"image", "error"}``) and is
  listed in the report; it never stops the batch or touches what was already written.
- **Contact sheet**: always shows every caption in the JSONL, old and new (old ones without masks: their boxes).
- **Engines**: ``CaptionBatch(recipe, engine=engines.create("ray"))`` captions on Ray Data, one pipeline per actor
  (built by the picklable :class:`PipelineRecipe`); results stream back and are appended as they arrive, so the
  JSONL, the resume and the report are the same as with the local engine (the file's line order may differ).

The CLI and the HTTP service call this; neither holds batch logic of its own.
"""

from __future__ import annotations

import glob
import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from pydantic import BaseModel, Field, field_validator

from .. import engines
from ..core import vocabulary
from ..core.errors import FashionRAGError, InvalidInputError
from ..core.evidence import CaptionResult
from ..engines.base import Engine, ResultRow
from ..stores.milvus_store import is_lite_spec
from .caption import CaptionConfig, CaptionPipeline


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


class PipelineRecipe(BaseModel):
    """How to build the caption pipeline (again, in another process: a Ray actor). Calling it builds one."""

    index: Optional[str] = Field(default=None, description="FAISS index directory or store URI (milvus:..., http(s)://...).")
    store_token: Optional[str] = Field(default=None, description="Milvus token (else FASHIONRAG_MILVUS_TOKEN).")
    writer: str = "template"
    writer_kwargs: dict = Field(default_factory=dict)
    detector: str = "pose"
    config: Optional[CaptionConfig] = None

    @field_validator("index")
    @classmethod
    def _absolute(cls, index: Optional[str]) -> Optional[str]:
        from ..stores.base import is_store_uri

        # A worker's cwd is not ours: a directory travels as an absolute path.
        return index if index is None or is_store_uri(index) else str(Path(index).expanduser().resolve())

    def __call__(self) -> CaptionPipeline:
        from .. import stores

        index = self.index
        if index is not None and stores.base.is_store_uri(index):
            index = stores.open_store(index, token=self.store_token)
        return CaptionPipeline.from_index(index, writer=self.writer, detector=self.detector, config=self.config,
                                          writer_kwargs=self.writer_kwargs)


class _CaptionWorker:
    """One pipeline captioning ``[{"key", "path"}]`` rows; payload: ``{"result": ..., "card": html or None}``."""

    def __init__(self, pipeline: CaptionPipeline, opts: dict, cards: bool):
        self.pipeline, self.opts, self.cards = pipeline, opts, cards

    def __call__(self, rows: list[dict]) -> list[ResultRow]:
        from ..reports.sheets import card

        out: list[ResultRow] = []
        for row in rows:
            key, path = str(row["key"]), str(row["path"])
            try:
                result, analysis = self.pipeline.run(path, name=key, **self.opts)
            except FashionRAGError as exc:
                out.append(ResultRow(key=key, error=str(exc) or exc.__class__.__name__, data=b""))
                continue
            payload = {"result": result.model_dump(mode="json"),
                       "card": card(path, result, analysis) if self.cards else None}
            out.append(ResultRow(key=key, error="", data=json.dumps(payload).encode()))
        return out


class _WorkerFactory:
    """Picklable ``() -> _CaptionWorker``: the given pipeline in this process, else one built from the recipe."""

    def __init__(self, pipeline: CaptionPipeline | None, recipe: PipelineRecipe | None, opts: dict, cards: bool):
        self.pipeline, self.recipe, self.opts, self.cards = pipeline, recipe, opts, cards

    def __getstate__(self) -> dict:
        if self.recipe is None:
            raise InvalidInputError("a remote engine needs a PipelineRecipe (it builds the pipeline in each worker)")
        return {**self.__dict__, "pipeline": None}

    def __call__(self) -> _CaptionWorker:
        return _CaptionWorker(self.pipeline if self.pipeline is not None else self.recipe(), self.opts, self.cards)


def _report_skip(on_skip: Callable[[str, str], None], path: str, error: str) -> None:
    """Call ``on_skip`` with the progress bar cleared and redrawn after it: a skip line printed while the bar is on
    screen would otherwise be glued to the bar and drawn again with every refresh."""
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        on_skip(path, error)


class CaptionBatch:
    """Runs a :class:`CaptionPipeline` over many photos (see the module docstring).

    ``pipeline``: a pipeline (captions in this process) or a :class:`PipelineRecipe`; ``recipe``: how a remote
    worker builds the same pipeline (the Ray engine needs one; it is built once per actor). ``engine``: a
    :mod:`fashionrag.engines` engine (default: local).
    """

    def __init__(self, pipeline: CaptionPipeline | PipelineRecipe, engine: Engine | None = None,
                 recipe: PipelineRecipe | None = None):
        self.recipe = pipeline if isinstance(pipeline, PipelineRecipe) else recipe
        self._pipeline = None if isinstance(pipeline, PipelineRecipe) else pipeline
        self.engine = engine

    @property
    def pipeline(self) -> CaptionPipeline:
        if self._pipeline is None:
            self._pipeline = self.recipe()  # type: ignore[misc]
        return self._pipeline

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
        batch_size: int = 8,
    ) -> CaptionBatchReport:
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
        engine = self.engine or engines.create("local")
        if engine.remote and self.recipe is not None and is_lite_spec(self.recipe.index):
            raise InvalidInputError(
                f"a Milvus Lite file ({self.recipe.index}) opens in one process at a time, and {engine.name} workers "
                "are other processes: serve it with `milvus-lite server --data-dir DIR --host 127.0.0.1 --port "
                "19530` and use --store milvus://127.0.0.1:19530, or caption with --engine local"
            )
        opts = dict(style=style, seed=seed, platform=platform, n_hashtags=n_hashtags)
        # In this process the worker uses the pipeline it was given; shipped to a Ray actor, it builds its own.
        make_worker = _WorkerFactory(self._pipeline, self.recipe, opts, cards=sheet is not None)
        paths = {str(Path(p).resolve()): p for p in todo}  # absolute: a worker's cwd is not ours
        jobs = [{"key": key, "path": key} for key in paths]
        with out.open("a", encoding="utf-8") as fh:
            for row in engine.run(jobs, make_worker, batch_size=batch_size, progress=progress, desc="captioning",
                                  unit="img"):
                key = row["key"]
                if row["error"]:
                    errors.append(BatchItemError(image=key, error=row["error"]))
                    fh.write(json.dumps({"image": key, "error": row["error"]}) + "\n")
                    fh.flush()
                    if on_skip is not None:
                        _report_skip(on_skip, paths.get(key, key), row["error"])
                    continue
                payload = json.loads(row["data"])
                result = CaptionResult.model_validate(payload["result"])
                fh.write(result.model_dump_json() + "\n")
                fh.flush()
                previous[key] = result  # the file's captions so far, in file order (no second read for the sheet)
                written += 1
                if sheet is not None and payload.get("card"):
                    new_cards[key] = payload["card"]
        n_cards = 0
        if sheet is not None:
            cards = []
            for key, result in previous.items():  # every caption in the file, old and new, in file order
                cards.append(new_cards.get(key) or card(key, result))
            write_sheet(sheet, cards)
            n_cards = len(cards)
        return CaptionBatchReport(out=str(out), images=len(images), already_done=len(images) - len(todo),
                                  written=written, errors=errors, sheet=str(sheet) if sheet is not None else None,
                                  sheet_cards=n_cards, seconds=round(time.perf_counter() - t0, 3))
