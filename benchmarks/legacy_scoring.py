"""How much ChestX-Reasoner-style scoring rules inflate accuracy, on a controlled prediction set.

The legacy rules emulated here are the ones cxreason's scorer fixes (docs/metrics.md):
(1) the FIRST ``<answer>`` block is parsed (an echoed prompt's empty block included);
(2) an output with no ``<answer>`` counts as correct; (3) unparsable answers leave the
denominator. The prediction set is built from the benchmark with a fixed seed: a share of
correct answers, wrong answers, echoed prompts followed by a wrong answer, outputs cut before
the answer, and unparsable answers ("A or B"). Prints JSON: legacy vs cxreason accuracy.

    .venv/bin/python benchmarks/legacy_scoring.py ../shared/data/openi/indiana_reports.csv
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from pathlib import Path

from cxreason.metrics import score as sc
from cxreason.metrics.bootstrap import mean_ci
from cxreason.metrics.outcome import match_option
from cxreason.prompts import user_prompt
from cxreason.records import BenchItem, read_records

KINDS = {
    "correct": 0.55,
    "wrong": 0.15,
    "echo_then_wrong": 0.10,
    "no_answer": 0.10,
    "unparsable": 0.10,
}


def make_outputs(items: list[BenchItem], seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> output, id -> kind) for the closed items."""
    rng = random.Random(seed)
    outs, kinds = {}, {}
    for it in items:
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        wrong = rng.choice([k for k in it.options if k != it.answer])
        think = f"<think>{it.reasoning}</think>"
        outs[it.id] = {
            "correct": f"{think}<answer>{it.answer}</answer>",
            "wrong": f"{think}<answer>{wrong}</answer>",
            "echo_then_wrong": f"{user_prompt(it.question, it.options)} {think}<answer>{wrong}</answer>",
            "no_answer": think,
            "unparsable": f"{think}<answer>{it.answer} or {wrong}</answer>",
        }[kind]
        kinds[it.id] = kind
    return outs, kinds


def legacy_score(item: BenchItem, output: str) -> float | None:
    """1/0, or None (dropped) under the legacy rules."""
    m = re.search(r"<answer>(.*?)</answer>", output, re.DOTALL)
    if m is None:
        return 1.0  # a missing answer counted as correct
    letter = match_option(m.group(1).strip(), item.options)
    if letter is None:
        return None  # unparsable: dropped from the denominator
    return float(letter == item.answer)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports_csv", type=Path, nargs="?")
    ap.add_argument("--bench", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.bench is None:
        from cxreason.bench.build import BuildConfig, build_bench

        out = Path(tempfile.mkdtemp(prefix="cxr-legacy-"))
        build_bench(BuildConfig(input=args.reports_csv, out=out))
        args.bench = out / "bench.jsonl"
    items = [it for it in read_records(args.bench, BenchItem) if it.options]
    outs, kinds = make_outputs(items, args.seed)
    legacy = [legacy_score(it, outs[it.id]) for it in items]
    kept = [x for x in legacy if x is not None]
    rows = sc.score_predictions(items, outs, embedder=None)
    strict = [r["accuracy"] for r in rows]
    truth = sum(kinds[it.id] == "correct" for it in items) / len(items)
    lv, lci = mean_ci(kept)
    sv, sci = mean_ci(strict)
    print(
        json.dumps(
            {
                "n_closed_items": len(items),
                "mix": {k: sum(v == k for v in kinds.values()) for k in KINDS},
                "share_truly_correct": round(truth, 4),
                "legacy": {"accuracy": round(lv, 4), "n_scored": len(kept), "ci95": None},
                "cxreason": {
                    "accuracy": round(sv, 4),
                    "ci95": [round(x, 4) for x in sci],
                    "n_scored": len(strict),
                    "n_unparsable": sum(r["status"] == "unparsable" for r in rows),
                    "n_no_answer": sum(r["status"] == "no_answer" for r in rows),
                },
                "legacy_bootstrap_ci_if_it_had_one": [round(x, 4) for x in lci],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
