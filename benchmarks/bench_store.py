"""Benchmark the embedded FAISS store against raw FAISS on the same data, in the same run.

For each catalog size N (random unit vectors, dim 512 by default) it measures, for exact search
(IndexFlatIP) and HNSW (IndexHNSWFlat, inner product, same M / efConstruction / efSearch):

- build time (the store's includes its metadata table and filter columns),
- single-query latency p50 / p99 (store and raw calls interleaved, so CPU noise hits both alike),
- batch throughput (all queries in one call),
- the store's overhead over raw FAISS in %, by wall clock and by CPU time on the store's own index
  (one FAISS thread, best of 3: what the store adds, without a shared machine's noise),
- HNSW recall@10 against exact search, for a sweep of efSearch values,
- a filtered search (one gender of three), whose answers are checked against brute force,
- save and load time of the store.

    python benchmarks/bench_store.py --sizes 10000,100000 --out benchmarks/results/store.json

Queries are random unit vectors by default (``--query-kind perturbed`` uses data points plus noise).
Random 512-d vectors are a hard case for HNSW (all neighbours are almost equally far); real embeddings
are clustered and reach a given recall at a smaller efSearch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fashionrag.stores.faiss_store import FaissStore  # noqa: E402

GENDERS = ("Men", "Women", "Unisex")
TYPES = ("Shirts", "Tshirts", "Jeans", "Dresses", "Watches", "Sarees", "Shoes", "Bags")
COLOURS = ("Black", "White", "Navy Blue", "Red", "Green", "Grey", "Pink", "Brown")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def unit_vectors(rng: np.random.Generator, n: int, dim: int, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - lo), dim), dtype=np.float32)
        out[lo : lo + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def low_rank_vectors(rng: np.random.Generator, basis: np.ndarray, n: int, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors near an r-dimensional subspace: a stand-in for real embeddings, whose intrinsic
    dimension is far below their width (random 512-d vectors are HNSW's worst case)."""
    r, dim = basis.shape
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        x = rng.standard_normal((m, r), dtype=np.float32) @ basis
        x += 0.1 * rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim / r)
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def make_data(rng: np.random.Generator, n: int, args) -> tuple[np.ndarray, object]:
    if args.data == "random":
        return unit_vectors(rng, n, args.dim), None
    basis = np.linalg.qr(rng.standard_normal((args.dim, args.intrinsic_dim)))[0].T.astype(np.float32)
    return low_rank_vectors(rng, basis, n), basis


def make_queries(rng: np.random.Generator, data: np.ndarray, n: int, kind: str, basis=None) -> np.ndarray:
    if kind == "random":
        if basis is not None:  # fresh draws from the same distribution as the data
            return low_rank_vectors(rng, basis, n)
        return unit_vectors(rng, n, data.shape[1])
    # A data point plus noise of the same norm scaled by 0.5: cosine to its source ~0.9.
    src = data[rng.choice(len(data), n, replace=False)]
    noise = unit_vectors(rng, n, data.shape[1])
    q = src + 0.5 * noise
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def metadata(i: int) -> dict:
    return {
        "id": f"p{i}",
        "title": f"Product {i}",
        "gender": GENDERS[i % 3],
        "article_type": TYPES[(i * 7) % len(TYPES)],
        "colour": COLOURS[(i * 13) % len(COLOURS)],
        "attributes": {"year": 2010 + i % 8},
    }


def percentiles(ns: list[int]) -> dict:
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def interleaved_latency(raw_fn, store_fn, queries: np.ndarray, warmup: int = 10) -> tuple[dict, dict]:
    """Time one query at a time, alternating raw and store (order flipped every query)."""
    for i in range(min(warmup, len(queries))):
        raw_fn(queries[i : i + 1])
        store_fn(queries[i : i + 1])
    raw_ns, store_ns = [], []
    for i in range(len(queries)):
        q = queries[i : i + 1]
        pair = ((raw_fn, raw_ns), (store_fn, store_ns))
        for fn, acc in pair if i % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter_ns()
            fn(q)
            acc.append(time.perf_counter_ns() - t0)
    return percentiles(raw_ns), percentiles(store_ns)


def cpu_time_overhead(raw_fn, store_fn, queries: np.ndarray, rounds: int = 3) -> dict:
    """Per-query CPU time of this thread, FAISS on one thread, best of rounds: the store's own cost,
    without the wall-clock noise of a shared machine (raw_fn should search the store's own index)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        best = {"raw": float("inf"), "store": float("inf")}
        for _ in range(rounds):
            for name, fn in (("raw", raw_fn), ("store", store_fn)):
                t0 = time.thread_time()
                for i in range(len(queries)):
                    fn(queries[i : i + 1])
                best[name] = min(best[name], (time.thread_time() - t0) / len(queries) * 1e6)
    finally:
        faiss.omp_set_num_threads(threads)
    return {
        "raw_us": best["raw"], "store_us": best["store"], "overhead_us": best["store"] - best["raw"],
        "overhead_pct": 100.0 * (best["store"] / best["raw"] - 1.0),
    }


def overhead(raw: dict, store: dict) -> dict:
    return {
        f"{key}_pct": 100.0 * (store[f"{key}_ms"] - raw[f"{key}_ms"]) / raw[f"{key}_ms"] for key in ("p50", "mean")
    }


def batch_throughput(raw_fn, store_fn, queries: np.ndarray, rounds: int = 3) -> dict:
    """Queries/s of one call with all queries; raw and store alternate, best round of each (less CPU noise)."""
    best = {"raw": 0.0, "store": 0.0}
    for _ in range(rounds):
        for name, fn in (("raw", raw_fn), ("store", store_fn)):
            t0 = time.perf_counter()
            fn(queries)
            best[name] = max(best[name], len(queries) / (time.perf_counter() - t0))
    best["overhead_pct"] = 100.0 * (best["raw"] / best["store"] - 1.0)
    return best


def recall_at(labels: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a[a >= 0].tolist()) & set(b.tolist())) / k for a, b in zip(labels, truth)]))


def build_store(kind: str, data: np.ndarray, args, batch: int = 50_000) -> tuple[FaissStore, float]:
    store = FaissStore(
        dim=data.shape[1], encoder="bench", index_type=kind, hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction, ef_search=args.ef_search,
    )
    t0 = time.perf_counter()
    for lo in range(0, len(data), batch):
        hi = min(lo + batch, len(data))
        store.upsert([f"p{i}" for i in range(lo, hi)], data[lo:hi], [metadata(i) for i in range(lo, hi)])
    return store, time.perf_counter() - t0


def store_search(store: FaissStore, k: int):
    """The store's search as a user calls it (hits with decoded metadata)."""
    return lambda q: store.search(q, k)


def hits_to_rows(hits, k: int) -> np.ndarray:
    """Data row numbers of the hits (ids are ``p<row>``), padded with -1 to k."""
    return np.array([[int(h.id[1:]) for h in row] + [-1] * (k - len(row)) for row in hits], dtype=np.int64)


def save_load(store: FaissStore, tmp_root: Path) -> dict:
    path = tmp_root / f"store-{store.kind}"
    t0 = time.perf_counter()
    store.save(path, catalog_source="bench")
    t_save = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    t0 = time.perf_counter()
    loaded = FaissStore.load(path)
    t_load = time.perf_counter() - t0
    assert len(loaded) == len(store)
    del loaded
    shutil.rmtree(path, ignore_errors=True)
    return {"save_s": t_save, "load_s": t_load, "disk_mb": size / 2**20}


def bench_size(n: int, args, rng: np.random.Generator, tmp_root: Path, result: dict, checkpoint) -> None:
    """Fill ``result`` for catalog size n, calling ``checkpoint()`` after each phase (long runs keep partials)."""
    k = args.k
    log(f"N={n}: generating data")
    data, basis = make_data(rng, n, args)
    queries = make_queries(rng, data, args.queries, args.query_kind, basis)
    flat_q = queries[: min(len(queries), args.flat_queries)]
    result["n"] = n

    # -- exact ---------------------------------------------------------------------------------
    log(f"N={n}: exact")
    t0 = time.perf_counter()
    raw_flat = faiss.IndexFlatIP(args.dim)
    raw_flat.add(data)
    raw_build = time.perf_counter() - t0
    store, store_build = build_store("flat", data, args)
    _, truth = raw_flat.search(queries, k)
    same = np.array_equal(hits_to_rows(store.search(flat_q, k), k), truth[: len(flat_q)])
    raw_lat, store_lat = interleaved_latency(lambda q: raw_flat.search(q, k), store_search(store, k), flat_q)
    result["flat"] = {
        "build_s": {"raw": raw_build, "store": store_build},
        "latency_queries": len(flat_q),
        "latency": {"raw": raw_lat, "store": store_lat},
        "overhead": overhead(raw_lat, store_lat),
        "batch_qps": batch_throughput(lambda q: raw_flat.search(q, k), store_search(store, k), flat_q),
        "cpu_time_per_query": cpu_time_overhead(
            lambda q: store._index.search(q, k), store_search(store, k), flat_q[: args.cpu_queries]
        ),
        "store_results_equal_raw": bool(same),
        "persistence": save_load(store, tmp_root),
    }
    log(f"N={n}: flat {json.dumps(result['flat'])}")
    checkpoint()
    del store, raw_flat
    gc.collect()

    if "hnsw" not in args.modes:
        return

    # -- HNSW ----------------------------------------------------------------------------------
    log(f"N={n}: HNSW store build (M={args.hnsw_m}, efC={args.ef_construction})")
    store, store_build = build_store("hnsw", data, args)
    raw_build = None
    if args.raw_hnsw == "build":
        log(f"N={n}: HNSW raw build")
        t0 = time.perf_counter()
        raw = faiss.IndexHNSWFlat(args.dim, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        raw.hnsw.efConstruction = args.ef_construction
        raw.add(data)
        raw_build = time.perf_counter() - t0
    else:  # raw FAISS calls on the store's own index: same graph, isolates the store's per-call overhead
        raw = store._index
    hnsw: dict = {
        "params": {"M": args.hnsw_m, "efConstruction": args.ef_construction, "efSearch": args.ef_search},
        "raw_index": "separately built" if args.raw_hnsw == "build" else "the store's own index",
        "build_s": {"raw": raw_build, "store": store_build},
    }
    raw.hnsw.efSearch = store.ef_search = args.ef_search
    raw_lat, store_lat = interleaved_latency(lambda q: raw.search(q, k), store_search(store, k), queries)
    hnsw["latency_queries"] = len(queries)
    hnsw["latency"] = {"raw": raw_lat, "store": store_lat}
    hnsw["overhead"] = overhead(raw_lat, store_lat)
    hnsw["batch_qps"] = batch_throughput(lambda q: raw.search(q, k), store_search(store, k), queries)
    hnsw["cpu_time_per_query"] = cpu_time_overhead(
        lambda q: store._index.search(q, k), store_search(store, k), queries[: args.cpu_queries]
    )

    sweep = []
    for ef in args.ef_sweep:
        raw.hnsw.efSearch = store.ef_search = ef
        t0 = time.perf_counter()
        _, raw_labels = raw.search(queries, k)
        raw_qps = len(queries) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        store_labels = hits_to_rows(store.search(queries, k), k)
        store_qps = len(queries) / (time.perf_counter() - t0)
        lat_q = queries[: args.sweep_latency_queries]
        r_lat, s_lat = interleaved_latency(lambda q: raw.search(q, k), store_search(store, k), lat_q, warmup=3)
        row = {
            "efSearch": ef,
            "recall_at_10": {"raw": recall_at(raw_labels, truth), "store": recall_at(store_labels, truth)},
            "batch_qps": {"raw": raw_qps, "store": store_qps},
            "p50_ms": {"raw": r_lat["p50_ms"], "store": s_lat["p50_ms"]},
        }
        sweep.append(row)
        log(f"N={n}: HNSW sweep {json.dumps(row)}")
        hnsw["ef_sweep"] = sweep
        result["hnsw"] = hnsw
        checkpoint()
    raw.hnsw.efSearch = store.ef_search = args.ef_search

    # Filtered search: one gender in three, answered inside the graph walk; truth by brute force.
    fq = queries[: args.filter_queries]
    allowed = np.flatnonzero(np.arange(n) % 3 == 0)
    scores = fq @ data[allowed].T
    f_truth = allowed[np.argsort(-scores, axis=1)[:, :k]]
    f_ns = []
    f_rows = []
    for i in range(len(fq)):
        t0 = time.perf_counter_ns()
        hits = store.search(fq[i : i + 1], k, filters={"gender": ["Men"]})
        f_ns.append(time.perf_counter_ns() - t0)
        f_rows.append(hits_to_rows(hits, k)[0])
    hnsw["filtered_gender_one_third"] = {
        "queries": len(fq),
        "latency": percentiles(f_ns),
        "recall_at_10_vs_filtered_exact": recall_at(np.array(f_rows), f_truth),
        "all_hits_match_filter": bool(all(r % 3 == 0 for row in f_rows for r in row if r >= 0)),
    }
    hnsw["persistence"] = save_load(store, tmp_root)
    result["hnsw"] = hnsw
    log(f"N={n}: hnsw {json.dumps({k_: v for k_, v in hnsw.items() if k_ != 'ef_sweep'})}")
    del store, raw, data
    gc.collect()
    checkpoint()


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss": faiss.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated catalog sizes")
    p.add_argument("--out", default="benchmarks/results/store.json")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--flat-queries", type=int, default=300, help="single-query latency samples for exact search")
    p.add_argument("--filter-queries", type=int, default=200)
    p.add_argument("--cpu-queries", type=int, default=200, help="queries for the CPU-time overhead measurement")
    p.add_argument("--sweep-latency-queries", type=int, default=200)
    p.add_argument("--query-kind", choices=("random", "perturbed"), default="random")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--data", choices=("random", "lowrank"), default="random",
                   help="random unit vectors, or unit vectors near a random --intrinsic-dim subspace")
    p.add_argument("--intrinsic-dim", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef-search", type=int, default=256)
    p.add_argument("--ef-sweep", default="64,128,256,512,1024")
    p.add_argument("--raw-hnsw", choices=("build", "reuse"), default="build",
                   help="build a separate raw HNSW (default) or time raw FAISS calls on the store's own index")
    p.add_argument("--modes", default="flat,hnsw", help="which index types to run (HNSW at 1M takes long)")
    p.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0 = library default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.ef_sweep = [int(v) for v in args.ef_sweep.split(",") if v]
    args.modes = [m for m in args.modes.split(",") if m]
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    sizes = [int(v) for v in args.sizes.split(",") if v]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "fashionrag FaissStore vs raw FAISS",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "params": {k: v for k, v in vars(args).items() if k != "out"},
        "data": "random unit vectors (standard normal, L2-normalised), float32" if args.data == "random" else
        f"unit vectors near a random {args.intrinsic_dim}-d subspace of R^{args.dim} (x = z B + noise, normalised)",
        "queries": "fresh draws from the data distribution" if args.query_kind == "random"
        else "data points + 0.5 * random unit noise",
        "results": [],
    }
    def checkpoint() -> None:  # partial results survive a long run that is stopped
        report["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tmp_out = out.with_name(out.name + ".tmp")
        tmp_out.write_text(json.dumps(report, indent=2))
        os.replace(tmp_out, out)

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        for n in sizes:
            result: dict = {}
            report["results"].append(result)
            bench_size(n, args, rng, Path(tmp), result, checkpoint)
    report["finished"] = True
    checkpoint()
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
