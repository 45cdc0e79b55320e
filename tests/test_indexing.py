"""Indexing: batched embedding, the content-hash cache, bad images reported and skipped, manifests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders, stores
from fashionrag.retrieval.catalog import load_catalog
from fashionrag.core.errors import FashionRAGError
from fashionrag.retrieval.indexing import EmbeddingCache, Indexer, build_index

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (20, 20, 20), (240, 240, 240)]


class CountingEncoder:
    """Wraps an encoder and counts how many images it embeds (to observe the cache)."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.images_seen = inner, inner.name, inner.dim, 0

    def encode_images(self, images, **kw):
        self.images_seen += len(images)
        return self.inner.encode_images(images, **kw)

    def encode_texts(self, texts, **kw):
        return self.inner.encode_texts(texts, **kw)


@pytest.fixture(scope="module")
def tiny():
    return encoders.create("tiny")


def make_catalog(root, n=6, bad=()):
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["id,image,title,gender,article_type,colour"]
    for i in range(n):
        Image.new("RGB", (32, 32), COLOURS[i % len(COLOURS)]).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i},{'Men' if i % 2 else 'Women'},{'Shirts' if i < 3 else 'Jeans'},C{i}")
    for name, content in bad:
        (root / "images" / name).write_bytes(content)
        rows.append(f"{name.split('.')[0]},{name},Broken,Men,Shirts,Red")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    return load_catalog(root)


def test_build_embeds_every_image_and_saves_manifest(tmp_path, tiny):
    cat = make_catalog(tmp_path / "cat")
    store, report = Indexer(tiny, batch_size=4, cache_path=tmp_path / "c.sqlite", progress=False).build(cat, tmp_path / "idx")
    assert report.indexed == len(store) == 6 and report.embedded == 6 and report.cached == 0
    loaded = stores.open_store(tmp_path / "idx", expect_encoder=tiny.name)
    m = loaded.manifest
    assert (m.encoder, m.dim, m.count) == (tiny.name, tiny.dim, 6)
    assert m.catalog_fingerprint == cat.fingerprint
    # stored vectors are the encoder's own embeddings of the images
    direct = tiny.encode_images([p.image_path for p in cat.products])
    res = loaded.search(direct, k=1)
    assert [r[0].id for r in res] == [p.id for p in cat.products]
    assert all(r[0].score == pytest.approx(1.0, abs=1e-4) for r in res)
    assert loaded.get("3")["article_type"] == "Jeans"


def test_reindex_only_embeds_new_or_changed_images(tmp_path, tiny):
    root = tmp_path / "cat"
    cat = make_catalog(root)
    counting = CountingEncoder(tiny)
    ix = Indexer(counting, cache_path=tmp_path / "c.sqlite", progress=False)
    ix.build(cat, tmp_path / "idx")
    assert counting.images_seen == 6
    # change one image, add one product
    Image.new("RGB", (32, 32), (1, 2, 3)).save(root / "images" / "2.jpg")
    Image.new("RGB", (32, 32), (90, 60, 30)).save(root / "images" / "6.jpg")
    with open(root / "catalog.csv", "a") as fh:
        fh.write("6,6.jpg,Product 6,Men,Jeans,C6\n")
    counting.images_seen = 0
    _, report = ix.build(load_catalog(root), tmp_path / "idx")
    assert counting.images_seen == 2
    assert (report.embedded, report.cached, report.indexed) == (2, 5, 7)


def test_bad_images_reported_and_skipped(tmp_path, tiny):
    jpeg = (tmp_path / "ok.jpg")
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(jpeg)
    bad = [("truncated.jpg", jpeg.read_bytes()[:300]), ("text.jpg", b"hello, I am text")]
    cat = make_catalog(tmp_path / "cat", bad=bad)
    store, report = Indexer(tiny, use_cache=False, progress=False).build(cat, None)
    assert len(store) == 6
    reasons = {s.item_id: s.reason for s in report.skipped}
    sources = {s.item_id: s.source for s in report.skipped}
    assert set(reasons) == {"truncated", "text"}
    assert sources["truncated"].endswith("truncated.jpg") and "truncated.jpg" not in reasons["truncated"]  # once
    assert "corrupt or truncated" in reasons["truncated"] and "not a recognised image" in reasons["text"]


def test_all_images_bad_is_a_clear_error(tmp_path, tiny):
    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.jpg").write_text("nope")
    (root / "catalog.csv").write_text("id,image\na,a.jpg\n")
    with pytest.raises(FashionRAGError, match="no image could be embedded"):
        build_index(load_catalog(root), tiny, use_cache=False, progress=False)


def test_embedding_cache_roundtrip(tmp_path):
    c = EmbeddingCache(tmp_path / "e.sqlite")
    v = np.arange(4, dtype=np.float32)
    c.put_many("enc", [("sha1", v)])
    got = c.get_many("enc", ["sha1", "sha2"], dim=4)
    assert list(got) == ["sha1"] and np.array_equal(got["sha1"], v)
    assert c.get_many("other", ["sha1"], dim=4) == {}
    assert c.get_many("enc", ["sha1"], dim=8) == {}  # a dim change never returns a wrong-size vector
