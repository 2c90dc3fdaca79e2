"""LLM-judge backend against a real loopback OpenAI-compatible server (FastAPI + uvicorn)."""

from __future__ import annotations

import pytest

from cxreason.bench.llm_client import LLMClient
from cxreason.metrics import score as sc
from cxreason.metrics.judge import JudgeError, LLMJudge, parse_findings


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
    n_extract = judge_server.state["kinds"].count("TASK: KEY_FINDINGS")
    assert n_extract == plan["key_findings"] < 2 * (len(items) - 1)
    # a second run is served from the on-disk cache
    before = judge_server.state["requests"]
    again = sc.score_predictions(items, outs, backend="llm", judge=LLMJudge(client))
    assert again == rows and judge_server.state["requests"] == before


def test_judge_agrees_with_offline_on_foreign_reasoning(judge_server, openi_items, tmp_path):
    """The fake judge answers with the offline rules: the judge backend's bookkeeping (ids,
    dedup, per-claim shares) must then reproduce the offline parts."""
    items = [it for it in openi_items if it.task == "anomaly"][:20]
    outs = {}
    for k, it in enumerate(items):
        other = items[(k + 7) % len(items)]
        outs[it.id] = f"<think>{other.reasoning}</think><answer>{it.answer}</answer>"
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "c"))
    llm = sc.score_predictions(items, outs, backend="llm", judge=judge)
    off = sc.score_predictions(items, outs, backend="offline", embedder=None)
    for part in ("factuality", "completeness", "effectiveness"):
        a, b = [r[part] for r in llm], [r[part] for r in off]
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-9, part
    assert sum(r["factuality"] for r in llm) / len(llm) < 0.95


def test_invalid_judge_json_is_repaired_once_then_an_error(judge_server, openi_items, tmp_path):
    items = openi_items[:4]
    judge_server.state["bad_json_for"] = "TASK: FACT_CHECK"
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "c"))
    rows = sc.score_predictions(items, _ref_outputs(items), backend="llm", judge=judge)
    assert all(r["factuality"] == 1.0 for r in rows)  # repaired by the second turn
    assert "TASK: FACT_CHECK (repair)" in judge_server.state["kinds"]
    judge_server.state["bad_json_always"] = True
    judge = LLMJudge(LLMClient(judge_server.base_url, "judge-test", cache_dir=tmp_path / "d"))
    with pytest.raises(JudgeError, match="invalid judge JSON after a repair turn"):
        sc.score_predictions(items, _ref_outputs(items), backend="llm", judge=judge)


def test_parse_findings_validates():
    assert parse_findings(
        '```json\n{"findings": [{"observation": "Left Effusion", "status": "absent"}]}\n```'
    ) == [{"observation": "left effusion", "status": "absent"}]
    # the released judge's key and spelling
    assert parse_findings(
        '{"key_conclusion": [{"observation": "cardiomegaly", "status": "Not present"}]}'
    ) == [{"observation": "cardiomegaly", "status": "absent"}]
    with pytest.raises(ValueError):
        parse_findings('{"findings": [{"observation": "edema", "status": "maybe"}]}')
    with pytest.raises(ValueError):
        parse_findings("[1, 2]")


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


def test_parse_flags_and_step_support_tolerate_string_ids_and_fill_missing():
    from cxreason.metrics.judge import parse_flags, parse_step_support

    text = '{"verdicts": [{"id": "1", "correct": true}, {"id": 7, "correct": true}, {"id": 0}]}'
    assert parse_flags(text, 3, "verdicts", "correct") == [False, True, False]
    steps = (
        '{"steps": [{"step": 0, "claims": [{"claim": "a", "verdict": "supported"}, '
        '{"claim": "b", "verdict": "not_in_reference"}]}, {"step": "2", "claims": '
        '[{"claim": "c", "verdict": "supported"}]}]}'
    )
    assert parse_step_support(steps, 3) == [0.5, 0.0, 1.0]
    with pytest.raises(ValueError):
        parse_step_support('{"steps": [{"step": 0, "claims": [{"verdict": "maybe"}]}]}', 1)


def test_prompts_follow_the_released_procedure():
    """Item 8: supported / contradicted / not in the reference, and nothing that tells the judge
    to ignore laterality or size."""
    from cxreason.metrics import prompts as P

    text = " ".join([P.KEY_FINDINGS, P.FACT_CHECK, P.RECALL, P.STEP_SUPPORT]).lower()
    assert "ignore laterality" not in text and "ignore" not in P.KEY_FINDINGS.lower()
    for verdict in ("supported", "contradicted", "not_in_reference"):
        assert verdict in P.STEP_SUPPORT
    assert "does not mention" in P.FACT_CHECK and "general statement" in P.FACT_CHECK
    assert "side" in P.KEY_FINDINGS and "side" in P.RECALL
