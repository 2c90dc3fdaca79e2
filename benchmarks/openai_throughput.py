"""Throughput of predict's OpenAI backend vs the in-process transformers backend, same items.

One run: builds (or takes) a model, writes a synthetic benchmark (grey smooth-field images, NOT
medical images), starts ``cxreason serve`` on loopback in a subprocess (torch threads 1, dynamic
batching up to ``--server-concurrency``), then predicts the same items

- in process with the transformers engine at batch sizes 1, 4 and 8 (``cxreason predict``'s
  default batch is 4), torch threads 1;
- through ``--backend openai`` against the served model at concurrency 1, 4 and 8 (each run with
  a fresh response cache, so every item costs one request; the server's /healthz counter is
  checked),

and prints items/s and the ratio of each OpenAI run to the transformers run at the same
batch/concurrency. Greedy decoding: the outputs of both backends are compared item by item.

    .venv/bin/python benchmarks/openai_throughput.py [--items 32] [--max-new-tokens 32] \\
        [--model DIR] [--server-concurrency 8] [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONCURRENCY = (1, 4, 8)


def make_bench(folder: Path, n: int) -> Path:
    """``n`` distinct benchmark items (binary, single, anomaly; 1 image, every 5th has 2)."""
    import numpy as np
    from PIL import Image

    from cxreason.records import BenchItem, write_jsonl
    from cxreason.vocab import FINDING_LABELS

    rng = np.random.default_rng(0)
    labels = list(FINDING_LABELS)
    items = []
    for k in range(n):
        names = []
        for j in range(2 if k % 5 == 4 else 1):
            small = rng.uniform(0, 255, (8, 8)).astype(np.uint8)
            img = Image.fromarray(small, mode="L").resize((256, 256), Image.BICUBIC)
            names.append(f"img/{k}-{j}.png")
            (folder / names[-1]).parent.mkdir(parents=True, exist_ok=True)
            img.save(folder / names[-1])
        lab = labels[k % len(labels)]
        task = ("binary", "single", "anomaly")[k % 3]
        if task == "binary":
            q, opts, ans = f"Does this chest X-ray show {lab}?", {"A": "Yes", "B": "No"}, "A"
        elif task == "single":
            opts = {c: labels[(k + i) % len(labels)] for i, c in enumerate("ABCD")}
            q, ans = "Which finding is in this chest X-ray?", "A"
        else:
            q, opts, ans = "Which findings are in this chest X-ray?", None, lab
        items.append(
            BenchItem(f"tp-{k:03d}", f"s{k}", task, q, opts, ans, [lab], names, "", "", [])
        )
    path = folder / "bench.jsonl"
    write_jsonl(path, items)
    return path


def start_server(model: Path, port: int, concurrency: int) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "cxreason.cli", "serve", "--model", str(model)]
    args += ["--served-name", "tiny", "--port", str(port), "--threads", "1", "--no-embedder"]
    args += ["--max-concurrency", str(concurrency), "--max-queue", "64", "--no-chest-check"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"cxreason serve exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("cxreason serve did not come up in 180 s")


def chat_requests(port: int) -> int:
    import httpx

    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    return r.json()["requests"]["chat_completions"]


def timed_predict(engine, bench: Path, out: Path, cfg, batch_size: int) -> tuple[float, list[str]]:
    """Seconds to predict every item of ``bench`` into ``out``, and the outputs in order."""
    from cxreason.inference.predict import predict_bench

    t0 = time.perf_counter()
    s = predict_bench(engine, bench, out, cfg=cfg, batch_size=batch_size, split="all")
    seconds = time.perf_counter() - t0
    if s.failed:
        raise SystemExit(f"{s.failed} items failed in {out.name}")
    outputs = [json.loads(line)["output"] for line in out.read_text().splitlines()]
    return seconds, outputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--items", type=int, default=32, help="Benchmark items (each run predicts all)."
    )
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--model", type=Path, help="Model folder (default: a fresh tiny VLM).")
    ap.add_argument("--server-concurrency", type=int, default=8, help="serve --max-concurrency.")
    ap.add_argument("--json", type=Path, help="Write the results here too.")
    args = ap.parse_args(argv)

    from cxreason.inference.openai_backend import OpenAIEngine
    from cxreason.inference.predict import GenConfig, load_engine
    from cxreason.inference.serve import free_port

    with tempfile.TemporaryDirectory(prefix="openai-throughput-") as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from cxreason.train.model import init_tiny

            model = Path(init_tiny(tmp / "tiny", seed=0))
        bench = make_bench(tmp / "bench", args.items)
        cfg = GenConfig(max_new_tokens=args.max_new_tokens)
        port = free_port()
        server = start_server(model, port, args.server_concurrency)
        try:
            local = load_engine(str(model), backend="transformers", threads=1)
            timed_predict(local, bench, tmp / "warm-local.jsonl", cfg, 8)  # warm-up
            warm = OpenAIEngine(f"http://127.0.0.1:{port}/v1", "tiny", concurrency=8)
            timed_predict(warm, bench, tmp / "warm-remote.jsonl", cfg, 32)  # server warm-up
            rows, ref = [], None
            for c in CONCURRENCY:
                secs, outs = timed_predict(local, bench, tmp / f"local-{c}.jsonl", cfg, c)
                ref = ref or outs
                rows.append({"backend": "transformers (in process)", "parallel": c, "s": secs})
            for c in CONCURRENCY:
                eng = OpenAIEngine(
                    f"http://127.0.0.1:{port}/v1",
                    "tiny",
                    concurrency=c,
                    cache_dir=tmp / f"cache-{c}",
                )
                before = chat_requests(port)
                secs, outs = timed_predict(eng, bench, tmp / f"remote-{c}.jsonl", cfg, 4 * c)
                sent = chat_requests(port) - before
                if sent != args.items:
                    raise SystemExit(f"concurrency {c}: {sent} requests for {args.items} items")
                same = sum(a == b for a, b in zip(outs, ref, strict=True))
                rows.append(
                    {"backend": "openai (cxreason serve)", "parallel": c, "s": secs, "same": same}
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    base = {r["parallel"]: r["s"] for r in rows if r["backend"].startswith("transformers")}
    load = os.getloadavg()
    print(
        f"{args.items} items, {args.max_new_tokens} new tokens max, greedy, CoT prompt; "
        f"torch threads 1 on both sides; server batches up to {args.server_concurrency}; "
        f"{os.cpu_count()} CPUs shared with other jobs (load average {load[0]:.1f})"
    )
    print(f"{'backend':28} {'batch/conc':>10} {'items/s':>9} {'vs in-process':>14} {'same out':>9}")
    for r in rows:
        r["items_per_s"] = args.items / r["s"]
        r["ratio"] = base[r["parallel"]] / r["s"]
        same = f"{r['same']}/{args.items}" if "same" in r else "-"
        print(
            f"{r['backend']:28} {r['parallel']:>10} {r['items_per_s']:>9.2f} "
            f"{r['ratio']:>13.2f}x {same:>9}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"items": args.items, "load": load, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
