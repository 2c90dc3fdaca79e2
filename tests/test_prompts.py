"""Prompt profiles: each released checkpoint worded as its authors ran it, one function for all."""

from __future__ import annotations

import pytest

from cxreason import prompts as P
from cxreason.metrics.outcome import outcome_detail
from cxreason.records import BenchItem

BINARY = BenchItem(
    "b1",
    "s1",
    "binary",
    "Does this chest X-ray show Pleural Effusion?",
    {"A": "Yes", "B": "No"},
    "A",
    ["Pleural Effusion"],
    ["a.png"],
    "",
)
SINGLE = BenchItem(
    "s1",
    "s1",
    "single",
    "Which finding is in this chest X-ray?",
    {"A": "Edema", "B": "Cardiomegaly", "C": "Fracture", "D": "No Finding"},
    "B",
    ["Cardiomegaly"],
    ["a.png"],
    "",
)
ANOMALY = BenchItem(
    "a1",
    "s1",
    "anomaly",
    "Which findings are in this chest X-ray?",
    None,
    "Cardiomegaly, Pleural Effusion",
    ["Cardiomegaly", "Pleural Effusion"],
    ["a.png", "b.png"],
    "",
)


def _text(msgs):
    return msgs[-1]["content"][-1]["text"]


def test_cxreason_profile_is_the_toolkit_prompt():
    for mode in P.MODES:
        assert P.item_messages(SINGLE, mode) == P.chat_messages(
            SINGLE.question, SINGLE.options, 1, mode
        )
    assert P.item_messages(SINGLE)[0] == {
        "role": "system",
        "content": [{"type": "text", "text": P.SYSTEM_PROMPT}],
    }


def test_chestx_reasoner_profile_matches_the_released_layout():
    """The exact text of ChestX-Reasoner's released test questions (binary, single)."""
    msgs = P.item_messages(BINARY, "cot", "chestx-reasoner")
    assert [m["role"] for m in msgs] == ["user"]  # no system turn
    assert msgs[0]["content"][0] == {"type": "image"}
    assert _text(msgs) == (
        "Does this chest X-ray show pleural effusion? Options:\nA) Yes\nB) No\n"
        "Let's think step by step. Enclose the reasoning within <think></think> and the answer "
        "within <answer></answer>."
    )
    assert _text(P.item_messages(SINGLE, "direct", "chestx-reasoner")) == (
        "Which finding is in this chest X-ray? Options:\nA) edema\nB) cardiomegaly\n"
        "C) fracture\nD) no finding"
    )
    anomaly = _text(P.item_messages(ANOMALY, "cot", "chestx-reasoner"))
    assert anomaly.startswith("Which findings are in this chest X-ray?\nLet's think step by step.")


def test_nv_reason_profile():
    msgs = P.item_messages(ANOMALY, "cot", "nv-reason-cxr")
    assert msgs == [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "Find abnormalities and support devices."},
            ],
        }
    ]
    closed = _text(P.item_messages(SINGLE, "cot", "nv-reason-cxr"))
    assert closed == (
        "Which finding is in this chest X-ray? Options:\nA) Edema\nB) Cardiomegaly\n"
        "C) Fracture\nD) No Finding"
    )
    with pytest.raises(ValueError, match="one prompt, with reasoning"):
        P.item_messages(ANOMALY, "direct", "nv-reason-cxr")


def test_unknown_profile_and_mode_refused():
    with pytest.raises(ValueError, match="prompt profile must be one of"):
        P.item_messages(SINGLE, "cot", "llava")
    with pytest.raises(ValueError, match="mode must be one of"):
        P.item_messages(SINGLE, "fast", "chestx-reasoner")


def test_text_only_models_get_no_image_placeholders():
    for profile in P.PROFILES:
        msgs = P.item_messages(ANOMALY, "cot", profile, n_images=0)
        assert all(p["type"] == "text" for m in msgs for p in m["content"])


def test_every_profile_is_scored_by_the_same_parser():
    """Released-checkpoint answer styles under the one parser (docs/inference.md)."""
    # ChestX-Reasoner answers "<answer> B </answer>"
    assert outcome_detail(SINGLE, "<think>x</think><answer> B </answer>").score == 1.0
    # NV-Reason-CXR answers a label set: on anomaly items, set F1 ...
    nv = "<think>heart is enlarged</think>\n<answer> Cardiomegaly, Pleural Effusion </answer>"
    assert outcome_detail(ANOMALY, nv).score == 1.0
    # ... on a closed item, a label set equal to one option's labels is that option ...
    one = "<think>x</think>\n<answer> Cardiomegaly </answer>"
    assert outcome_detail(SINGLE, one).letter == "B"
    # ... and any other label set is unparsable: wrong, kept in the denominator
    two = outcome_detail(SINGLE, nv)
    assert (two.status, two.score) == ("unparsable", 0.0)
    assert outcome_detail(BINARY, nv).status == "unparsable"
