"""`cxreason score` end to end on a benchmark built from the shared Open-I reports."""

from __future__ import annotations

import json

import pytest

from cxreason.labeling import aggregate_labels, extract_mentions
from cxreason.metrics import radrscore as rr
from cxreason.metrics import score as sc
from cxreason.metrics.cli import main
from cxreason.records import write_jsonl

METRICS = ("accuracy", "radrscore", "factuality", "completeness", "effectiveness")
#: These tests score every item of their benchmarks (the CLI default is the test split).
ALL = ["--split", "all"]


def _write_preds(path, outputs: dict[str, str]):
    write_jsonl(path, [{"id": k, "output": v} for k, v in outputs.items()])
    return path


def _ref(it) -> str:
    return f"<think>{it.reasoning}</think><answer>{it.answer}</answer>"


def _check_schema(scores: dict):
    assert isinstance(scores["n"], int)
    for block in [scores, *scores["by_task"].values()]:
        assert isinstance(block["n"], int)
        for m in METRICS:
            v, (lo, hi) = block[m]["value"], block[m]["ci95"]
            assert lo <= v + 1e-12 and v <= hi + 1e-12


@pytest.mark.parametrize("which", ["openi", "built"])
def test_reference_predictions_score_perfectly(which, request, tmp_path):
    """Reference chains: report sentences (crafted here) and cxreason.bench's mined chains."""
    openi_items = request.getfixturevalue(f"{which}_items")
    openi_bench = request.getfixturevalue(f"{which}_bench")
    pred = _write_preds(tmp_path / "ref.jsonl", {it.id: _ref(it) for it in openi_items})
    out = tmp_path / "out"
    assert main(["--bench", str(openi_bench), "--pred", str(pred), "--out", str(out), *ALL]) == 0
    scores = json.loads((out / "scores.json").read_text())
    _check_schema(scores)
    assert scores["n"] == len(openi_items)
    assert set(scores["by_task"]) == {it.task for it in openi_items}
    assert scores["n_radrscore"] == sum(bool(it.reasoning) for it in openi_items)
    assert scores["accuracy"]["value"] == 1.0
    for m in ("factuality", "completeness", "effectiveness"):
        assert scores[m]["value"] >= 0.98
    rows = [json.loads(x) for x in (out / "per_item.jsonl").read_text().splitlines()]
    assert len(rows) == len(openi_items)
    assert "| all |" in (out / "report.md").read_text()
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"


def _present(report: str) -> frozenset[str]:
    labels = aggregate_labels(extract_mentions(report))
    return frozenset(lb for lb, st in labels.items() if st == "present")


def _foreign_outputs(items):
    """Each item gets the reasoning of a same-task item of another study with other findings."""
    present = {it.study_id: _present(it.report) for it in items}
    outs = {}
    for task in {it.task for it in items}:
        group = [it for it in items if it.task == task and it.reasoning]
        for k, it in enumerate(group):
            j = (k + 1) % len(group)
            while present[group[j].study_id] == present[it.study_id] and j != k:
                j = (j + 1) % len(group)
            outs[it.id] = f"<think>{group[j].reasoning}</think><answer>{it.answer}</answer>"
    for it in items:
        outs.setdefault(it.id, f"<answer>{it.answer}</answer>")
    return outs


@pytest.mark.parametrize("which", ["openi", "built"])
def test_reasoning_from_another_study_scores_far_lower(which, request):
    openi_items = request.getfixturevalue(f"{which}_items")
    rows = sc.score_predictions(openi_items, _foreign_outputs(openi_items), embedder=None)
    agg = sc.aggregate(rows)
    assert agg["accuracy"]["value"] == 1.0
    assert agg["factuality"]["ci95"][1] < 0.85
    assert agg["completeness"]["ci95"][1] < 0.7
    assert agg["radrscore"]["value"] < 0.75


def _statement(e: rr.Entity, positive: bool) -> str | None:
    """A templated statement of ``e`` with the given polarity, if the labeler reads it back."""
    text = f"There is {e.concept}." if positive else f"There is no {e.concept}."
    back = rr.entities(text)
    want = rr.POSITIVE if positive else rr.NEGATIVE
    return (
        text
        if len(back) == 1 and back[0].concept == e.concept and back[0].polarity == want
        else None
    )


@pytest.mark.parametrize("which", ["openi", "built"])
@pytest.mark.parametrize("frac", [0.0, 0.25, 0.5, 1.0])
def test_flipping_k_of_n_statements(which, frac, request):
    openi_items = request.getfixturevalue(f"{which}_items")
    errs = []
    for it in [x for x in openi_items if x.task == "anomaly"]:
        pairs = []
        report = rr.EntityIndex(rr.entities(it.report))
        for e in rr.entities(it.reasoning):
            if report.polarities(e) not in (None, {e.polarity}):
                continue  # the report states this concept both ways: no polarity to flip
            keep = _statement(e, e.polarity == rr.POSITIVE)
            flip = _statement(e, e.polarity != rr.POSITIVE)
            if keep and flip and not e.is_global:
                pairs.append((keep, flip))
        pairs = list(dict.fromkeys(pairs))  # "left effusion", "right effusion": one template
        if len(pairs) < 3:
            continue
        k = round(frac * len(pairs))
        text = " ".join([f for _, f in pairs[:k]] + [s for s, _ in pairs[k:]])
        if rr.factuality(" ".join(s for s, _ in pairs), it.report) != 1.0:
            continue  # the report itself mentions a concept both ways
        errs.append(rr.factuality(text, it.report) - (len(pairs) - k) / len(pairs))
    assert len(errs) >= 30
    assert max(abs(e) for e in errs) <= 0.05
    print(
        f"{which} frac={frac}: {len(errs)} chains, max |factuality - (n-k)/n| = {max(map(abs, errs)):.4f}"
    )


def test_missing_and_broken_outputs_stay_in_the_denominator(openi_items, openi_bench, tmp_path):
    items = openi_items
    outs = {it.id: _ref(it) for it in items[10:]}
    outs[items[10].id] = f"<think>{items[10].reasoning}</think>"  # no answer: wrong
    outs[items[11].id] = f"<answer>{items[11].answer}</answer>"  # no reasoning: RadRScore 0
    outs[items[12].id] = "<think>x</think><answer>A or B</answer>"  # unparsable
    pred = _write_preds(tmp_path / "p.jsonl", outs)
    with open(pred, "a") as fh:  # a generation that failed, as `cxreason predict` records it
        fh.write(json.dumps({"id": items[0].id, "output": "", "error": "image unreadable"}) + "\n")
    out = tmp_path / "o"
    assert main(["--bench", str(openi_bench), "--pred", str(pred), "--out", str(out), *ALL]) == 0
    s = json.loads((out / "scores.json").read_text())
    assert s["n"] == len(items)
    assert (s["n_missing"], s["n_no_answer"], s["n_unparsable"]) == (9, 2, 1)
    assert s["n_pred_errors"] == 1 and s["n_no_reasoning"] == 11
    table = (out / "report.md").read_text()
    assert "gen. errors" in table and "| all | " in table
    all_row = next(line for line in table.splitlines() if line.startswith("| all |"))
    assert all_row.endswith("| 1 | 2 | 9 | 11 | 1 |")
    assert s["accuracy"]["value"] == pytest.approx((len(items) - 12) / len(items))
    rows = {
        json.loads(x)["id"]: json.loads(x)
        for x in (out / "per_item.jsonl").read_text().splitlines()
    }
    assert rows[items[11].id]["radrscore"] == 0.0 and rows[items[11].id]["accuracy"] == 1.0


def test_bad_prediction_files_are_clear_errors(openi_bench, tmp_path, capsys):
    out = tmp_path / "o"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "2-binary", "output": "<answer>A</answer>"}\n{"id": "x", "output": }\n')
    assert main(["--bench", str(openi_bench), "--pred", str(bad), "--out", str(out)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err.replace("\n", "")
    unknown = _write_preds(tmp_path / "u.jsonl", {"2-binary": "<answer>A</answer>", "nope": "B"})
    assert main(["--bench", str(openi_bench), "--pred", str(unknown), "--out", str(out)]) == 2
    msg = capsys.readouterr().err.replace("\n", "")
    assert "'nope' is not in the benchmark" in msg and "u.jsonl:2" in msg
    dup = tmp_path / "d.jsonl"
    dup.write_text('{"id": "2-binary", "output": "a"}\n{"id": "2-binary", "output": "b"}\n')
    assert main(["--bench", str(openi_bench), "--pred", str(dup), "--out", str(out)]) == 2
    assert "duplicate prediction id" in capsys.readouterr().err.replace("\n", "")
    assert not (out / "scores.json").exists()


def test_comparison_mode_paired_bootstrap(openi_items, openi_bench, tmp_path):
    ref = _write_preds(tmp_path / "reference.jsonl", {it.id: _ref(it) for it in openi_items})
    worse = _write_preds(tmp_path / "foreign.jsonl", _foreign_outputs(openi_items))
    out = tmp_path / "cmp"
    args = [
        "--bench",
        str(openi_bench),
        "--pred",
        str(ref),
        "--pred",
        str(worse),
        "--out",
        str(out),
        *ALL,
    ]
    assert main(args) == 0
    comp = json.loads((out / "comparison.json").read_text())
    assert comp["baseline"] == "reference"
    names = [s["name"] for s in comp["systems"]]
    assert names == ["reference", "foreign"]
    foreign = comp["systems"][1]
    assert foreign["radrscore_vs_baseline"]["delta"] < -0.2
    assert foreign["radrscore_vs_baseline"]["p"] < 0.001
    assert foreign["accuracy_vs_baseline"]["p"] == 1.0  # same answers
    assert (out / "reference" / "scores.json").exists() and (
        out / "foreign" / "scores.png"
    ).exists()
    assert "foreign" in (out / "comparison.md").read_text()


def test_top_level_cli_mounts_score(openi_bench, openi_items, tmp_path):
    from cxreason.cli import main as cxr

    pred = _write_preds(tmp_path / "p.jsonl", {it.id: _ref(it) for it in openi_items[:5]})
    out = tmp_path / "top"
    args = ["score", "--bench", str(openi_bench), "--pred", str(pred), "--out", str(out), *ALL]
    # 5 of many items predicted: scores are written, but the run says so and exits non-zero
    assert cxr([*args, "--no-semantic"]) == 1
    assert json.loads((out / "scores.json").read_text())["n_missing"] == len(openi_items) - 5
    assert (
        cxr(
            [
                "score",
                "--bench",
                str(tmp_path / "nope.jsonl"),
                "--pred",
                str(pred),
                "--out",
                str(out),
            ]
        )
        == 2
    )


def test_bad_benchmark_files_are_clear_errors(tmp_path, capsys):
    pred = _write_preds(tmp_path / "p.jsonl", {"a": "<answer>A</answer>"})
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["--bench", str(empty), "--pred", str(pred), "--out", str(tmp_path / "o")]) == 2
    assert "no items" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "task": "essay"}\n')
    assert main(["--bench", str(bad), "--pred", str(pred), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:1" in capsys.readouterr().err.replace("\n", "")


def test_same_inputs_give_identical_outputs(openi_items, openi_bench, tmp_path):
    outs = _foreign_outputs(openi_items)
    half = dict(list(outs.items())[::2])
    pred = _write_preds(tmp_path / "p.jsonl", half)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert main(["--bench", str(openi_bench), "--pred", str(pred), "--out", str(d), *ALL]) == 0
    for name in ("scores.json", "per_item.jsonl", "report.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    s = json.loads((a / "scores.json").read_text())
    assert s["n_missing"] == len(openi_items) - len(half)
