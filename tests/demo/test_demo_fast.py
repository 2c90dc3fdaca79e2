"""`cxreason demo --fast` end to end on the shared Open-I reports (slow: several minutes)."""

from __future__ import annotations

import json

import pytest

from cxreason.cli import main


@pytest.mark.slow
def test_demo_fast_writes_report_and_beats_chance(openi_reports, openi_projections, tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--fast", "--out", str(out), "--reports", str(openi_reports)]
    assert main(args + ["--projections", str(openi_projections)]) == 0
    for name in (
        "report.md",
        "report.html",
        "scores.json",
        "scores_grpo_outcome.json",
        "scores_sft.json",
        "scores_untrained.json",
        "scores_blind.json",
    ):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "SYNTHETIC" in report and "scores_comparison.png" in report
    trained = json.loads((out / "scores.json").read_text())
    untrained = json.loads((out / "scores_untrained.json").read_text())
    binary = trained["by_task"]["binary"]["accuracy"]["value"]
    assert binary > 0.5, f"trained binary accuracy {binary} not above chance"
    assert trained["accuracy"]["value"] > untrained["accuracy"]["value"]
    # resumable: a second run skips every finished stage
    assert main(args + ["--projections", str(openi_projections)]) == 0
    marks = json.loads((out / ".stages" / "sft@seed0.json").read_text())
    assert marks["stage"] == "sft@seed0"
