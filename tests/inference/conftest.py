"""Fixtures for inference tests: one tiny VLM, a tiny benchmark with predictions, a live server.

The tiny model is built once per session (``init_tiny``) and one uvicorn server on a free
loopback port serves it with the viewer over the tiny benchmark; tests share both.
Synthetic grey test images are generated here (random smooth fields, not medical images).
"""

from __future__ import annotations

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
