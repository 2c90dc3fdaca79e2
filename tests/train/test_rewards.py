"""Reward functions on hand-written completions, adversarial ones included."""

from __future__ import annotations

import json

import pytest

from cxreason.train.rewards import (
    accuracy_reward,
    band_score,
    build_reward_funcs,
    check_format,
    completeness_reward,
    completion_text,
    factuality_reward,
    format_reward,
    label_set_score,
    make_accuracy_reward,
    make_length_reward,
    radrscore_reward,
)

REPORT = (
    "FINDINGS: The heart is enlarged. There is a small left pleural effusion. No pneumothorax. "
    "IMPRESSION: Cardiomegaly with small left effusion."
)
OPTS = json.dumps({"A": "Yes", "B": "No"})


def conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize(
    "text,mode,ok",
    [
        ("<think>Heart is big.</think><answer>A</answer>", "cot", True),
        ("  <think>\nHeart is big.\n</think>\n<answer> A </answer>\n", "cot", True),
        ("<answer>A</answer>", "direct", True),
        ("<answer>A</answer>", "cot", False),  # CoT needs the think block
        ("<think>x</think><answer>A</answer>", "direct", False),  # direct forbids it
        ("<answer>A</answer><think>x</think>", "cot", False),  # wrong order
        ("<think>x</think><think>y</think><answer>A</answer>", "cot", False),  # repeated
        ("<think>x</think><answer>A</answer><answer>B</answer>", "cot", False),
        ("<think>x</think><answer>A</answer> so it is A", "cot", False),  # text outside
        ("Sure! <think>x</think><answer>A</answer>", "cot", False),
        ("<think>   </think><answer>A</answer>", "cot", False),  # empty think
        ("<think>x</think><answer></answer>", "cot", False),  # empty answer
        ("<think>x <think>y</think></think><answer>A</answer>", "cot", False),  # nested
        ("<think>x</think><answer>A", "cot", False),  # unclosed
        ("The answer is A", "direct", False),
    ],
)
def test_format_gate(text, mode, ok):
    assert check_format(text, mode) is ok
    assert format_reward([conv(text)], mode=[mode]) == [float(ok)]


def test_completion_text_forms():
    parts = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "<answer>"},
                {"type": "text", "text": "B</answer>"},
            ],
        }
    ]
    assert completion_text(parts) == "<answer>B</answer>"
    assert completion_text("<answer>B</answer>") == "<answer>B</answer>"
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    assert completion_text(None) == ""


def test_accuracy_closed_tasks():
    outs = [
        "<think>t</think><answer>A</answer>",
        "<think>t</think><answer>(A)</answer>",
        "<think>t</think><answer>Yes</answer>",  # exact option text
        "<think>t</think><answer>B</answer>",
        "<think>t</think><answer>A or B</answer>",  # unparsable: wrong
        "no tags at all: A",
        "<answer>B</answer> ... <answer>A</answer>",  # the LAST answer counts
    ]
    n = len(outs)
    got = accuracy_reward(
        [conv(o) for o in outs], task=["binary"] * n, answer=["A"] * n, options=[OPTS] * n
    )
    assert got == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    # options as a dict with a None-filled slot (as datasets stores a struct column)
    got = accuracy_reward(
        ["<answer>C</answer>"],
        task=["single"],
        answer=["C"],
        options=[{"A": "Edema", "B": "Fracture", "C": "Cardiomegaly", "D": None}],
    )
    assert got == [1.0]


def test_accuracy_anomaly_strict_vocabulary():
    gold = ["Cardiomegaly", "Pleural Effusion"]
    cases = {
        "<answer>Cardiomegaly, Pleural Effusion</answer>": 1.0,
        "<answer>Pleural Effusion, Cardiomegaly</answer>": 1.0,
        "<answer>Cardiomegaly</answer>": pytest.approx(2 / 3),
        # OOV term is a false positive: P = 2/3, R = 1 -> F1 = 0.8 (not silently dropped)
        "<answer>Cardiomegaly, Pleural Effusion, Dragon Scales</answer>": pytest.approx(0.8),
        "<answer>No Finding, Cardiomegaly</answer>": 0.0,  # No Finding must stand alone
        "<answer>No Finding</answer>": 0.0,
        "<answer></answer>": 0.0,
        "Cardiomegaly, Pleural Effusion": 0.0,  # outside the tags
    }
    outs = list(cases)
    n = len(outs)
    got = accuracy_reward(
        outs,
        task=["anomaly"] * n,
        answer=["Cardiomegaly, Pleural Effusion"] * n,
        options=[None] * n,
        answer_labels=[gold] * n,
    )
    assert got == list(cases.values())


def test_no_finding_items_and_jaccard():
    normal = accuracy_reward(
        ["<answer>No Finding</answer>", "<answer>No Finding, Dragon</answer>"],
        task=["anomaly"] * 2,
        answer=["No Finding"] * 2,
        answer_labels=[[], []],
    )
    assert normal == [1.0, 0.0]
    jac = make_accuracy_reward("jaccard")
    got = jac(
        ["<answer>Cardiomegaly, Edema</answer>"],
        task=["anomaly"],
        answer=["x"],
        answer_labels=[["Cardiomegaly", "Pleural Effusion"]],
    )
    assert got == [pytest.approx(1 / 3)]
    assert label_set_score("Cardiomegaly, Unicorn", {"Cardiomegaly"}, "jaccard") == 0.5
    with pytest.raises(ValueError):
        make_accuracy_reward("dice")


def test_factuality_reward():
    outs = [
        "<think>The heart is enlarged. There is a pleural effusion. No pneumothorax.</think><answer>A</answer>",
        "<think>The heart is normal in size. There is a pneumothorax.</think><answer>B</answer>",
        "<think></think><answer>A</answer>",  # empty think
        "<answer>A</answer>",  # no think
        "<think>The image is a frontal view.</think><answer>A</answer>",  # no clinical entity
        "<think>The heart is enlarged.</think><answer>A</answer>",  # no report for this sample
        "<answer>A</answer>",  # direct-mode sample
    ]
    reports = [REPORT] * 5 + [None, REPORT]
    modes = ["cot"] * 6 + ["direct"]
    got = factuality_reward([conv(o) for o in outs], report=reports, mode=modes)
    assert got[0] == 1.0
    assert got[1] == 0.0
    assert got[2:5] == [0.0, 0.0, 0.0]
    assert got[5] is None and got[6] is None


REFERENCE_STEPS = [
    "I review the cardiac silhouette and the pleural spaces.",
    "The heart is enlarged.",
    "There is a small left pleural effusion.",
    "So the answer is A) Yes.",
]
REFERENCE = " ".join(REFERENCE_STEPS)


def test_completeness_counters_saying_little():
    """One safe negative is perfectly factual but incomplete: completeness tells them apart.

    Completeness is RadRScore v2's (issue 13): the share of the reference's findings the
    reasoning *addresses*; a wrong conclusion about them is factuality's part, so "wrong"
    below is complete but not factual (v1 scored it 0 on both).
    """
    terse = "<think>No pneumothorax.</think><answer>A</answer>"
    full = "<think>The heart is enlarged. There is a pleural effusion.</think><answer>A</answer>"
    wrong = "<think>The heart is normal. No effusion.</think><answer>A</answer>"
    outs = [conv(o) for o in (terse, full, wrong, "<answer>A</answer>", full)]
    cols = dict(report=[REPORT] * 5, mode=["cot"] * 4 + ["direct"])
    fact = factuality_reward(outs, **cols)
    comp = completeness_reward(outs, reference=[REFERENCE] * 5, mode=cols["mode"])
    assert fact[0] == fact[1] == 1.0 and fact[2] == 0.0
    assert comp[0] == 0.0 and comp[1] == 1.0 and comp[2] == 1.0
    assert comp[3] == 0.0  # CoT sample without <think>
    assert comp[4] is None  # direct mode
    assert completeness_reward([conv(full)], reference=[None]) == [None]


def test_radrscore_reward_is_the_metric():
    """The reward equals `cxreason score`'s RadRScore for the same output and item."""
    from cxreason.metrics.radrscore import score_item
    from cxreason.records import BenchItem

    item = BenchItem(
        id="x", study_id="s", task="binary", question="Does this chest X-ray show cardiomegaly?",
        options={"A": "Yes", "B": "No"}, answer="A", answer_labels=["Cardiomegaly"],
        images=[], report=REPORT, reasoning=REFERENCE, reasoning_steps=REFERENCE_STEPS,
        split="train",
    )  # fmt: skip
    outs = [
        "<think>I review the heart and the pleura. The heart is enlarged. There is a pleural "
        "effusion. So the answer is A) Yes.</think><answer>A</answer>",
        "<think>The heart is normal in size. There is a pneumothorax.</think><answer>B</answer>",
        "<think>I look at the image.</think><answer>A</answer>",
        "no tags at all",
    ]
    got = radrscore_reward(
        [conv(o) for o in outs],
        report=[REPORT] * 4,
        reference=[REFERENCE] * 4,
        reference_steps=[REFERENCE_STEPS] * 4,
        mode=["cot"] * 4,
    )
    want = [score_item(item, o)["radrscore"] for o in outs]
    assert got == pytest.approx(want)
    assert got[0] > 0.9 and got[1] < 0.2 and got[3] == 0.0
    assert radrscore_reward(
        [conv(outs[0])], report=[REPORT], reference=[""], reference_steps=[[]]
    ) == [None]


def test_length_band():
    assert band_score(50, 20, 200) == 1.0
    assert band_score(10, 20, 200) == 0.0
    assert band_score(15, 20, 200) == pytest.approx(0.5)
    assert band_score(300, 20, 200) == pytest.approx(0.5)
    assert band_score(400, 20, 200) == 0.0
    f = make_length_reward(2, 4)
    assert f(["a b c", "a", "a b c d e f", "x"], mode=["cot", "cot", "cot", "direct"]) == [
        1.0,
        0.0,
        0.5,
        None,
    ]
    with pytest.raises(ValueError):
        make_length_reward(10, 5)


def test_build_reward_funcs_names_and_errors():
    fs = build_reward_funcs(["format", "accuracy", "factuality", "length"], length_band=(1, 3))
    assert [f.__name__ for f in fs] == [
        "format_reward",
        "accuracy_reward",
        "factuality_reward",
        "length_reward",
    ]
    with pytest.raises(ValueError, match="unknown reward"):
        build_reward_funcs(["format", "vibes"])
    with pytest.raises(ValueError, match="column"):
        format_reward(["a", "b"], mode=["cot"])


def test_format_gate_stops_repeated_answer_hacking():
    hack = "<answer>A</answer>A</answer>A</answer>"  # what a tiny policy learned without the gate
    good = "<think>The heart is enlarged.</think><answer>A</answer>"
    cols = dict(
        task=["binary"] * 2,
        answer=["A"] * 2,
        options=[OPTS] * 2,
        report=[REPORT] * 2,
        mode=["cot"] * 2,
    )
    plain = build_reward_funcs(["format", "accuracy", "factuality"])
    assert [f([hack, good], **cols) for f in plain] == [[0.0, 1.0], [1.0, 1.0], [0.0, 1.0]]
    gated = build_reward_funcs(
        ["format", "accuracy", "factuality", "length"], format_gate=True, length_band=(1, 9)
    )
    assert [f([hack, good], **cols) for f in gated] == [
        [0.0, 1.0],
        [0.0, 1.0],
        [0.0, 1.0],
        [0.0, 1.0],
    ]
    assert [f.__name__ for f in gated][1] == "accuracy_reward"
    direct = gated[1](
        ["<answer>A</answer>"], task=["binary"], answer=["A"], options=[OPTS], mode=["direct"]
    )
    assert direct == [1.0]
    assert gated[2](["<answer>A</answer>"], report=[REPORT], mode=["direct"]) == [None]


def test_process_rewards_follow_radrscore_v2():
    """The factuality, completeness and radrscore rewards are RadRScore's functions, so they
    changed with RadRScore v2 (issue 13): side and temporal change are checked, statements that
    are not assertions are ignored, and effectiveness is per claim."""
    report = "FINDINGS: Small right pleural effusion. No left effusion. The heart is enlarged."
    ref_steps = ["There is a small right pleural effusion.", "The heart is enlarged."]
    reference = " ".join(ref_steps)

    def rewards(think: str) -> tuple:
        out = [conv(f"<think>{think}</think><answer>A</answer>")]
        cols = dict(report=[report], reference=[reference], reference_steps=[ref_steps])
        return (
            factuality_reward(out, report=[report])[0],
            completeness_reward(out, reference=[reference])[0],
            radrscore_reward(out, **cols)[0],
        )

    right = rewards("There is a small right pleural effusion. The heart is enlarged.")
    flipped = rewards("There is a small left pleural effusion. The heart is enlarged.")
    assert right == (1.0, 1.0, 1.0)
    assert flipped[0] == 0.5 and flipped[2] < right[2]  # v1: the side flip scored 1.0
    hedged = rewards(
        "There is a small right pleural effusion. The heart is enlarged. "
        "A pneumothorax would appear as a thin pleural line. Option C mentions edema."
    )
    assert hedged[0] == 1.0  # v1: 0.5 (pneumothorax and edema read as claimed findings)
    padded = rewards("The heart is enlarged, and there is a pneumothorax, a fracture and edema.")
    assert padded[2] < rewards("The heart is enlarged.")[2]  # fabrications dilute the step


def test_process_rewards_skip_direct_samples_in_a_mixed_batch():
    """Mixed GRPO: answer-only samples get None from every process reward and the length band
    (TRL leaves them out of the sum and of the logged mean); coverage and CoT share logged."""
    logged: dict[str, list[float]] = {}

    def log_metric(name, value):
        logged.setdefault(name, []).append(value)

    names = ["format", "accuracy", "factuality", "completeness", "radrscore", "length"]
    funcs = build_reward_funcs(names, length_band=(1, 50))
    cot = "<think>The heart is enlarged. There is a pleural effusion.</think><answer>A</answer>"
    outs = [cot, "<answer>A</answer>", cot, "<answer>B</answer>"]
    cols = dict(
        task=["binary"] * 4,
        answer=["A"] * 4,
        options=[OPTS] * 4,
        report=[REPORT] * 4,
        reference=[REFERENCE] * 4,
        reference_steps=[REFERENCE_STEPS] * 4,
        mode=["cot", "direct", "cot", "direct"],
        log_metric=log_metric,
    )
    got = {n: f(outs, **cols) for n, f in zip(names, funcs, strict=True)}
    assert got["format"] == [1.0, 1.0, 1.0, 1.0] and got["accuracy"] == [1.0, 1.0, 1.0, 0.0]
    for n in ("factuality", "completeness", "radrscore", "length"):
        assert got[n][1] is None and got[n][3] is None, n
        assert got[n][0] is not None and got[n][0] > 0.5, n
        assert logged[f"rewards/{n}_reward/applies"] == [0.5]
    assert logged["samples/cot_share"] == [0.5]
    from cxreason.train.rewards import weighted_rewards

    cols.pop("log_metric")
    total = weighted_rewards(funcs, [1, 1, 1, 1, 1, 1], outs, **cols)
    assert total[1] == 2.0 and total[3] == 1.0  # direct: format + accuracy only
    assert total[0] == pytest.approx(sum(v[0] for v in got.values()))
    with pytest.raises(ValueError, match="2 weights for 6"):
        weighted_rewards(funcs, [1, 1], outs, **cols)


NV_GOLD = "Cardiomegaly, Pleural Effusion"


def _nv(texts, task="anomaly", answer=NV_GOLD):
    funcs = build_reward_funcs(["format", "accuracy"], semantics="nv_reason_cxr")
    cols = dict(task=[task] * len(texts), answer=[answer] * len(texts), options=[None] * len(texts))
    return [f(texts, **cols) for f in funcs]


def test_nv_reason_cxr_semantics_differ_from_strict_where_documented():
    think = "<think>x</think>"
    # first <answer> block counts (strict: the last)
    first = f"{think}<answer>cardiomegaly</answer>"
    # lower-case exact names; an unknown name is DROPPED (strict: a false positive)
    junk = f"{think}<answer>Cardiomegaly, Pleural Effusion, Dragon Scales</answer>"
    fmt, acc = _nv([first, junk])
    assert fmt == [1.0, 1.0]
    assert acc == [pytest.approx(0.5), 1.0]  # Jaccard; junk label dropped
    strict = make_accuracy_reward("jaccard")(
        [junk], task=["anomaly"], answer=[NV_GOLD], answer_labels=[NV_GOLD.split(", ")]
    )
    assert strict == [pytest.approx(2 / 3)]
    # format gate: text outside the blocks, a repeated tag, or an answer before the think
    bad = [
        f"Sure. {think}<answer>{NV_GOLD}</answer>",
        f"{think}<answer>{NV_GOLD}</answer><answer>x</answer>",
        f"<answer>{NV_GOLD}</answer>{think}",
    ]
    fmt, acc = _nv(bad)
    assert fmt == [0.0, 0.0, 0.0] and acc == [0.0, 0.0, 0.0]
    # both sets empty: NV pays 1.0; "No Finding" is one of the 14 names
    fmt, acc = _nv(
        [f"{think}<answer>Dragon</answer>", f"{think}<answer>no finding</answer>"], answer=""
    )
    assert acc == [1.0, 0.0]
    fmt, acc = _nv([f"{think}<answer>No Finding</answer>"], answer="No Finding")
    assert acc == [1.0]
    # closed tasks (not in NV's data): the option letter of the first answer block
    fmt, acc = _nv([f"{think}<answer>B</answer>"], task="binary", answer="B")
    assert acc == [1.0]


def test_nv_length_is_a_short_output_penalty_in_tokens():
    from cxreason.train.rewards import overshort_penalty

    assert overshort_penalty(400, 400) == 0.0 and overshort_penalty(900, 400) == 0.0
    assert overshort_penalty(200, 400) == -0.5 and overshort_penalty(0, 400) == -1.0
    (length,) = build_reward_funcs(["length"], semantics="nv_reason_cxr", length_band=(400, 0))
    ids = [[1] * 100, [1] * 500, [1] * 3]
    got = length(["a", "b", "c"], completion_ids=ids, mode=["cot", "cot", "direct"])
    assert got == [-0.75, 0.0, None]
    with pytest.raises(ValueError, match="completion_ids"):
        length(["a"], mode=["cot"])
    with pytest.raises(ValueError, match="reward_semantics"):
        build_reward_funcs(["length"], semantics="nv")
