"""Load test of ``cxreason serve`` on loopback: N concurrent OpenAI chat requests.

Serves a model in-process (default: a tiny random Qwen2.5-VL built offline with
``init_tiny``) on 127.0.0.1, sends ``--requests`` chat completions with ``--concurrency`` in
flight (each with a synthetic grey image as a data URL unless ``--text-only``), and reports
throughput (requests/s, generated tokens/s) and p50/p95/max latency. Exits 1 if any request
failed. Bounded: at most 2000 requests and ``--deadline-s`` seconds; loopback only.

    .venv/bin/python benchmarks/serve_load.py --requests 64 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

MAX_REQUESTS = 2000


def synthetic_png(seed: int, size: int = 128) -> bytes:
    """A smooth random grey field as PNG bytes (a load-test input, not a medical image)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.uniform(0, 255, (8, 8)).astype(np.uint8), mode="L")
    arr = np.asarray(small.resize((size, size), Image.BICUBIC), dtype=np.float64)
    arr += rng.normal(0, 6, arr.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def request_body(k: int, model: str, max_tokens: int, image: bool) -> dict:
    content: list[dict] = []
    if image:
        url = "data:image/png;base64," + base64.b64encode(synthetic_png(k)).decode()
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": "Which findings are in this chest X-ray?"})
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": content}],
    }


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no data."""
    return float(np.percentile(xs, q)) if xs else float("nan")


async def run_load(
    url: str, model: str, n: int, concurrency: int, max_tokens: int, image: bool, deadline_s: float
) -> dict:
    """Send ``n`` requests, ``concurrency`` at a time; latencies in seconds."""
    import httpx

    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    tokens, failures = 0, []
    bodies = [request_body(k, model, max_tokens, image) for k in range(n)]

    async with httpx.AsyncClient(base_url=url, timeout=deadline_s) as client:

        async def one(k: int) -> None:
            nonlocal tokens
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/chat/completions", json=bodies[k])
                except httpx.HTTPError as e:
                    failures.append(f"#{k}: {type(e).__name__}")
                    return
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    failures.append(f"#{k}: HTTP {r.status_code} {r.text[:120]}")
                    return
                lat.append(dt)
                tokens += r.json()["usage"]["completion_tokens"]

        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(k) for k in range(n))), deadline_s)
        wall = time.perf_counter() - t0
    return {
        "requests": n,
        "concurrency": concurrency,
        "ok": len(lat),
        "failed": len(failures),
        "failures": failures[:10],
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(lat) / wall, 3) if wall else None,
        "tokens_per_s": round(tokens / wall, 1) if wall else None,
        "completion_tokens": tokens,
        "latency_p50_s": round(percentile(lat, 50), 4),
        "latency_p95_s": round(percentile(lat, 95), 4),
        "latency_max_s": round(max(lat), 4) if lat else None,
        "latency_mean_s": round(statistics.fmean(lat), 4) if lat else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder / .gguf / smollm2 (default: a fresh tiny VLM)")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument(
        "--server-concurrency", type=int, default=8, help="requests generated together (batched)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--text-only", action="store_true", help="no image in the requests")
    ap.add_argument("--deadline-s", type=float, default=300.0)
    ap.add_argument("--json", type=Path, help="write the report here")
    a = ap.parse_args(argv)
    if not 1 <= a.requests <= MAX_REQUESTS or a.concurrency < 1:
        ap.error(f"--requests must be in [1, {MAX_REQUESTS}] and --concurrency >= 1")

    import httpx

    from cxreason.inference.predict import load_engine
    from cxreason.inference.serve import BackgroundServer, ServeConfig, create_app

    with tempfile.TemporaryDirectory() as tmp:
        model = a.model
        if model is None:
            from cxreason.train.model import init_tiny

            model = str(init_tiny(Path(tmp) / "tiny-vlm", seed=0))
        engine = load_engine(model, backend="transformers", threads=a.threads or None)
        cfg = ServeConfig(
            max_concurrency=a.server_concurrency,
            max_queue=a.concurrency + 1,
            timeout_s=a.deadline_s,
            default_max_tokens=a.max_tokens,
        )
        with BackgroundServer(create_app(engine, cfg)) as srv:
            image = engine.is_vlm and not a.text_only
            asyncio.run(
                run_load(
                    srv.url, engine.name, min(4, a.requests), 1, a.max_tokens, image, a.deadline_s
                )
            )  # warm-up
            before = httpx.get(srv.url + "/healthz").json()
            rep = asyncio.run(
                run_load(
                    srv.url,
                    engine.name,
                    a.requests,
                    a.concurrency,
                    a.max_tokens,
                    image,
                    a.deadline_s,
                )
            )
            after = httpx.get(srv.url + "/healthz").json()
    batches = after["batches"] - before["batches"]
    rep["server_batches"] = batches
    rep["mean_batch_size"] = round(
        (after["batched_requests"] - before["batched_requests"]) / max(1, batches), 2
    )
    rep.update(
        model=engine.name,
        image=image,
        max_tokens=a.max_tokens,
        server_concurrency=a.server_concurrency,
        threads=a.threads,
    )
    print(json.dumps(rep, indent=2))
    if a.json:
        from cxreason.records import write_json

        write_json(a.json, rep)
    return 1 if rep["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
