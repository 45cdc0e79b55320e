"""The HTTP API through the ASGI client: every route, every error, auth, limits, the queue and CORS."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from fashionrag.core.errors import InvalidInputError
from fashionrag.serve import ServeSettings, Services, create_app
from fashionrag.serve.settings import is_loopback

from test_serve_support import png_bytes, small_index, val_photo  # noqa: F401 - fixture

KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def services(small_index):
    svc = Services.load(ServeSettings(index_dir=small_index, edit_profile="lite", workers=2, queue=4))
    yield svc
    svc.close()


@pytest.fixture()
def client(services):
    return TestClient(create_app(services.settings, services), raise_server_exceptions=False)


@pytest.fixture()
def keyed(services):
    settings = services.settings.model_copy(update={"api_key": KEY})
    svc = Services(settings, services.retriever, [services._captioners.queue[0]])
    yield TestClient(create_app(settings, svc), raise_server_exceptions=False)
    svc.close()


def _error(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    assert "Traceback" not in r.text and 'File "' not in r.text
    if code:
        assert body["error"] == code
    return body


# ----------------------------------------------------------------------------- health, page, docs
def test_health_names_the_index_and_hides_its_path(client, services, small_index):
    r = client.get("/v1/health")
    assert r.status_code == 200
    h = r.json()
    assert h["count"] == len(services.store) > 0 and h["encoder"] == services.retriever.encoder.name
    assert h["index"] == small_index.name and str(small_index.parent) not in r.text
    assert h["routes"] == {"search": True, "caption": True, "edit": True} and h["edit_profile"] == "lite"
    assert h["auth_required"] is False and h["versions"]["fashionrag"] and h["versions"]["torch"]


def test_page_and_static_files_are_served_without_any_other_origin(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    html = r.text
    assert "http://" not in html and "https://" not in html  # no CDN
    for asset in ("/static/app.js", "/static/app.css"):
        assert asset in html
        a = client.get(asset)
        assert a.status_code == 200 and len(a.content) > 500
        assert "https://" not in a.text and "http://" not in a.text


def test_openapi_lists_every_route(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/caption", "/v1/edit", "/v1/products/{product_id}",
                 "/v1/products/{product_id}/image", "/v1/health", "/v1/metrics"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/v1/search"]["post"]["requestBody"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()  # the machine may be offline
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


# ----------------------------------------------------------------------------- search
def test_search_by_text_with_filters_returns_products_with_image_urls(client):
    r = client.post("/v1/search", json={"text": "blue shirt", "k": 5, "filters": {"gender": ["Men"]},
                                        "parse_query": False})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["k"] == 5 and res["filters"] == {"gender": ["Men"]} and 0 < len(res["hits"]) <= 5
    assert [h["rank"] for h in res["hits"]] == list(range(1, len(res["hits"]) + 1))
    for h in res["hits"]:
        assert h["product"]["gender"] == "Men"
        assert h["product"]["image_url"] == f"/v1/products/{h['id']}/image"
        assert h["product"]["image_path"] is None  # never a server path
    scores = [h["score"] for h in res["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_search_matches_the_retriever(client, services):
    # the service parses the query by default (issue 14): the named colour holds inside the search
    r = client.post("/v1/search", json={"text": "black shoes", "k": 4, "filters": ["subcategory=Shoes"]}).json()
    direct = services.retriever.search("black shoes", k=4, filters=["subcategory=Shoes"], parse_query=True)
    assert [h["id"] for h in r["hits"]] == [h.id for h in direct.hits] and r["hits"]
    assert r["filters"]["subcategory"] == ["Shoes"] and r["parsed_filters"].get("colour") == ["Black"]
    assert all(h["product"]["colour"] == "Black" for h in r["hits"])
    plain = client.post("/v1/search", json={"text": "black shoes", "k": 4, "filters": ["subcategory=Shoes"],
                                            "parse_query": False}).json()
    direct = services.retriever.search("black shoes", k=4, filters=["subcategory=Shoes"])
    assert [h["id"] for h in plain["hits"]] == [h.id for h in direct.hits] and plain["parsed_filters"] == {}


def test_search_by_uploaded_image_as_multipart(client, kagl_dir, services):
    photo = val_photo(kagl_dir, "Tshirts").read_bytes()
    r = client.post("/v1/search", data={"k": "3", "filter": ["subcategory=Topwear"]},
                    files={"image": ("any-name.txt", photo, "text/plain")})  # the content decides, not the name
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["query_image"] == "<upload>" and len(res["hits"]) == 3
    assert all(h["product"]["subcategory"] == "Topwear" for h in res["hits"])
    direct = services.retriever.search(image=Image.open(io.BytesIO(photo)).convert("RGB"), k=3,
                                       filters=["subcategory=Topwear"])
    assert [h["id"] for h in res["hits"]] == [h.id for h in direct.hits]
    both = client.post("/v1/search", data={"text": "red", "text_weight": "0.3"},
                       files={"image": ("p.jpg", photo, "image/jpeg")}).json()
    assert both["text_weight"] == 0.3 and both["query_text"] == "red"


@pytest.mark.parametrize("body, status, code", [
    ({}, 422, "invalid_request"),
    ({"text": "   "}, 422, "invalid_request"),
    ({"text": "shirt", "k": 0}, 422, "invalid_request"),
    ({"text": "shirt", "k": 101}, 422, "invalid_request"),
    ({"text": "shirt", "text_weight": 2}, 422, "invalid_request"),
    ({"text": "shirt", "filters": {"shoe_size": ["42"]}}, 400, "invalid_input"),
    ({"text": "shirt", "filters": ["gender"]}, 400, "invalid_input"),
])
def test_search_rejects_bad_requests(client, body, status, code):
    _error(client.post("/v1/search", json=body), status, code)


def test_search_rejects_bad_json_and_unknown_content_types(client):
    _error(client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _error(client.post("/v1/search", content=b"text=shirt", headers={"content-type": "text/plain"}), 415)
    _error(client.post("/v1/search", data={"text": "shirt", "k": "many"}), 422, "invalid_request")


# ----------------------------------------------------------------------------- caption
def test_caption_returns_caption_hashtags_and_the_votes_neighbours(client, services, kagl_dir):
    path = val_photo(kagl_dir, "Tshirts")
    r = client.post("/v1/caption", data={"style": "instagram", "seed": "3", "similar": "4"},
                    files={"image": ("photo.jpg", path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["caption"] and len(res["hashtags"]) >= 5 and all(t.startswith("#") for t in res["hashtags"])
    assert res["guard_report"]["passed"] and res["used_writer"] == "template"
    w, h = Image.open(path).size
    assert res["image_size"] == [w, h]
    assert len(res["garments"]) == len(res["evidence"]["garments"]) >= 1
    assert sum(g["is_subject"] for g in res["garments"]) == 1
    # "shop the look" = the very neighbours the pipeline's votes used, not another search
    with services.captioner() as pipe:
        direct, analysis = pipe.run(Image.open(path).convert("RGB"), style="instagram", seed=3)
    assert res["caption"] == direct.caption and res["hashtags"] == direct.hashtags
    for g, a in zip(res["garments"], analysis.garments):
        assert g["region"] == a.evidence.region
        assert [s["id"] for s in g["similar"]] == [n.id for n in a.neighbours[:4]]
        assert all(s["product"]["image_url"].startswith("/v1/products/") for s in g["similar"])
        if g["mask"] is not None:
            assert g["mask"]["size"] == [h, w] and sum(g["mask"]["counts"]) == w * h


def test_caption_of_a_photo_without_garments_is_honestly_empty(client):
    r = client.post("/v1/caption", files={"image": ("blank.png", png_bytes(200, 200, (255, 255, 255)), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["caption"] == "" and r.json()["hashtags"] == [] and r.json()["garments"] == []


def test_caption_upload_errors(client):
    _error(client.post("/v1/caption", files={"image": ("photo.jpg", b"hello, I am text\n" * 20, "image/jpeg")}),
           415, "unsupported_media_type")
    _error(client.post("/v1/caption", files={"image": ("cut.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image/jpeg")}),
           422, "invalid_image")
    _error(client.post("/v1/caption", files={"image": ("e.png", b"", "image/png")}), 422)
    _error(client.post("/v1/caption", data={"style": "x"}), 422, "invalid_request")  # no image
    _error(client.post("/v1/caption", data={"style": "sonnet"},
                       files={"image": ("a.png", png_bytes(64, 64), "image/png")}), 422, "invalid_request")
    _error(client.post("/v1/caption", data={"similar": "99"},
                       files={"image": ("a.png", png_bytes(64, 64), "image/png")}), 422, "invalid_request")


def test_20_mb_upload_is_refused_with_413(client):
    big = b"\xff\xd8\xff\xe0" + bytes(20 * 1024 * 1024)
    _error(client.post("/v1/caption", files={"image": ("big.jpg", big, "image/jpeg")}), 413, "too_large")
    _error(client.post("/v1/search", files={"image": ("big.jpg", big, "image/jpeg")}), 413, "too_large")


def test_streamed_body_without_length_is_counted(services):
    small = services.settings.model_copy(update={"max_upload_bytes": 2048})
    app = create_app(small, services)

    async def go():
        async def chunks():
            for _ in range(200):
                yield b"\x00" * 4096

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})

    r = asyncio.run(go())
    _error(r, 413, "too_large")


def test_pixel_bomb_is_refused_before_decoding(client, services):
    # a valid PNG header that claims 20000 x 20000 pixels (the data would not even be there)
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    body = _error(client.post("/v1/caption", files={"image": ("b.png", bomb, "image/png")}), 413, "too_large")
    assert "pixels" in body["detail"]


# ----------------------------------------------------------------------------- products
def test_product_and_its_image_by_id(client, services):
    pid = services.store.ids()[0]
    p = client.get(f"/v1/products/{pid}")
    assert p.status_code == 200 and p.json()["id"] == pid and p.json()["image_path"] is None
    img = client.get(p.json()["image_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    full = Image.open(io.BytesIO(img.content))
    thumb = client.get(f"/v1/products/{pid}/image?w=150")
    t = Image.open(io.BytesIO(thumb.content))
    assert t.width == 160 and abs(t.height / t.width - full.height / full.width) < 0.02  # next cached width
    again = client.get(f"/v1/products/{pid}/image?w=150", headers={"if-none-match": thumb.headers["etag"]})
    assert again.status_code == 304
    _error(client.get(f"/v1/products/{pid}/image?w=5"), 422)


@pytest.mark.parametrize("pid", ["no-such-product", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                 "%2Fetc%2Fpasswd", "....//....//etc/passwd", "%00", "a" * 300])
def test_unknown_ids_and_traversal_attempts_are_404(client, pid):
    for suffix in ("", "/image"):
        r = client.get(f"/v1/products/{pid}{suffix}")
        assert r.status_code == 404, (pid, suffix, r.status_code)
        assert "root:" not in r.text
        _error(r, 404)


# ----------------------------------------------------------------------------- auth
def test_api_key_required_when_set(keyed):
    body = {"text": "shirt", "k": 2}
    _error(keyed.post("/v1/search", json=body), 401, "unauthorized")
    r = keyed.post("/v1/search", json=body, headers={"Authorization": "Bearer wrong-key-000"})
    _error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    _error(keyed.post("/v1/search", json=body, headers={"Authorization": f"Basic {KEY}"}), 401)
    assert keyed.post("/v1/search", json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    for path in ("/v1/metrics", "/v1/filters", "/v1/products/x", "/v1/products/x/image"):
        _error(keyed.get(path), 401)
    _error(keyed.post("/v1/caption", files={"image": ("a.png", png_bytes(8, 8), "image/png")}), 401)
    _error(keyed.post("/v1/edit", data={"text": "t"}, files={"image": ("a.png", png_bytes(8, 8), "image/png")}), 401)
    h = keyed.get("/v1/health")  # liveness for load balancers; says a key is needed
    assert h.status_code == 200 and h.json()["auth_required"] is True
    assert keyed.get("/").status_code == 200


def test_refuses_to_listen_off_loopback_without_a_key():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.9")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")
    with pytest.raises(InvalidInputError, match="API key"):
        ServeSettings(host="0.0.0.0").check()
    with pytest.raises(InvalidInputError, match="API key"):
        create_app(ServeSettings(host="::"))
    ServeSettings(host="0.0.0.0", api_key=KEY).check()
    with pytest.raises(InvalidInputError, match="short"):
        ServeSettings(api_key="abc").check()


# ----------------------------------------------------------------------------- CORS
def test_cors_is_off_unless_asked(client, services):
    pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/v1/search", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = client.post("/v1/search", json={"text": "shirt"}, headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in r.headers
    settings = services.settings.model_copy(update={"cors_origins": ["https://shop.example"]})
    with_cors = TestClient(create_app(settings, services))
    r = with_cors.options("/v1/search", headers=pre)
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    r = with_cors.options("/v1/search", headers={**pre, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


# ----------------------------------------------------------------------------- queue, timeout, crash, metrics
def _slow_services(services, workers, queue, timeout_s=30.0, delay=0.6):
    settings = services.settings.model_copy(update={"workers": workers, "queue": queue, "timeout_s": timeout_s,
                                                    "retry_after_s": 2})
    svc = Services(settings, services.retriever, [])
    real = services.retriever.search
    slow = type("SlowRetriever", (), {})()
    slow.store, slow.encoder = services.retriever.store, services.retriever.encoder

    def search(*a, **kw):
        time.sleep(delay)
        return real(*a, **kw)

    slow.search = search
    svc.retriever = slow
    return svc


def test_full_queue_answers_503_with_retry_after_and_recovers(services):
    svc = _slow_services(services, workers=1, queue=1)
    app = create_app(svc.settings, svc)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as c:
            rs = await asyncio.gather(*[c.post("/v1/search", json={"text": f"shirt {i}"}) for i in range(5)])
            after = await c.post("/v1/search", json={"text": "shirt"})
            m = (await c.get("/v1/metrics")).json()
            return rs, after, m

    rs, after, m = asyncio.run(go())
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 503, 503, 503], codes  # 1 running + 1 queued, the rest refused at once
    busy = [r for r in rs if r.status_code == 503]
    assert all(r.headers["retry-after"] == "2" and r.json()["error"] == "busy" for r in busy)
    assert after.status_code == 200  # capacity comes back
    assert m["pools"]["search"]["rejected_503"] == 3 and m["pools"]["search"]["queued"] == 0
    assert m["routes"]["POST /v1/search"]["status"] == {"200": 3, "503": 3}
    svc.close()


def test_slow_request_times_out_with_504(services):
    svc = _slow_services(services, workers=1, queue=2, timeout_s=0.2, delay=0.8)
    c = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    _error(c.post("/v1/search", json={"text": "shirt"}), 504, "timeout")
    time.sleep(1.0)
    svc.close()


def test_an_unexpected_crash_is_a_500_without_a_traceback(services):
    svc = Services(services.settings, services.retriever, [])
    broken = type("Broken", (), {})()
    broken.store, broken.encoder = services.retriever.store, services.retriever.encoder

    def boom(*a, **kw):
        raise RuntimeError("secret internal state /srv/models/x.bin")

    broken.search = boom
    svc.retriever = broken
    c = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    r = c.post("/v1/search", json={"text": "shirt"})
    body = _error(r, 500, "internal")
    assert "secret" not in r.text and "/srv" not in r.text
    svc.close()


def test_metrics_count_requests_and_latencies(client):
    client.post("/v1/search", json={"text": "shirt", "k": 2})
    client.post("/v1/search", json={})
    client.get("/v1/products/nope")
    m = client.get("/v1/metrics").json()
    s = m["routes"]["POST /v1/search"]
    assert s["count"] >= 2 and s["status"].get("200", 0) >= 1 and s["status"].get("422", 0) >= 1
    assert s["latency_ms"]["p50"] > 0 and s["latency_ms"]["p99"] >= s["latency_ms"]["p50"]
    assert m["routes"]["GET /v1/products/{product_id}"]["status"].get("404", 0) >= 1
    assert set(m["pools"]) >= {"search", "caption", "edit"} and m["memory_rss_mb"] > 0


def test_filters_lists_values_present_in_the_index(client, services):
    f = client.get("/v1/filters").json()
    assert set(f["gender"]) <= {"Men", "Women", "Unisex", "Boys", "Girls"} and f["gender"]
    assert set(f["subcategory"]) == {services.store.get(i)["subcategory"] for i in services.store.ids()}


# ----------------------------------------------------------------------------- edit
def _person(kagl_dir):
    """A val catalog photo of a person wearing a shirt (front view)."""
    return val_photo(kagl_dir, "Shirts", person=True)


def test_edit_transfers_a_retrieved_garment_and_returns_the_image(client, services, kagl_dir):
    path = _person(kagl_dir)
    r = client.post("/v1/edit", data={"text": "a red shirt", "category": "upper_body", "k": "2"},
                    files={"image": ("me.jpg", path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["profile"] == "lite" and res["mode"] in ("restyle", "replace") and res["category"] == "upper_body"
    assert 1 <= len(res["retrieved"]) <= 2 and res["k"] == len(res["retrieved"])
    for g, url in zip(res["retrieved"], res["retrieved_urls"]):
        assert services.store.get(g["id"])["subcategory"] == "Topwear"  # inside the category
        assert url == f"/v1/products/{g['id']}/image" and g["image_path"] is None
    assert res["input"] is None and res["output"] is None and res["index"] == services.index_dir.name
    before = Image.open(path)
    after = Image.open(io.BytesIO(base64.b64decode(res["image_data"].split(",", 1)[1])))
    mask = Image.open(io.BytesIO(base64.b64decode(res["mask_data"].split(",", 1)[1])))
    assert after.size == before.size == mask.size
    m = np.asarray(mask) > 127
    a, b = np.asarray(after.convert("RGB"), dtype=np.int16), np.asarray(before.convert("RGB"), dtype=np.int16)
    assert 0.01 < m.mean() < 0.9
    assert np.abs(a - b)[m].mean() > 5  # the garment changed ...
    assert np.abs(a - b)[~m].mean() < 6  # ... the rest of the photo did not (JPEG noise aside)


def test_edit_errors(client, kagl_dir):
    person = _person(kagl_dir).read_bytes()
    up = {"image": ("me.jpg", person, "image/jpeg")}
    _error(client.post("/v1/edit", data={"text": "  "}, files=up), 422, "invalid_request")
    _error(client.post("/v1/edit", files=up), 422, "invalid_request")
    _error(client.post("/v1/edit", data={"text": "red", "category": "hats"}, files=up), 422, "invalid_request")
    _error(client.post("/v1/edit", data={"text": "red", "mode": "melt"}, files=up), 422, "invalid_request")
    _error(client.post("/v1/edit", data={"text": "red", "k": "9"}, files=up), 422, "invalid_request")
    _error(client.post("/v1/edit", data={"text": "red"}, files={"image": ("a.jpg", b"%PDF-1.7 not an image", "image/jpeg")}),
           415)
    body = _error(client.post("/v1/edit", data={"text": "a red shirt"},
                              files={"image": ("w.png", png_bytes(300, 400, (255, 255, 255)), "image/png")}), 400)
    assert "no person" in body["detail"]


def test_edit_is_503_with_a_reason_when_not_loaded(services):
    svc = Services(services.settings, services.retriever, [], edit_error="editing is switched off on this server "
                   "(--edit-profile none)")
    c = TestClient(create_app(svc.settings, svc), raise_server_exceptions=False)
    assert c.get("/v1/health").json()["routes"]["edit"] is False
    body = _error(c.post("/v1/edit", data={"text": "red shirt"},
                         files={"image": ("a.png", png_bytes(64, 96), "image/png")}), 503, "model_unavailable")
    assert "--edit-profile none" in body["detail"]
    svc.close()
