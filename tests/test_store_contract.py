"""One contract for every vector store: FAISS, Milvus Lite in a file, and a Milvus server by URI.

The Milvus server is a real ``milvus-lite server`` process on 127.0.0.1, started and stopped here. Every
backend must give the *same* exact top-k (ids and scores) as brute force on the same data — hence the same
as each other — under filters, after upserts and deletes, and after a round trip through another process.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from milvus_support import free_port, milvus_lite_server

from fashionrag import stores
from fashionrag.core.errors import IndexCorruptError, IndexMismatchError, InvalidInputError

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

DIM = 16
N = 400
GENDERS = ["Men", "Women", "Unisex"]
TYPES = ["Shirts", "Tshirts", "Jeans", "Dresses"]
_counter = itertools.count()


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def product(i: int) -> dict:
    return {
        "id": f"p{i}",
        "title": f"Item {i}",
        "gender": GENDERS[i % 3],
        "article_type": TYPES[i % 4],
        "colour": None if i % 7 == 0 else ("Blue" if i % 2 else "Navy Blue"),
        "attributes": {"year": 2010 + i % 4},
    }


DATA = unit(np.random.default_rng(0), N)
META = [product(i) for i in range(N)]
IDS = [m["id"] for m in META]
QUERIES = unit(np.random.default_rng(1), 8)


def exact(q: np.ndarray, k: int, rows=None, x: np.ndarray = DATA, ids=IDS) -> list[list[str]]:
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    order = np.argsort(-(q @ x[rows].T), axis=1, kind="stable")[:, :k]
    return [[ids[rows[j]] for j in o] for o in order]


def hit_ids(hits) -> list[list[str]]:
    return [[h.id for h in row] for row in hits]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A `milvus-lite server` process bound to 127.0.0.1 (never 0.0.0.0), stopped after the module."""
    try:
        with milvus_lite_server(tmp_path_factory.mktemp("milvus_server")) as uri:
            yield uri
    except RuntimeError as exc:
        pytest.fail(str(exc))


class Backend:
    """How a test makes, saves and reopens a store of one kind, at a fresh location each time."""

    def __init__(self, kind: str, root: Path, server: str | None = None):
        self.kind, self.root, self.server = kind, root, server

    def spec(self) -> str:
        n = next(_counter)
        if self.kind == "faiss":
            return str(self.root / f"faiss-{n}")
        if self.kind == "milvus-lite":
            return f"milvus:{self.root / f'lite-{n}.db'}"
        return f"{self.server}#contract_{os.getpid()}_{n}"

    def new(self, spec: str, encoder: str = "tiny", **kw):
        kind = "faiss" if self.kind == "faiss" else spec
        return stores.create(kind, dim=DIM, encoder=encoder, index_type=kw.pop("index_type", "flat"), **kw)

    def save(self, store, spec: str, **extra) -> None:
        store.save(spec, **extra)

    def open(self, spec: str, **kw):
        return stores.open_store(spec, **kw)

    def filled(self, spec: str | None = None):
        spec = spec or self.spec()
        store = self.new(spec)
        store.upsert(IDS, DATA, META)
        return store, spec


@pytest.fixture(params=["faiss", "milvus-lite", "milvus-server"])
def backend(request, tmp_path):
    server = request.getfixturevalue("milvus_server") if request.param == "milvus-server" else None
    return Backend(request.param, tmp_path, server)


@pytest.fixture(scope="module")
def filled_stores(tmp_path_factory, milvus_server):
    """One filled store per backend, shared by the read-only tests."""
    root = tmp_path_factory.mktemp("contract")
    out = {}
    for kind in ("faiss", "milvus-lite", "milvus-server"):
        out[kind] = Backend(kind, root, milvus_server).filled()[0]
    return out


KINDS = ["faiss", "milvus-lite", "milvus-server"]


# -- exact search ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_exact_top_k_matches_brute_force(kind, filled_stores):
    store = filled_stores[kind]
    hits = store.search(QUERIES, k=10)
    assert hit_ids(hits) == exact(QUERIES, 10)
    want = np.sort(QUERIES @ DATA.T, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose([[h.score for h in row] for row in hits], want, atol=1e-5)
    assert hits[0][0].metadata == product(int(hits[0][0].id[1:]))
    assert len(store) == N


def test_every_store_returns_identical_ids_and_scores(filled_stores):
    results = {kind: filled_stores[kind].search(QUERIES, k=15, filters={"gender": ["Women"]}) for kind in KINDS}
    ref = results["faiss"]
    for kind in KINDS[1:]:
        assert hit_ids(results[kind]) == hit_ids(ref), kind
        np.testing.assert_allclose([[h.score for h in r] for r in results[kind]],
                                   [[h.score for h in r] for r in ref], atol=1e-5)


@pytest.mark.parametrize(
    "filters, pred",
    [
        ({"gender": ["Men"]}, lambda m: m["gender"] == "Men"),
        ({"gender": ["Men", "Women"], "article_type": ["Jeans"]},
         lambda m: m["gender"] in ("Men", "Women") and m["article_type"] == "Jeans"),
        ({"colour": ["Navy Blue"]}, lambda m: m["colour"] == "Navy Blue"),
        ({"year": ["2011"]}, lambda m: m["attributes"]["year"] == 2011),  # falls back to attributes.year
        ({"attributes.year": [2012, "2013"]}, lambda m: m["attributes"]["year"] in (2012, 2013)),
        ({"id": ["p3", "p5", "nope"]}, lambda m: m["id"] in ("p3", "p5")),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_filters_run_inside_the_search(kind, filters, pred, filled_stores):
    store = filled_stores[kind]
    rows = [i for i, m in enumerate(META) if pred(m)]
    assert hit_ids(store.search(QUERIES, k=12, filters=filters)) == exact(QUERIES, 12, rows)


@pytest.mark.parametrize("kind", KINDS)
def test_filter_edge_cases(kind, filled_stores):
    store = filled_stores[kind]
    assert store.search(QUERIES[:2], k=5, filters={"gender": ["Nobody"]}) == [[], []]
    assert store.search(QUERIES[:1], k=5, filters={"fabric": ["Silk"]}) == [[]]  # a Product field no row has
    with pytest.raises(InvalidInputError, match="unknown filter field 'flavour'"):
        store.search(QUERIES[:1], k=5, filters={"flavour": ["x"]})
    few = store.search(QUERIES[:1], k=50, filters={"id": ["p1", "p2"]})
    assert sorted(h.id for h in few[0]) == ["p1", "p2"]


def test_field_values_agree(filled_stores):
    for kind in KINDS:
        store = filled_stores[kind]
        assert store.field_values("gender") == sorted(GENDERS), kind
        assert store.field_values("colour") == ["Blue", "Navy Blue"], kind
        assert store.field_values("year") == ["2010", "2011", "2012", "2013"], kind
        assert store.field_values("fabric") == [] and store.field_values("flavour") is None, kind


@pytest.mark.parametrize("kind", KINDS)
def test_filter_values_cannot_change_the_expression(kind, filled_stores):
    store = filled_stores[kind]
    for evil in ['Men" or id > 0', 'Men" || pk != "', "Men\\", 'Men\\" or true or "', "Men') or ('1'='1", "Men\nor 1"]:
        assert store.search(QUERIES[:1], k=5, filters={"gender": [evil]}) == [[]], evil
        # next to a real value, the evil one adds nothing
        hits = store.search(QUERIES[:1], k=5, filters={"gender": ["Men", evil]})
        assert all(h.metadata["gender"] == "Men" for h in hits[0]) and len(hits[0]) == 5


@pytest.mark.parametrize("kind", KINDS)
def test_quotes_and_backslashes_in_stored_values_match_exactly(kind, tmp_path, milvus_server):
    b = Backend(kind, tmp_path, milvus_server)
    spec = b.spec()
    store = b.new(spec)
    odd = ['Men" or id > 0', 'back\\slash', "tab\tnew\nline", "plain"]
    x = unit(np.random.default_rng(5), len(odd))
    store.upsert([f"o{i}" for i in range(len(odd))], x, [{"id": f"o{i}", "gender": v} for i, v in enumerate(odd)])
    for i, v in enumerate(odd):
        assert [h.id for h in store.search(x[:1], k=10, filters={"gender": [v]})[0]] == [f"o{i}"]


# -- writes ----------------------------------------------------------------------------------------------------


def test_upsert_replaces_delete_removes(backend):
    store, spec = backend.filled()
    rng = np.random.default_rng(7)
    new = unit(rng, 3)
    store.upsert(["p1", "p2", "extra"], new, [{**product(1), "gender": "Women"}, product(2), {"id": "extra", "gender": "Men"}])
    assert len(store) == N + 1
    assert store.get("p1")["gender"] == "Women"
    assert store.delete(["p3", "p4", "never"]) == 2
    assert store.delete(["p3"]) == 0
    assert len(store) == N - 1
    assert store.get("p3") is None
    x = DATA.copy()
    x[1], x[2] = new[0], new[1]
    ids = IDS + ["extra"]
    x = np.vstack([x, new[2:]])
    alive = [i for i in range(N + 1) if ids[i] not in ("p3", "p4")]
    assert hit_ids(store.search(QUERIES, k=10)) == exact(QUERIES, 10, alive, x=x, ids=ids)
    women = [i for i in alive if (i == 1) or (i < N and i != 1 and META[i]["gender"] == "Women")]
    assert hit_ids(store.search(QUERIES, k=10, filters={"gender": ["Women"]})) == exact(QUERIES, 10, women, x=x, ids=ids)
    assert sorted(store.ids()) == sorted(ids[i] for i in alive)


def test_repeated_id_in_one_batch_last_wins(backend):
    store = backend.new(backend.spec())
    x = unit(np.random.default_rng(3), 2)
    store.upsert(["a", "a"], x, [{"id": "a", "gender": "Men"}, {"id": "a", "gender": "Women"}])
    assert len(store) == 1 and store.get("a")["gender"] == "Women"


def test_invalid_inputs_are_clear(backend):
    store = backend.new(backend.spec())
    with pytest.raises(InvalidInputError, match="norm"):
        store.upsert(["a"], np.ones((1, DIM), np.float32), [{}])
    with pytest.raises(IndexMismatchError, match="dimension 8"):
        store.search(np.ones((1, 8), np.float32) / np.sqrt(8), k=1)
    with pytest.raises(InvalidInputError, match="k must be"):
        store.search(QUERIES[:1], k=0)
    assert store.search(QUERIES[:1], k=3) == [[]]


# -- persistence, manifest, mismatch -----------------------------------------------------------------------------


def test_manifest_travels_with_the_index(backend):
    store, spec = backend.filled()
    backend.save(store, spec, catalog_fingerprint="fp-123", catalog_source="unit")
    again = backend.open(spec)
    m = again.manifest
    assert (m.encoder, m.dim, m.count, m.catalog_fingerprint, m.index_type) == ("tiny", DIM, N, "fp-123", "flat")
    assert hit_ids(again.search(QUERIES, k=10, filters={"gender": ["Men"]})) == \
        exact(QUERIES, 10, [i for i, mm in enumerate(META) if mm["gender"] == "Men"])


def test_another_encoder_is_the_same_mismatch_error(backend):
    store, spec = backend.filled()
    backend.save(store, spec)
    with pytest.raises(IndexMismatchError, match="built with encoder 'tiny', query encoder is 'lite'"):
        backend.open(spec, expect_encoder="lite")
    assert backend.open(spec, expect_encoder="tiny").encoder == "tiny"


def test_missing_index_is_a_clear_error(backend):
    with pytest.raises(IndexCorruptError, match="index build"):
        backend.open(backend.spec())


def test_unsaved_build_leaves_the_published_index_serving(backend):
    store, spec = backend.filled()
    backend.save(store, spec)
    rebuild = backend.new(spec)  # a second build, killed before its save
    rebuild.upsert(["only"], DATA[:1], [{"id": "only"}])
    again = backend.open(spec)
    assert len(again) == N
    assert hit_ids(again.search(QUERIES[:2], k=5)) == exact(QUERIES[:2], 5)
    # a finished rebuild replaces it
    backend.save(rebuild, spec)
    assert backend.open(spec).ids() == ["only"]


def test_persists_across_processes(backend):
    """Another process builds and saves; this one reopens it and sees identical results."""
    spec = backend.spec()
    script = textwrap.dedent(
        f"""
        import numpy as np, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store_contract import DATA, IDS, META, Backend
        b = Backend({backend.kind!r}, None, {backend.server!r})
        store, spec = b.filled({spec!r})
        store.delete(["p0"])
        b.save(store, {spec!r}, catalog_fingerprint="fp-x")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    store = backend.open(spec, expect_encoder="tiny")
    assert store.manifest.catalog_fingerprint == "fp-x" and len(store) == N - 1
    assert hit_ids(store.search(QUERIES, k=10)) == exact(QUERIES, 10, list(range(1, N)))
    # and writes made after reopening persist too
    store.upsert(["p0"], DATA[:1], META[:1])
    backend.save(store, spec)
    assert len(backend.open(spec)) == N


# -- Milvus specifics ------------------------------------------------------------------------------------------


def test_milvus_expression_escapes_values():
    from fashionrag.stores.milvus_store import filter_expression, quote

    assert quote('Men" or id > 0') == '"Men\\" or id > 0"'
    assert quote("a\\") == '"a\\\\"'
    expr = filter_expression({"year": ['Men" or id > 0']}, lambda f: f)
    assert expr == 'array_contains_any(tags, ["year=Men\\" or id > 0"])'
    expr = filter_expression({"gender": ['Men" or id > 0', "Women"], "year": ["2012"]}, lambda f: f, ("gender",))
    assert expr == 'f_gender in ["Men\\" or id > 0", "Women"] and array_contains_any(tags, ["year=2012"])'


def test_store_specs_parse():
    from fashionrag.stores.base import parse_store_spec
    from fashionrag.stores.milvus_store import parse_location

    assert parse_store_spec("faiss") == ("faiss", None)
    assert parse_store_spec("out/index") == ("faiss", "out/index")
    assert parse_store_spec("milvus:./x.db") == ("milvus", "./x.db")
    assert parse_store_spec("milvus://h:19530") == ("milvus", "//h:19530")
    assert parse_store_spec("https://c.example:443#kagl") == ("milvus", "https://c.example:443#kagl")
    assert parse_location("//h:19530#kagl") == ("http://h:19530", "kagl")
    assert parse_location("https://c:443") == ("https://c:443", "fashionrag")
    with pytest.raises(InvalidInputError, match=r"\.db"):
        parse_location("./x.sqlite")
    with pytest.raises(InvalidInputError, match="collection name"):
        parse_location("./x.db#bad-name")


def test_unreachable_server_is_one_clear_error():
    from fashionrag.core.errors import EndpointError

    from fashionrag.stores.milvus_store import MilvusStore

    with pytest.raises(EndpointError, match="cannot reach Milvus"):
        MilvusStore.load(f"//127.0.0.1:{free_port()}", timeout=2)


def test_a_server_that_drops_the_first_connection_is_retried(monkeypatch, milvus_server):
    """A fresh client can fail once while the server drops a connection (CI saw a GOAWAY "too_many_pings" from
    `milvus-lite server` do that): a server URI is tried again before the one-line error; a dead one still errors."""
    import pymilvus

    from fashionrag.core.errors import EndpointError
    from fashionrag.stores import milvus_store

    real, calls = pymilvus.MilvusClient, []

    def flaky(**kw):
        calls.append(kw["uri"])
        if len(calls) == 1:
            raise pymilvus.MilvusException(message="Fail connecting to server on 127.0.0.1, server unavailable")
        return real(**kw)

    monkeypatch.setattr(pymilvus, "MilvusClient", flaky)
    monkeypatch.setattr(milvus_store, "CONNECT_BACKOFF_S", 0.01)
    spec = f"{milvus_server}#retry_{os.getpid()}"
    store = stores.create(spec, dim=DIM, encoder="tiny")
    assert len(calls) == 2
    store.upsert(IDS[:5], DATA[:5], META[:5])
    assert hit_ids(store.search(DATA[:1], k=1)) == [[IDS[0]]]

    def dead(**kw):
        calls.append(kw["uri"])
        raise pymilvus.MilvusException(message="Fail connecting to server")

    monkeypatch.setattr(pymilvus, "MilvusClient", dead)
    calls.clear()
    with pytest.raises(EndpointError, match="cannot reach Milvus"):
        stores.create(spec, dim=DIM, encoder="tiny")
    assert len(calls) == milvus_store.CONNECT_ATTEMPTS


def test_milvus_lite_server_listens_on_loopback_only(milvus_server):
    port = int(milvus_server.rsplit(":", 1)[1])
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("ss not available")
    addrs = [line.split()[3] for line in out.stdout.splitlines() if line.strip()]
    assert addrs and all(a.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for a in addrs), addrs


# -- the faces: the same commands on either store ---------------------------------------------------------------


def test_cli_build_info_search_on_milvus_lite(tmp_path, capsys):
    from PIL import Image

    from fashionrag.cli import main

    (tmp_path / "cat" / "images").mkdir(parents=True)
    rows = ["id,image,title,gender,article_type,colour"]
    for i in range(8):
        Image.new("RGB", (48, 48), (30 * i, 200 - 20 * i, 90)).save(tmp_path / "cat" / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i},{'Men' if i % 2 else 'Women'},Shirts,C{i}")
    (tmp_path / "cat" / "catalog.csv").write_text("\n".join(rows) + "\n")
    spec = f"milvus:{tmp_path / 'cli.db'}#shop"
    faiss_dir = tmp_path / "faiss"

    def run(*argv) -> tuple[int, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        assert code != 1, captured.err  # 1 would be an unexpected error
        return code, captured.out if code == 0 else captured.err

    common = ["--catalog", str(tmp_path / "cat"), "--encoder", "tiny", "--no-cache", "--json"]
    code, out = run("index", "build", *common, "--store", spec)
    assert code == 0 and json.loads(out)["index_dir"] == spec
    assert run("index", "build", *common, "--out", str(faiss_dir))[0] == 0
    code, out = run("index", "info", "--store", spec, "--json")
    assert code == 0 and json.loads(out)["count"] == 8 and json.loads(out)["encoder"].startswith("tiny")
    results = {}
    for where in (["--store", spec], ["--index", str(faiss_dir)]):
        code, out = run("search", "a shirt", *where, "--filter", "gender=Men", "--k", "3", "--json")
        assert code == 0
        results[where[0]] = [h["id"] for h in json.loads(out)["hits"]]
    assert results["--store"] == results["--index"] and len(results["--store"]) == 3
    code, out = run("search", "a shirt", "--store", spec, "--filter", 'gender=Men" or id > 0', "--json")
    assert code == 0 and json.loads(out)["hits"] == []
    assert run("search", "a shirt", "--store", spec, "--encoder", "lite")[0] == 5  # IndexMismatchError
    assert run("search", "a shirt", "--store", spec, "--index", str(faiss_dir))[0] == 2  # one or the other


@pytest.mark.parametrize("kind", ["milvus-lite", "milvus-server"])
def test_milvus_auto_switches_to_hnsw_at_save(kind, tmp_path, milvus_server):
    b = Backend(kind, tmp_path, milvus_server)
    spec = b.spec()
    store = b.new(spec, index_type="auto", auto_hnsw_threshold=100)
    store.upsert(IDS, DATA, META)
    b.save(store, spec)
    again = b.open(spec)
    assert (again.manifest.index_type, again.manifest.hnsw_m, again.manifest.hnsw_ef_search) == ("hnsw", 32, 256)
    got = hit_ids(again.search(QUERIES, k=10))
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, exact(QUERIES, 10))])
    assert recall >= 0.95, recall
    men = [i for i, m in enumerate(META) if m["gender"] == "Men"]
    assert all(h.metadata["gender"] == "Men" for row in again.search(QUERIES, k=10, filters={"gender": ["Men"]})
               for h in row)
    assert len(men) > 10
