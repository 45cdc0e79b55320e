"""The demo that `make demo` runs: index a catalog, search it by text and by image, write an HTML page.

Indexes the catalog's ``train`` split when it has one, so the image queries (taken from ``val``) are photos the
index has never seen.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel, Field

from .. import encoders
from ..retrieval.catalog import load_catalog
from ..core.errors import ModelUnavailableError
from ..reports.html import Section, Tile, write_page
from ..retrieval.indexing import Indexer
from ..retrieval.retriever import Retriever

log = logging.getLogger(__name__)

TEXT_QUERIES = [
    ("navy blue check shirt for men", {}),
    ("black leather handbag", {}),
    ("red dress", {"gender": ["Women"]}),
    ("white running shoes", {}),
    ("blue denim jeans", {}),
]
IMAGE_QUERY_TYPES = ["Tshirts", "Casual Shoes", "Handbags", "Kurtas"]
CAPTION_TYPES = ["Shirts", "Tshirts", "Jeans", "Kurtas", "Dresses", "Casual Shoes", "Handbags", "Watches"]


class DemoReport(BaseModel):
    encoder: str
    meaningful: bool
    index_dir: str
    indexed: int
    html: str
    queries: list[dict]
    captions_html: str | None = None
    captions: list[dict] = []
    encoder_val_metrics: dict | None = None
    next_commands: list[str] = Field(
        default_factory=list,
        description="Commands to try next on the demo's own index (it lives in OUT/index, not the default location).")


def pick_encoder(name: str | None) -> tuple[encoders.Encoder, bool]:
    """The requested encoder, or the tiny one (flagged as not meaningful) when the default is unavailable."""
    if name:
        enc = encoders.create(name)
        return enc, not enc.name.startswith("tiny")
    try:
        return encoders.create("lite"), True
    except ModelUnavailableError as exc:
        log.warning("lite encoder unavailable (%s); falling back to the tiny random encoder", exc)
        return encoders.create("tiny"), False


def run_demo(catalog_dir: str, out_dir: str = "out", encoder: str | None = None, k: int = 8, quiet: bool = False) -> DemoReport:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    full = load_catalog(catalog_dir)
    has_splits = any(p.split for p in full.products)
    index_cat = full.subset(split="train") if has_splits else full
    query_cat = full.subset(split="val") if has_splits else full
    enc, meaningful = pick_encoder(encoder)
    index_dir = out / "index"
    store, build = Indexer(enc, progress=not quiet).build(index_cat, index_dir)
    searcher = Retriever(store, enc)

    say = (lambda *a: None) if quiet else print
    from ..reports.tables import format_table

    say(f"indexed {build.indexed} products of {index_cat.source} with encoder {enc.name} "
        f"({build.embedded} embedded, {build.cached} cached, {len(build.skipped)} skipped) in {build.seconds:.1f} s")
    if not meaningful:
        say("NOTE: the tiny encoder is random: the rankings below are NOT meaningful.")
    sections, queries = [], []
    for text, flt in TEXT_QUERIES:
        res = searcher.search(text, k=k, filters=flt)
        say(f"\ntext query: {text!r} {flt or ''}\n{format_table(res)}")
        sections.append(Section(
            heading=f'text: "{text}"' + (f"  filters {flt}" if flt else ""),
            tiles=[Tile(h.product.image_path, f"{h.rank}. {h.product.title}", f"{h.score:.3f}") for h in res.hits],
        ))
        queries.append({"text": text, "filters": flt, "hits": [h.id for h in res.hits]})
    for art in IMAGE_QUERY_TYPES:
        q = next((p for p in query_cat.products if p.article_type == art), None)
        if q is None:
            continue
        res = searcher.search(image=q.image_path, k=k)
        say(f"\nimage query: {q.id} ({q.title})\n{format_table(res)}")
        sections.append(Section(
            heading=f"image: {q.title} (id {q.id}, not in the index)",
            query=Tile(q.image_path, "query", q.title),
            tiles=[Tile(h.product.image_path, f"{h.rank}. {h.product.title}", f"{h.score:.3f}") for h in res.hits],
        ))
        queries.append({"image": q.id, "hits": [h.id for h in res.hits]})
    page = write_page(
        out / "search.html",
        f"fashionrag search demo — encoder {enc.name}",
        sections,
        intro="" if meaningful else "The tiny encoder is random: these rankings are not meaningful.",
    )
    say(f"\nwrote {page}")

    captions, cap_page = run_captions(searcher, query_cat, out, say)
    metrics = encoder_val_metrics(enc)
    if metrics:
        say("\nthis encoder's figures from the packaged model card (assets/lite/metrics.json; KAGL val, REF = train): "
            + "  ".join(f"{k} {v}" for k, v in metrics.items()))
    photo = next((r["image_path"] for r in captions if r.get("image_path")), None)
    nxt = [f'fashionrag search "navy check shirt" --index {index_dir}']
    if photo:
        nxt.append(f"fashionrag caption {photo} --index {index_dir}")
    return DemoReport(encoder=enc.name, meaningful=meaningful, index_dir=str(index_dir), indexed=build.indexed,
                      html=str(page), queries=queries, captions_html=cap_page, captions=captions,
                      encoder_val_metrics=metrics, next_commands=nxt)


def run_captions(retriever: Retriever, query_cat, out: Path, say) -> tuple[list[dict], str | None]:
    """Caption a few held-out photos (one per article type) into out/captions.jsonl and out/captions.html."""
    from .. import writers
    from .caption import CaptionPipeline
    from ..reports.sheets import card, write_sheet
    from ..vision.garments import create_detector

    try:
        pipe = CaptionPipeline(create_detector("pose"), retriever, writers.create("template"))
    except ModelUnavailableError as exc:  # the vision models are an optional install
        say(f"\ncaptions skipped: {exc}")
        return [], None
    picks = [p for art in CAPTION_TYPES if (p := next((q for q in query_cat.products if q.article_type == art), None))]
    cards, rows = [], []
    for p in picks:
        result, analysis = pipe.run(p.image_path, style="instagram", name=p.id)
        cards.append(card(p.image_path, result, analysis))
        rows.append({"id": p.id, "title": p.title, "caption": result.caption, "hashtags": result.hashtags,
                     "image_path": _short_path(p.image_path)})
        say(f"\n{p.id} ({p.title})\n  {result.caption or '(no garment found)'}\n  {' '.join(result.hashtags)}")
    (out / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = write_sheet(out / "captions.html", cards, title=f"fashionrag captions — encoder {retriever.encoder.name}")
    say(f"\nwrote {page}")
    return rows, str(page)


def _short_path(path: str | None) -> str | None:
    """The path relative to the working directory when it is below it or a sibling's ('../shared/...')."""
    if not path:
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return rel if rel.count("..") <= 2 else path


def encoder_val_metrics(enc) -> dict | None:
    """The packaged lite model's measured KAGL val metrics (assets/lite/metrics.json, the model card's figures),
    for the demo's summary line — only when ``enc`` *is* that model: the weights fingerprint must match, so a
    user-trained ``lite:<dir>`` model (or a later retrain) is never shown numbers it did not earn."""
    if not enc.name.startswith("lite"):
        return None
    from importlib import resources

    try:
        data = json.loads(resources.files("fashionrag").joinpath("assets/lite/metrics.json").read_text())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None
    if not data.get("encoder_fingerprint") or data["encoder_fingerprint"] != getattr(enc, "fingerprint", None):
        return None
    keys = ("t2i.r1", "t2i.r10", "t2i.mrr", "category_p1", "color_p1", "prompt_articleType_wf1",
            "knn_accuracy.articleType", "knn_accuracy.baseColour", "knn_accuracy.gender", "images_per_s")
    out = {}
    for k in keys:
        v = data
        for part in k.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None:
            out[k] = round(v, 3) if isinstance(v, float) else v
    return out or None
