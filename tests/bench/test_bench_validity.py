"""Validity checks: probes, normality oracle, id/answer independence, independent chain checks."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict

import pytest
from bench_llm_server import FakeLLMServer, ServerThread

from cxreason.bench import probe as P
from cxreason.bench.chaincheck import (
    IndependentLabels,
    gold_conflicts,
    load_label_file,
    mesh_gold,
)
from cxreason.bench.cli import main
from cxreason.bench.generators import item_id
from cxreason.bench.miner import question_label
from cxreason.bench.validity import (
    field_rule,
    id_independence,
    label_normality,
    normality_oracle,
    oracle_rule_score,
    text_probe,
    validity_checks,
)
from cxreason.data.openi import read_openi_gold
from cxreason.labeling.mesh import is_indexed, mesh_labels
from cxreason.records import BenchItem, read_records
from cxreason.vocab import FINDING_LABELS, NO_FINDING

LABELS = list(FINDING_LABELS)
NORMAL_REPORT = "FINDINGS: The lungs are clear. IMPRESSION: Normal chest."
ABNORMAL_REPORT = "FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly."


def _single(i: int, rng: random.Random, leak: str | None = None) -> BenchItem:
    """A single-choice item with random distinct labels; ``leak`` plants a cue."""
    labels = rng.sample(LABELS, 4)
    letters = "ABCD"
    answer = letters[i % 4]
    truth = labels[letters.index(answer)]
    if leak == "longest":
        by_len = sorted(labels, key=len)
        truth = by_len[-1]
        labels = rng.sample(labels, 4)
        answer = letters[labels.index(truth)]
    opts = dict(zip(letters, labels, strict=True))
    split = ("train", "validation", "test")[i % 10 // 7 + (i % 10 == 9)]
    return BenchItem(
        id=item_id("t", str(i), "single"),
        study_id=str(i),
        task="single",
        question="Which finding is in this chest X-ray?",
        options=opts,
        answer=answer,
        answer_labels=[truth],
        images=[f"{i}_a.png"],
        report=ABNORMAL_REPORT,
        split=split,
    )


# ------------------------------------------------------------------------------ the probe
def test_probe_finds_a_planted_cue_and_stays_at_chance_without_one():
    rng = random.Random(0)
    clean = [_single(i, rng) for i in range(400)]
    leaky = [_single(i, rng, leak="longest") for i in range(400)]
    res_clean = P.cross_validated(P.examples_from(clean, P.text_tokens))
    res_leaky = P.cross_validated(P.examples_from(leaky, P.text_tokens))
    assert abs(res_clean.accuracy - 0.25) <= 0.05, res_clean
    assert res_leaky.accuracy >= 0.6, res_leaky  # "longest option" is always right here
    again = P.cross_validated(P.examples_from(leaky, P.text_tokens))
    assert again == res_leaky  # deterministic
    rep = text_probe(leaky)
    assert rep["single"]["ok"] is False and rep["single"]["chance"] == 0.25


def test_probe_folds_are_the_splits_when_there_are_several():
    items = [_single(i, random.Random(i)) for i in range(30)]
    group = P.item_group(items)
    assert {group(it) for it in items} == {"train", "validation", "test"}
    one_split = [it for it in items if it.split == "train"]
    assert P.item_group(one_split)(one_split[0]) == one_split[0].study_id
    assert P.wilson(50, 100)[0] < 0.5 < P.wilson(50, 100)[1]


# ------------------------------------------------------------------------------ the oracle
def _binary(i: int, label: str, yes: bool, normal: bool) -> BenchItem:
    return BenchItem(
        id=item_id("t", str(i), "binary", label),
        study_id=str(i),
        task="binary",
        question=f"Does this chest X-ray show {label.lower()}?",
        options={"A": "Yes", "B": "No"},
        answer="A" if yes else "B",
        answer_labels=[label] if yes else [],
        images=[],
        report=NORMAL_REPORT if normal else ABNORMAL_REPORT,
        split=("train", "test")[i % 2],
    )


def test_oracle_catches_negatives_drawn_from_normal_studies_only():
    old = [_binary(i, "Edema", i % 2 == 0, normal=i % 2 == 1) for i in range(200)]
    normal = label_normality(old)
    assert sum(normal.values()) == 100
    rep = normality_oracle(old, normal)["binary"]
    assert rep["rule"] == 1.0 and rep["ok"] is False and rep["limit"] == 0.6
    matched = [_binary(i, "Edema", i % 2 == 0, normal=False) for i in range(200)]
    assert normality_oracle(matched, label_normality(matched))["binary"]["value"] == 0.5


def test_oracle_rule_on_no_finding_options():
    it = _single(0, random.Random(0))
    it.options = {"A": NO_FINDING, "B": "Edema", "C": "Fracture", "D": "Pneumothorax"}
    it.answer = "A"
    assert oracle_rule_score(it, normal=True) == 1.0
    it.answer = "B"
    assert oracle_rule_score(it, normal=False) == pytest.approx(1 / 3)  # rules No Finding out
    it.options["A"] = "Cardiomegaly"
    assert oracle_rule_score(it, normal=False) == 0.25


# ------------------------------------------------------------------------------ ids
def test_old_style_ids_are_caught_and_hashed_ids_pass():
    rng = random.Random(1)
    items = [_single(i, rng) for i in range(300)]
    ok = id_independence(items)
    assert ok["id"]["single"]["rule"]["ok"] and ok["id"]["single"]["probe"]["ok"]
    slug = lambda s: re.sub(r"[^a-z0-9]+", "-", s.lower())  # noqa: E731
    for it in items:  # the v1 scheme: {study}-single-{slug of the truth}
        it.id = f"{it.study_id}-single-{slug(it.options[it.answer])}"
    bad = id_independence(items)["id"]["single"]
    assert bad["rule"]["value"] == 1.0 and not bad["rule"]["ok"]
    assert bad["probe"]["value"] > 0.5 and not bad["probe"]["ok"]
    assert field_rule(items[0], "id") == items[0].answer


def test_item_id_is_opaque_and_keyed_by_question_slot():
    a = item_id("openi", "12", "binary", "Edema")
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert a == item_id("openi", "12", "binary", "Edema")
    assert (
        len(
            {
                a,
                item_id("openi", "12", "binary", "Fracture"),
                item_id("mimic", "12", "binary", "Edema"),
            }
        )
        == 3
    )


# ------------------------------------------------------------------------------ Open-I build
def test_openi_hard_negatives_and_oracle(openi_bench, openi_reports):
    items = openi_bench["items"]
    normal = label_normality(items)
    by_label: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        if it.task == "binary":
            by_label[question_label(it)][(it.answer, normal[it.study_id])] += 1
    for lb, c in by_label.items():  # the same normal/abnormal mix behind Yes and No
        assert c[("A", True)] == c[("B", True)] and c[("A", False)] == c[("B", False)], (lb, c)
    gold = read_openi_gold(openi_reports)
    checks = validity_checks(items, gold)
    for source in (checks["normality_oracle"], checks["mesh"]["normality_oracle"]):
        assert source["binary"]["value"] <= 0.60, source["binary"]
        for task in ("single", "multiple"):
            assert source[task]["value"] <= source[task]["chance"] + 0.05, source[task]
    for task in ("binary", "single", "multiple"):
        assert checks["text_probe"][task]["ok"], checks["text_probe"][task]
        assert checks["id_independence"]["id"][task]["probe"]["ok"]
        assert checks["mesh"]["agreement"][task]["rate"] >= 0.95
    assert checks["ok"], json.dumps(checks)[:2000]
    # single and multiple never offer No Finding (knowing normality would rule it in or out)
    assert not any(NO_FINDING in (it.options or {}).values() for it in items if it.task != "binary")


def test_openi_ids_opaque_and_the_same_for_every_seed(openi_bench, tmp_path, openi_reports):
    items = openi_bench["items"]
    assert len({it.id for it in items}) == len(items)
    for it in items:
        slot = question_label(it) if it.task in ("binary", "temporal") else ""
        assert it.id == item_id("openi", it.study_id, it.task, slot)
        assert not any(
            w in it.id for t in (it.options or {}).values() for w in t.lower().split()
        ), it.id
    assert main(["build", str(openi_reports), "--out", str(tmp_path / "s7"), "--seed", "7"]) == 0
    other = read_records(tmp_path / "s7" / "bench.jsonl", BenchItem)
    key = {(it.study_id, it.task, it.question): it.id for it in items}
    common = [it for it in other if (it.study_id, it.task, it.question) in key]
    assert len(common) > 300
    assert all(key[(it.study_id, it.task, it.question)] == it.id for it in common)


def test_audit_strict_with_mesh_passes_and_prints_chance(openi_bench, openi_reports, capsys):
    out = openi_bench["out"]
    rc = main(["audit", str(out), "--strict", "--mesh", str(openi_reports),
               "--json", str(out / "audit.json")])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0, text
    for name in ("oracle (labels)", "oracle (MeSH)", "text probe", "id rule", "id probe",
                 "MeSH agreement", "chains vs MeSH", "chance"):  # fmt: skip
        assert name in text, name
    rep = json.loads((out / "audit.json").read_text())
    assert rep["validity"]["ok"] and "blind_rules" in rep


def test_openi_chain_check_drops_mesh_contradictions(openi_bench, openi_reports):
    m = openi_bench["manifest"]
    checks = m["chains"]["independent_checks"]
    assert checks["labels_source"] == "openi-mesh" and checks["labels_checked"] > 1000
    assert (
        m["chains"]["dropped_by_reason"].get("asserts a finding the dataset labels call absent", 0)
        == checks["labels_dropped"]
        > 0
    )
    gold = read_openi_gold(openi_reports)
    for it in openi_bench["items"]:
        cell = gold.get(it.study_id, "")
        if it.reasoning and is_indexed(cell):
            assert gold_conflicts(it.reasoning_steps, mesh_gold(cell)) == [], it.id
    # study 1003: a retrocardiac density the report calls a hiatal hernia is no lung opacity
    ev = [s for it in openi_bench["items"] if it.study_id == "1003" for s in it.reasoning_steps]
    assert not any("Retrocardiac soft tissue density" in s for s in ev)
    pos, _ = mesh_labels(gold["1003"])
    assert "Lung Opacity" in pos  # the band-like basal opacity is still there


# ------------------------------------------------------------------------------ chain checks
def test_gold_conflicts_and_mesh_gold():
    g = mesh_gold("Cardiomegaly/mild;Calcified Granuloma")
    assert "Cardiomegaly" not in g.absent and "Edema" in g.absent and g.abnormal
    assert gold_conflicts(["There is pulmonary edema.", "The heart is enlarged."], g) == ["Edema"]
    assert gold_conflicts(["No acute cardiopulmonary abnormality."], g) == []  # chronic finding
    assert gold_conflicts(["No abnormality is seen."], g) == [NO_FINDING]
    assert mesh_gold("No Indexing") is None
    tech = mesh_gold("Technical Quality of Image Unsatisfactory ")
    assert tech is not None and tech.abnormal is False


STUDIES = [
    {"study_id": f"e{i}", "findings": "There is mild pulmonary edema. The heart is normal in size.",
     "impression": "Mild edema."}
    for i in range(30)
] + [
    {"study_id": f"n{i}", "findings": "The lungs are clear. No pleural effusion. No edema.",
     "impression": "Normal chest."}
    for i in range(30)
]  # fmt: skip


def _write_studies(path):
    path.write_text("".join(json.dumps(s) + "\n" for s in STUDIES))
    return path


def test_build_drops_chains_a_label_file_contradicts(tmp_path):
    src = _write_studies(tmp_path / "s.jsonl")
    labels = tmp_path / "chexpert.csv"
    cols = ["subject_id", "study_id", *["No Finding", *LABELS]]
    rows = [",".join(cols)]
    for i in range(30):  # the label file calls edema absent in e0..e9
        vals = {lb: "" for lb in cols[2:]}
        vals["Edema"] = "0.0" if i < 10 else "1.0"
        rows.append(",".join([f"{i}", f"e{i}", *[vals[c] for c in cols[2:]]]))
    labels.write_text("\n".join(rows) + "\n")
    assert load_label_file(labels).source == "chexpert.csv"
    out = tmp_path / "b"
    assert main(["build", str(src), "--out", str(out), "--check-labels", str(labels),
                 "--min-label-items", "1"]) == 0  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    items = read_records(out / "bench.jsonl", BenchItem)
    dropped = [
        it for it in items if not it.reasoning and it.study_id in {f"e{i}" for i in range(10)}
    ]
    assert dropped and m["chains"]["dropped_by_reason"][
        "asserts a finding the dataset labels call absent"
    ] == m["chains"]["independent_checks"]["labels_dropped"] >= len(dropped)
    for it in items:  # the others keep their chains (edema is present there)
        if it.study_id.startswith("e") and int(it.study_id[1:]) >= 10:
            assert it.reasoning, it.id
    assert m["options"]["check_labels"] == "chexpert.csv"
    assert main(["build", str(src), "--out", str(tmp_path / "c"), "--check-labels",
                 str(tmp_path / "absent.csv")]) != 0  # fmt: skip
    lj = tmp_path / "labels.jsonl"
    lj.write_text(json.dumps({"study_id": "e1", "labels": {"Edema": "absent"}}) + "\n")
    assert isinstance(load_label_file(lj), IndependentLabels)


def _judge(messages: list[dict]) -> str:
    """Calls a chain unsupported when it mentions edema; fails (not JSON) for pleural effusion."""
    steps = json.loads(re.search(r"<steps>(.*?)</steps>", messages[-1]["content"], re.S).group(1))
    bad = [s["step"] for s in steps if "edema" in s["text"].lower()]
    return json.dumps({"unsupported_steps": bad, "reason": "test"})


def test_llm_judge_drops_unsupported_chains(tmp_path):
    src = _write_studies(tmp_path / "s.jsonl")
    fake = FakeLLMServer(_judge)
    fake.faults.extend(["500"] * 3)  # retried, then answered
    with ServerThread(fake) as st:
        out = tmp_path / "b"
        assert main(["build", str(src), "--out", str(out), "--judge-model", "judge",
                     "--judge-base-url", st.base_url, "--min-label-items", "1"]) == 0  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    items = read_records(out / "bench.jsonl", BenchItem)
    assert not any("edema" in it.reasoning.lower() for it in items)
    judge = m["chains"]["independent_checks"]["judge"]
    n_drop = m["chains"]["dropped_by_reason"]["llm judge: unsupported step"]
    assert judge["unsupported"] == n_drop > 0 and judge["failures"] == []
    assert judge["judged"] == n_drop + sum(1 for it in items if it.reasoning)
    assert m["options"]["judge_model"] == "judge"


def test_probe_gate_tolerates_noise_only_on_small_tasks():
    from math import comb

    from cxreason.bench.validity import _probe_check, binomial_tail

    assert binomial_tail(0, 10, 0.3) == 1.0 and binomial_tail(11, 10, 0.3) == 0.0
    direct = sum(comb(20, i) * 0.25**i * 0.75 ** (20 - i) for i in range(9, 21))
    assert binomial_tail(9, 20, 0.25) == pytest.approx(direct)
    small = _probe_check(P.ProbeResult(64, 21 / 64, 0.25, (0.2, 0.45)), 0.30)
    assert small["ok"] and small["within_noise"] and small["p_above_chance"] > 0.05
    large = _probe_check(P.ProbeResult(1000, 0.33, 0.25, (0.3, 0.36)), 0.30)
    assert not large["ok"] and large["p_above_chance"] < 0.001


def test_middle_rank_rules():
    from cxreason.bench.rules import RULES, RuleContext

    opts = {"A": "Edema", "B": "Fracture", "C": "Lung Opacity", "D": "Enlarged Cardiomediastinum"}
    ctx = RuleContext()
    assert RULES["second_shortest"]("single", "q", opts, ctx) == "B"  # 5, 8, 12, 26 chars
    assert RULES["second_longest"]("single", "q", opts, ctx) == "C"
    assert RULES["second_canonical"]("single", "q", opts, ctx) == "C"  # ECM, LO, Edema, Fracture
    assert RULES["third_canonical"]("single", "q", opts, ctx) == "A"
