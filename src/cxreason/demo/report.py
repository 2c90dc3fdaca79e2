"""The demo's report: scores of untrained / SFT / GRPO models side by side, plots, examples.

Every number and figure comes from files the run itself wrote (``scores*.json``, the GRPO
log history, predictions); nothing is stored in the package.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from cxreason.records import atomic_writer

SYSTEMS = (("untrained", "Untrained"), ("sft", "SFT only"), ("trained", "SFT + GRPO"))
METRICS = ("accuracy", "radrscore", "factuality", "completeness", "effectiveness")


def _fmt(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    lo, hi = m["ci95"]
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def scores_table(scores: dict[str, dict]) -> list[list[str]]:
    """Rows ``[system, task, n, accuracy, radrscore, ...]`` (overall first, then per task)."""
    rows = []
    for key, name in SYSTEMS:
        s = scores.get(key)
        if not s:
            continue
        rows.append([name, "all", str(s["n"])] + [_fmt(s.get(k)) for k in METRICS])
        for task, t in sorted(s.get("by_task", {}).items()):
            rows.append([name, task, str(t.get("n", ""))] + [_fmt(t.get(k)) for k in METRICS])
    return rows


#: The demo's targets (issue #8): trained binary accuracy and its CI, and the process reward's
#: effect (trained RadRScore above the SFT-only model's).
BINARY_TARGET = 0.80
CHANCE_NOTE = (
    "Chance: binary 0.50, single-choice 0.25 (4 options). The untrained model scores 0 because "
    "its output cannot be parsed, so 'beats untrained' alone does not mean above chance."
)


def target_checks(scores: dict[str, dict], rows: dict[str, list[dict]] | None = None) -> list[dict]:
    """The demo's targets, checked on this run's scores: ``{check, value, passed}`` per target.

    ``rows``: per-item rows (``score``'s ``per_item.jsonl``) of ``sft`` and ``trained``; when
    given, the RadRScore check also reports the paired-bootstrap delta, its 95% CI and p
    (:func:`cxreason.metrics.report.compare`, as ``cxreason score`` with two ``--pred``).
    """

    def task_acc(key: str, task: str) -> dict | None:
        return scores.get(key, {}).get("by_task", {}).get(task, {}).get("accuracy")

    out = []
    b = task_acc("trained", "binary")
    if b:
        out.append({"check": f"trained binary accuracy >= {BINARY_TARGET:.2f}",
                    "value": f"{b['value']:.3f}", "passed": b["value"] >= BINARY_TARGET})  # fmt: skip
        out.append({"check": "lower 95% CI bound of trained binary accuracy > 0.5",
                    "value": f"{b['ci95'][0]:.3f}", "passed": b["ci95"][0] > 0.5})  # fmt: skip
    for task in ("binary", "single"):
        t, u = task_acc("trained", task), task_acc("untrained", task)
        if t and u:
            out.append({"check": f"trained beats untrained on {task} accuracy",
                        "value": f"{t['value']:.3f} vs {u['value']:.3f}",
                        "passed": t["value"] > u["value"]})  # fmt: skip
    t, s = scores.get("trained", {}).get("radrscore"), scores.get("sft", {}).get("radrscore")
    if t and s:
        value = f"{t['value']:.3f} vs {s['value']:.3f}"
        if rows and rows.get("sft") and rows.get("trained"):
            from cxreason.metrics.report import compare

            comp = compare([(k, scores[k], rows[k]) for k in ("sft", "trained")])
            r = comp["systems"][1]["radrscore_vs_baseline"]
            d, ci, p = r["delta"], r["ci95"], r["p"]
            value += f" (paired delta {d:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}], p={p:.3f})"
        out.append({"check": "RadRScore: trained (SFT + GRPO) above SFT only",
                    "value": value, "passed": t["value"] > s["value"]})  # fmt: skip
    return out


def plot_comparison(scores: dict[str, dict], path: Path, tasks: tuple[str, ...]) -> None:
    """Grouped bars: accuracy and RadRScore per task for each system, 95% CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = [(k, n) for k, n in SYSTEMS if k in scores]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    width = 0.8 / max(1, len(systems))
    for ax, metric in zip(axes, ("accuracy", "radrscore"), strict=True):
        x = np.arange(len(tasks))
        for j, (key, name) in enumerate(systems):
            vals, err = [], [[], []]
            for t in tasks:
                m = scores[key].get("by_task", {}).get(t, {}).get(metric)
                v = m["value"] if m else 0.0
                lo, hi = m["ci95"] if m else (0.0, 0.0)
                vals.append(v)
                err[0].append(max(0.0, v - lo))
                err[1].append(max(0.0, hi - v))
            ax.bar(
                x + (j - (len(systems) - 1) / 2) * width,
                vals,
                width,
                yerr=err,
                capsize=3,
                label=name,
            )
        if metric == "accuracy" and "binary" in tasks:
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x, tasks)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{metric} (held-out phantom items, 95% CI)")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out: Path,
    scores: dict[str, dict],
    examples: list[dict[str, Any]],
    facts: dict[str, Any],
    reward_curve: Path | None,
    checks: list[dict] | None = None,
) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths."""
    checks = checks if checks is not None else target_checks(scores)
    tasks = tuple(sorted({t for s in scores.values() for t in s.get("by_task", {})}))
    plot_comparison(scores, out / "scores_comparison.png", tasks)
    curve_name = None
    if reward_curve is not None and reward_curve.exists():
        curve_name = "reward_curve.png"
        if reward_curve.resolve() != (out / curve_name).resolve():
            shutil.copyfile(reward_curve, out / curve_name)
    rows = scores_table(scores)
    header = ["system", "task", "n"] + list(METRICS)

    md = [
        "# cxreason demo report",
        "",
        "**The images in this run are SYNTHETIC phantoms rendered from the labels of real Open-I "
        "report text. They are test data for the pipeline, not medical images.**",
        "",
        "Pipeline: Open-I reports → labels → benchmark + mined reasoning chains → phantoms → "
        "tiny VLM (random init) → SFT → GRPO (format + accuracy + process rewards) → "
        "CoT predictions on the held-out split → scores.",
        "",
        "## Run",
        "",
    ]
    md += [f"- {k}: {v}" for k, v in facts.items()]
    md += ["", "## Scores (held-out split, CoT mode; value [95% bootstrap CI])", ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "---|" * len(header))
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "![scores](scores_comparison.png)", ""]
    if checks:
        md += [
            "## Targets, checked on this run",
            "",
            "| target | this run | met |",
            "|---|---|---|",
        ]
        md += [f"| {c['check']} | {c['value']} | {'yes' if c['passed'] else '**no**'} |"
               for c in checks]  # fmt: skip
        md += ["", CHANCE_NOTE, ""]
    if curve_name:
        md += ["## GRPO reward curve", "", f"![reward curve]({curve_name})", ""]
    md += ["## Examples (trained model)", ""]
    for ex in examples:
        md += [
            f"### {ex['id']} ({ex['task']})",
            "",
            f"![{ex['id']}]({ex['image']})",
            "",
            f"**Question:** {ex['question']}",
            "",
            f"**Reasoning:** {ex.get('think') or '(none)'}",
            "",
            f"**Answer:** {ex.get('answer')} — gold {ex['gold']} "
            f"({'correct' if ex['correct'] else 'wrong'})",
            "",
        ]
    md_path = out / "report.md"
    with atomic_writer(md_path) as fh:
        fh.write("\n".join(md) + "\n")

    h = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>cxreason demo report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        ".warn{background:#fff3cd;padding:.6em;border:1px solid #e0c36a}img{max-width:100%}"
        ".ex img{width:192px;image-rendering:pixelated}</style></head><body>",
        "<h1>cxreason demo report</h1>",
        "<p class='warn'><b>The images are SYNTHETIC phantoms rendered from the labels of real "
        "Open-I report text: test data for the pipeline, not medical images.</b></p>",
        "<h2>Run</h2><ul>",
        *[f"<li>{h(str(k))}: {h(str(v))}</li>" for k, v in facts.items()],
        "</ul><h2>Scores (held-out split, CoT mode)</h2><table><tr>",
        *[f"<th>{h(c)}</th>" for c in header],
        "</tr>",
        *["<tr>" + "".join(f"<td>{h(c)}</td>" for c in r) + "</tr>" for r in rows],
        "</table><p><img src='scores_comparison.png' alt='scores'></p>",
    ]
    if checks:
        parts.append("<h2>Targets, checked on this run</h2><table><tr><th>target</th>"
                     "<th>this run</th><th>met</th></tr>")  # fmt: skip
        parts += [f"<tr><td>{h(c['check'])}</td><td>{h(c['value'])}</td>"
                  f"<td>{'yes' if c['passed'] else '<b>no</b>'}</td></tr>" for c in checks]  # fmt: skip
        parts.append(f"</table><p>{h(CHANCE_NOTE)}</p>")
    if curve_name:
        parts.append(
            f"<h2>GRPO reward curve</h2><p><img src='{curve_name}' alt='reward curve'></p>"
        )
    parts.append("<h2>Examples (trained model)</h2>")
    for ex in examples:
        parts.append(
            f"<div class='ex'><h3>{h(ex['id'])} ({h(ex['task'])})</h3>"
            f"<img src='{h(ex['image'])}' alt='synthetic phantom'>"
            f"<p><b>Question:</b> {h(ex['question'])}</p>"
            f"<p><b>Reasoning:</b> {h(ex.get('think') or '(none)')}</p>"
            f"<p><b>Answer:</b> {h(str(ex.get('answer')))} — gold {h(ex['gold'])} "
            f"({'correct' if ex['correct'] else 'wrong'})</p></div>"
        )
    parts.append("</body></html>")
    html_path = out / "report.html"
    with atomic_writer(html_path) as fh:
        fh.write("\n".join(parts))
    return md_path, html_path


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
