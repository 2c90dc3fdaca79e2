"""The whole flow as a user runs it, in subprocesses: `cxreason serve` on loopback, `cxreason
predict --base-url` over a benchmark killed with SIGKILL mid-run, resumed: every item predicted
exactly once, a rerun after completion sends no request (serve's /healthz counter), and
`cxreason score` reads the output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace

import httpx
from inference_helpers import bench_items, grey_image

from cxreason.inference.predict import progress_path
from cxreason.inference.serve import free_port
from cxreason.records import read_appended_jsonl, write_jsonl

N_ITEMS = 12
CONCURRENCY = 2


def cxreason(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "cxreason.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def chat_requests(url: str) -> int:
    return httpx.get(url + "/healthz", timeout=10).json()["requests"]["chat_completions"]


def done_rows(out) -> list[dict]:
    path = progress_path(out)
    if not path.exists():
        return []
    return [r for r in read_appended_jsonl(path) if "id" in r and not r.get("error")]


def test_kill_9_resume_each_item_once_then_no_request(tiny_model, tmp_path):
    # distinct items (identical requests would be answered once, then from the cache)
    for k in range(N_ITEMS):
        grey_image(100 + k).save(tmp_path / f"img-{k}.png")
    items = [
        replace(it, id=f"item-{k:02d}", images=[f"img-{k}.png"])
        for k, it in enumerate((bench_items() * N_ITEMS)[:N_ITEMS])
    ]
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, items)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = cxreason(
        "serve",
        "--model",
        str(tiny_model),
        "--served-name",
        "tiny-vlm",
        "--port",
        str(port),
        "--no-embedder",
        "--max-concurrency",
        "1",
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, finish(server)[1]
            assert time.monotonic() < deadline, "cxreason serve did not come up"
            time.sleep(0.2)
        out = tmp_path / "pred.jsonl"
        args = ["predict", "--base-url", url + "/v1", "--model", "tiny-vlm"]
        args += ["--bench", str(bench), "--out", str(out)]
        args += ["--split", "all", "--max-new-tokens", "32", "--concurrency", str(CONCURRENCY)]
        args += ["--batch-size", "2"]

        first = cxreason(*args)
        while len(done_rows(out)) < 2:  # kill once some items are logged, before the end
            assert first.poll() is None, f"finished before it could be killed: {finish(first)[1]}"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = len(done_rows(out))
        assert 2 <= killed_at < N_ITEMS and not out.exists()

        rc, log = finish(cxreason(*args))
        assert rc == 0, log
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert [r["id"] for r in rows] == [it.id for it in items]
        assert all(r["output"] and not r.get("error") for r in rows)
        logged = Counter(r["id"] for r in done_rows(out))
        assert set(logged) == {it.id for it in items} and set(logged.values()) == {1}
        sent = chat_requests(url)
        print(f"killed with {killed_at}/{N_ITEMS} items logged; {sent} chat requests in all")
        # each item asked once; only the requests in flight at the kill may have been re-sent
        assert N_ITEMS <= sent <= N_ITEMS + CONCURRENCY, sent

        rc, log = finish(cxreason(*args))
        assert rc == 0, log
        assert chat_requests(url) == sent, "a rerun after completion sent requests"
        assert f"{N_ITEMS} already done" in log and "endpoint: 0 requests" in log
        assert [json.loads(x) for x in out.read_text().splitlines()] == rows

        scores = tmp_path / "scores"
        score = ["score", "--bench", str(bench), "--pred", str(out), "--out", str(scores)]
        rc, log = finish(cxreason(*score, "--split", "all", "--no-semantic"))
        assert rc == 0, log
        assert f"counts: {N_ITEMS} items scored (split all), {N_ITEMS} predicted" in log
        assert json.loads((scores / "scores.json").read_text())["n"] == N_ITEMS
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
