"""Fixtures shared by the benchmark tests: one full Open-I build per session."""

from __future__ import annotations

import json
import time

import pytest

from cxreason.bench.cli import main
from cxreason.data.load import load_studies
from cxreason.records import BenchItem, read_records


def _build(args: list) -> int:
    return main(["build", *map(str, args)])


@pytest.fixture(scope="session")
def openi_bench(tmp_path_factory, openi_reports, openi_projections, shared_data):
    """The full 1,200-report Open-I build (one build for the whole session; timed)."""
    out = tmp_path_factory.mktemp("openi_bench")
    t0 = time.perf_counter()
    rc = _build(
        [
            openi_reports,
            "--projections",
            openi_projections,
            "--images",
            shared_data / "openi" / "images",
            "--out",
            out,
        ]
    )
    elapsed = time.perf_counter() - t0
    assert rc == 0
    items = read_records(out / "bench.jsonl", BenchItem)
    manifest = json.loads((out / "manifest.json").read_text())
    studies = {s.study_id: s for s in load_studies(openi_reports)}
    return {
        "out": out,
        "items": items,
        "manifest": manifest,
        "studies": studies,
        "seconds": elapsed,
    }
