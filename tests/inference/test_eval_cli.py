"""cxreason eval: predict + score + report for a local and a served model, a leaderboard of both
(paired tests on identical items), and its refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from inference_helpers import bench_items

from cxreason.inference import eval_cli
from cxreason.records import write_jsonl


def _err(capsys) -> str:
    """stdout and stderr together, without the console's line wrapping."""
    cap = capsys.readouterr()
    return " ".join((cap.out + cap.err).split())


@pytest.fixture(scope="module")
def split_bench(tiny_bench, tmp_path_factory):
    """The tiny benchmark: two test items (one with a missing image), one train item."""
    items = [
        replace(it, split=s) for it, s in zip(bench_items(), ("test", "train", "test"), strict=True)
    ]
    items[2] = replace(items[2], images=["img/s2.png", "img/gone.png"])
    path = tmp_path_factory.mktemp("evalbench") / "bench.jsonl"
    write_jsonl(path, items)
    return path


def _common(bench, tiny_bench, *extra):
    return ["--bench", str(bench), "--images", str(tiny_bench), "--max-new-tokens", "3"] + [
        "--no-semantic",
        "--n-resamples",
        "200",
        *extra,
    ]


@pytest.fixture(scope="module")
def two_runs(tiny_model, tiny_bench, split_bench, live_server, tmp_path_factory):
    """A local run and a served run (OpenAI backend) of the same model, same items."""
    root = tmp_path_factory.mktemp("evals")
    local, served = root / "local", root / "served"
    args = _common(split_bench, tiny_bench, "--image-fallback", "phantom")
    assert eval_cli.main([*args, "--model", str(tiny_model), "--out", str(local)]) == 0
    url = live_server.url + "/v1"
    remote = ["--model", "tiny-vlm", "--base-url", url, "--out", str(served), "--name", "served"]
    assert eval_cli.main([*args, *remote]) == 0
    return root, local, served


def test_eval_writes_predictions_scores_and_reports(two_runs, split_bench):
    _, local, served = two_runs
    for run in (local, served):
        names = {p.name for p in run.iterdir() if not p.name.startswith(".")}
        assert names == {
            "predictions.jsonl",
            "eval.json",
            "scores.json",
            "per_item.jsonl",
            "scores.png",
            "report.md",
            "report.html",
        }
        scores = json.loads((run / "scores.json").read_text())
        assert scores["n"] == 2 and scores["meta"]["split"] == "test"  # test split only
        rec = json.loads((run / "eval.json").read_text())
        assert rec["split"] == "test" and rec["last_predict"]["phantom_items"] == 1
        report = (run / "report.md").read_text()
        assert "split **test**" in report and "SYNTHETIC phantom images" in report
        assert "<table>" in (run / "report.html").read_text()
    assert json.loads((served / "eval.json").read_text())["engine"]["backend"] == "openai"
    assert "at `http://127.0.0.1:" in (served / "report.md").read_text()
    rows = [json.loads(x) for x in (served / "predictions.jsonl").read_text().splitlines()]
    assert [r.get("synthetic_images") for r in rows] == [None, [1]]


def test_rerun_resumes_and_a_foreign_out_is_refused(
    two_runs, tiny_model, tiny_bench, split_bench, tmp_path, capsys
):
    _, local, _ = two_runs
    capsys.readouterr()
    args = _common(
        split_bench, tiny_bench, "--image-fallback", "phantom", "--model", str(tiny_model)
    )
    assert eval_cli.main([*args, "--out", str(local)]) == 0
    msg = _err(capsys)
    assert "holds an earlier evaluation" in msg and "2 already done" in msg
    assert "counts: 2 items scored (split test), 2 predicted, 0 missing, 0 failed" in msg
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert eval_cli.main([*args, "--out", str(foreign)]) == 2
    assert "did not write (notes.txt)" in _err(capsys)
    assert eval_cli.main([*args, "--out", str(tmp_path / "x"), "--split", "dev"]) == 2
    assert "--split must be one of" in _err(capsys)
    assert eval_cli.main(["--bench", str(split_bench), "--out", str(tmp_path / "y")]) == 2
    assert "give --bench B --model M" in _err(capsys)


def test_failed_items_are_counted_and_most_failed_exits_nonzero(
    tiny_model, tiny_bench, split_bench, tmp_path, capsys
):
    out = tmp_path / "nofallback"
    args = _common(split_bench, tiny_bench, "--model", str(tiny_model), "--out", str(out))
    assert eval_cli.main(args) == 0  # 1 of 2 failed: reported, not a majority
    msg = _err(capsys)
    assert "1 failed" in msg and "gone.png: no such file" in msg
    assert "counts: 2 items scored (split test), 2 predicted, 0 missing, 1 failed" in msg


def test_leaderboard_of_finished_runs(two_runs, capsys):
    root, local, served = two_runs
    board = root / "board"
    capsys.readouterr()
    args = [str(local), str(served), "--out", str(board), "--no-semantic", "--n-resamples", "200"]
    assert eval_cli.main(["--compare", *args]) == 0
    comp = json.loads((board / "comparison.json").read_text())
    assert comp["baseline"] == "local" and [s["n"] for s in comp["systems"]] == [2, 2]
    md = (board / "leaderboard.md").read_text()
    assert "| local |" in md and "| served |" in md and "baseline" in md
    assert "same 2 items" in md and "SYNTHETIC" in md and "items on phantoms" in md
    assert "vs **local** (the first run given)" in md and "{comp" not in md
    assert (board / "leaderboard.html").is_file() and (board / "served" / "scores.json").is_file()
    # the same model, greedy, local and served: identical outputs, a zero paired difference
    served_row = next(s for s in comp["systems"] if s["name"] == "served")
    assert served_row["accuracy_vs_baseline"]["delta"] == 0.0
    out = capsys.readouterr().out
    assert "Leaderboard" in out and "served" in out


def test_leaderboard_refuses_runs_on_other_items(
    two_runs, tiny_model, tiny_bench, split_bench, tmp_path, capsys
):
    root, local, _ = two_runs
    short = tmp_path / "short"
    args = _common(split_bench, tiny_bench, "--image-fallback", "phantom", "--limit", "1")
    assert eval_cli.main([*args, "--model", str(tiny_model), "--out", str(short)]) == 0
    scores = json.loads((short / "scores.json").read_text())  # score --limit: only that item
    assert scores["n"] == 1 and scores["meta"]["limit"] == 1 and scores["n_missing"] == 0
    capsys.readouterr()
    assert eval_cli.main(["--compare", str(local), str(short), "--out", str(tmp_path / "b")]) == 2
    assert "predicted other items" in _err(capsys)
    assert (
        eval_cli.main(["--compare", str(local), str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    )
    assert "not a finished cxreason eval run" in _err(capsys)
    assert eval_cli.main(["--compare", str(local), "--out", str(tmp_path / "d")]) == 2
    assert "at least two" in _err(capsys)
