"""Offline scoring speed (items/s after the MiniLM load) and the judge calls the LLM mode needs.

Builds the benchmark from an Open-I reports CSV with ``cxreason.bench`` (or takes ``--bench``),
makes three prediction sets (each item's own reference chain; a same-task chain of another
study with other findings; the reference chain as free text without tags, which only the
lenient reading scores), then times ``score_predictions`` (both readings) + ``aggregate``
(1000-resample bootstrap): cold (empty entity and embedding caches) and warm. Checks that
repeated runs give identical scores. Prints JSON.

    .venv/bin/python benchmarks/score_speed.py ../shared/data/openi/indiana_reports.csv [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cxreason.labeling import aggregate_labels, extract_mentions
from cxreason.metrics import radrscore as rr
from cxreason.metrics import score as sc
from cxreason.metrics.embed import Embedder
from cxreason.metrics.judge import LLMJudge
from cxreason.records import BenchItem, read_records


def build(reports_csv: Path, out: Path) -> Path:
    from cxreason.bench.build import BuildConfig, build_bench

    build_bench(BuildConfig(input=reports_csv, out=out))
    return out / "bench.jsonl"


def reference_outputs(items) -> dict[str, str]:
    return {it.id: f"<think>{it.reasoning}</think><answer>{it.answer}</answer>" for it in items}


def free_text_outputs(items) -> dict[str, str]:
    """The reference chain without tags, ending with "The answer is X." (lenient reading only)."""
    return {it.id: f"{it.reasoning} The answer is {it.answer}." for it in items}


def foreign_outputs(items) -> dict[str, str]:
    """Each item: the chain of the next same-task item from a study with other present labels."""
    present = {}
    for it in items:
        if it.study_id not in present:
            labels = aggregate_labels(extract_mentions(it.report))
            present[it.study_id] = frozenset(k for k, v in labels.items() if v == "present")
    outs = {}
    for task in {it.task for it in items}:
        group = [it for it in items if it.task == task and it.reasoning]
        for k, it in enumerate(group):
            j = (k + 1) % len(group)
            while present[group[j].study_id] == present[it.study_id] and j != k:
                j = (j + 1) % len(group)
            outs[it.id] = f"<think>{group[j].reasoning}</think><answer>{it.answer}</answer>"
    return outs


def clear_caches(emb: Embedder) -> None:
    """Empty RadRScore's entity caches, the labeler's sentence memo and the embedding cache."""
    from cxreason.labeling import extract

    memo = getattr(extract, "_sentence_mentions", None)
    if hasattr(memo, "cache_clear"):
        memo.cache_clear()
    for fn in (
        rr.claims,
        rr.topics,
        rr._topic_index,
        rr.entities,
        rr._index,
        rr._discussed,
        rr._steps_index,
        rr._norm_step,
        rr._split_steps,
        rr.step_scores,
    ):
        fn.cache_clear()
    emb._cache.clear()


def timed(items, outputs, emb) -> tuple[float, dict]:
    t = time.perf_counter()
    rows = sc.score_predictions(items, outputs, embedder=emb)
    scores = sc.aggregate(rows)
    return time.perf_counter() - t, scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports_csv", type=Path, nargs="?")
    ap.add_argument(
        "--bench", type=Path, default=None, help="use this bench.jsonl instead of building"
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.bench is None:
        if args.reports_csv is None:
            ap.error("give a reports CSV or --bench")
        args.bench = build(args.reports_csv, Path(tempfile.mkdtemp(prefix="cxr-speed-")))
    items = read_records(args.bench, BenchItem)
    t = time.perf_counter()
    emb = Embedder()
    _ = emb.model
    load_s = time.perf_counter() - t
    result = {
        "n_items": len(items),
        "model_load_s": round(load_s, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "sets": {},
    }
    for name, outs in (
        ("reference", reference_outputs(items)),
        ("foreign", foreign_outputs(items)),
        ("free_text", free_text_outputs(items)),
    ):
        ordered = [outs.get(it.id) for it in items]
        clear_caches(emb)
        n0, e0 = emb.n_encoded, emb.encode_s
        cold_s, scores = timed(items, outs, emb)
        encoded, embed_s = emb.n_encoded - n0, emb.encode_s - e0
        warm_runs = [timed(items, outs, emb) for _ in range(args.repeat)]
        warm = min(t for t, _ in warm_runs)
        deterministic = all(s == scores for _, s in warm_runs)
        plan = LLMJudge.plan_calls(items, ordered)
        result["sets"][name] = {
            "cold_s": round(cold_s, 3),
            "cold_items_per_s": round(len(items) / cold_s, 1),
            "warm_s": round(warm, 3),
            "warm_items_per_s": round(len(items) / warm, 1),
            "cold_embedding_s": round(embed_s, 3),
            "cold_items_per_s_excluding_embedding": round(len(items) / (cold_s - embed_s), 1),
            "sentences_embedded": encoded,
            "deterministic": deterministic,
            "radrscore": round(scores["radrscore"]["value"], 4),
            "lenient_radrscore": round(scores["lenient"]["radrscore"]["value"], 4),
            "lenient_accuracy": round(scores["lenient"]["accuracy"]["value"], 4),
            "factuality": round(scores["factuality"]["value"], 4),
            "accuracy": round(scores["accuracy"]["value"], 4),
            "llm_judge_calls": plan,
            "llm_calls_per_item": round(plan["total"] / len(items), 2),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
