"""Scale-out benchmark: batch jobs local vs Ray, and FAISS vs Milvus Lite query latency.

1. **Index build** (the embedding step, real `lite` encoder, KAGL photos): images/s with the local engine (this
   process, all cores) and with Ray Data at 1 and 2 workers (one CPU each). Ray's start-up and the actors' model
   loading are timed apart from the steady-state throughput, because a long job amortises them.
2. **Batch captioning** (the full caption pipeline, template writer, against an index of KAGL train): photos/s,
   the same three ways. Each run checks that its captions equal the local engine's.
3. **Query latency at N vectors** (default 100k, 256-d like `lite`, low-rank like real embeddings): single-query
   p50/p99 for FAISS (exact) and Milvus Lite (FLAT, exact), unfiltered and with filters, and whether the two return
   identical top-10 ids.

    python benchmarks/bench_scale.py --catalog ../shared/datasets/kagl --out benchmarks/results/scale.json

Everything runs on this machine, on loopback; a local Ray is started and stopped here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fashionrag import encoders, engines, stores  # noqa: E402
from fashionrag.engines.base import ResultRow  # noqa: E402
from fashionrag.retrieval.catalog import load_catalog  # noqa: E402
from fashionrag.retrieval.indexing import Indexer  # noqa: E402

GENDERS = ("Men", "Women", "Unisex", "Boys", "Girls")
TYPES = ("Shirts", "Tshirts", "Jeans", "Dresses", "Watches", "Sarees", "Shoes", "Bags", "Kurtas", "Tops")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def subset_catalog(kagl: Path, root: Path, split: str, n: int, skip: int = 0) -> Path:
    with open(kagl / "styles.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split") == split]
    rows = [r for r in rows if (kagl / "images" / f"{r['id']}.jpg").exists()][skip : skip + n]
    out = root / f"{split}-{n}"
    (out / "images").mkdir(parents=True)
    with open(out / "styles.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(r)
            (out / "images" / f"{r['id']}.jpg").symlink_to((kagl / "images" / f"{r['id']}.jpg").resolve())
    return out


class _Noop:
    """A worker factory that loads nothing: times the engine's own per-item overhead."""

    def __call__(self):
        return lambda rows: [ResultRow(key=r["key"], error="", data=b"") for r in rows]


class Timed(engines.Engine):
    """Wraps an engine and records when each result reaches the driver: the span from the first result to the
    last is the steady state (actors up, models loaded), whatever the pool's start-up cost."""

    def __init__(self, inner: engines.Engine):
        self.inner, self.name, self.arrivals = inner, inner.name, []

    def run(self, items, make_worker, **kw):
        self.arrivals = []
        for row in self.inner.run(items, make_worker, **kw):
            self.arrivals.append(time.perf_counter())
            yield row

    def steady_rate(self) -> float | None:
        """Items per second after the first result (None when too few results to tell)."""
        a = self.arrivals
        return (len(a) - 1) / (a[-1] - a[0]) if len(a) > 2 and a[-1] > a[0] else None


def ray_startup(workers: int) -> tuple[engines.Engine, dict]:
    t0 = time.perf_counter()
    engine = engines.create("ray", workers=workers, num_cpus=2)
    engine._ray()  # starts the local Ray
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    list(engine.run([{"key": str(i)} for i in range(workers * 4)], _Noop(), batch_size=2, progress=False))
    return engine, {"ray_init_s": round(started, 2), "empty_job_s": round(time.perf_counter() - t1, 2)}


# -- 1. index build ----------------------------------------------------------------------------------------------


def bench_index(cat_dir: Path, enc, args) -> dict:
    cat = load_catalog(cat_dir)
    n = len(cat)
    out: dict = {"images": n, "batch_size": args.batch_size}
    log(f"index build: local engine, {n} images")
    t0 = time.perf_counter()
    ref_store, rep = Indexer(enc, use_cache=False, progress=False, batch_size=args.batch_size).build(cat, None)
    local_s = time.perf_counter() - t0
    out["local"] = {"seconds": round(local_s, 2), "images_per_s": round(rep.indexed / local_s, 2), "cores": os.cpu_count()}
    for workers in (1, 2):
        engine, startup = ray_startup(workers)
        log(f"index build: ray x{workers}")
        # Every job starts its actor pool (model loading included): the whole job's rate counts that, the steady
        # rate (first result to last, at the driver) is what a long job runs at.
        timed = Timed(engine)
        t0 = time.perf_counter()
        store, rep = Indexer(enc, use_cache=False, progress=False, batch_size=args.batch_size,
                             engine=timed).build(cat, None)
        t_full = time.perf_counter() - t0
        same = all(np.allclose(store.get_vector(i), ref_store.get_vector(i), atol=1e-5) for i in ref_store.ids())
        engine.close()
        steady = timed.steady_rate() or 0.0
        out[f"ray_{workers}"] = {
            **startup, "seconds": round(t_full, 2), "images_per_s": round(rep.indexed / t_full, 2),
            "steady_images_per_s": round(steady, 2), "steady_images_per_s_per_worker": round(steady / workers, 2),
            "vectors_equal_local": bool(same),
        }
    return out


# -- 2. batch captioning -----------------------------------------------------------------------------------------


def bench_caption(index_dir: Path, photos: list[str], tmp: Path, args) -> dict:
    from fashionrag.pipelines.caption_batch import CaptionBatch, PipelineRecipe

    recipe = PipelineRecipe(index=str(index_dir))
    out: dict = {"photos": len(photos), "batch_size": args.caption_batch}
    log(f"captioning: local engine, {len(photos)} photos")
    t0 = time.perf_counter()
    rep = CaptionBatch(recipe)(photos, tmp / "local.jsonl", progress=False, seed=0)
    local_s = time.perf_counter() - t0  # includes building the pipeline once (as the Ray jobs' actors do)
    ref = {json.loads(line)["image"]: line for line in (tmp / "local.jsonl").read_text().splitlines()}
    out["local"] = {"seconds": round(local_s, 2), "photos_per_s": round(rep.written / local_s, 3), "cores": os.cpu_count()}
    for workers in (1, 2):
        engine, startup = ray_startup(workers)
        log(f"captioning: ray x{workers}")
        path = tmp / f"ray{workers}.jsonl"
        timed = Timed(engine)
        t0 = time.perf_counter()
        rep = CaptionBatch(recipe, engine=timed)(photos, path, progress=False, seed=0, batch_size=args.caption_batch)
        t_full = time.perf_counter() - t0
        got = {json.loads(line)["image"]: line for line in path.read_text().splitlines()}
        engine.close()
        steady = timed.steady_rate() or 0.0
        out[f"ray_{workers}"] = {
            **startup, "seconds": round(t_full, 2), "photos_per_s": round(rep.written / t_full, 3),
            "steady_photos_per_s": round(steady, 3), "steady_photos_per_s_per_worker": round(steady / workers, 3),
            "captions_equal_local": got == ref,
        }
    return out


# -- 3. query latency --------------------------------------------------------------------------------------------


def low_rank(rng, n: int, dim: int, rank: int = 48, noise: float = 0.35) -> np.ndarray:
    basis = rng.standard_normal((rank, dim)).astype(np.float32)
    x = rng.standard_normal((n, rank)).astype(np.float32) @ basis / np.sqrt(rank)
    x += noise * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_query(n: int, dim: int, tmp: Path, args) -> dict:
    rng = np.random.default_rng(0)
    data = low_rank(rng, n + args.queries, dim)
    x, q = data[:n], data[n:]
    ids = [f"p{i}" for i in range(n)]
    colours = ("Red", "Blue", "Black", "White", "Green", "Grey", "Pink", "Navy Blue")
    meta = [{"id": ids[i], "gender": GENDERS[i % 5], "article_type": TYPES[(i // 5) % 10],
             "colour": colours[(i // 50) % 8], "attributes": {"year": str(2010 + i % 8)}} for i in range(n)]
    filters = {
        "none": None,
        "gender (1 of 5, 20%)": {"gender": ["Men"]},
        "gender+type (2%)": {"gender": ["Women"], "article_type": ["Dresses"]},
        "gender+type+colour (0.25%)": {"gender": ["Women"], "article_type": ["Dresses"], "colour": ["Red"]},
        # not a Product field: Milvus evaluates it over the tags array (row by row in Milvus Lite), so fewer queries
        "attributes.year (12.5%, tags path)": {"year": ["2012"]},
    }
    out: dict = {"n": n, "dim": dim, "queries": args.queries, "k": 10, "data": "low-rank (48) + noise, unit norm",
                 "index": "exact (FAISS IndexFlatIP; Milvus FLAT/IP)"}
    built = {}
    log(f"query: FAISS build {n}")
    t0 = time.perf_counter()
    fs = stores.create("faiss", dim=dim, encoder="bench", index_type="flat")
    fs.upsert(ids, x, meta)
    built["faiss"] = (fs, time.perf_counter() - t0)
    log(f"query: Milvus Lite build {n}")
    t0 = time.perf_counter()
    ms = stores.create(f"milvus:{tmp / 'bench.db'}", dim=dim, encoder="bench", index_type="flat")
    for lo in range(0, n, 10_000):
        ms.upsert(ids[lo : lo + 10_000], x[lo : lo + 10_000], meta[lo : lo + 10_000])
    ms.save()
    built["milvus_lite"] = (ms, time.perf_counter() - t0)
    out["build_s"] = {k: round(v[1], 1) for k, v in built.items()}
    out["latency_ms"] = {}
    out["identical_top10"] = {}
    for label, flt in filters.items():
        lat = {"faiss": [], "milvus_lite": []}
        same = 0
        nq = min(args.queries, 10) if "tags path" in label else args.queries
        for i in range(nq):  # interleaved, so the shared machine's noise hits both alike
            res = {}
            for name, (store, _) in built.items():
                t0 = time.perf_counter()
                res[name] = store.search(q[i : i + 1], k=10, filters=flt)[0]
                lat[name].append(time.perf_counter() - t0)
            same += [h.id for h in res["faiss"]] == [h.id for h in res["milvus_lite"]]
        out["latency_ms"][label] = {name: {"p50": round(pct(v, 50), 2), "p99": round(pct(v, 99), 2)} for name, v in lat.items()}
        out["identical_top10"][label] = f"{same}/{nq}"
        log(f"  {label}: {out['latency_ms'][label]}")
    ms.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", default="../shared/datasets/kagl")
    ap.add_argument("--index-images", type=int, default=3000)
    ap.add_argument("--index-split", default="train", help="KAGL split the index-build images come from")
    ap.add_argument("--caption-photos", type=int, default=96)
    ap.add_argument("--caption-index", type=int, default=1500, help="train products in the caption index")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--caption-batch", type=int, default=4)
    ap.add_argument("--query-n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: index, caption, query")
    ap.add_argument("--out", default="benchmarks/results/scale.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    kagl = Path(args.catalog)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    result: dict = {
        "benchmark": "fashionrag scale-out: engines (local vs Ray Data) and stores (FAISS vs Milvus Lite)",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "a shared 2-core machine: other work ran beside this benchmark"},
        "params": vars(args),
    }
    try:
        enc = encoders.create("lite")
        def save() -> None:  # after every part: a long run killed late keeps what it measured
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

        if "index" not in skip:
            result["index_build"] = bench_index(subset_catalog(kagl, tmp, args.index_split, args.index_images), enc, args)
            save()
        if "caption" not in skip:
            ref = subset_catalog(kagl, tmp, "train", args.caption_index)
            log(f"caption index: {args.caption_index} train products")
            Indexer(enc, progress=False).build(load_catalog(ref), tmp / "index")
            photos_dir = subset_catalog(kagl, tmp, "val", args.caption_photos)
            photos = sorted(str(p) for p in (photos_dir / "images").glob("*.jpg"))
            result["caption_batch"] = bench_caption(tmp / "index", photos, tmp, args)
            save()
        if "query" not in skip:
            result["query"] = bench_query(args.query_n, args.dim, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
