"""RadRScore offline backend on crafted texts (entities from the real labeler)."""

from __future__ import annotations

import pytest

from cxreason.metrics import radrscore as rr
from cxreason.metrics.radrscore import (
    SIM_THRESHOLD,
    completeness,
    effectiveness,
    entities,
    extract_think,
    factuality,
    score_item,
)
from cxreason.records import BenchItem

REPORT = (
    "FINDINGS: The heart is enlarged. There is a small right pleural effusion. "
    "No pneumothorax. IMPRESSION: Cardiomegaly with small right effusion."
)
STEPS = [
    "The cardiac silhouette is enlarged.",
    "There is a small right pleural effusion.",
    "There is no pneumothorax.",
    "There is no focal consolidation.",
    "There is no pulmonary edema.",
]
REFERENCE = " ".join(STEPS)


def _item() -> BenchItem:
    return BenchItem(
        id="x",
        study_id="s",
        task="binary",
        question="q",
        options={"A": "Yes", "B": "No"},
        answer="A",
        answer_labels=["Cardiomegaly"],
        images=[],
        report=REPORT,
        reasoning=REFERENCE,
        reasoning_steps=STEPS,
    )


def test_reference_reasoning_scores_one():
    assert factuality(REFERENCE, REPORT) == 1.0
    assert completeness(REFERENCE, REFERENCE) == 1.0
    assert effectiveness(STEPS, STEPS) == 1.0
    s = score_item(_item(), f"<think>{REFERENCE}</think><answer>A</answer>", embedder=None)
    assert s["radrscore"] == 1.0 and s["has_reasoning"]


def test_unmentioned_negative_is_correct_and_unmentioned_positive_is_wrong():
    assert factuality("There is no pulmonary edema.", REPORT) == 1.0
    assert factuality("There is pulmonary edema.", REPORT) == 0.0
    assert factuality("There is no pleural effusion.", REPORT) == 0.0
    assert factuality("Possible small pleural effusion.", REPORT) == 1.0  # uncertain ~ present
    assert factuality("Let us look at the image.", REPORT) is None


def test_global_normal_statement_judged_against_whole_report():
    assert factuality("No acute cardiopulmonary abnormality.", REPORT) == 0.0
    normal = "FINDINGS: The lungs are clear. No pleural effusion. IMPRESSION: Normal chest."
    assert factuality("No acute cardiopulmonary abnormality.", normal) == 1.0


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5])
def test_flipping_k_of_n_statements_gives_factuality_n_minus_k_over_n(k):
    flipped = [
        "The cardiac silhouette is normal in size.",
        "There is no pleural effusion.",
        "There is a right pneumothorax.",
        "There is focal consolidation.",
        "There is pulmonary edema.",
    ]
    steps = flipped[:k] + STEPS[k:]
    n = sum(len(entities(s)) for s in STEPS)
    assert n == 5
    assert factuality(" ".join(steps), REPORT) == pytest.approx((5 - k) / 5)


def test_completeness_counts_reference_claims_the_reasoning_addresses():
    assert completeness("The heart is enlarged.", REFERENCE) == pytest.approx(1 / 5)
    # addressing the finding counts, whatever the conclusion: its error is factuality's part
    assert completeness("The heart is normal in size.", REFERENCE) == pytest.approx(1 / 5)
    assert factuality("The heart is normal in size.", REPORT) == 0.0
    # ... but not on another side (the reference's effusion is on the right)
    assert completeness("There is a left pleural effusion.", REFERENCE) == 0.0
    assert completeness("There is a pleural effusion.", REFERENCE) == pytest.approx(1 / 5)
    # a hypothetical mention addresses nothing; an answer option the chain weighs does
    assert completeness("We look for a pleural effusion.", REFERENCE) == 0.0
    weighed = "Option B mentions an enlarged heart; the images support option B."
    assert completeness(weighed, REFERENCE) == pytest.approx(1 / 5)
    assert factuality(weighed, REPORT) is None  # ... but asserts nothing about the image
    assert completeness("anything", "no entity here") == 1.0


def test_effectiveness_entity_and_semantic_matching():
    steps = ["The cardiac silhouette is enlarged.", "I will now review the image carefully."]
    assert effectiveness(steps, STEPS) == 0.5
    assert effectiveness([], STEPS) == 0.0
    # a contradicting step never matches, however similar its wording (entities decide)
    assert effectiveness(["There is no small right pleural effusion."], STEPS) == 0.0


def test_no_think_scores_zero_and_last_nonempty_think_is_used():
    item = _item()
    s = score_item(item, "<answer>A</answer>", embedder=None)
    assert s == {**s, "radrscore": 0.0, "factuality": 0.0, "has_reasoning": False}
    assert score_item(item, "<think>  </think><answer>A</answer>", embedder=None)["radrscore"] == 0
    assert extract_think("<think></think> x <think>b</think>") == "b"
    assert extract_think(None) is None


@pytest.fixture(scope="module")
def embedder():
    from cxreason.metrics.embed import Embedder

    return Embedder()


def test_semantic_matching_of_plan_steps_with_the_offline_minilm(embedder):
    refs = [
        "I review the lung fields, the pleural spaces and any indwelling material in turn.",
        "There is no visible pleural effusion.",
    ]
    plan = "I examine the lungs, the pleura and any lines or tubes one by one."
    assert entities(plan) == ()
    assert effectiveness([plan], refs) == 0.0  # no embedder: no similarity
    assert effectiveness([plan], refs, embedder) == 1.0
    assert effectiveness(["The image was acquired yesterday afternoon."], refs, embedder) == 0.0
    sims = embedder.similarity([plan, plan], refs)
    assert sims.shape == (2, 2) and abs(sims[0, 0] - sims[1, 0]) < 1e-6
    n = embedder.n_encoded
    embedder.encode([plan])
    assert embedder.n_encoded == n  # cached per unique sentence


def test_a_claimless_step_is_compared_with_each_sentence_of_a_reference_step(embedder):
    """The threshold was calibrated on sentence pairs; a reference step is often a paragraph."""
    ref = [
        "First, I review the technical quality of the study and the patient's positioning. The "
        "heart size is normal. There is no pleural effusion, no pneumothorax and no focal "
        "consolidation in either lung."
    ]
    step = (
        "I start by checking the technical quality of the film and how the patient was positioned."
    )
    assert entities(step) == ()
    assert embedder.similarity([step], ref)[0, 0] < SIM_THRESHOLD  # the paragraph: no match
    assert rr.similarity_units(ref)[0] == ref[0] and len(rr.similarity_units(ref)) == 4
    assert effectiveness([step], ref, embedder) == 1.0  # its first sentence: a match
    assert effectiveness(["The image was acquired yesterday afternoon."], ref, embedder) == 0.0


OPTION_ANSWER = """To decide, let's go through each option:

1. **Pleural effusion (Option A):**
   - Pleural effusion typically appears as blunting of the costophrenic angle.
   - The costophrenic angles are sharp, and there is no pleural effusion.

2. **Enlarged heart (Option B):**
   - The cardiac silhouette is enlarged.

### Conclusion
The answer is B."""


def test_reasoning_steps_follow_the_outputs_own_layout():
    steps = rr.reasoning_steps(OPTION_ANSWER)
    # a one-line lead-in ending with ":" joins the step it introduces, like a heading
    assert steps[0].startswith("To decide, let's go through each option:\n1. **Pleural effusion")
    assert steps[0].endswith("there is no pleural effusion.")  # its bullets stay with it
    assert steps[1] == "2. **Enlarged heart (Option B):**\n   - The cardiac silhouette is enlarged."
    assert steps[2] == "### Conclusion\nThe answer is B."  # a heading joins the step it heads
    assert len(steps) == 3
    prose = "The heart is enlarged. There is no effusion.\nThe lungs are clear."
    assert rr.reasoning_steps(prose) == rr.split_steps(prose)  # one paragraph: its sentences
    two = "A) Nodule:\n\nNo nodule is seen.\n\nB) Effusion:\n\nNo effusion."
    assert rr.reasoning_steps(two) == [
        "A) Nodule:\nNo nodule is seen.",
        "B) Effusion:\nNo effusion.",
    ]
    assert rr.reasoning_steps("") == []


def test_a_textbook_sentence_inside_an_option_item_is_not_a_step_of_its_own():
    """Read sentence by sentence, "Pleural effusion typically appears as ..." (generic: no
    claim, unlike any reference sentence) would be an ineffective step; it is part of the
    option's step, whose claims the reference supports."""
    refs = ["There is no pleural effusion.", "The heart is enlarged, consistent with cardiomegaly."]
    by_layout = effectiveness(rr.reasoning_steps(OPTION_ANSWER), refs)
    by_sentence = effectiveness(rr.split_steps(OPTION_ANSWER), refs)
    assert by_layout == pytest.approx(2 / 3)  # the two option steps 1 each, the conclusion 0
    assert by_sentence == pytest.approx(2 / 8)  # 8 sentences, 6 of them claim-less
    assert by_sentence < by_layout
    parts = rr.reasoning_parts(OPTION_ANSWER, "Cardiomegaly. No effusion.", refs[1], refs, None)
    assert parts["effectiveness"] == pytest.approx(by_layout)


def test_a_claimless_item_matches_by_any_of_its_sentences(embedder):
    refs = ["I review the lung fields, the pleural spaces and any indwelling material in turn."]
    item = "1. **Approach:**\n- First the film.\n- I examine the lungs, the pleura and any lines or tubes one by one."
    item2 = "2. **Timing:**\n- The image was acquired yesterday afternoon."
    steps = rr.reasoning_steps(item + "\n" + item2)
    assert len(steps) == 2 and all(entities(s) == () for s in steps)
    assert effectiveness(steps, refs, embedder) == 0.5


def test_entity_from_mention_flags_global_statements():
    from cxreason.labeling import extract_mentions
    from cxreason.metrics.radrscore import entity_from_mention

    ents = [
        entity_from_mention(m) for m in extract_mentions("No acute cardiopulmonary abnormality.")
    ]
    assert ents and all(e.is_global and e.polarity == "negative" for e in ents)
    assert tuple(dict.fromkeys(ents)) == entities("No acute cardiopulmonary abnormality.")
