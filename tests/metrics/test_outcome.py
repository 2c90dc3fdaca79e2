"""Outcome parsing and scoring: last answer wins, spellings, unparsable = wrong, set F1."""

from __future__ import annotations

import pytest

from cxreason.metrics.outcome import (
    match_option,
    outcome_detail,
    outcome_score,
    parse_answer,
    parse_label_set,
    set_prf,
)
from cxreason.prompts import user_prompt
from cxreason.records import BenchItem

OPTS = {"A": "Cardiomegaly", "B": "Pleural Effusion", "C": "Edema", "D": "Fracture"}


def _item(task="single", answer="B", options=OPTS, labels=("Pleural Effusion",)) -> BenchItem:
    return BenchItem(
        id="i1",
        study_id="s1",
        task=task,
        question="Which finding is in this chest X-ray?",
        options=options,
        answer=answer,
        answer_labels=list(labels),
        images=[],
        report="FINDINGS: Small right pleural effusion. IMPRESSION: Effusion.",
    )


@pytest.mark.parametrize(
    "answer",
    [
        "B",
        "b",
        "B)",
        "(B)",
        "[B]",
        "B.",
        "Option B",
        "option b",
        "Answer: B",
        "The answer is B",
        "B. Pleural Effusion",
        "B) pleural effusion",
        "Option B: Pleural Effusion",
        "pleural effusion",
        "  Pleural   EFFUSION. ",
        "b) Pleural Effusion",
        "**B**",
        "Answer: **B) Pleural Effusion**",
        "`B`",
    ],
)
def test_accepted_spellings(answer):
    assert match_option(answer, OPTS) == "B"


@pytest.mark.parametrize(
    "answer", ["A or B", "A, B", "AB", "Both A and B", "E", "B) Edema", "B) C)", "maybe", "Option"]
)
def test_adversarial_spellings_are_unparsable(answer):
    assert match_option(answer, OPTS) is None


def test_last_answer_wins_and_echoed_prompt_is_skipped():
    out = "<answer>A</answer> on reflection <think>x</think><answer>B</answer>"
    assert parse_answer(out) == "B"
    echoed = user_prompt("Which finding?", OPTS) + " <answer>C</answer>"
    assert parse_answer(echoed) == "C"
    assert parse_answer(user_prompt("Which finding?", OPTS)) is None  # only the empty echo
    assert parse_answer("<answer>B</answer> then <answer>  </answer>") == "B"
    assert parse_answer("<ANSWER>d</ANSWER>") == "d"
    assert parse_answer("no tags B") is None
    assert parse_answer("<answer>B") is None  # unclosed: unparsable


def test_first_answer_is_not_used():
    item = _item()
    assert outcome_score(item, "<answer>B</answer> wait, <answer>C</answer>") == 0.0
    assert outcome_score(item, "<answer>C</answer> wait, <answer>B</answer>") == 1.0


def test_missing_and_unparsable_are_wrong_and_labelled():
    item = _item()
    assert outcome_detail(item, "<think>effusion</think>").status == "no_answer"
    assert outcome_detail(item, "<think>effusion</think>").score == 0.0
    assert outcome_detail(item, "<answer>A or B</answer>").status == "unparsable"
    assert outcome_detail(item, None).status == "missing"
    assert outcome_detail(item, "<answer>B</answer>").letter == "B"


def test_binary_and_temporal_by_text():
    yn = _item(task="binary", answer="A", options={"A": "Yes", "B": "No"})
    assert outcome_score(yn, "<answer>yes</answer>") == 1.0
    assert outcome_score(yn, "<answer>No.</answer>") == 0.0
    tmp = _item(
        task="temporal", answer="C", options={"A": "worsening", "B": "stable", "C": "improving"}
    )
    assert outcome_score(tmp, "<answer>Improving</answer>") == 1.0
    assert outcome_score(tmp, "<answer>(C)</answer>") == 1.0


def test_multiple_choice_label_sets_in_any_order():
    opts = {
        "A": "Cardiomegaly, Edema",
        "B": "Cardiomegaly, Pleural Effusion",
        "C": "Edema, Pleural Effusion",
        "D": "Edema, Fracture",
    }
    item = _item(task="multiple", options=opts)
    assert outcome_score(item, "<answer>Pleural Effusion, Cardiomegaly</answer>") == 1.0
    assert outcome_score(item, "<answer>cardiomegaly and pleural effusion</answer>") == 1.0
    assert outcome_score(item, "<answer>Cardiomegaly</answer>") == 0.0


def test_set_prf_edges():
    assert set_prf(set(), set()) == (1.0, 1.0, 1.0)
    assert set_prf({"Edema"}, set()) == (0.0, 0.0, 0.0)
    p, r, f = set_prf({"Edema", "Fracture"}, {"Edema"})
    assert (p, r) == (0.5, 1.0) and f == pytest.approx(2 / 3)


def test_anomaly_f1_oov_and_no_finding_rules():
    item = _item(
        task="anomaly", answer="Cardiomegaly, Edema", options=None, labels=("Cardiomegaly", "Edema")
    )
    assert outcome_score(item, "<answer>Edema, Cardiomegaly</answer>") == 1.0
    assert outcome_score(item, "<answer>Edema</answer>") == pytest.approx(2 / 3)
    # an out-of-vocabulary term is a false positive, never silently dropped
    d = outcome_detail(item, "<answer>Cardiomegaly, Edema, Banana</answer>")
    assert d.oov == ["Banana"] and d.score == pytest.approx(0.8)
    normal = _item(task="anomaly", answer="No Finding", options=None, labels=())
    assert outcome_score(normal, "<answer>No Finding</answer>") == 1.0
    assert outcome_score(normal, "<answer>Edema</answer>") == 0.0
    # No Finding with a finding is contradictory: the No Finding is a false positive
    assert outcome_score(normal, "<answer>No Finding, Edema</answer>") == 0.0
    assert outcome_score(item, "<answer>No Finding, Cardiomegaly, Edema</answer>") == (
        pytest.approx(0.8)
    )
    assert outcome_detail(normal, "<think>x</think>").status == "no_answer"


def test_parse_label_set_splits_and_reports_oov():
    labels, oov = parse_label_set("- Cardiomegaly\n- Edema; Pneumothorax and foo")
    assert labels == {"Cardiomegaly", "Edema", "Pneumothorax"}
    assert oov == ["foo"]
