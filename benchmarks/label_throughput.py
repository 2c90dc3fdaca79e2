"""Throughput of the cxreason report labeler in one process (no spaCy, regex scanning).

    .venv/bin/python benchmarks/label_throughput.py ../shared/data/openi/indiana_reports.csv \\
        [--repeat 5] [--json OUT.json]

Prints reports/second over ``repeat`` passes of the whole CSV (wall clock and process CPU
time; on a shared machine the CPU figure is the steadier one) and the time to label one
~1 MB report (linear-time check). The per-sentence memo is cleared before every pass, so a
pass only reuses sentences repeated within the corpus itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cxreason.data.openi import read_openi  # noqa: E402
from cxreason.labeling import label_report  # noqa: E402
from cxreason.labeling.extract import _sentence_mentions  # noqa: E402


def measure(reports_csv: str, repeat: int) -> dict:
    studies = read_openi(reports_csv)
    for s in studies[:50]:  # warm the per-prefix pattern cache
        label_report(s.findings, s.impression)
    passes = []
    for _ in range(repeat):
        _sentence_mentions.cache_clear()  # every pass starts cold: no reuse across passes
        t0, c0 = time.perf_counter(), time.process_time()
        for s in studies:
            label_report(s.findings, s.impression)
        passes.append((time.perf_counter() - t0, time.process_time() - c0))
    n = len(studies)
    body = " ".join(s.findings + " " + s.impression for s in studies)
    big = (body * (1_000_000 // max(1, len(body)) + 1))[:1_000_000]
    t0 = time.perf_counter()
    r = label_report(big, "")
    big_s = time.perf_counter() - t0
    return {
        "n_reports": n,
        "repeat": repeat,
        "reports_per_s_best": max(n / w for w, _ in passes),
        "reports_per_s_median": sorted(n / w for w, _ in passes)[len(passes) // 2],
        "reports_per_cpu_s_best": max(n / c for _, c in passes),
        "one_mb_report_seconds": big_s,
        "one_mb_report_mentions": len(r.mentions),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports_csv")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)
    res = measure(args.reports_csv, args.repeat)
    print(
        f"{res['n_reports']} reports x {res['repeat']} passes: "
        f"best {res['reports_per_s_best']:.0f} reports/s (median {res['reports_per_s_median']:.0f}), "
        f"best {res['reports_per_cpu_s_best']:.0f} reports per CPU-second"
    )
    print(
        f"1 MB report: {res['one_mb_report_seconds']:.2f} s, "
        f"{res['one_mb_report_mentions']} mentions"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
