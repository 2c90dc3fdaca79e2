"""The demo's statistics: scores pooled over seeds, the per-seed spread, the paired ablation
(GRPO with vs without the process reward, and each against SFT) and the single-choice analysis.

Every interval resamples whole studies (``cxreason score``'s default): the renders of one
report, its several items and the same item under several seeds are one cluster.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

from cxreason.metrics.report import paired_metric
from cxreason.metrics.score import METRICS, aggregate
from cxreason.records import BenchItem, iter_jsonl, read_records

#: Paired comparisons of the ablation: (name, system a, system b); the delta is b - a.
COMPARISONS = (
    ("process vs outcome-only GRPO", "grpo_outcome", "trained"),
    ("outcome-only GRPO vs SFT", "sft", "grpo_outcome"),
    ("process GRPO vs SFT", "sft", "trained"),
)
SCOPES = ("all", "binary", "single")
#: Per-seed figures shown as mean and spread: (label, task or None for all items, metric).
SEED_FIGURES = (
    ("binary accuracy", "binary", "accuracy"),
    ("single accuracy", "single", "accuracy"),
    ("RadRScore", None, "radrscore"),
    ("factuality", None, "factuality"),
    ("completeness", None, "completeness"),
    ("effectiveness", None, "effectiveness"),
)


def read_rows(score_dir: Path) -> list[dict]:
    """``per_item.jsonl`` rows written by ``cxreason score``."""
    return [row for _, row in iter_jsonl(Path(score_dir) / "per_item.jsonl")]


def _metric_version(score_dirs: Iterable[Path]) -> str | list[str] | None:
    """The ``meta.metric_version`` the pooled seeds were scored with (a sorted list if they
    differ, None if none recorded one)."""
    found = set()
    for d in score_dirs:
        if (d / "scores.json").exists():
            found.add(json.loads((d / "scores.json").read_text())["meta"].get("metric_version"))
    found.discard(None)
    return found.pop() if len(found) == 1 else (sorted(found) or None)


def pool_seeds(runs: Sequence, systems: Iterable[str]) -> dict[str, tuple[dict, list[dict]]]:
    """``{system: (scores, rows)}`` with the rows of every seed that scored the system.

    Row ids become ``seed/id`` (one row per item and seed); the study id is kept, so the
    bootstrap resamples a study with all its items under all seeds.
    """
    out = {}
    for system in systems:
        rows, seeds = [], []
        for run in runs:
            sdir = run.score_dir(system)
            if not (sdir / "per_item.jsonl").exists():
                continue
            seeds.append(run.seed)
            rows += [{**r, "id": f"{run.seed}/{r['id']}"} for r in read_rows(sdir)]
        if not rows:
            continue
        scores = aggregate(rows)
        scores["meta"] = {
            "system": system,
            "seeds": seeds,
            "pooled_over_seeds": len(seeds),
            "metric_version": _metric_version(run.score_dir(system) for run in runs),
        }
        out[system] = (scores, rows)
    return out


def _value(rows: Sequence[dict], task: str | None, metric: str) -> float | None:
    vals = [
        r[metric] for r in rows if (task is None or r["task"] == task) and r[metric] is not None
    ]
    return sum(vals) / len(vals) if vals else None


def per_seed_summary(runs: Sequence, systems: Iterable[str]) -> dict[str, dict]:
    """``{system: {figure: {values, mean, sd, min, max}}}``: one value per seed (sd over seeds)."""
    out: dict[str, dict] = {}
    for system in systems:
        rows_by_seed = [
            read_rows(run.score_dir(system))
            for run in runs
            if (run.score_dir(system) / "per_item.jsonl").exists()
        ]
        if not rows_by_seed:
            continue
        figs = {}
        for label, task, metric in SEED_FIGURES:
            vals = [v for v in (_value(r, task, metric) for r in rows_by_seed) if v is not None]
            if not vals:
                continue
            figs[label] = {
                "values": [round(v, 4) for v in vals],
                "mean": round(statistics.fmean(vals), 4),
                "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                "min": round(min(vals), 4),
                "max": round(max(vals), 4),
            }
        out[system] = figs
    return out


def paired(
    rows_a: Sequence[dict], rows_b: Sequence[dict], metric: str, task: str | None = None
) -> dict | None:
    """Paired bootstrap of mean(b - a) over the items both systems have a value for, resampling
    whole studies (:func:`cxreason.metrics.report.paired_metric`): ``{delta, ci95, p, n,
    n_studies, excludes_0}``, or None when no pair."""
    base = {r["id"]: r for r in rows_a}
    rows = [r for r in rows_b if task is None or r["task"] == task]
    d = paired_metric(base, rows, metric, unit="study")
    if not d["n"]:
        return None
    lo, hi = d["ci95"]
    return {
        "delta": round(d["delta"], 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "p": round(d["p"], 4),
        "n": d["n"],
        "n_studies": d["n_clusters"],
        "excludes_0": lo > 0 or hi < 0,
    }


def ablation(pooled: dict[str, tuple[dict, list[dict]]]) -> dict:
    """Paired differences (b - a) of :data:`COMPARISONS` on every metric, overall and per task."""
    out = {"unit": "study", "comparisons": []}
    for name, a, b in COMPARISONS:
        if a not in pooled or b not in pooled:
            continue
        entry = {"name": name, "a": a, "b": b, "scopes": {}}
        for scope in SCOPES:
            task = None if scope == "all" else scope
            res = {m: paired(pooled[a][1], pooled[b][1], m, task) for m in METRICS}
            if any(v is not None for v in res.values()):
                entry["scopes"][scope] = res
        out["comparisons"].append(entry)
    return out


def single_choice_analysis(bench: Path, pred: Path) -> dict | None:
    """Why single-choice accuracy is where it is: does the chain find the gold finding, and does
    the answer letter follow the chain? (our labeler reads the ``<think>`` block)."""
    from cxreason.labeling import label_report
    from cxreason.metrics.outcome import parse_answer
    from cxreason.metrics.radrscore import extract_think
    from cxreason.vocab import PRESENT

    if not Path(pred).exists():
        return None
    items = {it.id: it for it in read_records(bench, BenchItem) if it.task == "single"}
    n = names_gold = follows = affirms_one = correct = 0
    for _, row in iter_jsonl(pred):
        it = items.get(str(row.get("id")))
        if it is None or not it.options:
            continue
        n += 1
        think = extract_think(row.get("output") or "") or ""
        present = {k for k, v in label_report(think, "").labels.items() if v == PRESENT}
        affirmed = [k for k, t in it.options.items() if t in present]
        letter = (parse_answer(row.get("output") or "") or "").strip()[:1].upper()
        names_gold += it.options[it.answer] in present
        affirms_one += len(affirmed) == 1
        follows += bool(affirmed) and letter in affirmed
        correct += letter == it.answer
    if not n:
        return None
    return {
        "n": n,
        "accuracy": round(correct / n, 4),
        "chain_affirms_gold": round(names_gold / n, 4),
        "chain_affirms_exactly_one_option": round(affirms_one / n, 4),
        "answer_follows_chain": round(follows / n, 4),
    }
