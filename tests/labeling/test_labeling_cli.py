"""The `cxreason label` CLI contract, through cxreason.cli.main, on real files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cxreason.cli import main
from cxreason.labeling import cli as label_cli
from cxreason.records import Labels, Study, read_records, report_text, write_jsonl

COLUMNS = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]
ROWS = [
    ("10", "Cardiomegaly/mild", "Cardiomegaly", "", "", "", "Mild cardiomegaly. No effusion.", "Cardiomegaly."),
    ("11", "normal", "normal", "", "", "", "Lungs are clear. Heart size normal.", "No acute disease."),
    ("12", "Pleural Effusion/left", "Pleural Effusion", "", "", "", "", "Small left pleural effusion."),
    ("13", "No Indexing", "No Indexing", "", "", "", "XXXX XXXX.", "XXXX."),
    ("14", "Pneumothorax/right", "Pneumothorax", "", "", "", "No pneumothorax.", "Normal chest."),
]  # fmt: skip


def write_csv(path: Path, rows=ROWS, columns=COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)
    return path


def test_label_csv_default_command(tmp_path: Path, capsys) -> None:
    src = write_csv(tmp_path / "reports.csv")
    out = tmp_path / "labels.jsonl"
    assert main(["label", str(src), "--out", str(out)]) == 0
    recs = read_records(out, Labels)
    assert [r.study_id for r in recs] == ["10", "11", "12", "13", "14"]  # input order
    assert recs[0].labels["Cardiomegaly"] == "present"
    assert recs[1].labels == {
        "No Finding": "present", "Cardiomegaly": "absent", "Lung Opacity": "absent",
        "Edema": "absent", "Consolidation": "absent", "Pneumonia": "absent",
    }  # fmt: skip
    assert recs[3].labels == {} and recs[3].mentions == []
    text = report_text(ROWS[2][6], ROWS[2][7])
    (m,) = recs[2].mentions
    assert text[m.start : m.end] == m.text == "Small left pleural effusion"
    raw = json.loads(out.read_text().splitlines()[0])
    assert set(raw) == {"study_id", "labels", "mentions"}
    assert set(raw["mentions"][0]) == {"concept", "label", "status", "text", "start", "end"}
    assert "XXXX" in capsys.readouterr().err  # warning summary names the de-identified report


def test_label_option_before_input(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "reports.csv")
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--out", str(out), str(src)]) == 0
    assert len(read_records(out, Labels)) == len(ROWS)


def test_label_jsonl_and_explicit_run(tmp_path: Path) -> None:
    src = tmp_path / "studies.jsonl"
    write_jsonl(src, [Study("a", findings="Small right pneumothorax.", impression=""),
                      Study("b", findings="", impression="")])  # fmt: skip
    out = tmp_path / "out.jsonl"
    assert label_cli.main(["run", str(src), "--out", str(out)]) == 0
    recs = read_records(out, Labels)
    assert recs[0].labels == {"No Finding": "absent", "Pneumothorax": "present"}
    assert recs[1].labels == {}


def test_label_eval_subcommand(tmp_path: Path, capsys) -> None:
    src = write_csv(tmp_path / "reports.csv")
    js = tmp_path / "eval.json"
    assert main(["label", "eval", str(src), "--json", str(js)]) == 0
    table = capsys.readouterr().out
    assert "Cardiomegaly" in table and "micro" in table
    res = json.loads(js.read_text())
    strict = res["strict"]
    assert strict["n_reports"] == 4 and strict["n_skipped_not_indexed"] == 1
    assert strict["labels"]["Cardiomegaly"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "tp": 1, "fp": 0, "fn": 0
    }  # fmt: skip
    # uid 14: gold pneumothorax, the report negates it -> a false negative
    assert strict["labels"]["Pneumothorax"]["fn"] == 1
    assert set(res) == {"headline_policy", "strict", "lenient"}


@pytest.mark.parametrize("missing", ["uid", "findings", "impression"])
def test_missing_column_is_named(tmp_path: Path, missing: str, capsys) -> None:
    cols = [c for c in COLUMNS if c != missing]
    idx = [COLUMNS.index(c) for c in cols]
    src = write_csv(tmp_path / "bad.csv", [[r[i] for i in idx] for r in ROWS], cols)
    assert main(["label", str(src), "--out", str(tmp_path / "o.jsonl")]) != 0
    err = capsys.readouterr().err
    assert f"'{missing}'" in err and "bad.csv" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_inputs_fail_cleanly(tmp_path: Path, capsys) -> None:
    assert main(["label", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.jsonl")]) != 0
    assert "nope.csv" in capsys.readouterr().err
    junk = tmp_path / "junk.txt"
    junk.write_text("hello,world\n1,2\n")
    assert main(["label", str(junk), "--out", str(tmp_path / "o.jsonl")]) != 0
    assert "junk.txt" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"study_id": "a", "findings": "x"}\n{not json\n')
    assert main(["label", str(bad), "--out", str(tmp_path / "o.jsonl")]) != 0
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_invalid_utf8_is_replaced_and_reported(tmp_path: Path, capsys) -> None:
    src = write_csv(tmp_path / "r.csv")
    raw = src.read_bytes().replace(b"Mild cardiomegaly", b"Mild cardiomegaly \xff\xfe")
    src.write_bytes(raw)
    out = tmp_path / "o.jsonl"
    assert main(["label", str(src), "--out", str(out)]) == 0
    logged = "".join((capsys.readouterr().out).split())  # the CLI logs through rich (wrapped)
    assert "r.csv:2:invalidUTF-8" in logged
    assert read_records(out, Labels)[0].labels["Cardiomegaly"] == "present"


def test_label_eval_scores_a_labels_file(tmp_path: Path, capsys) -> None:
    src = write_csv(tmp_path / "reports.csv")
    out = tmp_path / "labels.jsonl"
    assert main(["label", str(src), "--out", str(out)]) == 0
    js_a, js_b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["label", "eval", str(src), "--json", str(js_a)]) == 0
    assert main(["label", "eval", str(src), "--labels", str(out), "--json", str(js_b)]) == 0
    assert json.loads(js_a.read_text()) == json.loads(js_b.read_text())
    # a labeler that says nothing scores zero
    empty = tmp_path / "empty.jsonl"
    write_jsonl(empty, [Labels("10", {})])
    assert main(["label", "eval", str(src), "--labels", str(empty), "--json", str(js_b)]) == 0
    assert json.loads(js_b.read_text())["strict"]["micro"]["f1"] == 0.0
