"""Fixtures for inference tests: one tiny VLM, a tiny benchmark with predictions, a live server.

The tiny model is built once per session (``init_tiny``) and one uvicorn server on a free
loopback port serves it with the viewer over the tiny benchmark; tests share both.
Synthetic grey test images are generated here (random smooth fields, not medical images).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from inference_helpers import PREDS, LiveServer, bench_items, grey_image

from cxreason.records import write_jsonl


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from cxreason.train.model import init_tiny

    return Path(init_tiny(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model):
    from cxreason.inference.predict import load_engine

    return load_engine(str(tiny_model), backend="transformers", threads=1)


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """A folder with bench.jsonl, pred.jsonl and img/*.png (synthetic grey images)."""
    d = tmp_path_factory.mktemp("bench")
    (d / "img").mkdir()
    for k, name in enumerate(["s1", "s2", "s2b"]):
        grey_image(k).save(d / "img" / f"{name}.png")
    write_jsonl(d / "bench.jsonl", bench_items())
    write_jsonl(d / "pred.jsonl", PREDS)
    (d / "secret.txt").write_text("not an image of the benchmark")
    return d


@pytest.fixture(scope="session")
def live_server(tiny_engine, tiny_bench, tmp_path_factory):
    """The tiny VLM served with the viewer over the tiny benchmark and a reader log."""
    from cxreason.inference.reader import ReaderLog
    from cxreason.inference.safety import ImageLimits
    from cxreason.inference.serve import ServeConfig, ViewerData, create_app

    log = ReaderLog(tmp_path_factory.mktemp("reader") / "reader.jsonl", model=tiny_engine.name)
    viewer = ViewerData(tiny_bench / "bench.jsonl", tiny_bench / "pred.jsonl", tiny_bench)
    cfg = ServeConfig(
        max_body_bytes=2 * 1024 * 1024,
        max_concurrency=1,
        max_queue=8,
        timeout_s=60,
        default_max_tokens=16,
        max_tokens_cap=4000,
        image_limits=ImageLimits(max_pixels=4_000_000),
    )
    with LiveServer(create_app(tiny_engine, cfg, viewer, log)) as srv:
        srv.reader_log = log
        yield srv


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page():
    """A page in Debian's headless Chromium (never downloaded); skips where it is absent."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (make browser installs Debian's chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright python package missing"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def blind_server(tiny_engine, tmp_path_factory):
    """A blinded reader study over a benchmark whose images have ABSOLUTE paths in a private
    folder (the viewer must never show them); item it-1's prediction failed with an error
    that names the absolute path of its image."""
    from cxreason.inference.reader import ReaderLog
    from cxreason.inference.serve import ServeConfig, ViewerData, create_app

    root = tmp_path_factory.mktemp("blind")
    private = root / "private-site" / "patient-Doe-1234"
    private.mkdir(parents=True)
    items = bench_items()
    for k, it in enumerate(items):
        it.images = [str(private / Path(p).name) for p in it.images]
        for p in it.images:
            grey_image(40 + k).save(p)
    write_jsonl(root / "bench.jsonl", items)
    preds = [dict(p) for p in PREDS]
    preds[1] = {"id": "it-1", "output": "", "error": f"{items[1].images[0]}: no such file"}
    write_jsonl(root / "pred.jsonl", preds)
    log = ReaderLog(root / "reader.jsonl", model=tiny_engine.name, blinded=True)
    viewer = ViewerData(root / "bench.jsonl", root / "pred.jsonl")
    cfg = ServeConfig(max_concurrency=1, default_max_tokens=8)
    with LiveServer(create_app(tiny_engine, cfg, viewer, log)) as srv:
        srv.reader_log, srv.private = log, str(private)
        yield srv
