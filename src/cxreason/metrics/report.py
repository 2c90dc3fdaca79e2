"""Score outputs: scores.json, per_item.jsonl, report.md, scores.png, rich tables, comparisons."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cxreason.metrics.bootstrap import SEED, paired_bootstrap_p
from cxreason.metrics.score import METRICS
from cxreason.records import atomic_writer, write_json, write_jsonl

COUNT_KEYS = ("n_missing", "n_no_answer", "n_unparsable", "n_no_reasoning", "n_pred_errors")
#: Metrics compared between systems with the paired bootstrap.
COMPARED = ("accuracy", "radrscore")


def fmt(metric: dict | None, digits: int = 3) -> str:
    """``0.812 [0.790, 0.833]`` (or ``-`` when undefined)."""
    if not metric or metric.get("value") is None or _isnan(metric["value"]):
        return "-"
    lo, hi = metric["ci95"]
    return f"{metric['value']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def table_rows(scores: dict) -> list[tuple[str, dict]]:
    """(row name, block) for each task then ``all``."""
    return [*scores.get("by_task", {}).items(), ("all", scores)]


def markdown_table(scores: dict) -> str:
    """Per-task and overall metrics with CIs and failure counts, as a Markdown table."""
    head = [
        "task",
        "n",
        *METRICS,
        "unparsable",
        "no answer",
        "missing",
        "no reasoning",
        "gen. errors",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, b in table_rows(scores):
        cells = [name, str(b["n"]), *(fmt(b.get(m)) for m in METRICS)]
        cells += [
            str(b.get(k, 0))
            for k in ("n_unparsable", "n_no_answer", "n_missing", "n_no_reasoning", "n_pred_errors")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _unit_words(boot: dict) -> str:
    """How the bootstrap resampled, in words ("studies (whole clusters of items)" or "items")."""
    if boot.get("unit", "item") == "study":
        n = boot.get("n_clusters")
        return f"studies ({n} clusters; a study's items are resampled together)" if n else "studies"
    return "items"


def markdown_report(scores: dict, title: str = "Scores") -> str:
    """report.md body: settings, then the table."""
    meta = scores.get("meta", {})
    boot = scores.get("bootstrap", {})
    lines = [
        f"# {title}",
        "",
        f"- benchmark: `{meta.get('bench', '?')}` (content hash "
        f"`{str(meta.get('bench_sha256') or '?')[:12]}`); predictions: `{meta.get('pred', '?')}`",
        f"- split scored: **{meta.get('split', 'all')}**",
        *_provenance_lines(meta),
        f"- RadRScore backend: `{meta.get('backend', '?')}`"
        + (f" (similarity threshold {meta['threshold']})" if meta.get("threshold") else ""),
        f"- 95% CI: percentile bootstrap over {_unit_words(boot)}, "
        f"{boot.get('n_resamples')} resamples, seed {boot.get('seed')}",
        "- accuracy: 1/0 per closed item, set F1 per anomaly item; unparsable, unanswered and "
        "missing items count as 0 and stay in the denominator",
        "",
        "## Strict reading (the headline)",
        "",
        markdown_table(scores),
        "",
    ]
    if "lenient" in scores:
        lines += [
            "## Lenient reading (free-text outputs; NOT the headline)",
            "",
            f"- {scores['lenient'].get('definition', '')}",
            "",
            markdown_table(scores["lenient"]),
            "",
        ]
    return "\n".join(lines)


def _provenance_lines(meta: dict) -> list[str]:
    prov = meta.get("provenance")
    if prov == "forced":
        return [
            "- **WARNING: FORCED. These predictions were made on ANOTHER BUILD of the benchmark "
            "(different content hash); ids may name other questions, options or answers. The "
            "scores below are not comparable.**"
        ]
    if prov == "unchecked":
        return ["- provenance: the predictions carry no benchmark hash (not checked)"]
    return ["- provenance: predictions made on this build (content hash checked)"] if prov else []


def lenient_summary(scores: dict) -> str | None:
    """One line with the lenient reading's overall metrics (None without one)."""
    if "lenient" not in scores:
        return None
    lb = scores["lenient"]
    body = ", ".join(f"{m} {fmt(lb.get(m))}" for m in METRICS)
    return f"lenient reading (free text, not the headline): {body}"


def write_outputs(
    out_dir: str | os.PathLike, scores: dict, rows: Sequence[dict], title: str = "Scores"
) -> dict[str, Path]:
    """Write scores.json, per_item.jsonl, report.md and scores.png into ``out_dir``."""
    out = Path(out_dir)
    paths = {
        "scores": out / "scores.json",
        "per_item": out / "per_item.jsonl",
        "report": out / "report.md",
        "plot": out / "scores.png",
    }
    write_jsonl(paths["per_item"], rows)
    write_json(paths["scores"], scores)
    with atomic_writer(paths["report"]) as fh:
        fh.write(markdown_report(scores, title))
    plot_scores(scores, paths["plot"], title)
    return paths


def plot_scores(scores: dict, path: str | os.PathLike, title: str = "Scores") -> None:
    """Grouped bars (accuracy, factuality, completeness, effectiveness) per task, CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = ("accuracy", "factuality", "completeness", "effectiveness")
    groups = table_rows(scores)
    x = np.arange(len(groups))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4), dpi=100)
    for k, m in enumerate(metrics):
        vals = np.array([_num(b[m]["value"]) for _, b in groups])
        lo = np.array([_num(b[m]["ci95"][0]) for _, b in groups])
        hi = np.array([_num(b[m]["ci95"][1]) for _, b in groups])
        yerr = np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)])
        ax.bar(x + (k - 1.5) * width, vals, width, yerr=yerr, capsize=3, label=m)
    ax.set_xticks(x, [f"{n}\n(n={b['n']})" for n, b in groups])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (95% bootstrap CI)")
    ax.set_title(title)
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _num(v) -> float:
    return 0.0 if v is None or _isnan(v) else float(v)


#: Console width from which :func:`rich_table` puts every metric in its own column.
WIDE_TABLE_MIN = 160


def rich_table(scores: dict, title: str = "Scores", width: int | None = None):
    """A rich Table of per-task and overall metrics with CIs.

    Wide consoles (``width`` >= :data:`WIDE_TABLE_MIN`, or None) get one row per task and one
    column per metric; narrower ones get one row per (task, metric), so that every header and
    every CI is printed whole at 80 columns.
    """
    from rich.table import Table

    if width is not None and width < WIDE_TABLE_MIN:
        return _long_table(scores, title)
    t = Table(title=title)
    for col in ("task", "n", *METRICS, "unparsable", "missing"):
        t.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    for name, b in table_rows(scores):
        t.add_row(
            name,
            str(b["n"]),
            *(fmt(b.get(m)) for m in METRICS),
            str(b.get("n_unparsable", 0)),
            str(b.get("n_missing", 0)),
        )
    return t


def _long_table(scores: dict, title: str):
    from rich.table import Table

    t = Table(title=title)
    for col, just in (("task", "left"), ("n", "right"), ("metric", "left")):
        t.add_column(col, justify=just, no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("95% CI", justify="left", no_wrap=True)
    for k, (name, b) in enumerate(table_rows(scores)):
        if k:
            t.add_section()
        for i, m in enumerate(METRICS):
            cell = fmt(b.get(m))
            value, _, ci = cell.partition(" ")
            t.add_row(name if i == 0 else "", str(b["n"]) if i == 0 else "", m, value, ci)
    return t


@dataclass
class CountsSummary:
    """The console's one-line account of what was scored (see :func:`counts_summary`)."""

    line: str
    first_error: str | None
    #: Share of items with no usable prediction (missing, or a failed generation).
    failed_share: float


def counts_summary(scores: dict, rows: Sequence[dict]) -> CountsSummary:
    """How many items were scored, predicted, missing, failed, unparsable and unanswered."""
    n = scores["n"]
    missing, failed = scores.get("n_missing", 0), scores.get("n_pred_errors", 0)
    split = scores.get("meta", {}).get("split")
    parts = [
        f"{n} items scored" + (f" (split {split})" if split else ""),
        f"{n - missing} predicted",
        f"{missing} missing",
        f"{failed} failed",
        f"{scores.get('n_unparsable', 0)} unparsable",
        f"{scores.get('n_no_answer', 0)} without an answer",
    ]
    first = next((r["pred_error"] for r in rows if r.get("pred_error")), None)
    share = (missing + failed) / n if n else 1.0
    return CountsSummary("counts: " + ", ".join(parts), first, share)


def compare(
    systems: Sequence[tuple[str, dict, Sequence[dict]]],
    n_resamples: int = 10_000,
    seed: int = SEED,
    unit: str = "study",
) -> dict:
    """Each system vs the first: paired bootstrap on the per-item accuracy and RadRScore.

    ``systems``: ``(name, scores, rows)``; rows of every system must cover the same item ids.
    ``unit``: resample whole studies (default) or single items (see ``score.BOOTSTRAP_UNITS``).
    """
    base_name, _, base_rows = systems[0]
    base = {r["id"]: r for r in base_rows}
    out = {
        "baseline": base_name,
        "metrics": list(COMPARED),
        "n_resamples": n_resamples,
        "seed": seed,
        "unit": unit,
        "systems": [],
    }
    for name, scores, rows in systems:
        entry = {"name": name, "n": scores["n"], **{m: scores[m] for m in METRICS}}
        ids = [r["id"] for r in rows]
        if set(ids) != set(base):
            raise ValueError(f"system {name!r} is not scored on the same items as {base_name!r}")
        for m in COMPARED:
            d = paired_metric(base, rows, m, n_resamples, seed, unit)
            entry[f"{m}_vs_baseline"] = {k: d[k] for k in ("delta", "ci95", "p")}
        out["systems"].append(entry)
    return out


def paired_metric(
    base: dict[str, dict],
    rows: Sequence[dict],
    metric: str,
    n_resamples: int = 10_000,
    seed: int = SEED,
    unit: str = "study",
) -> dict:
    """Paired bootstrap of ``mean(row - base)`` on ``metric`` over the rows whose item both
    systems have a value for (RadRScore: items with a reference chain).

    ``base``: the baseline's per-item rows by id. Returns ``{delta, ci95, p, n, n_clusters}``.
    """
    from cxreason.metrics.score import cluster_keys

    kept = [
        r
        for r in rows
        if r["id"] in base and r[metric] is not None and base[r["id"]][metric] is not None
    ]
    a, b = [base[r["id"]][metric] for r in kept], [r[metric] for r in kept]
    clusters = cluster_keys(kept, unit)
    delta, ci, p = paired_bootstrap_p(a, b, n_resamples, seed, clusters=clusters)
    n_clusters = len(set(clusters)) if clusters is not None else len(kept)
    return {"delta": delta, "ci95": ci, "p": p, "n": len(kept), "n_clusters": n_clusters}


def comparison_markdown(comp: dict) -> str:
    """One row per system: metrics with CIs and delta/p vs the baseline (first system)."""
    head = ["system", "n", *METRICS, *(f"Δ{m} (p)" for m in COMPARED)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in comp["systems"]:
        deltas = []
        for m in COMPARED:
            d = s[f"{m}_vs_baseline"]
            deltas.append(
                "baseline"
                if s["name"] == comp["baseline"]
                else f"{d['delta']:+.3f} (p={d['p']:.4f})"
            )
        lines.append(
            "| "
            + " | ".join([s["name"], str(s["n"]), *(fmt(s[m]) for m in METRICS), *deltas])
            + " |"
        )
    note = (
        f"\nPaired bootstrap over {'studies' if comp.get('unit') == 'study' else 'items'} "
        f"({comp['n_resamples']} resamples, seed {comp['seed']}), "
        f"two-sided, each system vs `{comp['baseline']}`.\n"
    )
    return "\n".join(lines) + "\n" + note


def comparison_rich(comp: dict):
    from rich.table import Table

    t = Table(title=f"Comparison (vs {comp['baseline']}, paired bootstrap)")
    for col in ("system", "n", *METRICS, *(f"Δ{m} (p)" for m in COMPARED)):
        t.add_column(col, justify="left" if col == "system" else "right")
    for s in comp["systems"]:
        deltas = []
        for m in COMPARED:
            d = s[f"{m}_vs_baseline"]
            deltas.append(
                "-" if s["name"] == comp["baseline"] else f"{d['delta']:+.3f} (p={d['p']:.4f})"
            )
        t.add_row(s["name"], str(s["n"]), *(fmt(s[m]) for m in METRICS), *deltas)
    return t


def write_comparison(out_dir: str | os.PathLike, comp: dict) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"json": out / "comparison.json", "md": out / "comparison.md"}
    write_json(paths["json"], comp)
    with atomic_writer(paths["md"]) as fh:
        fh.write("# Comparison\n\n" + comparison_markdown(comp))
    return paths
