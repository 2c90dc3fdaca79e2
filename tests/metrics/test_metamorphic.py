"""Metamorphic tests of RadRScore v2 on benchmark items (issue 13, "What it must show").

Items are cxreason.bench's own (rule-mined chains on 400 Open-I reports, ``built_items``) and,
where the shared data is present, the paper's judged Open-I items (GPT-4o-mined chains).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cxreason.metrics import radrscore as rr
from cxreason.metrics import score as sc
from cxreason.records import BenchItem, read_records

JUDGED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "radrscore_judged"
_SIDE = re.compile(r"\b(left|right|Left|Right)\b")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
#: Statements that are not assertions about this image (hypothetical, generic, option discussion).
NOT_ASSERTIONS = [
    "A pneumothorax would appear as a thin white pleural line with no lung markings beyond it.",
    "If there were a pleural effusion, it would typically blunt the costophrenic angle.",
    "Cardiomegaly is usually defined as a cardiothoracic ratio above 0.5.",
    "Option C mentions a right pneumothorax.",
    "We assess the lung bases for consolidation.",
]


def _with_reference(items) -> list[BenchItem]:
    return [it for it in items if rr.reference_text(it).strip()]


def flip_sides(text: str) -> str:
    return _SIDE.sub(lambda m: _SWAP[m.group(1)], text)


def one_sided(item: BenchItem) -> bool:
    """The chain states a lateralized finding that the report places on that side only."""
    ref = rr.reference_text(item)
    report = rr._index(item.report)
    lateral = [
        e for e in rr.entities(ref) if e.side in ("left", "right") and e.polarity == "positive"
    ]
    for e in lateral:
        stated = [c for c in report.candidates(e) or [] if c.polarity == rr.POSITIVE]
        if not stated or any(c.side != e.side for c in stated):
            return False
    return bool(lateral)


def test_flipping_the_side_of_a_lateralized_finding_lowers_factuality(built_items):
    items = [it for it in _with_reference(built_items) if one_sided(it)]
    assert len(items) >= 30
    drops = [
        rr.factuality(rr.reference_text(it), it.report)
        - (rr.factuality(flip_sides(rr.reference_text(it)), it.report) or 0.0)
        for it in items
    ]
    assert min(drops) > 0 and np.mean(drops) >= 0.2, (len(items), np.mean(drops))


def test_side_and_change_in_factuality_and_effectiveness():
    report = "FINDINGS: No left effusion. Small right pleural effusion. Consolidation has worsened."
    assert rr.factuality("There is a left pleural effusion.", report) == 0.0
    assert rr.factuality("There is a right pleural effusion.", report) == 1.0
    assert rr.factuality("There is a pleural effusion.", report) == 1.0  # unstated side: either
    assert rr.factuality("Bilateral pleural effusions.", report) == 0.0  # the left is not there
    assert rr.factuality("The consolidation has improved.", report) == 0.0
    assert rr.factuality("The consolidation has worsened.", report) == 1.0
    steps = ["Small right pleural effusion.", "Consolidation has worsened."]
    assert rr.effectiveness(["The consolidation has improved."], steps) == 0.0
    assert rr.completeness("There is a left pleural effusion.", " ".join(steps)) == 0.0


def test_a_side_stated_once_holds_for_the_findings_later_mentions():
    # openi_single-137 of the judged half: the judge scored this step 0 (the device is on the
    # left); before side inheritance, "the device" (no side) matched the right-sided claim.
    ref = [
        "The X-ray shows a device on the left chest wall with leads towards the heart.",
        "This confirms an implanted medical device.",
    ]
    step = "A right-sided dialysis catheter is visible, confirming an implanted medical device."
    assert rr.effectiveness([step], ref) == 0.0
    assert rr.effectiveness([step.replace("right", "left")], ref) == 1.0
    report = "Left-sided pacemaker. The device is in place."
    assert rr.factuality("A right-sided pacemaker is seen. The device is in place.", report) == 0.0
    # two sides stated: an unsided mention stays open (matches either)
    two = "Left pleural effusion. Small right pleural effusion. The effusion is small."
    assert rr.entities(two)[-1].side is None
    assert rr.factuality("There is a right pleural effusion.", two) == 1.0
    # polarity is kept apart: "no right effusion" does not give the present effusion a side
    neg = rr.entities("No right pleural effusion. There is a pleural effusion.")
    assert [e.side for e in neg] == ["right", None]


def test_hypothetical_sentences_leave_factuality_alone(built_items):
    items = _with_reference(built_items)
    changes = []
    for it in items:
        ref = rr.reference_text(it)
        before = rr.factuality(ref, it.report)
        after = rr.factuality(ref + " " + " ".join(NOT_ASSERTIONS), it.report)
        changes.append(abs((after or 0.0) - (before or 0.0)))
    assert np.mean(changes) <= 0.02 and max(changes) <= 0.02


def test_one_matching_claim_with_four_fabricated_findings(built_items):
    fabricated = [
        "a right pneumothorax",
        "a displaced rib fracture",
        "a large hiatal hernia",
        "a left upper lobe mass",
        "a pericardial effusion",
        "pulmonary edema",
    ]
    scores = []
    for it in _with_reference(built_items):
        steps = rr.reference_steps(it)
        claim_steps = [s for s in steps if len(rr.claims(s)) == 1]
        if not claim_steps:
            continue
        # fabricated: neither the reference chain nor the report talks about it (each read as
        # its own text: a side one states must not carry over to the other), and not the
        # matching claim's own finding on another side (that is a side error, not a new finding)
        texts = (rr.reference_text(it), it.report)
        own = {e.concept for e in rr.entities(claim_steps[0])}
        fake = [
            f for f in fabricated
            if not any(rr._discussed(t).covers(rr.entities(f)[0]) for t in texts)
            and rr.entities(f)[0].concept not in own
        ]  # fmt: skip
        if len(fake) < 4:
            continue
        step = claim_steps[0].rstrip(". ") + ", and there is " + ", ".join(fake[:4]) + "."
        assert len(rr.claims(step)) == 5, step
        scores.append(rr.effectiveness([step], steps))
    assert len(scores) >= 30
    assert max(scores) <= 0.5 and np.mean(scores) == pytest.approx(0.2)


def test_gold_chains_score_high_and_another_studys_chain_clearly_lower(built_items):
    items = _with_reference(built_items)
    gold = {it.id: f"<think>{it.reasoning}</think><answer>{it.answer}</answer>" for it in items}
    rows = sc.score_predictions(items, gold, embedder=None)
    for part in ("factuality", "completeness", "effectiveness"):
        assert np.mean([r[part] for r in rows]) >= 0.98, part
    present = {
        it.study_id: frozenset(
            e.concept for e in rr.entities(it.report) if e.polarity == "positive"
        )
        for it in items
    }
    foreign = {}
    for k, it in enumerate(items):
        j = (k + 1) % len(items)
        while present[items[j].study_id] == present[it.study_id] and j != k:
            j = (j + 1) % len(items)
        foreign[it.id] = f"<think>{items[j].reasoning}</think><answer>{it.answer}</answer>"
    other = sc.score_predictions(items, foreign, embedder=None)
    for part in ("factuality", "completeness", "effectiveness", "radrscore"):
        assert np.mean([r[part] for r in other]) < 0.8 * np.mean([r[part] for r in rows]), part


@pytest.mark.skipif(
    not (JUDGED / "bench.jsonl").is_file(), reason="../shared/data/radrscore_judged absent"
)
def test_judged_items_not_assertions_and_fabrications():
    """The same attacks on the paper's GPT-4o-mined chains (long, option-by-option chains)."""
    items = _with_reference(read_records(JUDGED / "bench.jsonl", BenchItem))
    changes = []
    for it in items:
        ref = rr.reference_text(it)
        before = rr.factuality(ref, it.report) or 0.0
        changes.append(
            abs((rr.factuality(ref + " " + " ".join(NOT_ASSERTIONS), it.report) or 0.0) - before)
        )
    assert np.mean(changes) <= 0.02
    gold = {it.id: f"<think>{it.reasoning}</think><answer>{it.answer}</answer>" for it in items}
    rows = sc.score_predictions(items, gold, embedder=None)
    assert np.mean([r["completeness"] for r in rows]) == 1.0
