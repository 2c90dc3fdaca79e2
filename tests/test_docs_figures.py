"""Figures quoted in docs/ match what the code gives on the shared data (issue 17, item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_quote_the_figures_a_fresh_build_gives(
    openi_reports, openi_projections, capsys, benchmark_script
):
    tool = benchmark_script("doc_figures")
    rc = tool.run(False, ROOT / "docs", openi_reports, openi_projections)
    assert rc == 0, capsys.readouterr().out


def test_a_stale_block_is_caught_and_rewritten(
    openi_reports, openi_projections, tmp_path, capsys, benchmark_script
):
    tool = benchmark_script("doc_figures")
    doc = tmp_path / "x.md"
    doc.write_text(
        "intro\n<!-- figures:bench-counts -->\n1,590 items\n<!-- /figures:bench-counts -->\nend\n"
    )
    assert tool.run(False, tmp_path, openi_reports, openi_projections) == 1
    assert "-1,590 items" in capsys.readouterr().out
    assert tool.run(True, tmp_path, openi_reports, openi_projections) == 0
    assert tool.run(False, tmp_path, openi_reports, openi_projections) == 0
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("end\n") and "cxreason bench build" in text
    doc.write_text("<!-- figures:nope -->\nx\n<!-- /figures:nope -->\n")
    with pytest.raises(SystemExit, match="unknown figure block"):
        tool.run(False, tmp_path, openi_reports, openi_projections)


def test_external_blocks_are_left_to_their_own_script(tmp_path, benchmark_script):
    mod = benchmark_script("doc_figures")
    text = "x\n<!-- figures:demo-variants -->\n| a table |\n<!-- /figures:demo-variants -->\n"
    assert mod.render(text, None, tmp_path / "t.md") == text
    with pytest.raises(SystemExit, match="unknown figure block 'nope'"):
        mod.render("<!-- figures:nope -->\n<!-- /figures:nope -->", None, tmp_path / "t.md")
