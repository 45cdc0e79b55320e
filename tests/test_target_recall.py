"""``target_recall``: the store picks HNSW's search ef for a requested recall@10, measured at build time.

A deliberately poor graph (M=4, efConstruction=8) on a few thousand low-rank vectors makes low ef values miss
neighbours, so the choice is a real one. Every claim is checked against brute force computed here, not by the
code under test.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from fashionrag.core.errors import InvalidInputError
from fashionrag.stores import recall as recall_mod
from fashionrag.stores.faiss_store import FaissStore
from fashionrag.stores.recall import RecallTargetWarning

DIM, RANK, N = 32, 8, 3000
SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256)
TARGET = 0.9


def low_rank(rng: np.random.Generator, n: int, basis: np.ndarray) -> np.ndarray:
    x = rng.standard_normal((n, RANK)) @ basis + 0.05 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


BASIS = np.linalg.qr(np.random.default_rng(0).standard_normal((DIM, RANK)))[0].T
DATA = low_rank(np.random.default_rng(1), N, BASIS)
FRESH = low_rank(np.random.default_rng(2), 300, BASIS)  # new draws: never stored, never seen by the tuning
IDS = [f"p{i}" for i in range(N)]
META = [{"id": i, "gender": ("Men", "Women")[k % 2]} for k, i in enumerate(IDS)]


def poor_store(**kw) -> FaissStore:
    store = FaissStore(DIM, "tiny", index_type="hnsw", hnsw_m=4, ef_construction=8, **kw)
    store.upsert(IDS, DATA, META)
    return store


def independent_recall(store: FaissStore, queries: np.ndarray, ef: int, k: int = 10) -> float:
    """recall@k of the store's search at ``ef`` against numpy brute force (ids are p<row>)."""
    store.ef_search = ef
    truth = np.argsort(-(queries @ DATA.T), axis=1)[:, :k]
    hits = store.search(queries, k)
    return float(np.mean([len({int(h.id[1:]) for h in row} & set(t.tolist())) / k for row, t in zip(hits, truth)]))


@pytest.fixture(scope="module")
def store():
    return poor_store()


def test_poor_graph_makes_the_choice_real(store):
    # the premise: the smallest ef misses neighbours, a large one does not
    assert independent_recall(store, FRESH, 16) < TARGET - 0.1
    assert independent_recall(store, FRESH, 256) > 0.97


def test_chosen_ef_is_the_smallest_on_the_sweep_that_meets_the_target(store):
    tuning = store.tune_ef(TARGET, queries=FRESH, sweep=SWEEP)
    chosen = tuning.ef_search
    assert tuning.reached and chosen > SWEEP[0] and store.ef_search == chosen
    recall = independent_recall(store, FRESH, chosen)
    assert recall >= TARGET
    assert tuning.recall == pytest.approx(recall, abs=3e-3)
    for ef in SWEEP[: SWEEP.index(chosen)]:
        assert independent_recall(store, FRESH, ef) < TARGET, ef
    assert [ef for ef, _ in tuning.sweep] == list(SWEEP[: SWEEP.index(chosen) + 1])


def test_build_time_self_queries_generalise_to_fresh_queries(store):
    # default: perturbed stored vectors with their source left out — not the stored vectors themselves
    tuning = store.tune_ef(TARGET, sweep=SWEEP)
    assert tuning.reached and tuning.queries == 500 and "left out" in tuning.query_source
    assert tuning.ef_search > SWEEP[0]
    assert independent_recall(store, FRESH, tuning.ef_search) >= TARGET - 0.03


def test_perturbed_queries_sit_at_the_nearest_neighbour_distance():
    rng = np.random.default_rng(3)
    q = recall_mod.perturbed_queries(DATA[:400], 0.8, rng)
    cos = np.sum(q * DATA[:400], axis=1)
    assert abs(float(np.median(cos)) - 0.8) < 0.03
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


def test_source_rows_are_left_out_of_both_answers():
    rows = np.array([[5, 1, 2, 3], [7, 8, 9, -1]])
    scores = np.array([[0.9, 0.8, 0.7, 0.6], [0.9, 0.8, 0.7, -np.inf]], dtype=np.float32)
    r, s = recall_mod.drop_rows(rows, scores, np.array([5, 8]), 3)
    assert r.tolist() == [[1, 2, 3], [7, 9, -1]]


def test_tuning_is_saved_in_the_manifest_and_reloaded(tmp_path):
    store = poor_store(target_recall=TARGET)
    store.save(tmp_path / "idx")  # tunes: HNSW with a target and no tuning yet
    m = FaissStore.read_manifest(tmp_path / "idx")
    assert m.recall_tuning is not None and m.recall_tuning.target_recall == TARGET and m.recall_tuning.reached
    assert m.hnsw_ef_search == m.recall_tuning.ef_search > 16
    loaded = FaissStore.load(tmp_path / "idx")
    assert loaded.ef_search == m.hnsw_ef_search and loaded.target_recall == TARGET
    assert loaded.recall_tuning == m.recall_tuning
    assert independent_recall(loaded, FRESH, loaded.ef_search) >= TARGET - 0.03
    # a write makes the measurement stale; the next save measures again
    loaded.delete(IDS[:10])
    assert loaded.recall_tuning is None
    loaded.save(tmp_path / "idx")
    again = FaissStore.read_manifest(tmp_path / "idx")
    assert again.recall_tuning is not None and again.count == N - 10


def test_unreachable_target_warns_and_records_what_was_reached(store):
    with pytest.warns(RecallTargetWarning, match="not reached"):
        tuning = store.tune_ef(1.0, queries=FRESH, sweep=(16, 24))
    assert not tuning.reached and tuning.ef_search == 24 == store.ef_search
    assert tuning.recall == pytest.approx(independent_recall(store, FRESH, 24), abs=3e-3) and tuning.recall < 1.0


def test_flat_index_records_exact_recall(tmp_path):
    flat = FaissStore(DIM, "tiny", index_type="flat", target_recall=0.99)
    flat.upsert(IDS, DATA, META)
    flat.save(tmp_path / "f")
    m = FaissStore.read_manifest(tmp_path / "f")
    assert m.recall_tuning.recall == 1.0 and m.recall_tuning.ef_search is None and m.hnsw_ef_search is None


def test_manual_ef_change_drops_the_recorded_recall(store):
    store.tune_ef(TARGET, queries=FRESH, sweep=SWEEP)
    store.ef_search = store.ef_search + 1
    assert store.recall_tuning is None


@pytest.mark.parametrize("bad", [0, -0.5, 1.01, "high", True])
def test_target_must_be_a_recall(bad):
    with pytest.raises(InvalidInputError, match=r"\(0, 1\]"):
        FaissStore(DIM, "tiny", index_type="hnsw", target_recall=bad)


# -- CLI -------------------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashionrag", *args], capture_output=True, text=True, timeout=300)


def _catalog(root: Path, n: int = 12) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    rows = ["id,image,title"]
    for i in range(n):
        Image.new("RGB", (64, 64), (20 * i % 256, 90, 200 - 10 * i)).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i}")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    return root / "catalog.csv"


@pytest.mark.parametrize("args, message", [
    (["--target-recall", "1.5"], "--target-recall must be in (0, 1]"),
    (["--target-recall", "0"], "--target-recall must be in (0, 1]"),
    (["--target-recall", "abc"], "--target-recall must be a number"),
    (["--target-recall", "0.9", "--index-type", "flat"], "a flat index is exact"),
])
def test_cli_rejects_bad_target_in_one_line(tmp_path, args, message):
    proc = _cli("index", "build", "--catalog", str(tmp_path / "none.csv"), "--encoder", "tiny",
                "--out", str(tmp_path / "idx"), *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_cli_build_records_the_tuning(tmp_path):
    import json

    cat = _catalog(tmp_path / "cat")
    proc = _cli("index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(tmp_path / "idx"),
                "--index-type", "hnsw", "--target-recall", "0.95", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["recall_tuning"]["target_recall"] == 0.95 and report["recall_tuning"]["reached"]
    info = _cli("index", "info", "--index", str(tmp_path / "idx"), "--json")
    manifest = json.loads(info.stdout)
    assert manifest["recall_tuning"] == report["recall_tuning"]
    assert manifest["hnsw_ef_search"] == report["recall_tuning"]["ef_search"]


# -- Milvus Lite: the same tuning on its own HNSW ------------------------------------------------------------


def test_milvus_lite_hnsw_is_tuned_saved_and_reloaded(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from fashionrag.stores.milvus_store import MilvusStore

    n = 2000
    spec = f"{tmp_path}/m.db"
    store = MilvusStore(spec, dim=DIM, encoder="tiny", index_type="hnsw", hnsw_m=4, ef_construction=8,
                        target_recall=TARGET)
    store.upsert(IDS[:n], DATA[:n], META[:n])
    store.save()
    tuning = store.recall_tuning
    assert tuning is not None and tuning.reached and tuning.queries == 500
    # independent check on fresh queries at the chosen ef, against numpy brute force
    truth = np.argsort(-(FRESH @ DATA[:n].T), axis=1)[:, :10]
    hits = store.search(FRESH, 10)
    recall = np.mean([len({int(h.id[1:]) for h in row} & set(t.tolist())) / 10 for row, t in zip(hits, truth)])
    assert recall >= TARGET - 0.05
    # and a lower ef really is worse on this poor graph (Lite runs a real HNSW, not exact search)
    store.ef_search = 10
    low = store.search(FRESH, 10)
    low_recall = np.mean([len({int(h.id[1:]) for h in row} & set(t.tolist())) / 10 for row, t in zip(low, truth)])
    assert low_recall < recall
    store.ef_search = tuning.ef_search
    store.close()
    loaded = MilvusStore.load(spec)
    assert loaded.manifest.recall_tuning == tuning and loaded.ef_search == tuning.ef_search
    assert loaded.manifest.hnsw_ef_search == tuning.ef_search and loaded.target_recall == TARGET
    loaded.close()


def test_milvus_server_uri_takes_the_same_tuning_path(tmp_path):
    """``milvus://host:port``: a real ``milvus-lite server`` process on 127.0.0.1, started and stopped here."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from fashionrag import stores
    from milvus_support import milvus_lite_server

    with milvus_lite_server(tmp_path) as uri:
        spec = f"{uri}#recall"
        n = 1500
        store = stores.create(spec, dim=DIM, encoder="tiny", index_type="hnsw", hnsw_m=4, ef_construction=8,
                              target_recall=TARGET)
        store.upsert(IDS[:n], DATA[:n], META[:n])
        store.save()
        tuning = store.recall_tuning
        assert tuning is not None and tuning.reached and tuning.recall >= TARGET and tuning.queries == 500
        store.close()
        loaded = stores.open_store(spec)
        assert loaded.manifest.recall_tuning == tuning and loaded.ef_search == tuning.ef_search
        loaded.close()


def test_milvus_scan_sees_every_row_and_exact_truth_is_exact(tmp_path):
    """The exact answers the tuning measures against come from a scan of every stored vector: a scan that skipped
    rows (as a ``pk > last`` + ``limit`` pagination did) would make any ef look good."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from fashionrag.stores.milvus_store import MilvusStore

    n = 3000
    store = MilvusStore(f"{tmp_path}/scan.db", dim=DIM, encoder="tiny", index_type="flat")
    order = np.random.default_rng(5).permutation(n)
    for lo in range(0, n, 1000):  # shuffled keys, several flushed segments
        rows = order[lo : lo + 1000]
        store.upsert([IDS[i] for i in rows], DATA[rows], [META[i] for i in rows])
        store._client.flush(store.collection)
    seen = [r["pk"] for page in store._scan([], page=250) for r in page]
    assert sorted(seen) == sorted(IDS[:n]) and sorted(store.ids()) == sorted(IDS[:n])
    pks, scores = store._exact_top(FRESH[:20], 10)
    want = np.argsort(-(FRESH[:20] @ DATA[:n].T), axis=1)[:, :10]
    assert [[int(p[1:]) for p in row] for row in pks] == want.tolist()
    store.close()


def test_tiny_stores_are_measured_sensibly(tmp_path):
    # one row: nothing to leave out, every search returns it; two rows: the other one is the whole truth
    for n in (1, 2):
        tiny = FaissStore(DIM, "tiny", index_type="hnsw", target_recall=0.95)
        tiny.upsert(IDS[:n], DATA[:n], META[:n])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RecallTargetWarning)
            tiny.save(tmp_path / f"t{n}")
        assert tiny.recall_tuning.reached and tiny.recall_tuning.recall == 1.0
