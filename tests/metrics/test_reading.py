"""Strict and lenient readings (issue 13 item 5), anomaly answers (item 6), linear-time parsing
(item 7)."""

from __future__ import annotations

import json
import time

import pytest

from cxreason.metrics import score as sc
from cxreason.metrics.outcome import anomaly_outcome, parse_answer, parse_label_terms
from cxreason.metrics.radrscore import extract_think
from cxreason.metrics.reading import lenient_answer, lenient_output, lenient_reasoning
from cxreason.metrics.tags import remove_blocks, tag_blocks
from cxreason.records import BenchItem

REPORT = "FINDINGS: The heart is enlarged. No pleural effusion. IMPRESSION: Cardiomegaly."
STEPS = ["The heart is enlarged.", "There is no pleural effusion."]
OPTIONS = {"A": "Edema", "B": "Cardiomegaly", "C": "Pneumothorax", "D": "No Finding"}


def _item(task: str = "single", **kw) -> BenchItem:
    base = dict(
        id="x",
        study_id="s",
        task=task,
        question="Which finding is in this chest X-ray?",
        options=OPTIONS if task != "anomaly" else None,
        answer="B" if task != "anomaly" else "Cardiomegaly",
        answer_labels=["Cardiomegaly"],
        images=[],
        report=REPORT,
        reasoning=" ".join(STEPS),
        reasoning_steps=STEPS,
    )
    return BenchItem(**{**base, **kw})


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The heart is big. The answer is B.", "B"),
        ("I think so.\n\nAnswer: (B) Cardiomegaly", "B) Cardiomegaly"),
        ("Final answer: **B**", "B"),
        ("...most consistent with:\n\n**B) Cardiomegaly**", "B) Cardiomegaly"),
        ("The finding is most likely (B) cardiomegaly.", "B) cardiomegaly"),
        ("Thus I choose option B.", "B"),
        ("<think>x</think><answer>C</answer> The answer is B.", "C"),  # a tag wins
        ("No letter at all here.", None),
    ],
)
def test_lenient_answer_from_the_ending(text, answer):
    assert lenient_answer(text) == answer


def test_lenient_reasoning_drops_the_final_answer_sentence():
    text = "The heart is enlarged. There is no effusion. Therefore the answer is B."
    assert lenient_reasoning(text) == "The heart is enlarged. There is no effusion."
    assert lenient_reasoning("<think> tagged </think> The answer is B.") == "tagged"
    assert lenient_reasoning("<think> </think>") is None
    assert lenient_output(None) is None
    assert lenient_output(text) == (
        "<think>The heart is enlarged. There is no effusion.</think><answer>B</answer>"
    )


def test_free_text_scores_zero_strict_and_is_read_leniently():
    item = _item()
    free = "The heart is enlarged. There is no pleural effusion. The answer is B) Cardiomegaly."
    tagged = f"<think>{' '.join(STEPS)}</think><answer>B</answer>"
    rows = sc.score_predictions([item, _item(id="y")], {"x": free, "y": tagged}, embedder=None)
    strict, lenient = rows[0], rows[0]["lenient"]
    assert strict["status"] == "no_answer" and strict["accuracy"] == 0.0
    assert strict["radrscore"] == 0.0 and not strict["has_reasoning"]
    assert lenient["status"] == "ok" and lenient["accuracy"] == 1.0
    assert lenient["factuality"] == lenient["completeness"] == lenient["effectiveness"] == 1.0
    # a well-formed output reads the same both ways
    assert {k: rows[1][k] for k in rows[1]["lenient"]} == rows[1]["lenient"]
    scores = sc.aggregate(rows, n_resamples=50)
    assert scores["reading"] == "strict" and scores["accuracy"]["value"] == 0.5
    assert scores["lenient"]["reading"] == "lenient" and scores["lenient"]["accuracy"]["value"] == 1
    assert "not the headline" in scores["lenient"]["definition"]
    assert set(scores["lenient"]["by_task"]) == {"single"}


def test_score_cli_writes_both_readings(tmp_path):
    from cxreason.metrics.cli import main
    from cxreason.records import write_jsonl

    bench, pred, out = tmp_path / "b.jsonl", tmp_path / "p.jsonl", tmp_path / "o"
    write_jsonl(bench, [_item()])
    write_jsonl(pred, [{"id": "x", "output": "The heart is enlarged. The answer is B."}])
    assert (
        main(["--bench", str(bench), "--pred", str(pred), "--out", str(out), "--no-semantic"]) == 0
    )
    scores = json.loads((out / "scores.json").read_text())
    assert scores["accuracy"]["value"] == 0.0 and scores["lenient"]["accuracy"]["value"] == 1.0
    report = (out / "report.md").read_text()
    assert "Strict reading (the headline)" in report and "NOT the headline" in report
    row = json.loads((out / "per_item.jsonl").read_text())
    assert row["lenient"]["letter"] == "B"


# -- anomaly answers (item 6) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer, labels, oov, negated",
    [
        ("No acute cardiopulmonary abnormality.", {"No Finding"}, [], []),
        ("Normal chest x-ray", {"No Finding"}, [], []),
        ("no pneumothorax, cardiomegaly", {"Cardiomegaly"}, [], ["no pneumothorax"]),
        ("Cardiomegaly. Pleural effusion.", {"Cardiomegaly", "Pleural Effusion"}, [], []),
        ("Cardiomegaly\nEdema", {"Cardiomegaly", "Edema"}, [], []),
        (
            "There is cardiomegaly and a small left effusion",
            {"Cardiomegaly", "Pleural Effusion"},
            [],
            [],
        ),
        ("Cardiomegaly, Unicorn", {"Cardiomegaly"}, ["Unicorn"], []),
        ("calcified granuloma", set(), ["calcified granuloma"], []),  # outside CheXpert-14
        ("Nodule 2.5 cm", {"Lung Lesion"}, [], []),  # a decimal point separates nothing
    ],
)
def test_anomaly_terms(answer, labels, oov, negated):
    t = parse_label_terms(answer)
    assert (t.labels, t.oov, t.negated) == (labels, oov, negated)


def test_anomaly_negated_terms_are_not_positives_and_oov_stays_a_false_positive():
    gold = {"Cardiomegaly"}
    assert anomaly_outcome("no pneumothorax, cardiomegaly", gold).score == 1.0
    assert anomaly_outcome("pneumothorax, cardiomegaly", gold).score == pytest.approx(2 / 3)
    assert anomaly_outcome("Cardiomegaly, Unicorn", gold).score == pytest.approx(2 / 3)
    normal = anomaly_outcome("No acute cardiopulmonary abnormality.", {"No Finding"})
    assert normal.score == 1.0 and normal.pred_labels == ["No Finding"]
    only_negated = anomaly_outcome("no pneumothorax", gold)
    assert only_negated.status == "unparsable" and only_negated.negated == ["no pneumothorax"]


def test_anomaly_question_lists_the_allowed_labels():
    from cxreason.prompts import ANOMALY_QUESTION, MULTIPLE_QUESTION, PROMPTS_VERSION
    from cxreason.vocab import CHEXPERT_LABELS

    assert all(label in ANOMALY_QUESTION for label in CHEXPERT_LABELS)
    assert ANOMALY_QUESTION.startswith(MULTIPLE_QUESTION) and ANOMALY_QUESTION != MULTIPLE_QUESTION
    assert PROMPTS_VERSION > "2026-11-23.1"  # bumped from the version whose question listed none


# -- linear-time parsing (item 7) -----------------------------------------------------------------
def test_tag_blocks_match_the_lazy_regex_semantics():
    import random
    import re

    rng = random.Random(0)
    pieces = ["<answer>", "</answer>", "<ANSWER>", "a", " ", "B", "</Answer>"]
    lazy = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        assert tag_blocks(text, "answer") == lazy.findall(text)
        assert remove_blocks(text, "answer").replace(" ", "") == lazy.sub("", text).replace(" ", "")


def _best_time(fn, make, repeat: int = 5) -> float:
    """Fastest of ``repeat`` runs (garbage collection off while timing: the machine is shared,
    the minimum is the steadiest estimate)."""
    import gc

    best = float("inf")
    for k in range(repeat):
        text = make(k)  # a new text per run: no cache can answer
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            fn(text)
            best = min(best, time.perf_counter() - t)
        finally:
            gc.enable()
    return best


def _score(text: str) -> None:
    sc.score_predictions([_item()], {"x": text}, embedder=None)


@pytest.mark.parametrize(
    "unit, wrap",
    [
        ("<answer>", False),  # 360 KB of these took 55 s before (quadratic findall)
        ("<think>", False),
        ("<answer>B ", False),
        ("left pleural effusion and ", True),  # one huge sentence full of mentions
        ("no effusion, ", True),
        ("'effusion' ", True),
        ("we assess for effusion, ", True),
        ("effusion, such as edema, were excluded by ", True),  # a list of examples after it
        ("look for effusion which could indicate edema ", True),  # one method sentence
        ("1. **Effusion:**\n   - no effusion.\n\n", True),  # thousands of list items
        ("\n", True),  # blank lines only
        ("no effusion (left) and ", True),  # one sentence of many parenthetical asides
    ],
)
def test_parsing_and_scoring_are_linear_in_the_output_length(unit, wrap):
    """Size ratio, not a wall-clock bound: 4x the text must cost well under 16x (quadratic);
    linear code measures 3.4-4.3x here."""

    def make(size):
        def text(k):
            body = f"run {k} " + unit * (size // len(unit))
            return f"<think>{body}</think><answer>B</answer>" if wrap else body

        return text

    for fn in (_score, parse_answer, extract_think, lenient_output):
        small = _best_time(fn, make(40_000))
        large = _best_time(fn, make(160_000))
        if large < 0.05:
            continue  # too fast to time reliably: nothing quadratic here
        assert large / max(small, 1e-6) < 10.0, (fn.__name__, small, large)


@pytest.mark.parametrize(
    "text, answer",
    [
        ("In summary, the answer is No Finding. The answer is No Finding.", "No Finding"),
        ("The findings are Edema and Cardiomegaly.", "Edema and Cardiomegaly"),
        ("A 2.5 cm nodule is seen. Answer: Lung Lesion", "Lung Lesion"),
        ("Findings: Cardiomegaly\nThat is all.", "Cardiomegaly"),
    ],
)
def test_lenient_anomaly_answer(text, answer):
    assert lenient_answer(text, "anomaly") == answer
