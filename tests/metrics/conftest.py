"""Fixtures: a small benchmark built from the shared Open-I reports, and a loopback judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxreason.records import BenchItem, bench_report, write_jsonl

N_STUDIES = 120


def _craft_items(reports_csv: Path, n_studies: int) -> list[BenchItem]:
    """Test-only BenchItems from real reports: reference steps = report sentences with mentions."""
    from cxreason.data.openi import read_openi
    from cxreason.labeling import extract_mentions, label_report, split_sentences
    from cxreason.vocab import FINDING_LABELS

    items: list[BenchItem] = []
    for st in read_openi(reports_csv):
        if not st.findings.strip():
            continue
        text = f"{st.findings.strip()} {st.impression.strip()}"
        steps = [text[a:b].strip() for a, b in split_sentences(text)]
        steps = [s for s in steps if extract_mentions(s)]
        if not steps:
            continue
        labels = label_report(st.findings, st.impression).labels
        present = [lb for lb in FINDING_LABELS if labels.get(lb) == "present"]
        absent = [lb for lb in FINDING_LABELS if labels.get(lb) == "absent"]
        common = dict(
            study_id=st.study_id,
            images=[],
            report=bench_report(st.findings, st.impression),
            reasoning=" ".join(steps),
            reasoning_steps=steps,
        )
        finding, answer = (
            (present[0], "A") if present else (absent[0], "B") if absent else (None, "")
        )
        if finding:
            items.append(
                BenchItem(
                    id=f"{st.study_id}-binary",
                    task="binary",
                    question=f"Does this chest X-ray show {finding}?",
                    options={"A": "Yes", "B": "No"},
                    answer=answer,
                    answer_labels=[finding] if answer == "A" else [],
                    **common,
                )
            )
        items.append(
            BenchItem(
                id=f"{st.study_id}-anomaly",
                task="anomaly",
                question="Which findings are in this chest X-ray?",
                options=None,
                answer=", ".join(present) or "No Finding",
                answer_labels=present,
                **common,
            )
        )
        if len({it.study_id for it in items}) >= n_studies:
            break
    return items


def _built_items(reports_csv: Path, out: Path, n_rows: int) -> list[BenchItem]:
    """Items of the real benchmark builder run on the first ``n_rows`` Open-I reports."""
    from cxreason.bench.build import BuildConfig, build_bench
    from cxreason.records import read_records

    lines = reports_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    subset = out / "reports.csv"
    with open(subset, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows[: n_rows + 1])
    build_bench(BuildConfig(input=subset, out=out, min_label_items=5))
    return read_records(out / "bench.jsonl", BenchItem)


@pytest.fixture(scope="session")
def openi_items(openi_reports) -> list[BenchItem]:
    """Items with report-sentence reference chains, crafted here from the labeler."""
    return _craft_items(openi_reports, N_STUDIES)


@pytest.fixture(scope="session")
def built_items(openi_reports, tmp_path_factory) -> list[BenchItem]:
    """Items from ``cxreason.bench`` (rule-mined chains) on 400 Open-I reports."""
    return _built_items(openi_reports, tmp_path_factory.mktemp("built"), 400)


@pytest.fixture(scope="session")
def built_bench(built_items, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("builtbench") / "bench.jsonl"
    write_jsonl(path, built_items)
    return path


@pytest.fixture(scope="session")
def openi_bench(openi_items, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    write_jsonl(path, openi_items)
    return path


@pytest.fixture
def judge_server():
    from metrics_fake_judge import JudgeServer

    with JudgeServer() as srv:
        yield srv
