"""Search API and the `fashionrag index|search` commands, end to end on the tiny encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from fashionrag import encoders, stores
from fashionrag.retrieval.catalog import load_catalog
from fashionrag.cli import main
from fashionrag.core.errors import IndexCorruptError, IndexMismatchError, InvalidInputError
from fashionrag.retrieval.indexing import Indexer
from fashionrag.retrieval.filters import parse_filters
from fashionrag.retrieval.retriever import Retriever

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (20, 20, 20), (240, 240, 240), (120, 60, 10), (9, 99, 199)]


def write_catalog(root, n=8):
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["id,image,title,gender,article_type,colour"]
    for i in range(n):
        Image.new("RGB", (32, 32), COLOURS[i % len(COLOURS)]).save(root / "images" / f"{i}.jpg")
        rows.append(f"{i},{i}.jpg,Product {i},{'Men' if i % 2 else 'Women'},{'Shirts' if i < 4 else 'Jeans'},C{i}")
    (root / "catalog.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def tiny():
    return encoders.create("tiny")


@pytest.fixture()
def built(tmp_path, tiny):
    cat = load_catalog(write_catalog(tmp_path / "cat"))
    store, _ = Indexer(tiny, cache_path=tmp_path / "c.sqlite", progress=False).build(cat, tmp_path / "idx")
    return cat, store, tmp_path / "idx"


def test_text_image_and_combined_queries(built, tiny):
    cat, store, _ = built
    s = Retriever(store, tiny)
    # image query: the product's own image is its nearest neighbour
    res = s.search(image=cat.get("5").image_path, k=3)
    assert res.hits[0].id == "5" and res.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.rank for h in res.hits] == [1, 2, 3]
    # text query ranks by cosine with the text embedding
    t = tiny.encode_texts(["product"])[0]
    expected = sorted(cat.products, key=lambda p: -float(tiny.encode_images([p.image_path])[0] @ t))[0].id
    assert s.search("product", k=1).hits[0].id == expected
    # combined: the weighted sum of both embeddings, renormalised
    q = s.embed_query("product", cat.get("2").image_path, text_weight=0.25)
    manual = 0.25 * t + 0.75 * tiny.encode_images([cat.get("2").image_path])[0]
    assert np.allclose(q, manual / np.linalg.norm(manual), atol=1e-5)
    # weight 0 = pure image query
    assert s.search("anything", image=cat.get("2").image_path, text_weight=0.0, k=1).hits[0].id == "2"


def test_filters_inside_search(built, tiny):
    cat, store, _ = built
    s = Retriever(store, tiny)
    res = s.search(image=cat.get("5").image_path, k=10, filters=["gender=Women", "type=Jeans"])
    assert {h.id for h in res.hits} == {"4", "6"}  # all women's jeans, even though k=10
    assert all(h.product.gender == "Women" and h.product.article_type == "Jeans" for h in res.hits)
    assert parse_filters(["colour=C1,C2"]) == {"colour": ["C1", "C2"]}
    with pytest.raises(InvalidInputError, match="unknown filter field"):
        parse_filters(["shoe_size=9"])
    with pytest.raises(InvalidInputError, match="FIELD=VALUE"):
        parse_filters(["gender"])


def test_query_errors(built, tiny):
    _, store, _ = built
    s = Retriever(store, tiny)
    with pytest.raises(InvalidInputError):
        s.search()
    with pytest.raises(InvalidInputError):
        s.search("x", k=0)
    with pytest.raises(InvalidInputError):
        s.search("x", image=np.zeros((4, 4, 3), dtype=np.uint8), text_weight=1.5)


def test_index_from_another_encoder_is_refused(built):
    _, store, idx = built
    other = encoders.create("tiny-siglip")
    with pytest.raises(IndexMismatchError, match="built with encoder"):
        Retriever(store, other)
    with pytest.raises(IndexMismatchError, match="built with encoder"):
        Retriever.open(idx, encoder="tiny-siglip")


def test_cli_build_search_info(tmp_path, capsys):
    cat = write_catalog(tmp_path / "cat")
    idx = tmp_path / "idx"
    assert main(["index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(idx), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 8 and report["encoder"] == "tiny-clip"
    assert main(["search", "product", "--index", str(idx), "--k", "3", "--filter", "gender=Men", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["hits"]) == 3 and all(h["product"]["gender"] == "Men" for h in res["hits"])
    assert res["encoder"] == "tiny-clip"
    assert main(["search", "--image", str(cat / "images" / "3.jpg"), "--index", str(idx), "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "not meaningful" in out and "Product 3" in out.splitlines()[2]
    assert main(["index", "info", "--index", str(idx), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 8


def test_cli_errors_are_one_line(tmp_path, capsys, built):
    _, _, idx = built
    code = main(["search", "x", "--index", str(tmp_path / "nothing")])
    err = capsys.readouterr().err.strip()
    assert code == IndexCorruptError.exit_code and len(err.splitlines()) == 1 and "index build" in err
    code = main(["search", "x", "--index", str(idx), "--encoder", "tiny-siglip"])
    err = capsys.readouterr().err.strip()
    assert code == IndexMismatchError.exit_code and "tiny-clip" in err and len(err.splitlines()) == 1
    code = main(["index", "build", "--catalog", str(tmp_path / "missing"), "--encoder", "tiny"])
    assert code != 0 and "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.jpg").write_text("text")
    code = main(["search", "--image", str(tmp_path / "bad.jpg"), "--index", str(idx)])
    assert code != 0 and "bad.jpg" in capsys.readouterr().err


def test_killed_index_build_keeps_previous_index(tmp_path, capsys):
    cat = write_catalog(tmp_path / "cat", n=4)
    idx = tmp_path / "idx"
    home = tmp_path / "home"
    env = {**os.environ, "FASHIONRAG_HOME": str(home)}
    assert main(["index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(idx), "--quiet"]) == 0
    capsys.readouterr()
    write_catalog(tmp_path / "cat", n=8)  # the catalog grows; the rebuild is killed while writing its index
    script = textwrap.dedent(f"""
        import os, signal, faiss
        from fashionrag.cli import main
        real = faiss.write_index
        def write_then_die(*a, **k):
            real(*a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        faiss.write_index = write_then_die
        main(["index", "build", "--catalog", {str(cat)!r}, "--encoder", "tiny", "--out", {str(idx)!r}, "--quiet"])
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    store = stores.open_store(idx, expect_encoder="tiny-clip")
    assert len(store) == 4  # the previous version, intact
    assert main(["search", "product", "--index", str(idx), "--k", "10", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 4
    # and a rebuild that is not killed replaces it
    assert main(["index", "build", "--catalog", str(cat), "--encoder", "tiny", "--out", str(idx), "--quiet"]) == 0
    assert len(stores.open_store(idx)) == 8


def test_filters_match_case_insensitively_and_say_which_values_exist(built, tiny, capsys):
    cat, store, idx = built
    s = Retriever(store, tiny)
    res = s.search("product", k=10, filters=["gender=men"])
    assert res.filters == {"gender": ["Men"]}
    assert sorted(h.id for h in res.hits) == ["1", "3", "5", "7"]
    res = s.search("product", k=10, filters=["GENDER=WOMEN", "type=jeans"])
    assert sorted(h.id for h in res.hits) == ["4", "6"] and res.filters == {"gender": ["Women"], "article_type": ["Jeans"]}
    # a value that exists nowhere: no results, and the hint lists what the index holds
    res = s.search("product", k=10, filters=["gender=Kids"])
    assert not res.hits
    assert s.filter_hint(res.filters) == "no product has gender=Kids; gender values in this index: Men, Women"
    # each filter matches on its own, the combination does not
    res = s.search("product", k=10, filters=["colour=c1", "gender=women"])
    assert not res.hits and "no product matches all of them" in s.filter_hint(res.filters)
    assert main(["search", "product", "--index", str(idx), "--filter", "gender=kids"]) == 0
    out, err = capsys.readouterr()
    assert "(no results)" in out
    assert err.strip().splitlines()[-1] == "hint: no product has gender=kids; gender values in this index: Men, Women"
    assert main(["search", "product", "--index", str(idx), "--filter", "gender=men", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 4


def test_build_skip_lines_name_the_row_once(tmp_path, capsys):
    cat = write_catalog(tmp_path / "cat", n=3)
    (cat / "images" / "2.jpg").write_text("not an image")
    lines = [json.dumps({"id": str(i), "image_path": f"{i}.jpg", "title": f"P{i}"}) for i in range(3)]
    (cat / "catalog.jsonl").write_text("\n".join(lines + [json.dumps({"title": "no id"})]) + "\n")
    (cat / "catalog.csv").unlink()
    assert main(["index", "build", "--catalog", str(cat / "catalog.jsonl"), "--encoder", "tiny",
                 "--out", str(tmp_path / "idx"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "id=None" not in err and "None" not in err
    assert "catalog.jsonl row 4 column 'id': missing id" in err
    (bad,) = [line for line in err.splitlines() if "2.jpg" in line]
    assert bad.count("2.jpg") == 1 and "(id 2)" in bad
