"""The demo report's target checks and tables are computed from the run's own scores."""

from __future__ import annotations

from cxreason.demo.analysis import ablation, paired
from cxreason.demo.report import target_checks, write_report


def _m(v, lo, hi):
    return {"value": v, "ci95": [lo, hi]}


def _scores(binary, single, radr, lo=0.7, single_lo=0.0):
    return {
        "n": 4,
        "accuracy": _m((binary + single) / 2, 0, 1),
        "radrscore": _m(radr, 0, 1),
        **{k: _m(radr, 0, 1) for k in ("factuality", "completeness", "effectiveness")},
        "by_task": {
            "binary": {"n": 2, "accuracy": _m(binary, lo, 1.0)},
            "single": {"n": 2, "accuracy": _m(single, single_lo, 1)},
        },
    }


def _rows(values, task="binary"):
    """Rows of 12 studies x 2 items; ``values``: per-item (accuracy, radrscore, completeness)."""
    rows = []
    for i, (acc, radr, comp) in enumerate(values):
        rows.append({
            "id": f"it{i}", "study_id": f"s{i // 2}", "task": task, "accuracy": acc,
            "radrscore": radr, "factuality": radr, "completeness": comp, "effectiveness": radr,
        })  # fmt: skip
    return rows


def test_checks_pass_and_fail_from_the_numbers():
    outcome = _rows([(1.0, 0.5, 0.4)] * 24)
    process = _rows([(1.0, 0.7, 0.8)] * 24)
    pooled = {"sft": ({}, outcome), "grpo_outcome": ({}, outcome), "trained": ({}, process)}
    ab = ablation(pooled)
    scores = {
        "chance": _scores(0.5, 0.25, 0.6),
        "blind": _scores(0.5, 0.25, 0.65),
        "oracle": _scores(0.55, 0.22, 0.6),
        "trained": _scores(0.85, 0.35, 0.7, lo=0.78, single_lo=0.27),
    }
    checks = target_checks(scores, ab)
    assert [c["passed"] for c in checks] == [True] * 7, checks
    assert checks[3]["check"].endswith("> normality oracle")
    assert checks[3]["value"] == "0.780 vs 0.550"
    assert checks[5]["value"] == "+0.200 [+0.200, +0.200]"

    scores["trained"] = _scores(0.79, 0.2, 0.59, lo=0.54, single_lo=0.1)
    ab = ablation({"grpo_outcome": ({}, outcome), "trained": ({}, outcome)})
    failed = [c["check"] for c in target_checks(scores, ab) if not c["passed"]]
    assert failed == [
        "trained binary accuracy >= 0.80",
        "lower 95% CI bound of trained binary accuracy > normality oracle",
        "lower 95% CI bound of trained single accuracy > 0.25",
        "process reward vs outcome-only: paired radrscore difference, CI excludes 0",
        "process reward vs outcome-only: paired completeness difference, CI excludes 0",
    ]


def test_paired_difference_resamples_studies_and_skips_missing_values():
    a = _rows([(0.0, 0.5, 0.5)] * 24)
    b = _rows([(1.0, 0.5, 0.5)] * 12 + [(0.0, 0.5, 0.5)] * 12)
    b[0]["radrscore"] = None  # no reference chain: left out of the RadRScore pairs
    d = paired(a, b, "accuracy")
    assert d["delta"] == 0.5 and d["n"] == 24 and d["n_studies"] == 12 and d["excludes_0"]
    assert paired(a, b, "radrscore")["n"] == 23
    assert paired(a, b, "accuracy", task="single") is None


def test_report_shows_baselines_checks_ablation_and_seeds(tmp_path):
    rows = _rows([(1.0, 0.6, 0.6)] * 24)
    ab = ablation({"grpo_outcome": ({}, rows), "trained": ({}, rows)})
    scores = {"sft": _scores(0.75, 0.25, 0.60), "trained": _scores(0.70, 0.25, 0.50)}
    baselines = {"blind": _scores(0.5, 0.25, 0.66)}
    per_seed = {"trained": {"binary accuracy": {"values": [0.8, 0.9], "mean": 0.85, "sd": 0.07}}}
    single = {"n": 10, "accuracy": 0.2, "chain_affirms_gold": 0.3,
              "chain_affirms_exactly_one_option": 0.9, "answer_follows_chain": 0.5}  # fmt: skip
    md, html = write_report(
        tmp_path, scores, baselines, [], {"seeds": [0, 1]}, None,
        ablation=ab, per_seed=per_seed, single=single,
    )  # fmt: skip
    text = md.read_text()
    assert "SYNTHETIC" in text and "*validation* split" in text
    assert "| Image-blind template | binary | 2 | 0.500 [0.700, 1.000] |" in text
    assert "| trained binary accuracy >= 0.80 | 0.700 | **no** |" in text
    assert "| process vs outcome-only GRPO | all | 24 (12) | +0.000 [+0.000, +0.000] |" in text
    assert "| SFT + GRPO, outcome + process rewards | binary accuracy | 0.850 ± 0.070 |" in text
    assert "and the gold finding in 30%" in text
    page = html.read_text()
    assert "<h2>Targets, checked on this run</h2>" in page and "Image-blind template" in page
