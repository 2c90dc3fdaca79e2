"""Benchmark build on the real Open-I reports and on synthetic MS-CXR-T-style studies."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from bench_fixtures import openi_subset, write_temporal_fixture

from cxreason.bench.audit import audit_items
from cxreason.bench.cli import main
from cxreason.bench.filter import chain_factuality, reaches_answer
from cxreason.bench.generators import confident_labels
from cxreason.bench.miner import question_label
from cxreason.data.load import load_studies
from cxreason.labeling import label_report
from cxreason.metrics.radrscore import factuality
from cxreason.records import BenchItem, bench_report, read_records, report_text
from cxreason.vocab import FINDING_LABELS, NO_FINDING, canonical_order


def _build(args: list[str]) -> int:
    return main(["build", *map(str, args)])


def _labels(study):
    r = label_report(study.findings, study.impression)
    return r.labels, confident_labels(
        r.labels, r.mentions, report_text(study.findings, study.impression)
    )


def test_openi_build_has_four_tasks_fast(openi_bench):
    m = openi_bench["manifest"]
    assert openi_bench["seconds"] < 30, openi_bench["seconds"]
    counts = m["counts"]["per_task"]
    for task in ("binary", "single", "multiple", "anomaly"):
        assert counts[task] >= 100, counts
    assert "temporal" not in counts  # Open-I has no prior-study pairs
    assert m["source"]["n_studies"] == 1200
    assert m["images"]["checked"] and m["images"]["total"] == 2324
    assert (
        m["images"]["missing"] == 2322 == len(m["images"]["missing_list"])
    )  # only study 1900 is here
    assert not any("1900_IM-0584" in p for p in m["images"]["missing_list"])


def test_answers_agree_with_relabelled_study(openi_bench):
    """Re-label every study and check each answer (and that no uncertain label defines one)."""
    for it in openi_bench["items"]:
        raw, conf = _labels(openi_bench["studies"][it.study_id])
        present = {lb for lb, s in conf.items() if s == "present"}
        if it.task == "binary":
            lb = question_label(it)
            assert raw.get(lb) != "uncertain" and conf.get(lb) != "uncertain", it.id
            if it.answer == "A":
                assert lb in present and it.answer_labels == [lb]
            else:  # hard negatives: negated, or unmentioned (normal by the paper's rule)
                assert raw.get(lb) in ("absent", None) and conf.get(lb) in ("absent", None), it.id
        elif it.task == "single":
            truth = it.options[it.answer]
            assert truth in present and truth != NO_FINDING, it.id
            assert raw.get(NO_FINDING) != "present", it.id  # abnormal studies only
            assert NO_FINDING not in it.options.values(), it.id
            for letter, text in it.options.items():
                if letter != it.answer:  # distractors: absent or unmentioned, never uncertain
                    assert raw.get(text) in (None, "absent") and conf.get(text) in (
                        None,
                        "absent",
                    ), it.id
        elif it.task == "multiple":
            assert set(it.options[it.answer].split(", ")) == {
                lb for lb in present if lb in FINDING_LABELS
            }
            for letter, text in it.options.items():
                labels = set(text.split(", "))
                assert not any(
                    raw.get(lb) == "uncertain" or conf.get(lb) == "uncertain" for lb in labels
                ), it.id
                if letter != it.answer:
                    assert labels - present, it.id  # certainly wrong: names a label not present
        elif it.task == "anomaly":
            assert "uncertain" not in raw.values() and "uncertain" not in conf.values(), it.id
            findings = canonical_order(lb for lb in present if lb in FINDING_LABELS)
            expect = findings or [NO_FINDING]
            assert it.answer_labels == expect and it.answer == ", ".join(expect), it.id
            if not findings:
                assert raw.get(NO_FINDING) == "present"


def test_options_well_formed(openi_bench):
    for it in openi_bench["items"]:
        if it.task == "anomaly":
            assert it.options is None
            continue
        texts = list(it.options.values())
        assert len(set(texts)) == len(texts), it.id  # no duplicate options
        assert it.answer in it.options
        if it.task == "binary":
            assert it.options == {"A": "Yes", "B": "No"}
        if it.task == "multiple":
            sets = [t.split(", ") for t in texts]
            assert len({len(s) for s in sets}) == 1, it.id  # same size
            for s in sets:
                assert s == canonical_order(s), it.id  # canonical order inside every option
                assert NO_FINDING not in s
        assert it.report.startswith("FINDINGS: ") and " IMPRESSION: " in it.report
        assert it.split in ("train", "validation", "test")


def test_no_leakage_and_uniform_letters(openi_bench):
    audit = audit_items(openi_bench["items"])
    for task in ("binary", "single", "multiple"):
        rep = audit[task]
        assert rep["flagged"] == [], (task, rep["rules"])
        assert all(a <= rep["chance"] + 0.03 for a in rep["rules"].values())
        counts = list(rep["letters"].values())
        assert len(counts) == (2 if task == "binary" else 4)
        assert max(counts) - min(counts) <= 3, rep["letters"]  # remainder per split only
    assert main(["audit", str(openi_bench["out"]), "--strict"]) == 0


def test_splits_disjoint_by_study(openi_bench):
    split_of: dict[str, set[str]] = defaultdict(set)
    for it in openi_bench["items"]:
        split_of[it.study_id].add(it.split)
    assert all(len(s) == 1 for s in split_of.values())
    n = Counter(next(iter(s)) for s in split_of.values())
    assert n["train"] > n["test"] > n["validation"] > 0


def test_kept_chains_are_factual_and_reach_answer(openi_bench):
    items = openi_bench["items"]
    kept = [it for it in items if it.reasoning]
    assert len(kept) >= 0.9 * len(items)
    for it in kept:
        assert factuality(it.reasoning, it.report) == 1.0, it.id
        assert reaches_answer(it, it.reasoning_steps), it.id
        assert it.reasoning == " ".join(it.reasoning_steps)
        assert "report" not in it.reasoning.lower(), it.id
    for it in items:
        if not it.reasoning:
            assert it.reasoning_steps == []
    ch = openi_bench["manifest"]["chains"]
    assert ch["kept"] == len(kept) and ch["answer_only"] == len(items) - len(kept)
    assert sum(ch["dropped_by_reason"].values()) == ch["answer_only"]
    # phrasing varies (seeded template choice), it is not one sentence copied everywhere
    firsts = Counter(it.reasoning_steps[0] for it in kept)
    assert len(firsts) > 10


def test_per_label_balance_in_manifest(openi_bench):
    m = openi_bench["manifest"]
    for task in ("binary", "single"):
        bal = m["balance"][task]
        balanced = {k: v for k, v in bal["kept"].items() if k not in bal["too_rare"] and v > 0}
        assert max(balanced.values()) <= 2 * min(balanced.values()), (task, balanced)
        for lb in bal["too_rare"]:
            assert any(lb in n for n in m["balance_notes"])
    yes_no = Counter(
        (question_label(it), it.answer) for it in openi_bench["items"] if it.task == "binary"
    )
    for lb in FINDING_LABELS:
        assert yes_no[(lb, "A")] == yes_no[(lb, "B")]


def test_same_seed_identical_bytes(tmp_path, openi_reports, openi_projections):
    sub = openi_subset(openi_reports, tmp_path / "sub.csv", 300)
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert (
            _build(
                [sub, "--projections", openi_projections, "--out", tmp_path / name, "--seed", seed]
            )
            == 0
        )
        outs.append(tmp_path / name)
    for f in ("bench.jsonl", "manifest.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes()
        assert (outs[0] / f).read_bytes() != (outs[2] / f).read_bytes()


def test_temporal_from_synthetic_pairs(tmp_path):
    src = write_temporal_fixture(tmp_path / "studies.jsonl")
    out = tmp_path / "bench"
    assert _build([src, "--out", out, "--tasks", "temporal,binary", "--splits", "0.6,0.1,0.3"]) == 0
    items = read_records(out / "bench.jsonl", BenchItem)
    studies = {s.study_id: s for s in load_studies(src)}
    temporal = [it for it in items if it.task == "temporal"]
    assert len(temporal) >= 30
    for it in temporal:
        s = studies[it.study_id]
        lb = question_label(it)
        assert it.options[it.answer] == s.progression[lb]
        assert sorted(it.options.values()) == sorted(("worsening", "stable", "improving"))
        prior = studies[s.prior_study_id]
        assert it.images == [prior.images[0].path, s.images[0].path]  # reference first, then new
    per = Counter((question_label(it), it.split, it.options[it.answer]) for it in temporal)
    for (lb, split, _), n in per.items():  # classes balanced per label and split
        assert all(per[(lb, split, c)] == n for c in ("worsening", "stable", "improving"))
    resolved = [it for it in temporal if not it.answer_labels]
    assert resolved and all(it.options[it.answer] == "improving" for it in resolved)
    for it in temporal:  # chains hold for resolved findings too (each image vs its report)
        prior = studies[studies[it.study_id].prior_study_id]
        prior_report = bench_report(prior.findings, prior.impression)
        assert it.reasoning and chain_factuality(it, it.reasoning_steps, prior_report) == 1.0
        assert "reference image" in it.question and "first image" in it.question
    audit = audit_items(items)
    assert audit["temporal"]["flagged"] == [] and audit["binary"]["flagged"] == []
    letters = audit["temporal"]["letters"]
    assert max(letters.values()) - min(letters.values()) <= 3


def test_splits_by_patient(tmp_path):
    src = write_temporal_fixture(tmp_path / "studies.jsonl")
    out = tmp_path / "bench"
    assert _build([src, "--out", out]) == 0
    studies = {s.study_id: s for s in load_studies(src)}
    split_of_patient: dict[str, set[str]] = defaultdict(set)
    for it in read_records(out / "bench.jsonl", BenchItem):
        split_of_patient[studies[it.study_id].patient_id].add(it.split)
    assert split_of_patient and all(len(s) == 1 for s in split_of_patient.values())
    m = json.loads((out / "manifest.json").read_text())
    assert m["splits"]["group_by"] == "patient"


def test_uncertain_never_defines_an_answer(tmp_path):
    lines = []
    for i in range(40):
        findings = "Possible right lower lobe pneumonia. There is a large left pleural effusion. Heart size is normal."
        lines.append({"study_id": f"u{i}", "findings": findings, "impression": "Pleural effusion."})
        lines.append(
            {
                "study_id": f"n{i}",
                "findings": "The lungs are clear. No pleural effusion.",
                "impression": "Normal chest.",
            }
        )
    src = tmp_path / "u.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert _build([src, "--out", tmp_path / "b", "--min-label-items", "1"]) == 0
    items = read_records(tmp_path / "b" / "bench.jsonl", BenchItem)
    assert items
    for it in items:
        assert question_label(it) != "Pneumonia" if it.task == "binary" else True
        assert "Pneumonia" not in it.answer_labels
        if it.study_id.startswith("u"):  # Pneumonia is uncertain there: never a distractor
            assert not any("Pneumonia" in t for t in (it.options or {}).values()), it.id
        assert not (it.task == "anomaly" and it.study_id.startswith("u"))


def test_cli_errors_and_strict_audit(tmp_path, capsys):
    assert _build([tmp_path / "nope.csv", "--out", tmp_path / "o"]) != 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"study_id": "1", "findings": "x"}\n{not json\n')
    assert _build([bad, "--out", tmp_path / "o"]) != 0
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert _build([bad, "--out", tmp_path / "o", "--tasks", "nonsense"]) != 0
    # a leaky bench: the answer is always A
    leaky = tmp_path / "leaky.jsonl"
    rows = []
    for i in range(40):
        rows.append(
            BenchItem(
                id=f"{i}",
                study_id=f"{i}",
                task="single",
                question="Which finding is in this chest X-ray?",
                options={"A": "Edema", "B": "Fracture", "C": "Pneumothorax", "D": "Cardiomegaly"},
                answer="A",
                answer_labels=["Edema"],
                images=[],
                report="FINDINGS: Edema. IMPRESSION: Edema.",
            )
        )
    from cxreason.records import write_jsonl

    write_jsonl(leaky, rows)
    assert main(["audit", str(leaky)]) == 0
    assert main(["audit", str(leaky), "--strict"]) == 1
    assert "always_a" in capsys.readouterr().out


def test_images_dir_resolves_jsonl_paths(tmp_path, shared_data):
    src = tmp_path / "s.jsonl"
    imgs = shared_data / "openi" / "images"
    rows = [
        {
            "study_id": "a",
            "findings": "Heart is enlarged.",
            "impression": "Cardiomegaly.",
            "images": [{"path": "1900_IM-0584-1001.dcm.png", "view": "frontal"}],
        },
        {
            "study_id": "b",
            "findings": "Lungs are clear.",
            "impression": "Normal.",
            "images": [{"path": "absent.png", "view": "frontal"}],
        },
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _build([src, "--out", tmp_path / "o", "--images", imgs, "--min-label-items", "1"]) == 0
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["images"]["missing_list"] == [str(Path(imgs) / "absent.png")]
    assert m["images"]["total"] == 2


def test_identical_bytes_across_processes(tmp_path, openi_reports):
    """Separate processes with different hash seeds (set iteration order) write the same bytes."""
    import os
    import subprocess
    import sys

    sub = openi_subset(openi_reports, tmp_path / "sub.csv", 150)
    outs = []
    for h in ("1", "2"):
        out = tmp_path / f"o{h}"
        env = {**os.environ, "PYTHONHASHSEED": h}
        cmd = [sys.executable, "-m", "cxreason.bench.cli", "build", str(sub), "--out", str(out)]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        outs.append(out)
    for f in ("bench.jsonl", "manifest.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes()


def test_answers_agree_with_mesh(openi_bench, openi_reports):
    """Answers vs the NLM indexers' MeSH terms wherever those are unambiguous (the held-out check)."""
    from cxreason.bench.audit import mesh_agreement
    from cxreason.data.openi import read_openi_gold

    agree = mesh_agreement(openi_bench["items"], read_openi_gold(openi_reports))
    floors = {"binary": 0.95, "single": 0.95, "multiple": 0.95, "anomaly": 0.93}
    for task, floor in floors.items():
        assert agree[task]["n"] >= 100 or task == "multiple", agree[task]["n"]
        assert agree[task]["rate"] >= floor, (
            task,
            agree[task]["rate"],
            agree[task]["disagreements"][:10],
        )


def test_small_bench_has_no_leak_either(tmp_path, openi_reports):
    """A 400-report set (held-out sized): the five paper-style probes stay within chance + 0.03."""
    import csv

    rows = list(csv.reader(open(openi_reports, newline="", encoding="utf-8")))
    src = tmp_path / "last400.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([rows[0], *rows[-400:]])
    assert _build([src, "--out", tmp_path / "b"]) == 0
    audit = audit_items(read_records(tmp_path / "b" / "bench.jsonl", BenchItem))
    for task in ("binary", "single", "multiple"):
        rep = audit[task]
        for rule in ("always_a", "longest", "canonical_order", "most_frequent", "most_overlap"):
            assert rep["rules"][rule] <= rep["chance"] + 0.03, (task, rule, rep["rules"][rule])
