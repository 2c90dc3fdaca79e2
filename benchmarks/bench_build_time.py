"""Time a benchmark build, stage by stage, against the 10 s target (issue 12), and the audit.

    .venv/bin/python benchmarks/bench_build_time.py ../shared/data/openi/indiana_reports.csv \
        [--projections ../shared/data/openi/indiana_projections.csv] [--repeat 3] [--seed 0]

Prints wall-clock seconds per stage (best of --repeat), the whole `cxreason bench build` run
as a user runs it (a fresh process, imports included) beside the 10 s target as a ratio, and
the `bench audit` validity checks (probes included), which are not part of a build. The load
average is printed too: on a shared machine the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cxreason.bench import build as B
from cxreason.bench.manifest import build_manifest
from cxreason.bench.validity import validity_checks

TARGET_S = 10.0


def one_run(args: argparse.Namespace) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="bench_time_"))
    cfg = B.BuildConfig(input=args.input, out=out, projections=args.projections, seed=args.seed)
    state = B.BuildState()
    t: dict[str, float] = {}

    def stage(name, fn):
        t0 = time.perf_counter()
        res = fn()
        t[name] = time.perf_counter() - t0
        return res

    studies = stage("load", lambda: B.load_inputs(cfg, state))
    infos = stage("label+split", lambda: B.label_studies(studies, cfg, state))
    items = stage("generate+options", lambda: B.sort_items(B.generate_items(infos, cfg, state)))
    by_id = {i.sid: i for i in infos}
    stage("mine+filter", lambda: B.mine_rules(items, by_id, cfg, state))
    stage("independent check", lambda: B.check_chains(items, by_id, cfg, state))
    stage("manifest+audit", lambda: build_manifest(items, cfg, state, "x"))
    gold = None
    if cfg.input.suffix == ".csv":
        from cxreason.data.openi import read_openi_gold

        gold = read_openi_gold(cfg.input)
    t0 = time.perf_counter()
    validity_checks(items, gold)
    t["_validity"] = time.perf_counter() - t0
    t["_items"] = len(items)
    t["_studies"] = len(studies)
    return t


def cli_run(args: argparse.Namespace) -> float:
    """The build as a user runs it: a fresh process, imports included."""
    out = tempfile.mkdtemp(prefix="bench_cli_")
    cmd = [sys.executable, "-m", "cxreason.bench.cli", "build", str(args.input), "--out", out]
    if args.projections:
        cmd += ["--projections", str(args.projections)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("input", type=Path)
    ap.add_argument("--projections", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    runs = [one_run(args) for _ in range(args.repeat)]
    stages = [k for k in runs[0] if not k.startswith("_")]
    best = {k: min(r[k] for r in runs) for k in stages}
    total = sum(best.values())
    print(f"{runs[0]['_studies']} studies -> {runs[0]['_items']} items (best of {args.repeat})")
    for k in stages:
        print(f"  {k:18s} {best[k]:7.2f} s")
    print(
        f"  {'total (in process)':18s} {total:7.2f} s   ({runs[0]['_items'] / total:.0f} items/s)"
    )
    cli = min(cli_run(args) for _ in range(args.repeat))
    print(
        f"cxreason bench build (fresh process): {cli:.2f} s = {cli / TARGET_S:.2f} x the "
        f"{TARGET_S:g} s target"
    )
    print(
        f"bench audit validity checks (not part of the build): {min(r['_validity'] for r in runs):.2f} s"
    )
    print(f"load average: {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end (2-core machine)")


if __name__ == "__main__":
    main()
