"""The demo report's target checks are computed from the run's own scores."""

from __future__ import annotations

from cxreason.demo.report import target_checks, write_report


def _m(v, lo, hi):
    return {"value": v, "ci95": [lo, hi]}


def _scores(binary, single, radr, lo=0.7):
    return {
        "n": 4,
        "accuracy": _m((binary + single) / 2, 0, 1),
        "radrscore": _m(radr, 0, 1),
        **{k: _m(radr, 0, 1) for k in ("factuality", "completeness", "effectiveness")},
        "by_task": {
            "binary": {"n": 2, "accuracy": _m(binary, lo, 1.0)},
            "single": {"n": 2, "accuracy": _m(single, 0, 1)},
        },
    }


def test_checks_pass_and_fail_from_the_numbers():
    scores = {
        "untrained": _scores(0.0, 0.0, 0.0),
        "sft": _scores(0.75, 0.25, 0.60),
        "trained": _scores(0.85, 0.30, 0.65),
    }
    rows = {
        "sft": [
            {"id": "a", "accuracy": 1.0, "radrscore": 0.5},
            {"id": "b", "accuracy": 0.0, "radrscore": 0.7},
            {"id": "c", "accuracy": 1.0, "radrscore": None},
        ],
        "trained": [
            {"id": "a", "accuracy": 1.0, "radrscore": 0.6},
            {"id": "b", "accuracy": 0.0, "radrscore": 0.7},
            {"id": "c", "accuracy": 1.0, "radrscore": 0.2},
        ],
    }
    checks = target_checks(scores, rows)
    assert [c["passed"] for c in checks] == [True, True, True, True, True]
    assert "paired delta +0.050" in checks[-1]["value"]  # item c has no SFT value: left out

    scores["trained"] = _scores(0.79, 0.0, 0.59, lo=0.48)
    failed = [c["check"] for c in target_checks(scores) if not c["passed"]]
    assert failed == [
        "trained binary accuracy >= 0.80",
        "lower 95% CI bound of trained binary accuracy > 0.5",
        "trained beats untrained on single accuracy",
        "RadRScore: trained (SFT + GRPO) above SFT only",
    ]


def test_report_shows_the_checks(tmp_path):
    scores = {"sft": _scores(0.75, 0.25, 0.60), "trained": _scores(0.70, 0.25, 0.50)}
    md, html = write_report(tmp_path, scores, [], {"seed": 0}, None)
    text = md.read_text()
    assert "## Targets, checked on this run" in text
    assert "| RadRScore: trained (SFT + GRPO) above SFT only | 0.500 vs 0.600 | **no** |" in text
    assert "<h2>Targets, checked on this run</h2>" in html.read_text()
    assert "single-choice 0.25" in text
