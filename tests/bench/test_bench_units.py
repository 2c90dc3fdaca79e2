"""Unit tests of the pure parts: splits, letters, option sets, rules, prompt validators, filter."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cxreason.bench import llm_prompts as P
from cxreason.bench.filter import chain_rejection, reaches_answer
from cxreason.bench.generators import balanced_letters, centre_swap_options, confident_labels
from cxreason.bench.rules import RULES, RuleContext, rule_hits
from cxreason.bench.splits import assign_splits, parse_ratios
from cxreason.labeling import label_report
from cxreason.records import BenchItem, Study, report_text
from cxreason.vocab import FINDING_LABELS, canonical_order


def _studies(n: int, with_patients: bool = False) -> list[Study]:
    return [
        Study(study_id=f"s{i}", patient_id=f"p{i // 3}" if with_patients else None)
        for i in range(n)
    ]


def test_splits_deterministic_stable_and_grouped():
    a = assign_splits(_studies(300), seed=1)
    assert a == assign_splits(list(reversed(_studies(300))), seed=1)  # input order does not matter
    assert a != assign_splits(_studies(300), seed=2)
    n = Counter(a.values())
    assert n["train"] == 210 and n["validation"] == 30 and n["test"] == 60
    grown = assign_splits(_studies(310), seed=1)
    moved = sum(a[k] != grown[k] for k in a)
    assert moved <= 15  # adding 10 studies moves few existing ones (hash order, cut points shift)
    by_patient = assign_splits(_studies(300, with_patients=True), seed=0)
    for p in range(100):
        assert len({by_patient[f"s{i}"] for i in range(3 * p, 3 * p + 3)}) == 1
    linked = [Study("a"), Study("b", prior_study_id="a"), Study("c", prior_study_id="b")]
    assert len(set(assign_splits(linked, seed=5).values())) == 1


@pytest.mark.parametrize("bad", ["0.5,0.5", "0.7,0.2,0.2", "a,b,c", "-0.1,0.6,0.5"])
def test_parse_ratios_rejects(bad):
    with pytest.raises(ValueError, match="ratios"):
        parse_ratios(bad)


def test_balanced_letters():
    letters = balanced_letters(103, 4, random.Random(0))
    c = Counter(letters)
    assert set(c) == set("ABCD") and max(c.values()) - min(c.values()) <= 1


def test_centre_swap_options_properties():
    weights = {lb: float(i) for i, lb in enumerate(FINDING_LABELS)}
    rng = random.Random(0)
    for _trial in range(300):
        k = rng.randint(2, 5)
        truth = canonical_order(rng.sample(FINDING_LABELS, k))
        banned = rng.choice([lb for lb in FINDING_LABELS if lb not in truth])  # an uncertain label
        allowed = [lb for lb in FINDING_LABELS if lb != banned]
        sets = centre_swap_options(rng, truth, allowed, weights)
        assert sets is not None and len(sets) == 3
        frozen = {frozenset(s) for s in sets} | {frozenset(truth)}
        assert len(frozen) == 4  # no duplicates, none equal to the truth
        for s in sets:
            assert len(s) == k and s == canonical_order(s)
            assert banned not in s and set(s) - set(truth)
            # hard negatives: within two swaps of the truth
            assert len(set(s) - set(truth)) <= 2


def test_rules_on_crafted_options():
    opts = {"A": "Edema", "B": "Enlarged Cardiomediastinum", "C": "Fracture", "D": "Lung Opacity"}
    ctx = RuleContext(freq=Counter({"Fracture": 5, "Edema": 1}))
    pick = {name: rule("single", "q", opts, ctx) for name, rule in RULES.items()}
    assert pick["always_a"] == "A" and pick["longest"] == "B" and pick["shortest"] == "A"
    assert pick["most_frequent"] == "C" and pick["canonical_rank"] == "B"
    multi = {
        "A": "Cardiomegaly, Edema",
        "B": "Cardiomegaly, Lung Opacity",
        "C": "Edema, Fracture",
        "D": "Cardiomegaly, Pneumothorax",
    }
    assert RULES["most_overlap"]("multiple", "q", multi, ctx) == "A"  # shares 2+1+0 labels
    assert (
        RULES["canonical_order"](
            "multiple",
            "q",
            {"A": "Edema, Cardiomegaly", **{k: v for k, v in multi.items() if k != "A"}},
            ctx,
        )
        == "B"
    )
    assert rule_hits("single", "q", opts, "C", ctx)["most_frequent"] == 1


def test_confident_labels_downgrades_hedged_presence():
    f = "Opacity in the right base may represent atelectasis. The heart is enlarged."
    r = label_report(f, "")
    conf = confident_labels(r.labels, r.mentions, report_text(f, ""))
    assert conf.get("Cardiomegaly") == "present"
    assert r.labels.get("Atelectasis") in ("present", "uncertain")
    assert conf.get("Atelectasis") == "uncertain"


def _item(task="binary", answer="B", options=None, labels=()):
    return BenchItem(
        id="x",
        study_id="1",
        task=task,
        question="Does this chest X-ray show pleural effusion?",
        options=options if options is not None else {"A": "Yes", "B": "No"},
        answer=answer,
        answer_labels=list(labels),
        images=[],
        report="FINDINGS: No pleural effusion. The heart is enlarged. IMPRESSION: Cardiomegaly.",
    )


def test_filter_and_reaches_answer():
    it = _item()
    good = [
        "There is no visible pleural effusion.",
        "So this chest X-ray does not show pleural effusion: the answer is B) No.",
    ]
    assert reaches_answer(it, good) and chain_rejection(it, good) is None
    assert chain_rejection(it, ["There is a pleural effusion.", good[1]]) == "factuality < 1"
    assert (
        chain_rejection(it, ["There is no visible pleural effusion.", "the answer is A) Yes."])
        == "does not reach the answer"
    )
    assert chain_rejection(it, []) == "empty chain"
    assert (
        chain_rejection(it, ["I look at the image.", "The answer is B) No."])
        == "no finding asserted"
    )
    an = _item("anomaly", "Cardiomegaly", None, ["Cardiomegaly"])
    assert reaches_answer(an, ["The heart is enlarged.", "In summary, the answer is Cardiomegaly."])
    assert not reaches_answer(an, ["In summary, the answer is Cardiomegaly, Edema."])


def test_llm_prompt_validators():
    cands = ["Cardiomegaly", "Edema"]
    assert P.validate_plan('{"findings": ["Edema"]}', cands) == ["Edema"]
    for bad in ("not json", "[]", '{"findings": []}', '{"findings": ["Fracture"]}'):
        with pytest.raises(P.SchemaError):
            P.validate_plan(bad, cands)
    report = "FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly."
    ok = '{"evidence": [{"finding": "Cardiomegaly", "status": "present", "sentence": "The heart is enlarged."}]}'
    assert P.validate_evidence(ok, ["Cardiomegaly"], report)[0]["status"] == "present"
    for bad in (
        ok.replace("present", "maybe"),
        ok.replace("The heart is enlarged.", "The heart is huge."),  # not copied from the report
        ok.replace("Cardiomegaly", "Edema"),  # does not cover the plan
    ):
        with pytest.raises(P.SchemaError):
            P.validate_evidence(bad, ["Cardiomegaly"], report)
    final = "So this chest X-ray does show cardiomegaly: the answer is A) Yes."
    assert (
        P.validate_refine(f'{{"steps": ["The heart is enlarged.", "{final}"]}}', final)[-1] == final
    )
    for bad in (
        '{"steps": ["The heart is enlarged."]}',
        f'{{"steps": ["The report says cardiomegaly.", "{final}"]}}',
    ):
        with pytest.raises(P.SchemaError):
            P.validate_refine(bad, final)
    msgs = P.plan_messages("q?", "A) Yes B) No", cands)
    assert "STAGE: plan" in msgs[0]["content"] and P.LLM_PROMPTS_VERSION


def test_share_caps_and_letter_remainders():
    from cxreason.bench.generators import share_caps

    caps = share_caps({"a": 50, "b": 10, "c": 10, "d": 10, "e": 10, "f": 10}, 0.2)
    assert set(caps) == {"a"} and caps["a"] <= 0.2 * (50 + caps["a"])
    assert share_caps({"a": 9, "b": 2, "c": 2, "d": 2}, 0.2) == {}  # unreachable: left alone
    used: Counter = Counter()
    rng = random.Random(0)
    for n in (23, 5, 6):  # three splits with remainders 3, 1, 2
        balanced_letters(n, 4, rng, used)
    assert max(used.values()) - min(used.values()) <= 1 and sum(used.values()) == 34
