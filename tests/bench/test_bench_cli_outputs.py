"""`bench build` never writes over somebody else's files and says what a rerun replaces."""

from __future__ import annotations

import json

from bench_fixtures import openi_subset

from cxreason.bench.cli import main
from cxreason.provenance import bench_sha256


def _build(*args) -> int:
    return main(["build", *map(str, args)])


def test_build_refuses_foreign_out_and_reports_what_a_rerun_replaces(
    openi_reports, tmp_path, capsys
):
    reports = openi_subset(openi_reports, tmp_path / "r.csv", 120)
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert _build(reports, "--out", out) != 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "config.json" in err and "--overwrite" in err
    assert not (out / "bench.jsonl").exists()

    bench = tmp_path / "bench"
    assert _build(reports, "--out", bench, "--min-label-items", 5) == 0
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["content_sha256"] == bench_sha256(bench / "bench.jsonl")
    capsys.readouterr()
    assert _build(reports, "--out", bench, "--min-label-items", 5, "--seed", 1) == 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "replaced the previous build" in err and "seed 0 -> 1" in err
    assert _build(reports, "--out", bench, "--min-label-items", 5, "--seed", 1) == 0
    assert "(same settings)" in capsys.readouterr().err.replace("\n", " ")
