"""Input-blind baselines: well-formed outputs the scorer parses, and the scores they must get."""

from __future__ import annotations

from cxreason.bench.baselines import (
    BASELINES,
    baseline_outputs,
    baseline_rows,
    binary_finding,
)
from cxreason.metrics.outcome import outcome_score, parse_answer
from cxreason.records import BenchItem
from cxreason.train.rewards import check_format


def _item(id_, task, answer, options, study="s1", labels=()):
    q = "Does this chest X-ray show pleural effusion?" if task == "binary" else "Which finding?"
    return BenchItem(
        id=id_, study_id=study, task=task, question=q, options=options, answer=answer,
        answer_labels=list(labels), images=[], report="FINDINGS: x IMPRESSION: y",
        reasoning="", reasoning_steps=[], split="test",
    )  # fmt: skip


YN = {"A": "Yes", "B": "No"}


def test_binary_finding_is_read_back_from_the_template():
    assert binary_finding("Does this chest X-ray show lung opacity?") == "lung opacity"
    assert binary_finding("Is it there?") == "the finding asked about"


def test_blind_and_oracle_follow_their_rules():
    items = [
        _item("a", "binary", "A", YN, study="abn"),
        _item("b", "binary", "B", YN, study="nor"),
        _item(
            "c",
            "single",
            "C",
            {"A": "Edema", "B": "No Finding", "C": "Fracture", "D": "Mass"},
            study="nor",
        ),  # fmt: skip
        _item(
            "d",
            "single",
            "A",
            {"A": "Edema", "B": "No Finding", "C": "Fracture", "D": "Mass"},
            study="abn",
        ),  # fmt: skip
    ]
    blind = baseline_outputs(items, "blind")
    assert [parse_answer(blind[k]) for k in "abcd"] == ["B", "B", "A", "A"]
    assert "No pleural effusion is seen" in blind["a"]
    assert "There is no visible no finding, fracture or mass" not in blind["c"]
    oracle = baseline_outputs(items, "oracle", normal={"abn": False, "nor": True})
    assert parse_answer(oracle["a"]) == "A" and parse_answer(oracle["b"]) == "B"
    assert parse_answer(oracle["c"]) == "B"  # normal study: No Finding when offered
    assert parse_answer(oracle["d"]) in {"A", "C", "D"}  # abnormal: never No Finding
    assert baseline_outputs(items, "chance", seed=3) == baseline_outputs(items, "chance", seed=3)


def test_every_baseline_is_well_formed_and_scores_as_its_rule_on_the_shared_bench(openi_bench):
    items = [it for it in openi_bench["items"] if it.split == "test"]
    for name in BASELINES:
        rows = baseline_rows(items, name, "h" * 64)
        assert len(rows) == len(items) and rows[0]["bench_sha256"] == "h" * 64
        assert all(check_format(r["output"]) for r in rows), name
    by = {it.id: it for it in items}
    blind = {r["id"]: r["output"] for r in baseline_rows(items, "blind", "h")}
    binary = [it for it in items if it.task == "binary"]
    acc = sum(outcome_score(it, blind[it.id]) for it in binary) / len(binary)
    share_no = sum(it.options[it.answer] == "No" for it in binary) / len(binary)
    assert acc == share_no
    # hard negatives: the normality oracle is near chance on binary items (the audit's limit)
    oracle = {r["id"]: r["output"] for r in baseline_rows(items, "oracle", "h")}
    oracle_acc = sum(outcome_score(by[i], oracle[i]) for i in (it.id for it in binary))
    assert oracle_acc / len(binary) <= 0.60


def test_cli_writes_scoreable_baselines_and_refuses_bad_input(openi_bench, tmp_path, capsys):
    import json

    from cxreason.cli import main

    bench = openi_bench["out"] / "bench.jsonl"
    out = tmp_path / "bl"
    assert main(["bench", "baselines", str(openi_bench["out"]), "--out", str(out)]) == 0
    test_n = sum(it.split == "test" for it in openi_bench["items"])
    for name in BASELINES:
        assert sum(1 for _ in open(out / f"pred_{name}.jsonl")) == test_n
    sdir = tmp_path / "s"
    assert main(["score", "--bench", str(bench), "--pred", str(out / "pred_blind.jsonl"),
                 "--out", str(sdir), "--no-semantic"]) == 0  # fmt: skip
    scores = json.loads((sdir / "scores.json").read_text())
    assert scores["meta"]["provenance"] == "verified" and scores["n"] == test_n
    capsys.readouterr()
    assert main(["bench", "baselines", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) != 0
    assert "benchmark not found" in capsys.readouterr().err
    assert main(["bench", "baselines", str(bench), "--out", str(out), "--split", "dev"]) != 0
    assert "--split must be one of" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["bench", "baselines", str(bench), "--out", str(tmp_path / "busy")]) != 0
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
