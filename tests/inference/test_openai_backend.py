"""The OpenAI-compatible backend of predict, against the real server (`cxreason serve`'s app on
loopback, the tiny VLM) through the official `openai` library: same prompts and images as the
local engine, settings passed through, cache, resume, failed items, fatal statuses."""

from __future__ import annotations

import base64
import io
import json
import logging
from dataclasses import replace

import httpx
import numpy as np
import pytest
from inference_helpers import bench_items, grey_image
from PIL import Image

from cxreason.inference import cli
from cxreason.inference.openai_backend import OpenAIEngine, image_data_url, openai_messages
from cxreason.inference.predict import (
    EngineError,
    GenConfig,
    item_request,
    predict_bench,
    progress_path,
)
from cxreason.provenance import PRED_HASH_FIELD, bench_sha256
from cxreason.records import BenchItem, read_records, write_jsonl


def chat_requests(srv) -> int:
    """Chat-completion requests the server has received so far (its /healthz counter)."""
    return httpx.get(srv.url + "/healthz", timeout=10).json()["requests"]["chat_completions"]


def engine(srv, tmp_path, **kw) -> OpenAIEngine:
    kw.setdefault("cache_dir", tmp_path / "cache")
    kw.setdefault("backoff_base_s", 0.01)
    return OpenAIEngine(srv.url + "/v1", "tiny-vlm", concurrency=2, **kw)


def rows(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def decode(url: str) -> Image.Image:
    head, _, payload = url.partition(",")
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def test_image_data_url_resizes_keeps_grey_and_is_deterministic():
    img = grey_image(1, size=300)
    url = image_data_url(img, max_side=100)
    assert url.startswith("data:image/png;base64,") and url == image_data_url(img, max_side=100)
    small = decode(url)
    assert small.size == (100, 100) and small.mode == "L"
    assert decode(image_data_url(img, max_side=1000)).size == (300, 300)  # never upscaled
    wide = Image.new("RGB", (400, 100), (10, 20, 30))
    jpg = image_data_url(wide, max_side=200, fmt="jpeg")
    assert jpg.startswith("data:image/jpeg;base64,") and decode(jpg).size == (200, 50)
    with pytest.raises(EngineError, match="image format"):
        image_data_url(img, fmt="gif")


def test_messages_keep_the_local_prompt_and_every_image_in_order(tiny_bench):
    from cxreason import prompts

    item = read_records(tiny_bench / "bench.jsonl", BenchItem)[2]  # two images
    req = item_request(item, "cot", [tiny_bench])
    msgs = openai_messages(req, max_side=64)
    assert msgs[0] == {"role": "system", "content": prompts.SYSTEM_PROMPT}
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[2]["text"] == prompts.user_prompt(item.question, item.options, "cot")
    sent = [np.asarray(decode(p["image_url"]["url"])) for p in parts[:2]]
    for got, img in zip(sent, req.images, strict=True):
        want = img.copy()
        want.thumbnail((64, 64), Image.Resampling.LANCZOS)
        assert np.array_equal(got, np.asarray(want))


def test_predictions_match_the_local_engine_and_cost_no_request_on_rerun(
    live_server, tiny_engine, tiny_bench, tmp_path
):
    bench = tiny_bench / "bench.jsonl"
    cfg = GenConfig(max_new_tokens=6)
    local = tmp_path / "local.jsonl"
    predict_bench(tiny_engine, bench, local, cfg=cfg, batch_size=1)
    out = tmp_path / "remote.jsonl"
    before = chat_requests(live_server)
    eng = engine(live_server, tmp_path)
    s = predict_bench(eng, bench, out, cfg=cfg, batch_size=8)
    assert (s.total, s.generated, s.failed) == (3, 3, 0)
    assert chat_requests(live_server) - before == 3 and eng.stats["requests"] == 3
    # same prompts, same pixels (PNG is lossless): the served model answers as the local one
    assert [r["output"] for r in rows(out)] == [r["output"] for r in rows(local)]
    meta = json.loads(progress_path(out).read_text().splitlines()[0])["_meta"]
    assert meta["backend"] == "openai" and meta["model"] == "tiny-vlm"
    digest = bench_sha256(bench)  # provenance as on the local path: build hash and split
    assert meta[PRED_HASH_FIELD] == digest
    assert all(r[PRED_HASH_FIELD] == digest and r["split"] == "test" for r in rows(out))
    # a rerun: nothing to do, no request
    s2 = predict_bench(engine(live_server, tmp_path), bench, out, cfg=cfg)
    assert (s2.done_before, s2.generated) == (3, 0)
    # progress log lost too (a new output path): the on-disk cache answers, still no request
    out2 = tmp_path / "again.jsonl"
    eng3 = engine(live_server, tmp_path)
    predict_bench(eng3, bench, out2, cfg=cfg)
    assert eng3.stats == {"requests": 0, "cache_hits": 3, "retries": 0, "failures": 0}
    assert chat_requests(live_server) - before == 3
    assert [r["output"] for r in rows(out2)] == [r["output"] for r in rows(out)]


def test_settings_are_passed_through_and_join_the_cache_key(
    live_server, tiny_bench, tmp_path, caplog
):
    bench = tiny_bench / "bench.jsonl"
    caplog.set_level(logging.INFO, logger="cxreason.serve.access")
    eng = engine(live_server, tmp_path)
    predict_bench(eng, bench, tmp_path / "a.jsonl", cfg=GenConfig(max_new_tokens=5, seed=1))
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    chats = [r for r in logged if r["path"] == "/v1/chat/completions"]
    assert sorted(r["n_images"] for r in chats) == [1, 1, 2]  # all images of each item
    assert {r["max_tokens"] for r in chats} == {5}
    assert all(r["completion_tokens"] <= 5 for r in chats)
    # another seed or token budget is another request, not a cache hit
    eng2 = engine(live_server, tmp_path)
    predict_bench(eng2, bench, tmp_path / "b.jsonl", cfg=GenConfig(max_new_tokens=5, seed=2))
    assert eng2.stats["requests"] == 3 and eng2.stats["cache_hits"] == 0


def test_a_failed_item_keeps_its_error_and_is_retried_next_run(live_server, tiny_bench, tmp_path):
    # a noise image too big for the server's 2 MiB body limit: 413 (not retried) for that item
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (1600, 1600), dtype=np.uint8), mode="L")
    noise.save(tmp_path / "big.png")
    items = bench_items()
    items[1] = replace(items[1], images=[str(tmp_path / "big.png")])
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, items)
    out = tmp_path / "p.jsonl"
    cfg = GenConfig(max_new_tokens=4)
    kw = dict(cfg=cfg, images_dir=tiny_bench)
    s = predict_bench(engine(live_server, tmp_path, image_max_side=2048), bench, out, **kw)
    assert (s.generated, s.failed) == (2, 1)
    bad = rows(out)[1]
    assert bad["output"] == "" and "HTTP 413" in bad["error"] and "byte limit" in bad["error"]
    assert s.first_error == bad["error"]
    # the file is fixed: the rerun asks again for that item only
    grey_image(5, size=96).save(tmp_path / "big.png")
    before = chat_requests(live_server)
    s2 = predict_bench(engine(live_server, tmp_path, image_max_side=2048), bench, out, **kw)
    assert (s2.done_before, s2.generated, s2.failed) == (2, 1, 0)
    assert chat_requests(live_server) - before == 1
    assert all(not r.get("error") for r in rows(out))


def test_fatal_status_and_a_run_of_failures_stop_the_run(live_server, tiny_bench, tmp_path):
    bench = tiny_bench / "bench.jsonl"
    eng = OpenAIEngine(live_server.url + "/v1", "gpt-4o", cache_dir=None)  # not served there
    with pytest.raises(EngineError, match="HTTP 404.*not served here"):
        predict_bench(eng, bench, tmp_path / "p.jsonl", cfg=GenConfig(max_new_tokens=2))
    dead = OpenAIEngine("http://127.0.0.1:9/v1", "m", max_retries=0, backoff_base_s=0.01)
    dead.abort_after = 2
    with pytest.raises(EngineError, match="2 requests in a row failed.*transport error"):
        predict_bench(dead, bench, tmp_path / "q.jsonl", cfg=GenConfig(max_new_tokens=2))


def test_cli_openai_backend_and_its_refusals(live_server, tiny_bench, tmp_path, capsys):
    def err() -> str:  # stderr without the console's line wrapping
        return " ".join(capsys.readouterr().err.split())

    out = tmp_path / "cli.jsonl"
    base = ["--bench", str(tiny_bench / "bench.jsonl"), "--out", str(out), "--split", "all"]
    url = live_server.url + "/v1"
    args = [*base, "--model", "tiny-vlm", "--max-new-tokens", "3", "--concurrency", "2"]
    assert cli.main([*args, "--backend", "openai", "--base-url", url]) == 0
    msg = err()
    assert "3 generated" in msg and "endpoint: 3 requests" in msg
    assert (out.parent / f".{out.name}.cache").is_dir()  # the cache sits beside the output
    assert cli.main([*args, "--base-url", url]) == 0  # --base-url implies the openai backend
    assert "3 already done" in err()
    assert cli.main([*args, "--backend", "openai"]) == 2
    assert "needs --base-url" in err()
    assert cli.main([*args, "--base-url", "localhost:8000"]) == 2
    assert "must be an http(s) URL" in err()
    assert cli.main([*args, "--backend", "transformers", "--base-url", url]) == 2
    assert "--base-url is for --backend openai" in err()
