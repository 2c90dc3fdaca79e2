"""A server safe to expose: bearer key on every route but /healthz (browsers log in once),
non-loopback binds refused without a key, no local filesystem path in the viewer."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from inference_helpers import PREDS, LiveServer, bench_items

from cxreason.inference import serve_cli
from cxreason.inference.serve import SESSION_COOKIE, ServeConfig, ViewerData, create_app
from cxreason.records import write_jsonl

KEY = "sk-test-0123456789"


@pytest.fixture(scope="module")
def keyed_server(tiny_engine, tiny_bench):
    viewer = ViewerData(tiny_bench / "bench.jsonl", tiny_bench / "pred.jsonl", tiny_bench)
    cfg = ServeConfig(default_max_tokens=4, api_key=KEY)
    with LiveServer(create_app(tiny_engine, cfg, viewer)) as srv:
        yield srv


def test_every_route_but_healthz_needs_the_key(keyed_server):
    url = keyed_server.url
    health = httpx.get(url + "/healthz")
    assert health.status_code == 200 and health.json()["auth"] is True
    for method, path in [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/api/analyze"),
        ("GET", "/api/bench"),
        ("GET", "/api/items/0"),
        ("GET", "/api/items/0/images/0"),
        ("GET", "/api/image?path=img/s1.png"),
        ("POST", "/api/reader"),
        ("GET", "/static/viewer.js"),
        ("GET", "/no-such-route"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            r = httpx.request(method, url + path, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    body = httpx.get(url + "/v1/models").json()
    assert body["error"]["code"] == "unauthorized"  # OpenAI's error shape under /v1/
    counts = httpx.get(url + "/healthz").json()["requests"]
    assert counts["total"] >= 31 and counts["chat_completions"] >= 3  # refused ones count too


def test_openai_client_with_and_without_the_key(keyed_server, tiny_engine):
    from openai import AuthenticationError, OpenAI

    msgs = [{"role": "user", "content": "hello"}]
    good = OpenAI(base_url=keyed_server.url + "/v1", api_key=KEY, max_retries=0)
    r = good.chat.completions.create(model=tiny_engine.name, messages=msgs, max_tokens=2)
    assert isinstance(r.choices[0].message.content, str)
    bad = OpenAI(base_url=keyed_server.url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(AuthenticationError, match="missing or wrong API key"):
        bad.chat.completions.create(model=tiny_engine.name, messages=msgs)


def test_browser_login_sets_a_session_cookie_not_the_key(keyed_server):
    with httpx.Client(base_url=keyed_server.url) as browser:
        page = browser.get("/")
        assert page.status_code == 401 and 'action="/login"' in page.text
        wrong = browser.post("/login", data={"key": "guess"})
        assert wrong.status_code == 401 and "Wrong key" in wrong.text
        ok = browser.post("/login", data={"key": KEY})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert KEY not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.cookies.get(SESSION_COOKIE)
        assert browser.get("/").status_code == 200
        assert browser.get("/api/bench").json()["loaded"] is True
        assert browser.get("/api/items/0/images/0").headers["content-type"] == "image/png"
    forged = httpx.get(keyed_server.url + "/api/bench", cookies={SESSION_COOKIE: "0" * 64})
    assert forged.status_code == 401


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_serve_refuses_an_exposed_address_without_a_key(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "no-model")  # the checks come before any model loading
    assert serve_cli.main(["--model", missing, "--host", "0.0.0.0", "--port", "0"]) == 2
    msg = _err(capsys)
    assert "--host 0.0.0.0 exposes the model" in msg and "--insecure" in msg
    monkeypatch.delenv("CXR_TEST_KEY", raising=False)
    args = ["--model", missing, "--port", "0", "--api-key-env", "CXR_TEST_KEY"]
    assert serve_cli.main(args) == 2
    assert "CXR_TEST_KEY: the variable is unset or empty" in _err(capsys)
    # with --insecure, or a key, the exposure check passes (and the missing model is reported)
    assert (
        serve_cli.main(["--model", missing, "--host", "0.0.0.0", "--port", "0", "--insecure"]) == 2
    )
    assert "model folder not found" in _err(capsys)
    monkeypatch.setenv("CXR_TEST_KEY", KEY)
    assert serve_cli.main([*args, "--host", "0.0.0.0"]) == 2
    assert "model folder not found" in _err(capsys)


def test_loopback_detection():
    assert serve_cli.is_loopback("127.0.0.1") and serve_cli.is_loopback("::1")
    assert serve_cli.is_loopback("localhost") and serve_cli.is_loopback("127.0.0.2")
    assert not serve_cli.is_loopback("0.0.0.0") and not serve_cli.is_loopback("::")
    assert not serve_cli.is_loopback("192.168.1.10")


def test_viewer_never_shows_local_paths(tiny_engine, tiny_bench, tmp_path):
    root = tiny_bench.resolve()
    items = bench_items()
    items[0] = replace(items[0], images=[str(root / "img" / "s1.png")])  # absolute, under root
    items[1] = replace(items[1], images=[str(tmp_path / "elsewhere" / "x.png")])  # outside
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, items)
    preds = [dict(p) for p in PREDS]
    preds[1] = {"id": "it-1", "output": "", "error": f"{tmp_path}/elsewhere/x.png: no such file"}
    write_jsonl(tmp_path / "pred.jsonl", preds)
    viewer = ViewerData(bench, tmp_path / "pred.jsonl", root)
    with LiveServer(create_app(tiny_engine, ServeConfig(), viewer)) as srv:
        texts = []
        for i in range(3):
            v = httpx.get(f"{srv.url}/api/items/{i}").json()
            texts.append(json.dumps(v))
            for k, im in enumerate(v["images"]):
                assert im["url"] == f"/api/items/{i}/images/{k}"
        assert [im["name"] for im in json.loads(texts[0])["images"]] == ["s1.png"]
        assert [im["name"] for im in json.loads(texts[1])["images"]] == ["x.png"]
        assert json.loads(texts[1])["error"] == "x.png: no such file"
        ok = httpx.get(srv.url + "/api/items/0/images/0")
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        for path in ("/api/items/1/images/0", "/api/items/0/images/5", "/api/items/9/images/0"):
            r = httpx.get(srv.url + path)
            assert r.status_code in (403, 404)
            texts.append(r.text)
        texts.append(httpx.get(srv.url + "/api/bench").text)
        texts.append(httpx.get(srv.url + "/api/image", params={"path": "/etc/passwd"}).text)
    for text in texts:
        assert str(tmp_path) not in text and str(root) not in text, text
