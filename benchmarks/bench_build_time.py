"""Time each stage of a benchmark build (load, label, generate+options, mine+filter, audit).

    .venv/bin/python benchmarks/bench_build_time.py ../shared/data/openi/indiana_reports.csv \
        [--projections ../shared/data/openi/indiana_projections.csv] [--repeat 3] [--seed 0]

Prints wall-clock seconds per stage (best of --repeat) and items per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cxreason.bench import build as B
from cxreason.bench.audit import audit_items


def one_run(args: argparse.Namespace) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="bench_time_"))
    cfg = B.BuildConfig(input=args.input, out=out, projections=args.projections, seed=args.seed)
    state = B.BuildState()
    t = {}
    t0 = time.perf_counter()
    studies = B.load_inputs(cfg, state)
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    infos = B.label_studies(studies, cfg, state)
    t["label+split"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    items = B.sort_items(B.generate_items(infos, cfg, state))
    t["generate+options"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    B.mine_rules(items, {i.sid: i for i in infos}, cfg, state)
    t["mine+filter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audit_items(items)
    t["audit"] = time.perf_counter() - t0
    t["_items"] = len(items)
    t["_studies"] = len(studies)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("input", type=Path)
    ap.add_argument("--projections", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    runs = [one_run(args) for _ in range(args.repeat)]
    stages = [k for k in runs[0] if not k.startswith("_")]
    best = {k: min(r[k] for r in runs) for k in stages}
    total = sum(best.values())
    print(f"{runs[0]['_studies']} studies -> {runs[0]['_items']} items (best of {args.repeat})")
    for k in stages:
        print(f"  {k:18s} {best[k]:7.2f} s")
    print(f"  {'total':18s} {total:7.2f} s   ({runs[0]['_items'] / total:.0f} items/s)")


if __name__ == "__main__":
    main()
