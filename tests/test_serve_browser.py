"""The web page in a real headless Chromium (Debian's `chromium`, driven by Playwright through executable_path):
search and see result cards, upload a photo and see its caption, hashtags, outlines and similar products.
Screenshots at laptop and phone width are saved as test artifacts (FASHIONRAG_ARTIFACTS, default out/test-artifacts)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from test_serve_support import ServerProcess, small_index, val_photo  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("FASHIONRAG_ARTIFACTS", ROOT / "out" / "test-artifacts"))


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists()), None)


CHROMIUM = chromium_path()
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`apt-get install -y "
                                "chromium`; .ci/run installs it)")

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(small_index):
    srv = ServerProcess(small_index, "--workers", "2", "--quiet", edit_profile="lite").wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture()
def page_factory(browser, server):
    pages = []

    def make(viewport=LAPTOP):
        ctx = browser.new_context(viewport=viewport, device_scale_factor=1)
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = ctx.new_page()
        page.problems = []  # console errors, page errors, failed requests
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url}"))
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        page.wait_for_selector("#status.ok")
        pages.append(ctx)
        return page

    yield make
    for ctx in pages:
        ctx.close()


def _shot(page, name: str, full_page: bool = True) -> Path:
    # lazy images load once scrolled into view: scroll through the page so the full-page picture is complete
    page.evaluate("""async () => { for (let y = 0; y < document.body.scrollHeight; y += 400) {
        window.scrollTo(0, y); await new Promise(r => setTimeout(r, 30)); } window.scrollTo(0, 0); }""")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    return path


def _images_loaded(page, selector: str) -> int:
    page.wait_for_function(f"() => [...document.querySelectorAll('{selector}')].some(i => i.complete && i.naturalWidth > 0)")
    return page.evaluate(f"[...document.querySelectorAll('{selector}')].filter(i => i.complete && i.naturalWidth > 0).length")


def test_type_a_query_and_see_result_cards(page_factory):
    page = page_factory()
    assert "products" in page.inner_text("#status")
    page.select_option("#k", "12")
    page.fill("#q", "blue shirt")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .pcard:not(.loading)")
    cards = page.locator("#results .pcard")
    assert 1 <= cards.count() <= 12
    assert cards.first.locator(".title").inner_text().strip()
    assert _images_loaded(page, "#results .pcard img") >= 1
    assert "results for “blue shirt”" in page.inner_text("#search-meta")
    # a filter runs inside the search: every card then shows the filtered value
    page.select_option("select[data-field=gender]", "Men")
    page.wait_for_function("() => document.querySelector('#search-meta').textContent.includes('gender=Men')")
    subs = page.locator("#results .pcard .sub").all_inner_texts()
    assert subs and all(s.endswith("Men") for s in subs)
    _shot(page, "serve_search_laptop.png")
    assert page.problems == []


def test_a_card_opens_the_product_and_more_like_this_finds_it_first(page_factory):
    page = page_factory()
    page.fill("#q", "black shoes")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .pcard:not(.loading)")
    card = page.locator("#results .pcard").nth(2)
    pid, title = card.get_attribute("data-id"), card.locator(".title").inner_text()
    card.click()
    page.wait_for_selector("#modal:not(.hidden)")
    assert page.inner_text("#modal-title") == title and pid in page.inner_text("#modal-facts")
    page.wait_for_function("() => document.querySelector('#modal-img').naturalWidth > 0")
    _shot(page, "serve_product_laptop.png", full_page=False)  # the overlay covers the viewport
    page.click("#modal-like")  # the product's own photo as the query: it must come back first
    page.wait_for_function("() => document.querySelector('#search-meta').textContent.includes('your photo')")
    assert page.is_hidden("#modal")
    assert page.locator("#results .pcard").first.get_attribute("data-id") == pid
    assert float(page.locator("#results .pcard").first.locator(".score span").last.inner_text()) > 0.99
    page.keyboard.press("Escape")
    assert page.problems == []


def test_upload_a_photo_and_see_caption_hashtags_and_similar_products(page_factory, kagl_dir):
    page = page_factory()
    page.click("#tab-caption")
    with page.expect_response("**/v1/caption") as answer:
        page.set_input_files("#photo", str(val_photo(kagl_dir, "Jeans")))
    api = answer.value.json()
    page.wait_for_selector("#hashtags .tag")
    caption = page.inner_text("#caption-text")
    assert caption == api["caption"] and len(caption) > 20
    tags = page.locator("#hashtags .tag").all_inner_texts()
    assert tags == api["hashtags"] and len(tags) >= 5 and all(t.startswith("#") for t in tags)
    assert page.locator("#garments .garment").count() == len(api["garments"]) >= 1
    # one swatch per measured colour, painted in the measured hex
    colours = [c for g in api["garments"] for c in g["evidence"]["colours"]]
    assert page.locator("#garments .swatch i").count() == len(colours)
    if colours:
        shown = page.evaluate("getComputedStyle(document.querySelector('#garments .swatch i')).backgroundColor")
        r, g, b = (int(colours[0]["hex"][i:i + 2], 16) for i in (1, 3, 5))
        assert shown == f"rgb({r}, {g}, {b})"
    assert _images_loaded(page, "#garments .mini img") >= 1
    # the garment outlines are drawn on the canvas over the photo
    painted = page.evaluate("""() => { const c = document.querySelector('#outline');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] === 255) n++; return n; }""")
    assert painted > 200
    page.click("#copy-tags")
    page.wait_for_function("() => document.querySelector('#copy-tags').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == " ".join(tags)
    _shot(page, "serve_caption_laptop.png")
    assert page.problems == []


def test_phone_width_has_no_horizontal_scroll(page_factory, kagl_dir):
    page = page_factory(PHONE)
    page.fill("#q", "shoes")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .pcard:not(.loading)")
    _images_loaded(page, "#results .pcard img")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide on a {PHONE['width']}px phone"
    columns = page.evaluate("getComputedStyle(document.querySelector('#results')).gridTemplateColumns.split(' ').length")
    assert columns == 2
    _shot(page, "serve_search_phone.png")
    page.click("#tab-caption")
    page.set_input_files("#photo", str(val_photo(kagl_dir, "Jeans")))
    page.wait_for_selector("#hashtags .tag")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(page, "serve_caption_phone.png")
    assert page.problems == []


def test_errors_show_as_a_message_not_a_broken_page(page_factory, tmp_path):
    page = page_factory()
    page.click("#tab-caption")
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"these are my notes, not a photo\n" * 10)
    page.set_input_files("#photo", str(fake))
    page.wait_for_selector("#toast.error")
    assert "not an image" in page.inner_text("#toast")
    problems = [p for p in page.problems if "415" not in p]  # the browser logs the refused upload itself
    assert problems == []


def test_edit_tab_shows_before_and_after(page_factory, kagl_dir):
    page = page_factory()
    page.click("#tab-edit")
    assert page.is_hidden("#edit-off") and page.is_enabled("#edit-btn")
    page.set_input_files("#edit-photo", str(val_photo(kagl_dir, "Shirts", person=True)))
    page.fill("#edit-text", "a red shirt")
    with page.expect_response("**/v1/edit") as answer:
        page.click("#edit-btn")
    api = answer.value.json()
    assert answer.value.status == 200, api
    page.wait_for_function("() => document.querySelector('#after').complete && document.querySelector('#after').naturalWidth > 0")
    sizes = page.evaluate("[document.querySelector('#before').naturalWidth, document.querySelector('#after').naturalWidth]")
    assert sizes[0] == sizes[1] > 0
    assert "profile lite" in page.inner_text("#edit-meta")
    assert page.locator("#edit-garments .mini").count() == len(api["retrieved"])
    _shot(page, "serve_edit_laptop.png")
    assert page.problems == []


def test_page_with_an_api_key_asks_for_it_and_then_works(browser, small_index):
    key = "browser-test-key-42"
    srv = ServerProcess(small_index, "--workers", "1", "--quiet", env={"FASHIONRAG_API_KEY": key}).wait_ready()
    ctx = browser.new_context(viewport=LAPTOP)
    try:
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(srv.url + "/")
        page.wait_for_selector("#keybox:not(.hidden)")  # the server said a key is needed
        page.fill("#q", "shoes")
        page.press("#q", "Enter")
        page.wait_for_selector("#toast.error")
        assert "API key" in page.inner_text("#toast")
        page.fill("#apikey", key)
        page.click("#keybox button")
        page.press("#q", "Enter")
        page.wait_for_selector("#results .pcard:not(.loading)")
        # catalog images need the key too: the page fetches them with the header and shows blob: URLs
        assert _images_loaded(page, "#results .pcard img") >= 1
        # (the images arrive in any order: check those that have loaded, not the first card's)
        loaded_srcs = page.evaluate("[...document.querySelectorAll('#results .pcard img')]"
                                    ".filter(i => i.complete && i.naturalWidth > 0).map(i => i.src)")
        assert loaded_srcs and all(src.startswith("blob:") for src in loaded_srcs)
    finally:
        ctx.close()
        srv.stop()
