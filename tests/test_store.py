"""FaissStore: exactness, HNSW recall, in-search filters, writes, and crash-safe persistence."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fashionrag import stores
from fashionrag.core.errors import IndexCorruptError, IndexMismatchError, InvalidInputError
from fashionrag.stores import versioned_dir
from fashionrag.stores.faiss_store import FaissStore

DIM = 32
GENDERS = ["Men", "Women", "Unisex"]
TYPES = ["Shirts", "Tshirts", "Jeans", "Dresses", "Watches"]


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def product(i: int) -> dict:
    return {
        "id": f"p{i}",
        "title": f"Item {i}",
        "gender": GENDERS[i % 3],
        "article_type": TYPES[i % 5],
        "colour": None if i % 7 == 0 else "Blue",
        "attributes": {"year": 2010 + i % 4},
    }


def make_store(index_type: str, n: int = 2000, seed: int = 0, **kw) -> tuple[FaissStore, np.ndarray, list[dict]]:
    rng = np.random.default_rng(seed)
    x = unit(rng, n)
    meta = [product(i) for i in range(n)]
    store = stores.create("faiss", dim=DIM, encoder="tiny", index_type=index_type, **kw)
    store.upsert([m["id"] for m in meta], x, meta)
    return store, x, meta


def brute_force(x: np.ndarray, q: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[list[int]]:
    rows = np.arange(len(x)) if rows is None else rows
    scores = q @ x[rows].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [rows[o].tolist() for o in order]


def hit_rows(hits) -> list[list[int]]:
    return [[int(h.id[1:]) for h in row] for row in hits]


@pytest.fixture(scope="module")
def flat_store():
    return make_store("flat")


@pytest.fixture(scope="module")
def hnsw_store():
    return make_store("hnsw", n=3000, hnsw_m=16, ef_construction=100, ef_search=64)


# -- search -------------------------------------------------------------------------------------


def test_exact_search_matches_numpy(flat_store):
    store, x, _ = flat_store
    q = unit(np.random.default_rng(1), 20)
    hits = store.search(q, k=10)
    assert hit_rows(hits) == brute_force(x, q, 10)
    expected = np.sort(q @ x.T, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose([[h.score for h in row] for row in hits], expected, rtol=1e-5, atol=1e-5)
    assert hits[0][0].metadata == product(int(hits[0][0].id[1:]))


def test_hnsw_recall_is_high(hnsw_store):
    store, x, _ = hnsw_store
    assert store.kind == "hnsw"
    q = unit(np.random.default_rng(2), 100)
    truth = brute_force(x, q, 10)
    got = hit_rows(store.search(q, k=10))
    recall = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)])
    assert recall >= 0.95


def test_single_vector_query_and_k_larger_than_store(flat_store):
    store, x, _ = flat_store
    hits = store.search(x[5], k=5000)
    assert len(hits) == 1 and len(hits[0]) == len(store) == 2000
    assert hits[0][0].id == "p5"


def test_empty_store_search():
    store = FaissStore(dim=DIM, encoder="tiny")
    q = unit(np.random.default_rng(0), 3)
    assert store.search(q, k=5) == [[], [], []]
    assert store.search(q, k=5, filters={"gender": ["Men"]}) == [[], [], []]
    assert len(store) == 0 and store.ids() == [] and store.get("x") is None


# -- filters ------------------------------------------------------------------------------------


def matching_rows(meta: list[dict], pred) -> np.ndarray:
    return np.array([i for i, m in enumerate(meta) if pred(m)])


@pytest.mark.parametrize("which", ["flat", "hnsw"])
@pytest.mark.parametrize(
    "filters, pred",
    [
        ({"gender": ["Men"]}, lambda m: m["gender"] == "Men"),
        ({"gender": ["Men", "Women"], "article_type": ["Jeans"]},
         lambda m: m["gender"] in ("Men", "Women") and m["article_type"] == "Jeans"),
        ({"attributes.year": ["2011"], "colour": ["Blue"]},
         lambda m: m["attributes"]["year"] == 2011 and m["colour"] == "Blue"),
        ({"year": [2013]}, lambda m: m["attributes"]["year"] == 2013),  # bare key -> attributes, ints as strings
        ({"id": ["p3", "p10", "p999"]}, lambda m: m["id"] in ("p3", "p10", "p999")),  # lazily indexed key
    ],
)
def test_filters_give_exact_top_k_among_matches(which, filters, pred, flat_store, hnsw_store):
    store, x, meta = flat_store if which == "flat" else hnsw_store
    q = unit(np.random.default_rng(3), 10)
    got = hit_rows(store.search(q, k=10, filters=filters))
    # Subsets are below flat_search_cutoff, so even HNSW must answer them exactly.
    assert got == brute_force(x, q, 10, matching_rows(meta, pred))


def test_hnsw_graph_search_under_filter_keeps_recall(hnsw_store):
    store, x, meta = hnsw_store
    store.flat_search_cutoff = 0  # force the filtered graph walk (IDSelector inside HNSW)
    try:
        q = unit(np.random.default_rng(4), 50)
        rows = matching_rows(meta, lambda m: m["gender"] != "Unisex")
        got = hit_rows(store.search(q, k=10, filters={"gender": ["Men", "Women"]}))
    finally:
        store.flat_search_cutoff = 20_000
    assert all(meta[r]["gender"] != "Unisex" for row in got for r in row)
    assert all(len(row) == 10 for row in got)
    truth = brute_force(x, q, 10, rows)
    assert np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)]) >= 0.9


def test_filter_with_fewer_matches_than_k_returns_what_exists(flat_store):
    store, x, _ = flat_store
    hits = store.search(x[:2], k=10, filters={"id": ["p1", "p2", "p3"]})
    assert [sorted(h.id for h in row) for row in hits] == [["p1", "p2", "p3"]] * 2
    assert store.search(x[:1], k=10, filters={"gender": ["Nobody"]}) == [[]]
    assert store.search(x[:1], k=10, filters={"season": ["Summer"]}) == [[]]  # Product field no row has


def test_unknown_filter_field_names_valid_ones(flat_store):
    store, x, _ = flat_store
    with pytest.raises(InvalidInputError, match="unknown filter field 'colour_name'.*article_type.*gender"):
        store.search(x[:1], k=3, filters={"colour_name": ["Blue"]})


# -- writes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_upsert_replaces_and_delete_removes(index_type):
    store, x, meta = make_store(index_type, n=500)
    rng = np.random.default_rng(5)
    new_vec = unit(rng, 1)
    store.upsert(["p7"], new_vec, [{**product(7), "gender": "Unisex", "title": "Replaced"}])
    assert len(store) == 500 and store.n_tombstones == 1
    assert store.get("p7")["title"] == "Replaced"
    np.testing.assert_allclose(store.get_vector("p7"), new_vec[0], atol=1e-6)
    assert store.search(new_vec, k=1)[0][0].id == "p7"
    # The old vector no longer finds p7, and its old gender no longer matches it.
    assert "p7" not in [h.id for h in store.search(x[7], k=5)[0]]
    assert product(7)["gender"] == "Women"
    assert "p7" not in [h.id for h in store.search(new_vec, k=500, filters={"gender": ["Women"]})[0]]
    assert store.search(new_vec, k=1, filters={"gender": ["Unisex"]})[0][0].id == "p7"

    assert store.delete(["p7", "p8", "missing"]) == 2
    assert len(store) == 498 and store.get("p8") is None
    found = {h.id for row in store.search(x[:20], k=500) for h in row}
    assert "p7" not in found and "p8" not in found and len(found) == 498
    assert sorted(store.ids()) == sorted(f"p{i}" for i in range(500) if i not in (7, 8))


def test_repeated_id_in_one_batch_last_wins():
    store = FaissStore(dim=DIM, encoder="tiny")
    v = unit(np.random.default_rng(6), 2)
    store.upsert(["a", "a"], v, [{"n": 1}, {"n": 2}])
    assert len(store) == 1 and store.get("a") == {"n": 2}
    assert store.search(v[1], k=1)[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_auto_switches_to_hnsw_at_threshold():
    store, x, _ = make_store("auto", n=400, auto_hnsw_threshold=300)
    assert store.kind == "hnsw"
    assert store.search(x[3], k=1)[0][0].id == "p3"
    small, _, _ = make_store("auto", n=100, auto_hnsw_threshold=300)
    assert small.kind == "flat"


def test_invalid_inputs():
    store = FaissStore(dim=DIM, encoder="tiny")
    v = unit(np.random.default_rng(7), 2)
    with pytest.raises(IndexMismatchError, match="dimension 16"):
        store.upsert(["a", "b"], v[:, :16], [{}, {}])
    with pytest.raises(IndexMismatchError):
        store.search(np.ones((1, DIM + 1), np.float32))
    bad = v.copy()
    bad[1, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        store.upsert(["a", "b"], bad, [{}, {}])
    with pytest.raises(InvalidInputError, match="norm"):
        store.upsert(["a", "b"], v * 3, [{}, {}])
    with pytest.raises(InvalidInputError, match="2 ids, 2 vectors, 1 metadata"):
        store.upsert(["a", "b"], v, [{}])
    with pytest.raises(InvalidInputError, match="JSON"):
        store.upsert(["a", "b"], v, [{"x": object()}, {}])
    with pytest.raises(InvalidInputError, match="shape"):
        store.search(np.ones((1, 2, DIM), np.float32))
    with pytest.raises(InvalidInputError, match="k must"):
        store.search(v, k=0)
    with pytest.raises(InvalidInputError, match="index_type"):
        FaissStore(dim=DIM, encoder="tiny", index_type="ivf")
    assert len(store) == 0  # nothing half-written by the rejected calls


# -- persistence --------------------------------------------------------------------------------


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_save_load_round_trip(tmp_path, index_type):
    store, x, _ = make_store(index_type, n=600, hnsw_m=16, ef_search=80)
    store.delete(["p1"])
    q = unit(np.random.default_rng(8), 5)
    before = store.search(q, k=7, filters={"gender": ["Men", "Women"]})
    store.save(tmp_path / "idx", catalog_fingerprint="fp123", catalog_source="styles.csv")

    loaded = stores.open_store(tmp_path / "idx", expect_encoder="tiny")
    assert isinstance(loaded, FaissStore) and loaded.kind == index_type
    assert len(loaded) == 599 and loaded.get("p1") is None and loaded.get("p2") == product(2)
    assert loaded.search(q, k=7, filters={"gender": ["Men", "Women"]}) == before
    m = loaded.manifest
    assert (m.encoder, m.dim, m.count, m.index_type) == ("tiny", DIM, 599, index_type)
    assert (m.catalog_fingerprint, m.catalog_source) == ("fp123", "styles.csv")
    if index_type == "hnsw":
        assert (m.hnsw_m, m.hnsw_ef_search, loaded.ef_search) == (16, 80, 80)
    else:
        assert m.hnsw_m is None
    assert set(m.files) >= {"index.faiss", "meta.jsonl", "ids.json"} and m == store.manifest
    # The mirror at the top level says the same thing as the live version's manifest.
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["count"] == 599

    # Writes after a load keep working and a second save replaces the first version.
    loaded.upsert(["new"], x[:1], [{"gender": "Men"}])
    loaded.save(tmp_path / "idx")
    assert len(FaissStore.load(tmp_path / "idx")) == 600
    assert len([p for p in (tmp_path / "idx").iterdir() if p.name.startswith("v-")]) == 1


def test_save_compacts_when_many_tombstones(tmp_path):
    store, x, _ = make_store("flat", n=300)
    store.delete([f"p{i}" for i in range(100)])
    store.save(tmp_path / "idx")
    assert store.n_tombstones == 0 and len(store) == 200
    loaded = FaissStore.load(tmp_path / "idx")
    assert loaded.search(x[150], k=1)[0][0].id == "p150"
    assert loaded.search(x[150], k=1, filters={"gender": [product(150)["gender"]]})[0][0].id == "p150"


def test_empty_store_round_trip(tmp_path):
    FaissStore(dim=8, encoder="tiny").save(tmp_path / "idx")
    loaded = FaissStore.load(tmp_path / "idx")
    assert len(loaded) == 0 and loaded.search(np.ones(8, np.float32) / np.sqrt(8), k=3) == [[]]


def test_wrong_encoder_is_a_mismatch(tmp_path):
    store, _, _ = make_store("flat", n=50)
    store.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="built with encoder 'tiny', query encoder is 'lite'"):
        stores.open_store(tmp_path / "idx", expect_encoder="lite")


def test_missing_index_tells_how_to_rebuild(tmp_path):
    with pytest.raises(IndexCorruptError, match="fashionrag index build"):
        FaissStore.load(tmp_path / "nothing")
    (tmp_path / "half").mkdir()
    with pytest.raises(IndexCorruptError, match="CURRENT"):
        FaissStore.load(tmp_path / "half")


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_corrupt_files_are_detected(tmp_path, damage):
    store, _, _ = make_store("flat", n=50)
    store.save(tmp_path / "idx")
    version = versioned_dir.current_version(tmp_path / "idx")
    if damage == "flip":
        path = version / "index.faiss"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path = version / "meta.jsonl"
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "delete":
        (version / "ids.json").unlink()
    else:
        (version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        FaissStore.load(tmp_path / "idx")


def test_save_failing_halfway_keeps_previous_version(tmp_path, monkeypatch):
    store, x, _ = make_store("flat", n=100)
    store.save(tmp_path / "idx")
    store.upsert(["extra"], x[:1], [{"gender": "Men"}])

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("fashionrag.stores.faiss_store.np.save", boom)
    with pytest.raises(OSError, match="disk full"):
        store.save(tmp_path / "idx")
    monkeypatch.undo()
    assert len(FaissStore.load(tmp_path / "idx")) == 100
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.startswith(".tmp-")]
    store.save(tmp_path / "idx")
    assert len(FaissStore.load(tmp_path / "idx")) == 101


def test_killed_save_keeps_previous_version(tmp_path):
    """A process killed (SIGKILL) after writing every file but before switching CURRENT."""
    idx = tmp_path / "idx"
    store, _, _ = make_store("flat", n=100)
    store.save(idx)
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from fashionrag.stores import versioned_dir
        from fashionrag.stores.faiss_store import FaissStore

        store = FaissStore.load({str(idx)!r})
        store.delete(["p1", "p2"])
        real = versioned_dir._write_replace

        def die(path, data):
            if path.name == versioned_dir.POINTER:
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)

        versioned_dir._write_replace = die
        store.save({str(idx)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    leftovers = [p for p in idx.iterdir() if p.name.startswith("v-")]
    assert len(leftovers) == 2  # the finished-but-unpublished version is there, yet not live
    loaded = FaissStore.load(idx)
    assert len(loaded) == 100 and loaded.get("p1") is not None
    loaded.save(idx)  # the next save cleans up the orphan
    assert len([p for p in idx.iterdir() if p.name.startswith("v-")]) == 1


def test_unknown_manifest_field_rejected(tmp_path):
    store = FaissStore(dim=4, encoder="tiny")
    with pytest.raises(InvalidInputError, match="catalog_fingerprint"):
        store.save(tmp_path / "idx", fingerprint="x")
    assert not Path(tmp_path / "idx").exists()


def test_lazy_filter_column_survives_save_load_and_new_rows(tmp_path):
    store, x, _ = make_store("flat", n=100)
    assert [h.id for h in store.search(x[4], k=5, filters={"title": ["Item 4"]})[0]] == ["p4"]
    store.save(tmp_path / "idx")
    loaded = FaissStore.load(tmp_path / "idx")
    loaded.upsert(["q1"], x[:1], [{"title": "Item 4"}])
    assert sorted(h.id for h in loaded.search(x[4], k=5, filters={"title": ["Item 4"]})[0]) == ["p4", "q1"]


def test_ef_search_reaches_the_faiss_index(hnsw_store):
    store = hnsw_store[0]
    old = store.ef_search
    try:
        store.ef_search = 300
        assert store._index.hnsw.efSearch == 300
    finally:
        store.ef_search = old
