"""`cxreason score` says what it scored and refuses what it cannot score (issue 17).

Each test drives the real CLI (``main(argv)``, or a subprocess for the terminal width) and
checks the exit code and the message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from cxreason.metrics.cli import main
from cxreason.provenance import PRED_HASH_FIELD, bench_sha256
from cxreason.records import write_jsonl


def _ref(it) -> str:
    return f"<think>{it.reasoning}</think><answer>{it.answer}</answer>"


def _preds(path, items, *, bench_hash=None, error_for=()):
    rows = []
    for it in items:
        row = {"id": it.id, "output": "" if it.id in error_for else _ref(it)}
        if it.id in error_for:
            row["error"] = "image unreadable"
        if bench_hash:
            row[PRED_HASH_FIELD] = bench_hash
        rows.append(row)
    write_jsonl(path, rows)
    return path


def _split(items, name):
    return [it for it in items if it.split == name]


def test_default_scores_the_test_split_and_says_so(built_items, built_bench, tmp_path, capsys):
    test = _split(built_items, "test")
    assert test and len(test) < len(built_items)
    pred = _preds(tmp_path / "p.jsonl", built_items, bench_hash=bench_sha256(built_bench))
    out = tmp_path / "o"
    assert main(["--bench", str(built_bench), "--pred", str(pred), "--out", str(out)]) == 0
    s = json.loads((out / "scores.json").read_text())
    assert s["n"] == len(test) and s["meta"]["split"] == "test"
    assert s["meta"]["provenance"] == "verified"
    assert s["meta"]["n_outside_split"] == len(built_items) - len(test)
    assert "split scored: **test**" in (out / "report.md").read_text()
    cap = capsys.readouterr()
    assert f"counts: {len(test)} items scored (split test), {len(test)} predicted, 0 missing" in (
        cap.out.replace("\n", " ")
    )
    assert f"{len(built_items) - len(test)} prediction(s) for items outside split test" in cap.err
    # --split validation scores exactly the validation items
    out2 = tmp_path / "v"
    args = ["--bench", str(built_bench), "--pred", str(pred), "--out", str(out2)]
    assert main([*args, "--split", "validation"]) == 0
    assert json.loads((out2 / "scores.json").read_text())["n"] == len(
        _split(built_items, "validation")
    )
    assert main([*args, "--split", "dev"]) == 2
    assert "--split must be one of train, validation, test, all" in capsys.readouterr().err


def test_empty_predictions_file_is_refused(built_bench, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    out = tmp_path / "o"
    assert main(["--bench", str(built_bench), "--pred", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "predictions file is empty" in err and "Traceback" not in err
    assert not (out / "scores.json").exists()


def test_predictions_of_another_build_are_refused_unless_forced(
    built_items, built_bench, tmp_path, capsys
):
    # another build: same ids, one answer changed -> another content hash
    other = [replace(it, answer="B" if it.answer == "A" else it.answer) for it in built_items]
    other_bench = tmp_path / "other" / "bench.jsonl"
    write_jsonl(other_bench, other)
    assert bench_sha256(other_bench) != bench_sha256(built_bench)
    pred = _preds(tmp_path / "p.jsonl", built_items, bench_hash=bench_sha256(other_bench))
    out = tmp_path / "o"
    args = ["--bench", str(built_bench), "--pred", str(pred), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "another build of the benchmark" in err and "--force" in err
    assert not (out / "scores.json").exists()
    assert main([*args, "--force"]) == 0
    assert "FORCED" in capsys.readouterr().err
    assert json.loads((out / "scores.json").read_text())["meta"]["provenance"] == "forced"
    assert "WARNING: FORCED" in (out / "report.md").read_text()


def test_predictions_without_a_hash_are_scored_with_a_note(
    built_items, built_bench, tmp_path, capsys
):
    pred = _preds(tmp_path / "p.jsonl", built_items)
    out = tmp_path / "o"
    assert main(["--bench", str(built_bench), "--pred", str(pred), "--out", str(out)]) == 0
    assert "carry no benchmark hash" in capsys.readouterr().err.replace("\n", " ")
    assert json.loads((out / "scores.json").read_text())["meta"]["provenance"] == "unchecked"


def test_failed_and_missing_items_are_counted_and_most_failed_exits_non_zero(
    built_items, built_bench, tmp_path, capsys
):
    test = _split(built_items, "test")
    failed = {it.id for it in test[: len(test) // 3]}
    pred = _preds(tmp_path / "p.jsonl", test[: len(test) // 2], error_for=failed)
    out = tmp_path / "o"
    args = ["--bench", str(built_bench), "--pred", str(pred), "--out", str(out)]
    assert main(args) == 1  # 1/2 missing + 1/3 failed: most items have no usable prediction
    cap = capsys.readouterr()
    missing = len(test) - len(test) // 2
    line = cap.out.replace("\n", " ")
    assert f"{missing} missing, {len(failed)} failed" in line
    assert "first error: image unreadable" in cap.err
    assert "no usable prediction" in cap.err.replace("\n", " ")
    assert (out / "scores.json").exists()  # the scores of the failures are still written


def test_out_folder_with_other_files_is_refused(built_items, built_bench, tmp_path, capsys):
    pred = _preds(tmp_path / "p.jsonl", built_items)
    out = tmp_path / "o"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"weights")
    args = ["--bench", str(built_bench), "--pred", str(pred), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "model.safetensors" in err and "--overwrite" in err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() == b"weights"
    (out / "model.safetensors").unlink()
    assert main(args) == 0  # its own previous output is replaced without --overwrite


def test_table_is_whole_at_80_columns(built_items, built_bench, tmp_path):
    pred = _preds(tmp_path / "p.jsonl", built_items, bench_hash=bench_sha256(built_bench))
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "cxreason.cli", "score", "--bench", str(built_bench)]
    cmd += ["--pred", str(pred), "--out", str(tmp_path / "o"), "--no-semantic"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = "\n".join(lines)
    for header in ("task", "metric", "value", "95% CI"):
        assert header in table
    for m in ("accuracy", "radrscore", "factuality", "completeness", "effectiveness"):
        assert m in table
    assert "…" not in table
    cis = re.findall(r"\[\d\.\d{3}, \d\.\d{3}\]", table)
    assert len(cis) >= 5 * 2  # every metric of every task and "all", each CI whole


@pytest.mark.parametrize("width", [120, 200])
def test_wider_consoles_keep_every_ci_whole(width, built_items, built_bench, tmp_path):
    from rich.console import Console

    from cxreason.metrics import report as rp
    from cxreason.metrics import score as sc

    rows = sc.score_predictions(built_items, {it.id: _ref(it) for it in built_items})
    scores = sc.aggregate(rows, n_resamples=50)
    console = Console(width=width, record=True, file=open(os.devnull, "w"))
    console.print(rp.rich_table(scores, title="t", width=width))
    text = console.export_text()
    assert "…" not in text and max(len(x) for x in text.splitlines()) <= width


def test_bootstrap_resamples_studies_by_default_and_items_on_request(
    built_items, built_bench, tmp_path, capsys
):
    test = _split(built_items, "test")
    pred = _preds(tmp_path / "p.jsonl", built_items, bench_hash=bench_sha256(built_bench))
    args = ["--bench", str(built_bench), "--pred", str(pred)]
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    boot = json.loads((tmp_path / "s" / "scores.json").read_text())["bootstrap"]
    assert boot["unit"] == "study" and boot["n_clusters"] == len({it.study_id for it in test})
    assert "bootstrap over studies" in (tmp_path / "s" / "report.md").read_text()
    assert main([*args, "--out", str(tmp_path / "i"), "--bootstrap-unit", "item"]) == 0
    boot = json.loads((tmp_path / "i" / "scores.json").read_text())["bootstrap"]
    assert boot["unit"] == "item" and "n_clusters" not in boot
    assert main([*args, "--out", str(tmp_path / "x"), "--bootstrap-unit", "image"]) == 2
    err = capsys.readouterr().err
    assert "bootstrap unit must be one of ('study', 'item'), got 'image'" in err
    assert not (tmp_path / "x").exists()
