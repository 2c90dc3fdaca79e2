"""Figures quoted in docs/, regenerated from the commands that produce them.

A figure block in a Markdown file under docs/ looks like::

    <!-- figures:bench-counts -->
    ... generated text (it names the command that produced it) ...
    <!-- /figures:bench-counts -->

``python benchmarks/doc_figures.py --write`` rebuilds every block from a fresh run on the shared
Open-I reports; ``--check`` (the default; run by tests/test_docs_figures.py) exits 1 and shows
a diff when a block no longer matches what the code gives, so docs cannot quote stale counts.
Only deterministic figures live in blocks (counts, agreement, F1): timings depend on the
machine and stay in prose beside the command and the machine they were measured on.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared" / "data" / "openi"
BLOCK = re.compile(
    r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S
)


class Context:
    """Lazily built inputs shared by the generators (one bench build per run)."""

    def __init__(self, reports: Path, projections: Path, workdir: Path):
        self.reports, self.projections, self.workdir = reports, projections, workdir

    @cached_property
    def bench_dir(self) -> Path:
        from cxreason.bench.build import BuildConfig, build_bench

        out = self.workdir / "bench"
        build_bench(BuildConfig(input=self.reports, out=out, projections=self.projections))
        return out

    @cached_property
    def manifest(self) -> dict:
        import json

        return json.loads((self.bench_dir / "manifest.json").read_text("utf-8"))

    @cached_property
    def items(self) -> list:
        from cxreason.records import BenchItem, read_records

        return read_records(self.bench_dir / "bench.jsonl", BenchItem)


BUILD_CMD = (
    "cxreason bench build ../shared/data/openi/indiana_reports.csv "
    "--projections ../shared/data/openi/indiana_projections.csv --out DIR"
)


def bench_counts(ctx: Context) -> str:
    """Items per task and split, chains kept and dropped, of the default build."""
    m = ctx.manifest
    splits = ("train", "validation", "test")
    lines = [
        f"`{BUILD_CMD}` (seed {m['seed']}, {m['source']['n_studies']:,} studies):",
        "",
        "| task | items | " + " | ".join(splits) + " |",
        "|---|---:|" + "---:|" * len(splits),
    ]
    for task, n in m["counts"]["per_task"].items():
        sp = m["counts"]["per_task_split"].get(task, {})
        lines.append(
            f"| {task} | {n:,} | " + " | ".join(f"{sp.get(s, 0):,}" for s in splits) + " |"
        )
    per_split = m["counts"]["per_split"]
    lines.append(
        f"| **all** | **{m['counts']['total']:,}** | "
        + " | ".join(f"{per_split.get(s, 0):,}" for s in splits)
        + " |"
    )
    ch = m["chains"]
    drops = ", ".join(f"{k} {v:,}" for k, v in ch["dropped_by_reason"].items()) or "none"
    lines += [
        "",
        f"Chains kept: {ch['kept']:,}; answer-only items: {ch['answer_only']:,}; dropped chains by reason: {drops}.",
    ]
    return "\n".join(lines) + "\n"


def label_eval(ctx: Context) -> str:
    """The labeler against the MeSH annotations (strict and lenient micro/macro F1)."""
    from cxreason.labeling.evaluate import evaluate_openi

    res = evaluate_openi(ctx.reports)
    strict = res["strict"]
    mic = strict.micro()
    return (
        "`cxreason label eval ../shared/data/openi/indiana_reports.csv`: "
        f"{strict.n_reports:,} indexed reports ({strict.n_skipped:,} not indexed); strict "
        f"micro-F1 **{mic.f1:.3f}** (P {mic.precision:.3f}, R {mic.recall:.3f}, support "
        f"{mic.support:,}), macro-F1 {strict.macro_f1():.3f}; lenient micro-F1 "
        f"{res['lenient'].micro().f1:.3f}.\n"
    )


GENERATORS: dict[str, Callable[[Context], str]] = {
    "bench-counts": bench_counts,
    "label-eval": label_eval,
}


def render(text: str, ctx: Context, path: Path) -> str:
    """``text`` with every figure block regenerated (unknown block names are an error)."""

    def sub(m: re.Match) -> str:
        name = m.group("name")
        if name not in GENERATORS:
            raise SystemExit(f"{path}: unknown figure block {name!r} (known: {sorted(GENERATORS)})")
        return m.group(1) + GENERATORS[name](ctx) + m.group(4)

    return BLOCK.sub(sub, text)


def run(write: bool, docs: Path, reports: Path, projections: Path) -> int:
    stale = 0
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(reports, projections, Path(tmp))
        for path in sorted(docs.rglob("*.md")):
            text = path.read_text("utf-8")
            if not BLOCK.search(text):
                continue
            new = render(text, ctx, path)
            if new == text:
                continue
            stale += 1
            if write:
                path.write_text(new, "utf-8")
                print(f"updated {path}")
            else:
                diff = difflib.unified_diff(
                    text.splitlines(), new.splitlines(), str(path), "regenerated", lineterm=""
                )
                print("\n".join(diff))
    if stale and not write:
        print(
            f"{stale} doc file(s) quote stale figures: run python benchmarks/doc_figures.py --write"
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="Exit 1 if a block is stale (default).")
    mode.add_argument("--write", action="store_true", help="Rewrite stale blocks in place.")
    ap.add_argument("--docs", type=Path, default=DOCS, help="Folder of Markdown docs.")
    ap.add_argument("--reports", type=Path, default=SHARED / "indiana_reports.csv")
    ap.add_argument("--projections", type=Path, default=SHARED / "indiana_projections.csv")
    a = ap.parse_args(argv)
    return run(a.write, a.docs, a.reports, a.projections)


if __name__ == "__main__":
    sys.exit(main())
