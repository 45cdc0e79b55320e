"""Catalog loaders: KAGL preset, CSV mapping, JSONL, image folders, and every kind of bad row."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from fashionrag.retrieval.catalog import ColumnMapping, detect_kind, fabric_from_title, load_catalog
from fashionrag.core.errors import CatalogError

FIXTURES = Path(__file__).parent / "fixtures"


def _img(path, colour=(10, 20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return path


def test_kagl_preset_recognised_without_flags(kagl_dir):
    cat = load_catalog(kagl_dir)
    assert cat.kind == "kagl"
    assert len(cat) == 5989 and not cat.issues
    p = cat.get("10008")
    assert p.title == "Nike Men Town Navy Blue T-Shirts"
    assert (p.article_type, p.colour, p.gender, p.category, p.subcategory) == ("Tshirts", "Navy Blue", "Men", "Apparel", "Topwear")
    assert p.split == "train" and p.image_path.endswith("images/10008.jpg")
    assert p.attributes == {"year": "2011"}
    val = load_catalog(kagl_dir, split="val")
    assert len(val) == 889 and {x.split for x in val} == {"val"}


def test_fabric_from_title_keywords():
    assert fabric_from_title("Roadster Men Blue Denim Jacket") == "Denim"
    assert fabric_from_title("Baggit Women Brown Leather Handbag") == "Leather"
    assert fabric_from_title("Woollen scarf") == "Wool"
    assert fabric_from_title("Nike Men Blue Tshirt") is None
    assert fabric_from_title("Silkworm print tee") is None  # whole words only


def test_fabric_filled_only_when_no_column(tmp_path):
    _img(tmp_path / "images" / "1.jpg")
    _img(tmp_path / "images" / "2.jpg")
    (tmp_path / "catalog.csv").write_text(
        "id,image,title,fabric\n1,1.jpg,Blue Denim Jacket,\n2,2.jpg,Red Silk Scarf,Cotton\n"
    )
    cat = load_catalog(tmp_path)
    assert (cat.get("1").fabric, cat.get("1").fabric_source) == ("Denim", "title")
    assert (cat.get("2").fabric, cat.get("2").fabric_source) == ("Cotton", "column")


def test_csv_with_custom_mapping(tmp_path):
    _img(tmp_path / "pics" / "a.png")
    csv_path = tmp_path / "products.csv"
    csv_path.write_text("sku,photo,name,colour_name,extra\nA1,pics/a.png,Linen Shirt,White,x\n")
    cat = load_catalog(csv_path, mapping={"id": "sku", "image_path": "photo", "title": "name", "colour": "colour_name"})
    p = cat.get("A1")
    assert p.colour == "White" and p.fabric == "Linen" and p.attributes == {"extra": "x"}


def test_missing_required_column_names_it(tmp_path):
    (tmp_path / "styles.csv").write_text("id,gender,articleType\n1,Men,Shirts\n")
    (tmp_path / "images").mkdir()
    with pytest.raises(CatalogError, match="productDisplayName"):
        load_catalog(tmp_path)


def test_csv_without_id_or_image_column(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("name,image\nfoo,a.jpg\n")
    with pytest.raises(CatalogError, match="no id column"):
        load_catalog(p)
    p.write_text("id,name\n1,foo\n")
    with pytest.raises(CatalogError, match="no image column"):
        load_catalog(p)


def test_mapping_to_absent_column(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("id,image\n1,a.jpg\n")
    with pytest.raises(CatalogError, match="'colour_col'.*missing"):
        load_catalog(p, mapping={"id": "id", "image_path": "image", "colour": "colour_col"})
    with pytest.raises(CatalogError, match="unknown product field"):
        ColumnMapping(columns={"idd": "id"})


def test_bad_rows_reported_and_skipped(tmp_path):
    _img(tmp_path / "images" / "1.jpg")
    _img(tmp_path / "images" / "2.jpg")
    (tmp_path / "catalog.csv").write_text(
        "id,image,title\n"
        "1,1.jpg,first\n"          # row 1 ok
        "1,2.jpg,duplicate\n"      # row 2 duplicate id
        ",2.jpg,no id\n"           # row 3 missing id
        "3,missing.jpg,gone\n"     # row 4 image not found
        "2,2.jpg,ok,extra\n"       # row 5 too many fields
        "4,2.jpg,second ok\n"      # row 6 ok (same image as another product is fine)
    )
    cat = load_catalog(tmp_path)
    assert [p.id for p in cat] == ["1", "4"]
    by_row = {i.row: i for i in cat.issues}
    assert set(by_row) == {2, 3, 4, 5}
    assert "duplicate id" in by_row[2].reason and by_row[2].item_id == "1"
    assert by_row[3].column == "id"
    assert "not found" in by_row[4].reason and by_row[4].item_id == "3"
    assert "line 6: 4 fields but the header has 3" in by_row[5].reason and by_row[5].item_id == "2"
    assert "row 2" in cat.issues_summary()


def test_empty_catalog_is_an_error(tmp_path):
    (tmp_path / "catalog.csv").write_text("id,image\n")
    with pytest.raises(CatalogError, match="no usable products"):
        load_catalog(tmp_path)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(CatalogError, match="no usable products"):
        load_catalog(empty_dir)


def test_jsonl_catalog(tmp_path):
    _img(tmp_path / "images" / "x.jpg")
    lines = [
        json.dumps({"id": "x", "image_path": "x.jpg", "title": "Velvet Dress", "gender": "Women", "attributes": {"k": 1}}),
        "{not json",
        json.dumps({"id": "x", "image_path": "x.jpg"}),
        json.dumps([1, 2]),
    ]
    (tmp_path / "catalog.jsonl").write_text("\n".join(lines) + "\n")
    cat = load_catalog(tmp_path)
    assert len(cat) == 1 and cat.get("x").fabric == "Velvet" and cat.get("x").attributes == {"k": 1}
    reasons = sorted(i.reason.split(" ")[0] for i in cat.issues)
    assert len(cat.issues) == 3 and {i.row for i in cat.issues} == {2, 3, 4}, reasons


def test_image_folder_catalog(tmp_path):
    _img(tmp_path / "a" / "red_dress.jpg")
    _img(tmp_path / "b.png")
    (tmp_path / "readme.txt").write_text("ignored")
    cat = load_catalog(tmp_path)
    assert cat.kind == "images"
    assert sorted(p.id for p in cat) == ["a/red_dress", "b"]
    assert cat.get("a/red_dress").title == "red dress"
    assert detect_kind(tmp_path) == "images"


def test_fingerprint_changes_with_catalog(tmp_path):
    _img(tmp_path / "images" / "1.jpg")
    csv_path = tmp_path / "catalog.csv"
    csv_path.write_text("id,image,title\n1,1.jpg,one\n")
    f1 = load_catalog(tmp_path).fingerprint
    assert load_catalog(tmp_path).fingerprint == f1
    csv_path.write_text("id,image,title\n1,1.jpg,changed\n")
    assert load_catalog(tmp_path).fingerprint != f1


def test_unsupported_path(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
    bad = tmp_path / "cat.xlsx"
    bad.write_text("x")
    with pytest.raises(CatalogError, match="unsupported"):
        load_catalog(bad)


# --- real catalogs in their original form (issue 9, items 1 and 2) ------------------------------------------------
def kagl_copy(tmp_path, form: str) -> Path:
    """A KAGL-layout folder from a text fixture, with generated images (never real catalog photos)."""
    root = tmp_path / form
    (root / "images").mkdir(parents=True)
    shutil.copy(FIXTURES / form / "styles.csv", root / "styles.csv")
    for i, line in enumerate((root / "styles.csv").read_text().splitlines()[1:]):
        Image.new("RGB", (40, 40), ((40 * i) % 256, 90, 200)).save(root / "images" / f"{line.split(',')[0]}.jpg")
    return root


def test_original_kaggle_form_loads_without_split_column(tmp_path):
    cat = load_catalog(kagl_copy(tmp_path, "kagl_original"))
    assert cat.kind == "kagl" and len(cat) == 9 and not cat.has_splits
    assert {p.split for p in cat} == {None}
    assert cat.get("15970").title == "Turtle Check Men Navy Blue Shirt" and cat.get("15970").article_type == "Shirts"
    # the row whose title holds an unquoted comma: reported with its line number and skipped, never dropped silently
    (issue,) = cat.issues
    assert issue.item_id == "12369" and "line 9" in issue.reason and "11 fields" in issue.reason
    assert cat.get("12369") is None
    assert "line 9" in cat.issues_summary()
    with pytest.raises(CatalogError, match="no split column"):
        load_catalog(tmp_path / "kagl_original", split="train")


def test_developer_kaggle_form_keeps_its_splits(tmp_path):
    cat = load_catalog(kagl_copy(tmp_path, "kagl_developer"))
    assert len(cat) == 9 and not cat.issues and cat.has_splits
    assert len(load_catalog(tmp_path / "kagl_developer", split="val")) == 3
    assert cat.get("15970").model_dump(exclude={"split", "image_path"}) == \
        load_catalog(kagl_copy(tmp_path, "kagl_original")).get("15970").model_dump(exclude={"split", "image_path"})


@pytest.mark.parametrize("kind", ["csv", "jsonl", "kagl"])
def test_catalog_not_utf8_is_read_as_cp1252_with_a_warning(tmp_path, caplog, kind):
    _img(tmp_path / "images" / "1.jpg")
    _img(tmp_path / "images" / "2.jpg")
    title = "Caf\u00e9 Cr\u00e8me Shirt"
    if kind == "csv":
        path = tmp_path / "catalog.csv"
        data = f"id,image,title\n1,1.jpg,Plain Shirt\n2,2.jpg,{title}\n".encode("cp1252")
    elif kind == "jsonl":
        path = tmp_path / "catalog.jsonl"
        data = (json.dumps({"id": "1", "image_path": "1.jpg", "title": "Plain Shirt"}) + "\n"
                + '{"id": "2", "image_path": "2.jpg", "title": "' + title + '"}\n').encode("cp1252")
    else:
        path = tmp_path / "styles.csv"
        data = ("id,articleType,productDisplayName\n1,Shirts,Plain Shirt\n2,Shirts," + title + "\n").encode("cp1252")
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        cat = load_catalog(tmp_path)
    assert cat.get("2").title == title
    offset = data.index(b"\xe9")
    (warning,) = cat.warnings
    line = data.count(b"\n", 0, offset) + 1
    assert str(path) in warning and f"offset {offset}, line {line}" in warning and "cp1252" in warning
    assert warning in caplog.text


def test_utf16_with_bom_and_utf8_bom_are_read(tmp_path):
    _img(tmp_path / "images" / "1.jpg")
    for enc in ("utf-16", "utf-8-sig"):
        (tmp_path / "catalog.csv").write_text("id,image,title\n1,1.jpg,Bl\u00e5 Shirt\n", encoding=enc)
        cat = load_catalog(tmp_path)
        assert cat.get("1").title == "Bl\u00e5 Shirt" and not cat.warnings


def test_unterminated_quote_names_the_line_it_opens_on(tmp_path):
    for i in (1, 2, 3):
        _img(tmp_path / "images" / f"{i}.jpg")
    (tmp_path / "catalog.csv").write_text('id,image,title\n1,1.jpg,ok\n2,2.jpg,"Open quote shirt\n3,3.jpg,more\n')
    with pytest.raises(CatalogError, match=r"catalog.csv line 3: a quoted value opens on this line and is never "
                                           r"closed") as err:
        load_catalog(tmp_path)
    assert err.value.exit_code == CatalogError.exit_code == 4


def test_text_after_a_closing_quote_is_one_reported_row(tmp_path):
    for i in (1, 2, 3):
        _img(tmp_path / "images" / f"{i}.jpg")
    (tmp_path / "catalog.csv").write_text('id,image,title\n1,1.jpg,ok\n2,2.jpg,"Quoted" tail\n3,3.jpg,fine\n')
    cat = load_catalog(tmp_path)
    assert [p.id for p in cat] == ["1", "3"]
    (issue,) = cat.issues
    assert issue.row == 2 and "line 3" in issue.reason and "quoting" in issue.reason


def test_jsonl_error_says_where_once(tmp_path):
    _img(tmp_path / "images" / "x.jpg")
    (tmp_path / "catalog.jsonl").write_text(
        json.dumps({"id": "x", "image_path": "x.jpg"}) + '\n{"id": "y", "title": "unterminated}\n')
    (issue,) = load_catalog(tmp_path).issues
    assert issue.reason == "not valid JSON (Unterminated string starting at column 22)"
    assert "at at" not in issue.reason


def test_eval_on_a_catalog_without_splits_takes_every_row(tmp_path, monkeypatch):
    from fashionrag import encoders
    from fashionrag.eval.retrieval import run_retrieval_eval

    monkeypatch.setenv("FASHIONRAG_HOME", str(tmp_path / "home"))
    original = kagl_copy(tmp_path, "kagl_original")
    ref = tmp_path / "ref"
    (ref / "images").mkdir(parents=True)
    rows = ["id,image,title,article_type,colour,gender"]
    for i, (art, colour) in enumerate([("Shirts", "Navy Blue"), ("Jeans", "Blue"), ("Watches", "Silver"),
                                       ("Tshirts", "Grey"), ("Socks", "Navy Blue"), ("Track Pants", "Black")]):
        Image.new("RGB", (40, 40), (30 * i, 200, 60)).save(ref / "images" / f"r{i}.jpg")
        rows.append(f"r{i},r{i}.jpg,Ref {art},{art},{colour},Men")
    (ref / "catalog.csv").write_text("\n".join(rows) + "\n")
    res = run_retrieval_eval(original, ref, encoder=encoders.create("tiny"), k=3, progress=False)
    assert res.gallery_size == 9 and res.reference_size == 6  # all nine loadable rows, one set
    assert res.eval_split is None
