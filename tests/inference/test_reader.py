"""Reader study: answers (validated against the item), blinded order, agreement and kappa."""

from __future__ import annotations

import json
import random

import pytest
from inference_helpers import PREDS, bench_items

from cxreason.inference import reader_cli
from cxreason.inference.agreement import (
    NO_ANSWER,
    ROW_FIELDS,
    agreement_rows,
    agreement_summary,
    cohen_kappa,
    kappa_ci,
    rows_csv,
)
from cxreason.inference.reader import ReaderConflict, ReaderError, ReaderLog, validate_decision
from cxreason.records import write_jsonl

ITEMS = {it.id: it for it in bench_items()}  # it-0 single (B), it-1 binary (A), it-2 anomaly


def _answer(item_id, answer, reader="r1", seconds=5):
    return {
        "item_id": item_id,
        "decision": "answer",
        "answer": answer,
        "reader": reader,
        "seconds": seconds,
    }


def test_cohen_kappa_textbook_value():
    # 50 items: both yes 20, a yes / b no 5, a no / b yes 10, both no 15 -> p_o .7, p_e .5
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    k = cohen_kappa(a, b)
    assert k["p_o"] == pytest.approx(0.7) and k["p_e"] == pytest.approx(0.5)
    assert k["kappa"] == pytest.approx(0.4)
    assert cohen_kappa(a, a)["kappa"] == 1.0
    # constant raters: agreement is perfect but carries no information
    assert cohen_kappa(["x"] * 5, ["x"] * 5)["kappa"] is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_kappa_is_label_invariant_and_near_zero_for_independent_raters():
    rng = random.Random(0)
    a = [rng.choice("ABCD") for _ in range(4000)]
    b = [rng.choice("ABCD") for _ in range(4000)]
    assert abs(cohen_kappa(a, b)["kappa"]) < 0.03
    swap = {"A": "D", "B": "C", "C": "B", "D": "A"}
    assert cohen_kappa([swap[x] for x in a], [swap[x] for x in b])["kappa"] == pytest.approx(
        cohen_kappa(a, b)["kappa"]
    )


def test_kappa_ci_is_deterministic_and_brackets_the_estimate():
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    ga, gb = [[x] for x in a], [[x] for x in b]
    ci = kappa_ci(ga, gb, n_resamples=300)
    assert ci == kappa_ci(ga, gb, n_resamples=300)
    assert ci[0] < 0.4 < ci[1]
    assert kappa_ci([["x"]], [["x"]]) == [None, None]


def test_answer_validation_against_the_item(tmp_path):
    ok = validate_decision(_answer("it-0", "B"), ITEMS)
    assert ok["answer"] == "B"
    anomaly = validate_decision(_answer("it-2", ["pleural effusion", "Cardiomegaly"]), ITEMS)
    assert anomaly["answer"] == "Cardiomegaly, Pleural Effusion"
    for bad, msg in [
        (_answer("it-0", "E"), "one of the options"),
        (_answer("it-2", ["Cardiomegaly", "No Finding"]), "cannot be combined"),
        (_answer("it-2", ["heart big"]), "not CheXpert-14"),
        (_answer("it-2", []), "non-empty"),
    ]:
        with pytest.raises(ReaderError, match=msg):
            validate_decision(bad, ITEMS)
    with pytest.raises(ReaderError, match="need the loaded benchmark"):
        validate_decision(_answer("it-0", "B"), {"it-0"})


def test_blinded_log_answers_are_final_and_come_first(tmp_path):
    log = ReaderLog(tmp_path / "r.jsonl", model="m", blinded=True)
    with pytest.raises(ReaderConflict, match="commit your own answer"):
        log.record({"item_id": "it-0", "decision": "accept", "seconds": 1, "reader": "r1"}, ITEMS)
    rec = log.record(_answer("it-0", "B"), ITEMS)
    assert rec["blinded"] is True and log.answer_of("r1", "it-0")["answer"] == "B"
    with pytest.raises(ReaderConflict, match="final"):
        log.record(_answer("it-0", "A"), ITEMS)
    log.record({"item_id": "it-0", "decision": "accept", "seconds": 1, "reader": "r1"}, ITEMS)
    log.record(_answer("it-0", "A", reader="r2"), ITEMS)  # another reader answers freely
    # a restarted server knows what was committed
    with pytest.raises(ReaderError, match="needs the reader's name"):
        log.record(_answer("it-1", "A", reader=""), ITEMS)
    again = ReaderLog(tmp_path / "r.jsonl", blinded=True)
    assert again.answer_of("r1", "it-0")["answer"] == "B"
    assert [r["decision"] for r in again.read()] == ["answer", "accept", "answer"]


def test_agreement_rows_and_summary():
    preds = {p["id"]: p for p in PREDS}  # model: it-0 B (right), it-1 B (wrong), it-2 C+PE
    preds["it-1"] = {"id": "it-1", "output": "<answer>maybe</answer>"}  # names no option
    decisions = [
        _answer("it-0", "B"),
        _answer("it-0", "A"),  # a later answer by the same reader does not count
        {"item_id": "it-0", "decision": "accept", "seconds": 2, "reader": "r1"},
        _answer("it-1", "B"),
        _answer("it-2", "Cardiomegaly"),
        _answer("it-404", "A"),  # not an item of this benchmark: skipped
        _answer("it-0", "B", reader="r2"),
        _answer("it-1", "A", reader="r2"),
    ]
    rows = agreement_rows(decisions, ITEMS, preds)
    by = {(r["reader"], r["item_id"]): r for r in rows}
    assert len(rows) == 5
    assert by["r1", "it-0"]["reader_vs_gold"] == 1.0 and by["r1", "it-0"]["reader_vs_model"] == 1.0
    assert by["r1", "it-1"]["model_answer"] == NO_ANSWER
    assert (by["r1", "it-1"]["reader_vs_gold"], by["r1", "it-1"]["reader_vs_model"]) == (0.0, 0.0)
    r2 = by["r1", "it-2"]
    assert r2["model_answer"] == "Cardiomegaly, Pleural Effusion"
    assert r2["reader_vs_gold"] == pytest.approx(2 / 3) and r2["reader_vs_model"] == pytest.approx(
        2 / 3
    )
    s = agreement_summary(rows, ITEMS, n_resamples=50)
    binary = s["readers"]["r1"]["binary"]
    assert binary["reader_vs_gold"]["n"] == 1 and binary["reader_vs_gold"]["agreement"] == 0.0
    # anomaly: present/absent per CheXpert label, 14 ratings for the one item
    anomaly = s["readers"]["r1"]["anomaly"]["reader_vs_gold"]
    assert anomaly["p_o"] == pytest.approx(13 / 14)
    pairs = {p["task"]: p for p in s["reader_pairs"]}
    assert pairs["single"]["agreement"] == 1.0 and pairs["binary"]["agreement"] == 0.0
    csv_text = rows_csv(rows)
    assert csv_text.splitlines()[0] == ",".join(ROW_FIELDS)
    assert len(csv_text.splitlines()) == 6
    # without predictions the model columns stay empty
    assert agreement_rows(decisions, ITEMS)[0]["reader_vs_model"] is None


def test_reader_agreement_cli(tmp_path, capsys):
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, list(ITEMS.values()))
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, PREDS)
    log = ReaderLog(tmp_path / "reader.jsonl", blinded=True)
    for d in [_answer("it-0", "B"), _answer("it-1", "A"), _answer("it-2", ["Cardiomegaly"])]:
        log.record(d, ITEMS)
    out = tmp_path / "agree"
    args = ["agreement", "--log", str(log.path), "--bench", str(bench), "--pred", str(pred)]
    assert reader_cli.main([*args, "--out", str(out), "--n-resamples", "20"]) == 0
    data = json.loads((out / "agreement.json").read_text())
    assert data["n_answers"] == 3 and len(data["rows"]) == 3
    assert (out / "agreement.csv").read_text().startswith("reader,item_id")
    assert "Reader agreement" in capsys.readouterr().out
    rc = reader_cli.main(
        ["agreement", "--log", str(tmp_path / "no.jsonl"), "--bench", str(bench), "--out", str(out)]
    )
    assert rc == 1 and "no.jsonl: file not found" in capsys.readouterr().err
