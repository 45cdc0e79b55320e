"""Each metric function on hand-made cases whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from fashionrag.eval import metrics as M


def test_first_relevant_rank_recall_and_mrr():
    scores = np.array(
        [
            [0.9, 0.1, 0.5],  # order 0, 2, 1 ; relevant {2}    -> rank 2
            [0.2, 0.8, 0.3],  # order 1, 2, 0 ; relevant {1}    -> rank 1
            [0.3, 0.2, 0.1],  # order 0, 1, 2 ; relevant {1, 2} -> rank 2
            [0.5, 0.4, 0.3],  # no relevant item               -> inf
        ]
    )
    relevant = np.array([[0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    ranks = M.first_relevant_rank(scores, relevant)
    assert ranks[:3].tolist() == [2.0, 1.0, 2.0] and math.isinf(ranks[3])
    assert M.recall_at_k(ranks, 1) == pytest.approx(1 / 4)
    assert M.recall_at_k(ranks, 2) == pytest.approx(3 / 4)
    assert M.mean_reciprocal_rank(ranks) == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)


def test_ties_break_by_gallery_order():
    scores = np.array([[0.5, 0.5, 0.5]])
    assert M.first_relevant_rank(scores, np.array([[0, 0, 1]], bool)).tolist() == [3.0]
    assert M.first_relevant_rank(scores, np.array([[1, 0, 0]], bool)).tolist() == [1.0]


def test_precision_at_k():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    relevant = np.array([[1, 0, 1, 1], [1, 1, 0, 0]], dtype=bool)
    # query 0 top-2 = {0, 1} -> 1 relevant; query 1 top-2 = {3, 2} -> 0 relevant
    assert M.precision_at_k(scores, relevant, 1) == pytest.approx((1 + 0) / 2)
    assert M.precision_at_k(scores, relevant, 2) == pytest.approx((0.5 + 0) / 2)
    assert M.precision_at_k(scores, relevant, 4) == pytest.approx((3 / 4 + 2 / 4) / 2)


def test_relevance_by_label():
    rel = M.relevance_by_label(["Shirts", "Black"], ["Shirts", "Tshirts", "Black", "Shirts"])
    assert rel.tolist() == [[True, False, False, True], [False, False, True, False]]


def test_knn_predict_is_the_caption_pipelines_vote():
    from fashionrag.retrieval.votes import weighted_vote

    # one vote for both: eval's kNN prediction is exactly the pipeline's weighted_vote winner (threshold 0)
    cases = [(["a", "a", "b"], [0.2, 0.2, 0.9]), (["x", "y"], [0.5, 0.5]), (["p", "q", None, ""], [0.1, 0.3, 0.9, 0.8]),
             (["a", "b", "b"], [0.9, 0.5, 0.5])]
    for tau in (1.0, 10.0):
        got = M.knn_predict([c[0] for c in cases], [c[1] for c in cases], tau=tau)
        assert got == [weighted_vote(v, s, tau=tau, threshold=0.0).value for v, s in cases]
    # worked by hand, tau = 10: 'b' has exp(9) > 2 exp(2); equal mass -> the nearer neighbour; most weight on
    # neighbours without a value -> unknown (None, counted wrong); two weaker 'b's beat one stronger 'a' when
    # 2 exp(5) > exp(9)? no: exp(9) = 8103 > 2 exp(5) = 297, so 'a'
    assert M.knn_predict([c[0] for c in cases], [c[1] for c in cases], tau=10.0) == ["b", "x", None, "a"]
    # at tau = 1 the two 'b's win: 2 exp(0.5) = 3.30 > exp(0.9) = 2.46
    assert M.knn_predict([cases[3][0]], [cases[3][1]], tau=1.0) == ["b"]
    assert M.knn_predict([[]], [[]], tau=10.0) == [None]


def test_accuracy_and_weighted_f1():
    y_true = ["a", "a", "a", "b"]
    y_pred = ["a", "a", "b", "b"]
    assert M.accuracy(y_true, y_pred) == pytest.approx(0.75)
    # class a: P=1, R=2/3 -> F1=0.8 (support 3); class b: P=0.5, R=1 -> F1=2/3 (support 1)
    assert M.weighted_f1(y_true, y_pred) == pytest.approx((0.8 * 3 + (2 / 3) * 1) / 4)
    assert M.weighted_f1(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert M.weighted_f1(["a", "b"], ["b", "a"]) == pytest.approx(0.0)
    assert M.accuracy(["a"], [None]) == 0.0


def test_weighted_f1_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.choice(list("abcde"), size=200).tolist()
    y_pred = rng.choice(list("abcdf"), size=200).tolist()
    expected = sklearn.f1_score(y_true, y_pred, average="weighted", labels=sorted(set(y_true)), zero_division=0)
    assert M.weighted_f1(y_true, y_pred) == pytest.approx(expected)


def _tiny_catalog_jsonl(root):
    """12 synthetic products (train 8 / val 4) written as a JSONL catalog; every image differs in its bytes."""
    import json

    from PIL import Image

    rows = []
    for i in range(12):
        colour, rgb = (("Red", (200, 30 + i, 30)), ("Blue", (30, 30 + i, 200)))[i % 2]
        kind = ("Shirts", "Caps", "Shirts")[i % 3]
        path = root / f"{i}.png"
        Image.new("RGB", (40, 40), rgb).save(path)
        rows.append(dict(id=str(i), image_path=str(path), title=f"Men {colour} {kind} {i % 4}", article_type=kind,
                         colour=colour, gender="Men", usage="Casual", season="Fall",
                         split="val" if i >= 8 else "train"))
    (root / "catalog.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "catalog.jsonl"


def test_eval_retrieval_equals_the_metrics_on_the_same_embeddings(tmp_path, monkeypatch):
    """The runner (files -> encoder -> store search) gives exactly what the in-memory metrics give on the same
    vectors, with the reference = the other split only."""
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag import encoders
    from fashionrag.eval.retrieval import embedding_metrics, run_retrieval_eval
    from fashionrag.retrieval.catalog import load_catalog

    cat = _tiny_catalog_jsonl(tmp_path)
    res = run_retrieval_eval(cat, cat, encoder="tiny", k=5, progress=False)
    assert res.eval_split == "val" and res.reference_split == ["train"]
    assert res.gallery_size == 4 and res.reference_size == 8 and res.leak_check.dropped == []
    full = load_catalog(cat)
    val, train = full.subset("val").products, full.subset("train").products
    enc = encoders.create("tiny")
    expected = embedding_metrics(enc.encode_images([p.image_path for p in val]), val,
                                 enc.encode_images([p.image_path for p in train]), train,
                                 lambda t: enc.encode_texts(list(t)), k=5)
    assert res.t2i == pytest.approx(expected["t2i"]) and res.t2i_strict == pytest.approx(expected["t2i_strict"])
    assert res.knn_accuracy == pytest.approx(expected["knn_accuracy"])
    for key in ("category_p1", "category_p10", "color_p1", "color_p10", "prompt_articleType_acc",
                "prompt_articleType_wf1"):
        assert getattr(res, key) == pytest.approx(expected[key]), key
    assert res.queries == {"t2i": 4, "t2i_strict": 4, "category": 2, "color": 2, "prompt_labels": 2, "knn": 4}
    assert res.images_per_s > 0
    assert any("not zero-shot" in n for n in res.notes)


def test_eval_retrieval_same_catalog_needs_the_split(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.core.errors import CatalogError
    from fashionrag.eval.retrieval import run_retrieval_eval

    cat = _tiny_catalog_jsonl(tmp_path)
    with pytest.raises(CatalogError, match="no split 'test'"):
        run_retrieval_eval(cat, cat, split="test", encoder="tiny", progress=False)


def test_cli_eval_retrieval_json_has_the_dotted_keys(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    from fashionrag.cli import main

    cat = _tiny_catalog_jsonl(tmp_path)
    rc = main(["eval", "retrieval", "--catalog", str(cat), "--index-catalog", str(cat), "--encoder", "tiny",
               "--k", "3", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    for dotted in ("t2i.r1", "t2i.r10", "t2i.mrr", "category_p1", "color_p1", "prompt_articleType_wf1",
                   "knn_accuracy.articleType", "images_per_s", "gallery_size", "reference_size", "queries.t2i"):
        node = doc
        for part in dotted.split("."):
            node = node[part]
        assert isinstance(node, (int, float))
    assert doc["reference_split"] == ["train"] and doc["eval_split"] == "val"
