"""The live server: OpenAI client, analyze route, bad inputs refused with 4xx JSON, limits."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import httpx
import numpy as np
import pytest
from inference_helpers import grey_image
from PIL import Image


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def err(r: httpx.Response) -> tuple[str, str]:
    """(reason, code) of an error response in either shape (OpenAI's under /v1/)."""
    body = r.json()
    e = body["error"]
    return (e["message"], e["code"]) if isinstance(e, dict) else (e, body["code"])


def healthy(srv) -> None:
    r = httpx.get(srv.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def bad_inputs() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected error code)."""
    good = png_bytes(grey_image(1))
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), mode="RGB")
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")  # 400 Mpx, a few KB compressed
    return {
        "corrupt.png": (good[: len(good) // 2], "truncated"),
        "notes.png": (b"this is a text file, not an image\n" * 10, "not_an_image"),
        "huge.png": (buf.getvalue(), "too_large"),
        "photo.png": (png_bytes(photo), "not_chest_xray"),
        "tiny.png": (png_bytes(grey_image(2, size=16)), "too_small"),
    }


def test_openai_client_chat_with_image(live_server, tiny_engine):
    from openai import OpenAI

    client = OpenAI(base_url=live_server.url + "/v1", api_key="x", max_retries=0)
    assert [m.id for m in client.models.list().data] == [tiny_engine.name]
    img = data_url(png_bytes(grey_image(3)))
    resp = client.chat.completions.create(
        model=tiny_engine.name,
        max_tokens=8,
        messages=[
            {"role": "system", "content": "You are a helpful AI assistant."},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": img}},
                    {"type": "text", "text": "Which findings are in this chest X-ray?"},
                ],
            },
        ],
    )
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert 1 <= resp.usage.completion_tokens <= 8
    assert resp.usage.prompt_tokens > 16  # the image tokens were part of the prompt
    assert "Which findings" not in choice.message.content  # generated text only


def test_openai_text_only_chat_and_errors(live_server, tiny_engine):
    from openai import BadRequestError, NotFoundError, OpenAI

    client = OpenAI(base_url=live_server.url + "/v1", api_key="x", max_retries=0)
    r = client.chat.completions.create(
        model=tiny_engine.name, max_tokens=4, messages=[{"role": "user", "content": "Hello"}]
    )
    assert r.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(BadRequestError, match="remote image URLs are not fetched"):
        client.chat.completions.create(
            model=tiny_engine.name,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://example.com/x.png"}}
                    ],
                }
            ],
        )
    healthy(live_server)


@pytest.mark.parametrize("name", ["corrupt.png", "notes.png", "huge.png", "photo.png", "tiny.png"])
def test_bad_uploads_refused_with_reason(live_server, name):
    raw, code = bad_inputs()[name]
    r = httpx.post(
        live_server.url + "/api/analyze", files={"image": (name, raw, "image/png")}, timeout=30
    )
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["code"] == code and name in body["error"]
    assert "Traceback" not in r.text
    # the same input as a chat data URL is refused the same way
    r = httpx.post(
        live_server.url + "/v1/chat/completions",
        timeout=30,
        json={
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": data_url(raw)}}],
                }
            ]
        },
    )
    assert 400 <= r.status_code < 500 and err(r)[1] == code
    healthy(live_server)


def test_oversized_request_413(live_server):
    big = b"x" * (3 * 1024 * 1024)
    r = httpx.post(
        live_server.url + "/api/analyze", files={"image": ("big.png", big, "image/png")}, timeout=30
    )
    assert r.status_code == 413 and r.json()["code"] == "request_too_large"

    def chunks():  # no content-length: streamed body counted as it arrives
        for _ in range(40):
            yield b"y" * 100_000

    r = httpx.post(live_server.url + "/v1/chat/completions", content=chunks(), timeout=30)
    assert r.status_code == 413 and "limit" in err(r)[0]
    healthy(live_server)


def test_malformed_json_and_messages(live_server):
    url = live_server.url + "/v1/chat/completions"
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and err(r)[1] == "invalid_json"
    r = httpx.post(url, json={"messages": []})
    assert r.status_code == 400 and "messages" in err(r)[0]
    r = httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3})
    assert r.status_code == 400 and "max_tokens" in err(r)[0]
    r = httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert r.status_code == 400 and err(r)[1] == "unsupported"
    r = httpx.get(live_server.url + "/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    healthy(live_server)


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "img/../../secret.txt",
        "/etc/passwd",
        "img/s1.png/../../secret.txt",
        "..%2Fsecret.txt",
        "secret.txt",
        "img/../img/s1.png",
    ],
)
def test_image_route_refuses_traversal(live_server, path):
    r = httpx.get(live_server.url + "/api/image", params={"path": path})
    assert r.status_code == 403 and r.json()["code"] == "path_refused", r.text
    r = httpx.get(live_server.url + "/static/" + path.replace("/", "%2F"))
    assert r.status_code == 404
    healthy(live_server)


def test_image_route_serves_referenced_png(live_server):
    r = httpx.get(live_server.url + "/api/image", params={"path": "img/s1.png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (128, 128)


def test_analyze_dicom_monochrome1_bone_bright(live_server, samples_dir):
    import pydicom

    path = samples_dir / "monochrome1_sample.dcm"
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    r = httpx.post(
        live_server.url + "/api/analyze",
        timeout=60,
        files={"image": ("m1.dcm", path.read_bytes(), "application/dicom")},
        data={"mode": "cot"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"think", "answer", "labels", "impression", "output", "steps", "previews"}
    if body["output"].strip():
        assert body["impression"]["version"] == "impression-v1"
    else:  # the tiny random model may generate nothing: no reading, no impression
        assert body["impression"] is None
    shown = np.asarray(
        Image.open(io.BytesIO(base64.b64decode(body["previews"][0].split(",", 1)[1]))),
        dtype=np.float64,
    )
    raw = ds.pixel_array.astype(np.float64)
    small = np.asarray(Image.fromarray(raw).resize(shown.shape[::-1]), dtype=np.float64)
    # MONOCHROME1 stores bone as LOW values: the displayed image must be the inverse
    assert np.corrcoef(shown.ravel(), small.ravel())[0, 1] < -0.9


def test_reader_route_appends(live_server):
    url = live_server.url + "/api/reader"
    ok = httpx.post(
        url, json={"item_id": "it-0", "decision": "accept", "seconds": 3.5, "reader": "ab"}
    )
    assert ok.status_code == 200, ok.text
    ed = httpx.post(
        url,
        json={
            "item_id": "it-1",
            "decision": "edit",
            "edited_text": "Small effusion.",
            "seconds": 12,
        },
    )
    assert ed.status_code == 200
    for bad, field in [
        ({"item_id": "zz", "decision": "accept", "seconds": 1}, "item_id"),
        ({"item_id": "it-0", "decision": "maybe", "seconds": 1}, "decision"),
        ({"item_id": "it-0", "decision": "edit", "seconds": 1}, "edited_text"),
        ({"item_id": "it-0", "decision": "accept", "seconds": -1}, "seconds"),
    ]:
        r = httpx.post(url, json=bad)
        assert r.status_code == 400 and r.json()["error"].startswith(field)
    recs = live_server.reader_log.read()
    mine = [r for r in recs if r.get("reader") == "ab" or r.get("edited_text") == "Small effusion."]
    assert [r["decision"] for r in mine][-2:] == ["accept", "edit"]
    assert mine[-1]["seconds"] == 12.0 and mine[-1]["time"].endswith("+00:00")


def test_bench_and_item_views(live_server):
    b = httpx.get(live_server.url + "/api/bench").json()
    assert b["loaded"] and b["n"] == 3 and b["reader_study"]
    assert [i["outcome"] for i in b["items"]] == [1.0, 0.0, 1.0]
    v = httpx.get(live_server.url + "/api/items/0").json()
    marks = [s["mark"] for s in v["steps"]]
    assert marks == ["supported", "contradicted", "not_in_report"]
    assert v["correct"] is True and 0 < v["radrscore"]["radrscore"] <= 1
    assert httpx.get(live_server.url + "/api/items/7").status_code == 404


def test_gate_saturation_503():
    from cxreason.inference.serve import Gate, Saturated

    async def scenario():
        gate = Gate(concurrency=1, queue=1)
        release = asyncio.Event()

        async def hold():
            async with gate:
                await release.wait()

        tasks = [asyncio.create_task(hold()) for _ in range(2)]  # one running, one queued
        await asyncio.sleep(0.01)
        with pytest.raises(Saturated):
            async with gate:
                pass
        release.set()
        await asyncio.gather(*tasks)
        async with gate:  # capacity is back
            return gate.active

    assert asyncio.run(scenario()) == 1


def test_access_log_is_json_without_image_bytes(live_server, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="cxreason.serve.access")
    raw = png_bytes(grey_image(5))
    httpx.post(
        live_server.url + "/v1/chat/completions",
        timeout=60,
        json={
            "max_tokens": 2,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url(raw)}},
                        {"type": "text", "text": "hi"},
                    ],
                }
            ],
        },
    )
    deadline = time.monotonic() + 5  # the line is written just after the response is sent
    while True:
        recs = [
            json.loads(r.getMessage()) for r in caplog.records if r.name == "cxreason.serve.access"
        ]
        recs = [r for r in recs if r["path"] == "/v1/chat/completions"]
        if recs or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    rec = recs[-1]
    assert rec["status"] == 200 and rec["n_images"] == 1 and rec["completion_tokens"] >= 1
    assert base64.b64encode(raw)[:40].decode() not in caplog.text


def test_abandoned_request_stops_generation(live_server):
    """A client that gives up frees the model: generation stops instead of running to max_tokens."""
    body = {
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": "Describe a chest X-ray."}],
    }
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(live_server.url + "/v1/chat/completions", json=body, timeout=0.5)
    deadline = time.monotonic() + 10
    while (
        httpx.get(live_server.url + "/healthz").json()["in_flight"] and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert httpx.get(live_server.url + "/healthz").json()["in_flight"] == 0
    freed_after = time.monotonic() - t0
    r = httpx.post(
        live_server.url + "/v1/chat/completions",
        timeout=30,
        json={"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200
    # 4000 tokens take the tiny model ~10 s on one CPU thread; a stopped request frees it at once
    assert freed_after < 3, freed_after


def test_http_503_when_saturated(tiny_engine):
    """One request generating, none allowed to wait: the next one gets 503, then capacity returns."""
    import threading

    from inference_helpers import LiveServer

    from cxreason.inference.serve import ServeConfig, create_app

    cfg = ServeConfig(max_concurrency=1, max_queue=0, timeout_s=60, max_tokens_cap=4000)
    with LiveServer(create_app(tiny_engine, cfg)) as srv:
        url = srv.url + "/v1/chat/completions"
        long_body = {"max_tokens": 4000, "messages": [{"role": "user", "content": "Describe."}]}
        holder = threading.Thread(
            target=lambda: _swallow(httpx.post, url, json=long_body, timeout=3)
        )
        holder.start()
        deadline = time.monotonic() + 10
        while (
            httpx.get(srv.url + "/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        r = httpx.post(url, json={"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and err(r)[1] == "overloaded" and "busy" in err(r)[0]
        holder.join()  # its client gives up after 3 s; the server stops that generation
        deadline = time.monotonic() + 10
        while httpx.get(srv.url + "/healthz").json()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.post(
            url, json={"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}, timeout=30
        )
        assert r.status_code == 200


def _swallow(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except httpx.HTTPError:
        pass


def test_generation_timeout_504(tiny_engine):
    from inference_helpers import LiveServer

    from cxreason.inference.serve import ServeConfig, create_app

    cfg = ServeConfig(timeout_s=0.5, max_tokens_cap=4000)
    with LiveServer(create_app(tiny_engine, cfg)) as srv:
        t0 = time.monotonic()
        r = httpx.post(
            srv.url + "/v1/chat/completions",
            timeout=30,
            json={"max_tokens": 4000, "messages": [{"role": "user", "content": "Describe."}]},
        )
        assert r.status_code == 504 and err(r)[1] == "timeout" and "0.5 s" in err(r)[0]
        assert time.monotonic() - t0 < 5  # stopped at the limit, not after 4000 tokens (~10 s)
        r = httpx.post(
            srv.url + "/v1/chat/completions",
            timeout=30,
            json={"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] in (
            "length",
            "stop",
        )


def test_analyze_prompt_profile(live_server):
    buf = io.BytesIO()
    grey_image(5).save(buf, format="PNG")
    files = {"image": ("x.png", buf.getvalue(), "image/png")}
    url = live_server.url + "/api/analyze"
    r = httpx.post(url, files=files, data={"profile": "nv-reason-cxr"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["prompt_profile"] == "nv-reason-cxr"
    assert httpx.post(url, files=files, timeout=60).json()["prompt_profile"] == "cxreason"
    bad = httpx.post(url, files=files, data={"profile": "gpt-4o"}, timeout=60)
    assert bad.status_code == 400 and "prompt profile must be one of" in bad.json()["error"]


def test_serve_refuses_unknown_prompt_profile_before_loading_a_model(tmp_path):
    from cxreason.inference.serve_cli import build_app

    with pytest.raises(ValueError, match="--prompt-profile must be one of"):
        build_app(str(tmp_path / "no-model"), prompt_profile="medgemma")


def test_blinded_needs_a_reader_log_and_a_bench(tmp_path):
    from cxreason.inference.serve_cli import build_app

    with pytest.raises(ValueError, match="--blinded needs --reader-log FILE and --bench B"):
        build_app(str(tmp_path / "no-model"), blinded=True, reader_log=tmp_path / "r.jsonl")
