"""The demo that `make demo` runs: index a catalog, search it by text and by image, write an HTML page.

Indexes the catalog's ``train`` split when it has one, so the image queries (taken from ``val``) are photos the
index has never seen.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from . import encoders
from .catalog import load_catalog
from .core.errors import ModelUnavailableError
from .html import Section, Tile, write_page
from .indexing import Indexer
from .search import Searcher

log = logging.getLogger(__name__)

TEXT_QUERIES = [
    ("navy blue check shirt for men", {}),
    ("black leather handbag", {}),
    ("red dress", {"gender": ["Women"]}),
    ("white running shoes", {}),
    ("blue denim jeans", {}),
]
IMAGE_QUERY_TYPES = ["Tshirts", "Casual Shoes", "Handbags", "Kurtas"]


class DemoReport(BaseModel):
    encoder: str
    meaningful: bool
    index_dir: str
    indexed: int
    html: str
    queries: list[dict]


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
    searcher = Searcher(store, enc)

    say = (lambda *a: None) if quiet else print
    from .cli.search import format_table

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
    return DemoReport(encoder=enc.name, meaningful=meaningful, index_dir=str(index_dir), indexed=build.indexed,
                      html=str(page), queries=queries)
