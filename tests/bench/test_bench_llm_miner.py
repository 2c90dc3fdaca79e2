"""The llm chain miner end to end against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from bench_fixtures import openi_subset
from bench_llm_server import FakeLLMServer, ServerThread, miner_responder

from cxreason.bench.build import BuildConfig, build_bench
from cxreason.bench.cli import main
from cxreason.bench.filter import reaches_answer
from cxreason.metrics.radrscore import factuality
from cxreason.records import BenchItem, read_appended_jsonl, read_records

TASKS = "binary,single,multiple,anomaly"


@pytest.fixture()
def subset(tmp_path, openi_reports) -> Path:
    return openi_subset(openi_reports, tmp_path / "sub.csv", 40)


def _llm_args(src: Path, out: Path, url: str, conc: int = 3) -> list[str]:
    return [
        "build", str(src), "--out", str(out), "--tasks", TASKS, "--miner", "llm",
        "--llm-base-url", url, "--llm-model", "fake-llm", "--llm-concurrency", str(conc),
    ]  # fmt: skip


def _items(out: Path) -> list[BenchItem]:
    return read_records(out / "bench.jsonl", BenchItem)


def test_llm_miner_with_faults_then_fully_cached(tmp_path, subset):
    fake = FakeLLMServer(miner_responder)
    # one 'badjson' only: a second one could hit the retry of the first and fail that item
    fake.faults.extend(["429", "500", "malformed", "badjson", "503", "429"])
    with ServerThread(fake) as st:
        assert main(_llm_args(subset, tmp_path / "b", st.base_url)) == 0
        first_hits = fake.hits
        items = _items(tmp_path / "b")
        m = json.loads((tmp_path / "b" / "manifest.json").read_text())
        # the same items and answers as the offline build: mining never changes the questions
        assert main(["build", str(subset), "--out", str(tmp_path / "r"), "--tasks", TASKS]) == 0
        rules = _items(tmp_path / "r")
        assert [(i.id, i.answer, i.options) for i in items] == [
            (i.id, i.answer, i.options) for i in rules
        ]
        assert m["llm_prompts_version"] and m["options"]["miner"] == "llm"
        assert m["chains"]["mining_failures"] == []
        kept = [it for it in items if it.reasoning]
        assert len(kept) >= 0.8 * len(items)
        for it in kept:
            assert factuality(it.reasoning, it.report) == 1.0 and reaches_answer(
                it, it.reasoning_steps
            )
        assert m["chains"]["kept"] + sum(m["chains"]["dropped_by_reason"].values()) == len(items)
        # a rerun requests nothing: progress log + disk cache
        before = (tmp_path / "b" / "bench.jsonl").read_bytes()
        assert main(_llm_args(subset, tmp_path / "b", st.base_url)) == 0
        assert fake.hits == first_hits
        assert (tmp_path / "b" / "bench.jsonl").read_bytes() == before
    # every distinct prompt answered exactly once (identical prompts are shared via the cache),
    # plus the 5 injected HTTP-level faults (the 'badjson' reply is an answer, retried by the miner)
    assert set(fake.ok_by_prompt.values()) == {1}
    assert first_hits == len(fake.ok_by_prompt) + 5


def test_failures_are_recorded_not_emptied(tmp_path, subset):
    fake = FakeLLMServer(miner_responder)
    fake.corrupt = lambda msgs: (
        "STAGE: refine" in msgs[0]["content"] and "answer is B)" in msgs[1]["content"]
    )
    with ServerThread(fake) as st:
        assert main(_llm_args(subset, tmp_path / "b", st.base_url)) == 0
    items = {it.id: it for it in _items(tmp_path / "b")}
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    failed = {f["id"]: f["error"] for f in m["chains"]["mining_failures"]}
    expect = {i for i, it in items.items() if it.options and it.answer == "B"}
    assert set(failed) == expect and expect
    assert all("refine: invalid reply after one retry" in e for e in failed.values())
    assert all(items[i].reasoning == "" and items[i].reasoning_steps == [] for i in failed)
    assert m["chains"]["dropped_by_reason"]["mining failed"] == len(failed)


def test_unreachable_endpoint_fails_every_item_loudly(tmp_path, subset):
    cfg = BuildConfig(
        input=subset, out=tmp_path / "b", tasks=("binary",), miner="llm", llm_base_url="http://127.0.0.1:9/v1",
        llm_model="m", llm_max_retries=0, llm_concurrency=2,
    )  # fmt: skip
    m = build_bench(cfg)
    n = m["counts"]["total"]
    assert n > 0 and len(m["chains"]["mining_failures"]) == n and m["chains"]["kept"] == 0
    assert all("transport error" in f["error"] for f in m["chains"]["mining_failures"])


def test_kill_mid_run_then_resume(tmp_path, subset):
    """SIGKILL the build after some items, rerun: no loss, no duplicates, finished items not re-requested."""
    fake = FakeLLMServer(miner_responder, delay_s=0.05)
    out = tmp_path / "b"
    progress = out / ".mining" / "progress.jsonl"
    conc = 3
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    with ServerThread(fake) as st:
        cmd = [
            sys.executable,
            "-m",
            "cxreason.bench.cli",
            *_llm_args(subset, out, st.base_url, conc),
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while len(read_appended_jsonl(progress)) < 12:
            assert proc.poll() is None, "build finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)  # let in-flight requests finish server-side
        done_at_kill = {r["id"] for r in read_appended_jsonl(progress) if r["error"] is None}
        hits_at_kill = fake.hits
        assert not (out / "bench.jsonl").exists()  # the final output is only written at the end
        assert main(_llm_args(subset, out, st.base_url, conc)) == 0
        hits_second = fake.hits - hits_at_kill
    items = _items(out)
    ids = [it.id for it in items]
    assert len(ids) == len(set(ids))
    records = Counter(r["id"] for r in read_appended_jsonl(progress))
    assert set(records) == set(ids)  # none lost
    assert all(records[i] == 1 for i in done_at_kill)  # finished items were not redone
    assert 0 < hits_second <= 3 * (len(ids) - len(done_at_kill))
    repeated = sum(n - 1 for n in fake.ok_by_prompt.values() if n > 1)
    assert repeated <= conc  # only the requests in flight at the kill can be asked twice
    m = json.loads((out / "manifest.json").read_text())
    assert m["chains"]["mining_failures"] == []
    assert m["counts"]["total"] == len(ids)


def test_changed_items_are_mined_again(tmp_path, subset):
    """A rerun whose options differ (here --n-candidates) never reuses a stale chain."""
    fake = FakeLLMServer(miner_responder)
    out = tmp_path / "b"
    with ServerThread(fake) as st:
        assert main(_llm_args(subset, out, st.base_url)) == 0
        old = {it.id: it for it in _items(out)}
        hits = fake.hits
        assert main([*_llm_args(subset, out, st.base_url), "--n-candidates", "5"]) == 0
        new = _items(out)
    changed = [
        it for it in new if it.options != old[it.id].options or it.answer != old[it.id].answer
    ]
    assert changed and fake.hits > hits
    kept_before = [it for it in changed if old[it.id].reasoning]
    assert kept_before and all(it.reasoning for it in kept_before)  # redone, not dropped as stale
    for it in new:
        if it.reasoning:
            assert (
                reaches_answer(it, it.reasoning_steps)
                and factuality(it.reasoning, it.report) == 1.0
            )


def test_llm_miner_temporal_chains_use_both_reports(tmp_path):
    """Temporal items: the evidence stage reads the reference and the new report; the chain
    has the rules miner's five-step structure (the same for every class)."""
    from bench_fixtures import write_temporal_fixture

    from cxreason.bench.miner import CURRENT_PREFIX, PRIOR_PREFIX

    src = write_temporal_fixture(tmp_path / "t.jsonl", n_patients=30)
    stages: Counter = Counter()

    def responder(messages):
        stages[messages[0]["content"].split("\n")[0]] += 1
        return miner_responder(messages)

    fake = FakeLLMServer(responder)
    with ServerThread(fake) as st:
        args = ["build", str(src), "--out", str(tmp_path / "b"), "--tasks", "temporal",
                "--miner", "llm", "--llm-base-url", st.base_url, "--llm-model", "fake-llm"]  # fmt: skip
        assert main(args) == 0
    items = _items(tmp_path / "b")
    assert items and all(it.reasoning for it in items)
    for it in items:
        s = it.reasoning_steps
        assert len(s) == 5 and s[1].startswith(PRIOR_PREFIX) and s[2].startswith(CURRENT_PREFIX)
        assert reaches_answer(it, s)
    assert set(stages) == {"STAGE: evidence"}  # no plan or refine stage: the structure is fixed
    assert len(items) < sum(stages.values()) <= 2 * len(items)  # identical reports are cached
