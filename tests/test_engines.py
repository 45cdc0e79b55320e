"""Batch engines: Ray Data gives the same embeddings and captions as the local engine, loads models once per
actor, reports and skips bad images, resumes, and keeps a local Ray on loopback.

One local Ray (2 CPUs, 2 actors) is started for the whole module: Ray's start-up is the slow part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders, engines
from fashionrag.engines.base import ResultRow

pytest.importorskip("ray")

HERE = Path(__file__).resolve().parent
COLOURS = [(200, 30, 30), (30, 160, 30), (30, 30, 200), (220, 220, 40), (20, 20, 20), (240, 240, 240), (120, 60, 20)]


@pytest.fixture(scope="module")
def ray_engine():
    engine = engines.create("ray", workers=2, num_cpus=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def lite():
    return encoders.create("lite")


def make_catalog(root: Path, n: int = 14, bad: bool = True) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["id,image,title,gender,article_type,colour"]
    for i in range(n):
        base = np.array(COLOURS[i % len(COLOURS)], dtype=np.float32)
        px = np.clip(base + rng.normal(0, 25, (48, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(px).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i},{'Men' if i % 2 else 'Women'},{'Shirts' if i < n // 2 else 'Jeans'},C{i}")
    if bad:
        (root / "images" / "bad.jpg").write_bytes(b"not an image at all")
        rows.append("bad,bad.jpg,Broken,Men,Shirts,Red")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    return root


# -- the engine contract -----------------------------------------------------------------------------------------


class CountingFactory:
    """A worker factory that records every construction (one per actor is the point) in a folder."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self):
        Path(self.folder, f"built-{os.getpid()}-{os.urandom(4).hex()}").touch()
        pid = os.getpid()

        def worker(rows):
            return [ResultRow(key=r["key"], error="odd" if int(r["key"]) % 7 == 0 else "",
                              data=json.dumps({"pid": pid, "sq": int(r["key"]) ** 2}).encode()) for r in rows]

        return worker


@pytest.fixture(scope="module", autouse=True)
def _ship_test_module_by_value():
    from ray import cloudpickle  # Ray's own copy: actors cannot import this test module, so ship it by value

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield


@pytest.mark.parametrize("name", ["local", "ray"])
def test_each_item_once_and_workers_built_once_per_actor(name, ray_engine, tmp_path):
    engine = ray_engine if name == "ray" else engines.create("local")
    items = [{"key": str(i)} for i in range(60)]
    rows = list(engine.run(items, CountingFactory(str(tmp_path)), batch_size=4, progress=False))
    assert sorted(int(r["key"]) for r in rows) == list(range(60))
    assert {r["key"] for r in rows if r["error"]} == {str(i) for i in range(0, 60, 7)}
    assert all(json.loads(r["data"])["sq"] == int(r["key"]) ** 2 for r in rows)
    built = list(tmp_path.glob("built-*"))
    pids = {json.loads(r["data"])["pid"] for r in rows}
    # 15 batches, but models load once per worker: 1 locally, at most the 2 actors on Ray
    assert len(built) == len(pids) and len(built) <= (1 if name == "local" else 2)
    if name == "ray":
        assert os.getpid() not in pids


def test_empty_job_starts_nothing(tmp_path):
    assert list(engines.create("local").run([], CountingFactory(str(tmp_path)))) == []
    assert not list(tmp_path.iterdir())


def test_ray_listens_on_loopback_only(ray_engine):
    ray_engine.workers  # makes sure Ray is up
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("ss not available")
    ray_lines = [ln for ln in out.stdout.splitlines()
                 if any(p in ln for p in ('"raylet"', '"gcs_server"', '"ray::', f"pid={os.getpid()},"))]
    assert ray_lines, out.stdout
    for line in ray_lines:
        local = line.split()[3]
        assert local.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:")), line


# -- batch embedding -------------------------------------------------------------------------------------------


def test_ray_index_build_equals_local_and_resumes(ray_engine, lite, tmp_path):
    """Ray into Milvus Lite vs local into FAISS: same vectors, same skips, same search; a rebuild is all cache hits."""
    pytest.importorskip("milvus_lite")
    from fashionrag import stores
    from fashionrag.retrieval.catalog import load_catalog
    from fashionrag.retrieval.indexing import Indexer
    from fashionrag.retrieval.retriever import Retriever

    cat = load_catalog(make_catalog(tmp_path / "cat"))
    local_store, local_rep = Indexer(lite, use_cache=False, progress=False, batch_size=4).build(cat, None)
    spec, cache = f"milvus:{tmp_path / 'idx.db'}", tmp_path / "cache.sqlite"
    _, ray_rep = Indexer(lite, cache_path=cache, progress=False, batch_size=4, engine=ray_engine).build(cat, spec)
    ray_store = stores.open_store(spec, expect_encoder=lite.name)
    assert sorted(ray_store.ids()) == sorted(local_store.ids()) and len(ray_store) == 14
    for pid in local_store.ids():
        np.testing.assert_allclose(ray_store.get_vector(pid), local_store.get_vector(pid), atol=1e-5)
    assert [(s.item_id, s.reason) for s in ray_rep.skipped] == [(s.item_id, s.reason) for s in local_rep.skipped]
    assert [s.item_id for s in ray_rep.skipped] == ["bad"]
    assert (ray_rep.index_dir, ray_rep.embedded, ray_rep.cached) == (spec, 14, 0)
    assert ray_store.manifest.catalog_fingerprint == cat.fingerprint
    got = Retriever(ray_store, lite).search("red shirt", k=4, filters=["gender=Men"])
    want = Retriever(local_store, lite).search("red shirt", k=4, filters=["gender=Men"])
    assert [h.id for h in got.hits] == [h.id for h in want.hits] and len(got.hits) == 4
    # resume: the vectors of a killed or repeated build come from the cache, nothing is embedded again
    again = Indexer(lite, cache_path=cache, progress=False, batch_size=4, engine=ray_engine).build(cat, tmp_path / "f")[1]
    assert (again.embedded, again.cached, again.indexed) == (0, 14, 14)


# -- batch captioning ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def caption_setup(tmp_path_factory, kagl_dir, lite):
    """A small KAGL index (train rows) and a few val photos to caption."""
    import csv

    from fashionrag.retrieval.catalog import load_catalog
    from fashionrag.retrieval.indexing import Indexer

    root = tmp_path_factory.mktemp("capt")
    with open(kagl_dir / "styles.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    train = [r for r in rows if r.get("split") == "train" and (kagl_dir / "images" / f"{r['id']}.jpg").exists()][:60]
    val = [r for r in rows if r.get("split") == "val" and (kagl_dir / "images" / f"{r['id']}.jpg").exists()][:5]
    cat = root / "ref"
    (cat / "images").mkdir(parents=True)
    with open(cat / "styles.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in train:
            w.writerow(r)
            (cat / "images" / f"{r['id']}.jpg").symlink_to(kagl_dir / "images" / f"{r['id']}.jpg")
    Indexer(lite, use_cache=False, progress=False).build(load_catalog(cat), root / "index")
    photos = root / "photos"
    photos.mkdir()
    for r in val:
        (photos / f"{r['id']}.jpg").symlink_to(kagl_dir / "images" / f"{r['id']}.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def _records(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["image"]] = rec
    return out


def test_ray_captions_equal_local_and_resume(ray_engine, caption_setup, tmp_path):
    from fashionrag.pipelines.caption_batch import CaptionBatch, PipelineRecipe, expand_inputs

    recipe = PipelineRecipe(index=str(caption_setup / "index"))
    images = expand_inputs([str(caption_setup / "photos")])
    local = CaptionBatch(recipe)(images, tmp_path / "local.jsonl", seed=3, progress=False)
    skipped = []
    remote = CaptionBatch(recipe, engine=ray_engine)(images, tmp_path / "ray.jsonl", seed=3, progress=False,
                                                    on_skip=lambda p, m: skipped.append(p), batch_size=2)
    assert (remote.written, len(remote.errors)) == (local.written, len(local.errors)) == (5, 1)
    assert [Path(s).name for s in skipped] == ["broken.jpg"]
    a, b = _records(tmp_path / "local.jsonl"), _records(tmp_path / "ray.jsonl")
    assert a.keys() == b.keys()
    for key in a:  # same caption, hashtags and evidence for the same seed
        assert a[key] == b[key], key
    assert any(rec.get("caption") for rec in b.values())
    # resume: the photos already captioned are not captioned again (an error record is not "done")
    good = [i for i in images if not i.endswith("broken.jpg")]
    again = CaptionBatch(recipe, engine=ray_engine)(good, tmp_path / "ray.jsonl", seed=3, progress=False)
    assert (again.already_done, again.written, len(again.errors)) == (5, 0, 0)
    assert len((tmp_path / "ray.jsonl").read_text().splitlines()) == 6


def test_remote_engine_needs_a_recipe(ray_engine, caption_setup, tmp_path):
    from fashionrag.core.errors import FashionRAGError
    from fashionrag.pipelines.caption_batch import CaptionBatch, PipelineRecipe

    pipe = PipelineRecipe(index=str(caption_setup / "index"))()
    photo = next((caption_setup / "photos").glob("*.jpg"))
    with pytest.raises(FashionRAGError, match="PipelineRecipe"):
        CaptionBatch(pipe, engine=ray_engine)([str(photo)], tmp_path / "x.jsonl", progress=False)


def test_ray_captioning_against_a_milvus_lite_file_is_a_clear_error(ray_engine, tmp_path):
    from fashionrag.core.errors import InvalidInputError
    from fashionrag.pipelines.caption_batch import CaptionBatch, PipelineRecipe

    recipe = PipelineRecipe(index=f"milvus:{tmp_path / 'x.db'}")
    with pytest.raises(InvalidInputError, match="milvus-lite server"):
        CaptionBatch(recipe, engine=ray_engine)([str(tmp_path / "a.jpg")], tmp_path / "c.jsonl", progress=False)


def test_cli_index_build_joins_the_running_ray(ray_engine, caption_setup, tmp_path):
    """`index build --engine ray --ray-address ... --store milvus:...` from a separate process joins this module's
    Ray (the cluster path) and leaves a Milvus index this process opens."""
    import ray

    from fashionrag import stores

    ray_engine.workers
    address = ray.get_runtime_context().gcs_address
    spec = f"milvus:{tmp_path / 'cli.db'}"
    build = [sys.executable, "-m", "fashionrag", "index", "build", "--catalog", str(caption_setup / "ref"),
             "--store", spec, "--engine", "ray", "--ray-address", address, "--workers", "1", "--no-cache", "--json"]
    proc = subprocess.run(build, capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert (report["indexed"], report["embedded"], report["index_dir"]) == (60, 60, spec)
    store = stores.open_store(spec)
    assert (store.manifest.count, store.manifest.encoder) == (60, "lite")
