"""Score predictions against a benchmark: per-item rows, then aggregates with bootstrap CIs.

Every benchmark item is scored: an item with no prediction is ``missing`` (outcome 0,
RadRScore 0), an output with no parsable answer is wrong; nothing leaves the denominator.

Two readings of each output (:mod:`cxreason.metrics.reading`): the **strict** one is the
headline (top-level metrics of scores.json); the **lenient** one (free text: answer from the
ending, reasoning without tags) sits beside it under ``lenient`` in scores.json and in each
per-item row, clearly labelled, so zero-shot baselines can be compared honestly.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cxreason.metrics import radrscore as rr
from cxreason.metrics.bootstrap import N_RESAMPLES, SEED, metric_cis
from cxreason.metrics.outcome import outcome_detail
from cxreason.metrics.reading import lenient_output
from cxreason.records import BenchItem, Prediction, RecordError, iter_jsonl, read_records

log = logging.getLogger(__name__)

#: Aggregated metrics, in the order of scores.json and every table.
METRICS = ("accuracy", "radrscore", "factuality", "completeness", "effectiveness")
RADR_PARTS = ("factuality", "completeness", "effectiveness", "radrscore")
BACKENDS = ("offline", "llm")
#: Per-item fields repeated under ``lenient`` in per_item.jsonl.
LENIENT_FIELDS = ("status", "accuracy", "answer", "letter", "pred_labels", "oov", *RADR_PARTS)
LENIENT_DEFINITION = (
    "lenient reading (not the headline): answer from the <answer> block, else from the "
    "output's ending ('the answer is B', 'B) text'); reasoning from <think>, else the output "
    "without tags minus its final answer sentence"
)


class ScoreError(ValueError):
    """Inputs that cannot be scored (unknown or duplicate prediction ids, bad outputs)."""


def load_bench(path: str | os.PathLike) -> list[BenchItem]:
    """Benchmark items; duplicate ids are an error naming file and line."""
    items = read_records(path, BenchItem)
    if not items:
        raise ScoreError(f"{path}: the benchmark has no items")
    seen: dict[str, int] = {}
    for n, it in enumerate(items, 1):
        if it.id in seen:
            raise ScoreError(
                f"{path}: duplicate benchmark id {it.id!r} (items {seen[it.id]} and {n})"
            )
        seen[it.id] = n
    return items


def load_predictions(
    path: str | os.PathLike,
    bench_ids: set[str],
    bench_path: str | os.PathLike = "bench",
    errors: dict[str, str] | None = None,
    hashes: set[str | None] | None = None,
) -> dict[str, str]:
    """``id -> output``; unknown ids, duplicates and non-string outputs name file and line.

    A record's optional ``error`` (a generation that failed, as ``cxreason predict`` writes it)
    goes into ``errors`` (``id -> error``); its output is scored like any other. ``hashes``
    collects the benchmark content hashes the records carry (None for a record without one).
    An empty predictions file is a :class:`ScoreError`.
    """
    from cxreason.provenance import PRED_HASH_FIELD

    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        if hashes is not None:
            hashes.add(obj.get(PRED_HASH_FIELD))
        try:
            pred = Prediction.from_dict(obj)
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(path, lineno, f"bad Prediction record: {e!r}") from None
        if not isinstance(pred.output, str):
            raise RecordError(
                path, lineno, f"'output' must be a string, got {type(pred.output).__name__}"
            )
        if pred.id not in bench_ids:
            raise RecordError(
                path, lineno, f"prediction id {pred.id!r} is not in the benchmark {bench_path}"
            )
        if pred.id in first:
            raise RecordError(
                path,
                lineno,
                f"duplicate prediction id {pred.id!r} (first on line {first[pred.id]})",
            )
        first[pred.id] = lineno
        out[pred.id] = pred.output
        if errors is not None and obj.get("error"):
            errors[pred.id] = str(obj["error"])
    if not out:
        raise ScoreError(f"{path}: the predictions file is empty (no records to score)")
    return out


def provenance_problem(
    pred_path: str | os.PathLike, hashes: set[str | None], bench_hash: str
) -> str | None:
    """Why predictions may not belong to this benchmark build (None when they do).

    Records made by ``cxreason predict`` carry the content hash of the build they were made
    on; another hash means other questions, options or answers under the same ids. Records
    without a hash (made by another tool) cannot be checked: that is reported, not refused.
    """
    from cxreason.provenance import short

    known = sorted(h for h in hashes if h)
    if any(h != bench_hash for h in known):
        return (
            f"{pred_path} was predicted on another build of the benchmark (content hash "
            f"{', '.join(short(h) for h in known)}; this bench is {short(bench_hash)})"
        )
    return None


def unchecked_provenance(hashes: set[str | None]) -> bool:
    """Whether some records carry no benchmark hash (their build cannot be checked)."""
    return None in hashes


def _prefetch_embeddings(
    items: Sequence[BenchItem], thinks: Sequence[str | None], embedder
) -> None:
    """Embed, in one batch, every step left to similarity matching (and its references)."""
    need: set[str] = set()
    for it, think in zip(items, thinks, strict=True):
        if not think:
            continue
        steps = [s for s in rr.reasoning_steps(think) if s.strip()]
        refs = [r for r in rr.reference_steps(it) if r.strip()]
        if not steps or not refs:
            continue
        todo = rr.semantic_candidates(steps, refs)
        if todo:
            need.update(rr.similarity_units([steps[i] for i in todo]))
            need.update(rr.similarity_units(refs))
    embedder.prefetch(sorted(need))


def offline_radr(
    items: Sequence[BenchItem],
    outputs: Sequence[str | None],
    embedder=None,
    threshold=rr.SIM_THRESHOLD,
) -> list[dict]:
    """Offline RadRScore parts per item (``embedder=None``: no semantic step matching)."""
    thinks = [rr.extract_think(o) for o in outputs]
    if embedder is not None:
        _prefetch_embeddings(items, thinks, embedder)
    return [
        rr.score_reasoning(t, it, embedder, threshold) for it, t in zip(items, thinks, strict=True)
    ]


def item_rows(
    items: Sequence[BenchItem], outputs: dict[str, str], radr: Sequence[dict]
) -> list[dict]:
    """Per-item records: outcome (score, status, parsed answer) and RadRScore parts."""
    rows = []
    for it, parts in zip(items, radr, strict=True):
        oc = outcome_detail(it, outputs.get(it.id))
        row = {
            "id": it.id,
            "study_id": it.study_id,
            "task": it.task,
            "status": oc.status,
            "accuracy": oc.score,
            "answer": oc.answer,
            "gold": it.answer,
        }
        if it.task == "anomaly":
            row.update(
                pred_labels=oc.pred_labels,
                oov=oc.oov,
                negated=oc.negated,
                precision=oc.precision,
                recall=oc.recall,
            )
        else:
            row["letter"] = oc.letter
        row.update(parts)
        rows.append(row)
    return rows


def _counts(rows: Sequence[dict]) -> dict[str, int]:
    status = Counter(r["status"] for r in rows)
    return {
        "n_radrscore": sum(r["radrscore"] is not None for r in rows),
        "n_pred_errors": sum(bool(r.get("pred_error")) for r in rows),
        "n_missing": status["missing"],
        "n_no_answer": status["no_answer"],
        "n_unparsable": status["unparsable"],
        "n_no_reasoning": sum(not r["has_reasoning"] for r in rows),
    }


#: Resampling units of the bootstrap: ``study`` (the default) resamples whole studies, since
#: the items of one study share its image and report; ``item`` treats every item as independent.
BOOTSTRAP_UNITS = ("study", "item")


def cluster_keys(rows: Sequence[dict], unit: str) -> list | None:
    """One bootstrap cluster key per row for ``unit`` (None: every row its own cluster)."""
    if unit not in BOOTSTRAP_UNITS:
        raise ScoreError(f"bootstrap unit must be one of {BOOTSTRAP_UNITS}, got {unit!r}")
    return [r.get("study_id") or r["id"] for r in rows] if unit == "study" else None


def _block(rows: Sequence[dict], n_resamples: int, seed: int, unit: str) -> dict:
    """Metrics of a group of rows: accuracy over all rows; RadRScore parts over the rows that
    have a reference chain (``n_radrscore``; answer-only items have none)."""
    acc = {"accuracy": np.array([r["accuracy"] for r in rows], dtype=np.float64)}
    ref = [r for r in rows if r["radrscore"] is not None]
    parts = {m: np.array([r[m] for r in ref], dtype=np.float64) for m in METRICS[1:]}
    return {
        "n": len(rows),
        **metric_cis(acc, n_resamples, seed, clusters=cluster_keys(rows, unit)),
        **metric_cis(parts, n_resamples, seed, clusters=cluster_keys(ref, unit)),
        **_counts(rows),
    }


def aggregate(
    rows: Sequence[dict], n_resamples: int = N_RESAMPLES, seed: int = SEED, unit: str = "study"
) -> dict:
    """scores.json body: ``{n, <metric>: {value, ci95}, ..., by_task: {task: {...}}}`` for the
    strict reading, and the same under ``lenient`` when the rows carry the lenient reading.

    ``unit``: the bootstrap's resampling unit (:data:`BOOTSTRAP_UNITS`).
    """
    cluster_keys(rows, unit)  # validates the unit
    out = {"reading": "strict", **_by_task(rows, n_resamples, seed, unit)}
    if rows and all("lenient" in r for r in rows):
        lenient = [{**r, **r["lenient"]} for r in rows]
        out["lenient"] = {
            "reading": "lenient",
            "definition": LENIENT_DEFINITION,
            **_by_task(lenient, n_resamples, seed, unit),
        }
    out["bootstrap"] = {"n_resamples": n_resamples, "seed": seed, "level": 0.95, "unit": unit}
    if unit == "study":
        out["bootstrap"]["n_clusters"] = len({k for k in cluster_keys(rows, unit)})
    return out


def _by_task(rows: Sequence[dict], n_resamples: int, seed: int, unit: str) -> dict:
    out = _block(rows, n_resamples, seed, unit)
    tasks = sorted({r["task"] for r in rows}, key=_task_order)
    out["by_task"] = {
        t: _block([r for r in rows if r["task"] == t], n_resamples, seed, unit) for t in tasks
    }
    return out


def _task_order(task: str) -> int:
    from cxreason.records import BENCH_TASKS

    return BENCH_TASKS.index(task) if task in BENCH_TASKS else len(BENCH_TASKS)


def score_predictions(
    items: Sequence[BenchItem],
    outputs: dict[str, str],
    *,
    backend: str = "offline",
    embedder=None,
    judge=None,
    threshold: float = rr.SIM_THRESHOLD,
    errors: dict[str, str] | None = None,
) -> list[dict]:
    """Per-item rows for every benchmark item (missing predictions included).

    ``errors``: generation errors by id (from :func:`load_predictions`), copied to ``pred_error``.
    """
    if backend not in BACKENDS:
        raise ScoreError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "llm" and judge is None:
        raise ScoreError("backend 'llm' needs a judge (see cxreason.metrics.judge.LLMJudge)")
    outs = [outputs.get(it.id) for it in items]
    lenient = [lenient_output(o, it.task) for it, o in zip(items, outs, strict=True)]
    both = [*items, *items]  # one pass: identical texts are scored (or asked) once
    if backend == "offline":
        radr = offline_radr(both, outs + lenient, embedder, threshold)
    else:
        radr = judge.score(both, outs + lenient)
    rows = item_rows(items, outputs, radr[: len(items)])
    lenient_rows = item_rows(
        items, {it.id: o for it, o in zip(items, lenient, strict=True)}, radr[len(items) :]
    )
    for r, lr in zip(rows, lenient_rows, strict=True):
        r["lenient"] = {k: lr[k] for k in LENIENT_FIELDS if k in lr}
        if errors and r["id"] in errors:
            r["pred_error"] = errors[r["id"]]
    return rows
