"""LLM-judge backend against a real loopback OpenAI-compatible server (FastAPI + uvicorn)."""

from __future__ import annotations

import pytest

from cxreason.bench.llm_client import LLMClient
from cxreason.metrics import score as sc
from cxreason.metrics.judge import JudgeError, LLMJudge, parse_entities


def _ref_outputs(items):
    return {it.id: f"<think>{it.reasoning}</think><answer>{it.answer}</answer>" for it in items}


def test_reference_predictions_score_one_through_the_judge(judge_server, openi_items, tmp_path):
    items = openi_items[:30]
    client = LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "cache")
    judge = LLMJudge(client)
    outs = _ref_outputs(items)
    outs[items[0].id] = "<answer>A</answer>"  # no reasoning: no call, RadRScore 0
    rows = sc.score_predictions(items, outs, backend="llm", judge=judge)
    assert rows[0]["radrscore"] == 0.0 and not rows[0]["has_reasoning"]
    for r in rows[1:]:
        assert (r["factuality"], r["completeness"], r["effectiveness"]) == (1.0, 1.0, 1.0), r["id"]
    plan = LLMJudge.plan_calls(items, [outs[it.id] for it in items])
    assert judge.n_calls == judge_server.state["requests"] <= plan["total"]
    # deduplication: one extraction per unique text, not per item
    n_extract = judge_server.state["kinds"].count("TASK: ENTITY_EXTRACTION")
    assert n_extract == plan["extraction"] < 3 * (len(items) - 1)
    # a second run is served from the on-disk cache
    before = judge_server.state["requests"]
    again = sc.score_predictions(items, outs, backend="llm", judge=LLMJudge(client))
    assert again == rows and judge_server.state["requests"] == before


def test_judge_agrees_with_offline_on_flipped_and_foreign_reasoning(
    judge_server, openi_items, tmp_path
):
    items = [it for it in openi_items if it.task == "anomaly"][:20]
    outs = {}
    for k, it in enumerate(items):
        other = items[(k + 7) % len(items)]
        outs[it.id] = f"<think>{other.reasoning}</think><answer>{it.answer}</answer>"
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "c"))
    llm = sc.score_predictions(items, outs, backend="llm", judge=judge)
    off = sc.score_predictions(items, outs, backend="offline", embedder=None)
    fl = [r["factuality"] for r in llm]
    fo = [r["factuality"] for r in off]
    # the fake judge matches concepts exactly; offline also matches at label level
    assert sum(abs(a - b) for a, b in zip(fl, fo, strict=True)) / len(fl) < 0.05
    assert sum(fl) / len(fl) < 0.95


def test_invalid_judge_json_is_repaired_once_then_an_error(judge_server, openi_items, tmp_path):
    items = openi_items[:4]
    judge_server.state["bad_json_for"] = "TASK: ENTITY_MATCHING"
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "c"))
    rows = sc.score_predictions(items, _ref_outputs(items), backend="llm", judge=judge)
    assert all(r["factuality"] == 1.0 for r in rows)  # repaired by the second turn
    assert "TASK: ENTITY_MATCHING (repair)" in judge_server.state["kinds"]
    judge_server.state["bad_json_always"] = True
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "d"))
    with pytest.raises(JudgeError, match="invalid judge JSON after a repair turn"):
        sc.score_predictions(items, _ref_outputs(items), backend="llm", judge=judge)


def test_parse_entities_validates():
    assert parse_entities(
        '```json\n{"entities": [{"name": "Edema", "status": "absent"}]}\n```'
    ) == [{"name": "edema", "status": "absent"}]
    with pytest.raises(ValueError):
        parse_entities('{"entities": [{"name": "edema", "status": "maybe"}]}')
    with pytest.raises(ValueError):
        parse_entities("[1, 2]")


def test_cli_llm_backend_end_to_end(judge_server, built_items, built_bench, tmp_path):
    import json

    from cxreason.metrics.cli import main
    from cxreason.records import write_jsonl

    items = built_items[:40]
    bench = tmp_path / "bench40.jsonl"  # the judge's calls are the point: score just these
    write_jsonl(bench, items)
    pred = tmp_path / "p.jsonl"
    write_jsonl(
        pred,
        [
            {"id": it.id, "output": o}
            for it, o in zip(items, _ref_outputs(items).values(), strict=True)
        ],
    )
    out = tmp_path / "o"
    args = [
        "--bench",
        str(bench),
        "--pred",
        str(pred),
        "--out",
        str(out),
        "--split",
        "all",
        "--backend",
        "llm",
        "--llm-base-url",
        judge_server.base_url,
        "--llm-model",
        "judge-test",
    ]
    assert main(args) == 0
    s = json.loads((out / "scores.json").read_text())
    assert (
        s["meta"]["backend"] == "llm" and s["meta"]["llm_calls"] == judge_server.state["requests"]
    )
    scored = [json.loads(x) for x in (out / "per_item.jsonl").read_text().splitlines()]
    with_ref = [
        r for r in scored if r["id"] in {it.id for it in items} and r["radrscore"] is not None
    ]
    assert with_ref and all(r["factuality"] == 1.0 and r["completeness"] == 1.0 for r in with_ref)
    assert any((out / "llm_cache").rglob("*.json"))
    assert main([*args[:8], "--backend", "llm"]) == 2  # missing --llm-base-url / --llm-model


def test_parse_matches_tolerates_string_ids_and_fills_missing():
    from cxreason.metrics.judge import parse_matches

    text = '{"matches": [{"a": "1", "b": "0", "agree": true}, {"a": 7, "b": 1}, {"a": 0, "b": "none"}]}'
    ms = parse_matches(text, 3, "a", "b")
    assert [m["b"] for m in ms] == [None, 0, None]
    assert ms[1]["agree"] is True
    assert parse_entities('{"entities": [{"name": "Edema", "status": "Negative"}]}') == [
        {"name": "edema", "status": "absent"}
    ]
