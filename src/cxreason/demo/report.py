"""The demo's report: models beside their baselines, the process-reward ablation, the seeds.

Every number and figure comes from files the run itself wrote (``scores*.json``, the per-item
rows, the GRPO log history, predictions); nothing is stored in the package.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from cxreason.records import atomic_writer

BASELINE_SYSTEMS = (
    ("chance", "Chance (random option)"),
    ("blind", "Image-blind template"),
    ("oracle", "Normality oracle"),
)
MODEL_SYSTEMS = (
    ("untrained", "Untrained"),
    ("sft", "SFT only"),
    ("grpo_outcome", "SFT + GRPO, outcome rewards only"),
    ("trained", "SFT + GRPO, outcome + process rewards"),
)
SYSTEMS = BASELINE_SYSTEMS + MODEL_SYSTEMS
METRICS = ("accuracy", "radrscore", "factuality", "completeness", "effectiveness")
BINARY_TARGET = 0.80
SINGLE_CHANCE = 0.25

DESIGN = [
    "**How to read this run.** Training uses the benchmark's *train* split only. Every recipe "
    "choice was made on the *validation* split by `benchmarks/demo_variants.py` (its table is "
    "in docs/training.md); the *test* split is scored once, here. Each held-out study is "
    "rendered several times (new phantom seeds, same report) and every 95% CI is a bootstrap "
    "that resamples whole studies, so the renders and seeds of one study count as one unit.",
    "**Baselines** are scored by the same `cxreason score` on the same items: chance (a random "
    "option), the image-blind template (binary: always No with a chain negating the asked "
    "finding; single: always A with the other options negated) and the normality oracle "
    "(knows only whether the study is abnormal). A model figure means something only above "
    "all three.",
    "**The ablation.** Both GRPO arms start from the same SFT checkpoint with the same steps, "
    "seeds and data; the outcome arm has format + accuracy rewards, the process arm adds the "
    "process reward (factuality + completeness of the `<think>` block). Effectiveness (does "
    "each claim match a mined step) is rewarded by neither arm: it is the figure the reward "
    "cannot have scored itself on. Completeness counts a reference finding as covered when the "
    "chain addresses it, whatever it concludes (the conclusion is factuality's part), so on a "
    "binary item any chain that names the asked finding scores 1: the image-blind template "
    "reaches it too. A completeness gain means the chain names the asked finding more often, "
    "not that its reasoning is right.",
]


def _fmt(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "–"
    lo, hi = m["ci95"]
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _delta(d: dict | None) -> str:
    if not d:
        return "–"
    star = " *" if d["excludes_0"] else ""
    return f"{d['delta']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]{star}"


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


def ablation_table(ablation: dict | None) -> list[list[str]]:
    """Rows ``[comparison, scope, n (studies), delta accuracy, delta radrscore, ...]``."""
    rows = []
    for comp in (ablation or {}).get("comparisons", []):
        for scope, res in comp["scopes"].items():
            first = next((v for v in res.values() if v), {})
            n = f"{first.get('n', '')} ({first.get('n_studies', '')})"
            rows.append([comp["name"], scope, n] + [_delta(res.get(m)) for m in METRICS])
    return rows


def seed_table(per_seed: dict | None) -> list[list[str]]:
    """Rows ``[system, figure, mean ± sd, per-seed values]``."""
    names = dict(MODEL_SYSTEMS)
    rows = []
    for system, figs in (per_seed or {}).items():
        for label, f in figs.items():
            vals = ", ".join(f"{v:.3f}" for v in f["values"])
            spread = f"{f['mean']:.3f} ± {f['sd']:.3f}" if len(f["values"]) > 1 else vals
            rows.append([names.get(system, system), label, spread, vals])
    return rows


def _task_metric(scores: dict, key: str, task: str, metric: str = "accuracy") -> dict | None:
    return scores.get(key, {}).get("by_task", {}).get(task, {}).get(metric)


def _ablation_entry(ablation: dict | None, a: str, b: str) -> dict | None:
    for comp in (ablation or {}).get("comparisons", []):
        if comp["a"] == a and comp["b"] == b:
            return comp
    return None


def target_checks(scores: dict[str, dict], ablation: dict | None = None) -> list[dict]:
    """The demo's targets, checked on this run's scores: ``{check, value, passed}`` per target.

    ``scores``: pooled scores of the models and the baselines' scores, by system key.
    ``ablation``: :func:`cxreason.demo.analysis.ablation`'s result.
    """
    out = []
    b = _task_metric(scores, "trained", "binary")
    if b:
        out.append({"check": f"trained binary accuracy >= {BINARY_TARGET:.2f}",
                    "value": f"{b['value']:.3f}", "passed": b["value"] >= BINARY_TARGET})  # fmt: skip
        lo = b["ci95"][0]
        out.append({"check": "lower 95% CI bound of trained binary accuracy > chance (0.50)",
                    "value": f"{lo:.3f}", "passed": lo > 0.5})  # fmt: skip
        for key, name in BASELINE_SYSTEMS[1:]:
            base = _task_metric(scores, key, "binary")
            if base:
                out.append({
                    "check": f"lower 95% CI bound of trained binary accuracy > {name.lower()}",
                    "value": f"{lo:.3f} vs {base['value']:.3f}",
                    "passed": lo > base["value"],
                })  # fmt: skip
    s = _task_metric(scores, "trained", "single")
    if s:
        out.append({"check": f"lower 95% CI bound of trained single accuracy > {SINGLE_CHANCE}",
                    "value": f"{s['value']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]",
                    "passed": s["ci95"][0] > SINGLE_CHANCE})  # fmt: skip
    comp = _ablation_entry(ablation, "grpo_outcome", "trained")
    if comp and "all" in comp["scopes"]:
        for metric in ("radrscore", "completeness"):
            d = comp["scopes"]["all"].get(metric)
            if d:
                out.append({
                    "check": f"process reward vs outcome-only: paired {metric} difference, "
                    "CI excludes 0",
                    "value": _delta(d).rstrip(" *"),
                    "passed": d["ci95"][0] > 0,
                })  # fmt: skip
    return out


def plot_comparison(scores: dict[str, dict], path: Path, tasks: tuple[str, ...]) -> None:
    """Grouped bars: accuracy and RadRScore per task for baselines and models, 95% CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = [(k, n) for k, n in SYSTEMS if k in scores and k != "untrained"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    width = 0.8 / max(1, len(systems))
    colors = {"chance": "#bbbbbb", "blind": "#999999", "oracle": "#777777"}
    for ax, metric in zip(axes, ("accuracy", "radrscore"), strict=True):
        x = np.arange(len(tasks))
        for j, (key, name) in enumerate(systems):
            vals, err = [], [[], []]
            for t in tasks:
                m = _task_metric(scores, key, t, metric)
                v = m["value"] if m and m["value"] is not None else 0.0
                lo, hi = m["ci95"] if m and m["value"] is not None else (0.0, 0.0)
                vals.append(v)
                err[0].append(max(0.0, v - lo))
                err[1].append(max(0.0, hi - v))
            ax.bar(
                x + (j - (len(systems) - 1) / 2) * width, vals, width, yerr=err, capsize=2,
                label=name, color=colors.get(key), hatch="//" if key in colors else None,
            )  # fmt: skip
        ax.set_xticks(x, tasks)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{metric} (test split, 95% CI over studies)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(r) + " |" for r in rows],
    ]


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    h = html.escape
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def single_lines(single: dict | None) -> list[str]:
    if not single:
        return []
    return [
        f"On the {single['n']} single-choice test items (first seed), the trained model's chain "
        f"affirms exactly one option's finding in {single['chain_affirms_exactly_one_option']:.0%}"
        f" of items and the gold finding in {single['chain_affirms_gold']:.0%} (a chain that "
        "affirms one of the four at random would hit it in 25%); its answer letter is an option "
        f"its own chain affirms in {single['answer_follows_chain']:.0%} (accuracy "
        f"{single['accuracy']:.3f}, chance 0.25). A chain near 25% on the gold finding has not "
        "read it off the phantom; a letter that does not follow the chain shows the option "
        "letter is not bound to the finding either. Whether the image features carry the answer "
        "is measured apart, on validation: `python benchmarks/demo_vision_probe.py --out OUT` "
        "answers each single-choice item with the most probable option of a linear probe on the "
        "frozen vision features; well above 0.25 there means the language model, not the "
        "encoder, is what fails. GRPO trains on binary items only, where the model is right "
        "often enough for its advantages to carry signal.",
    ]


def write_report(
    out: Path,
    scores: dict[str, dict],
    baselines: dict[str, dict],
    examples: list[dict[str, Any]],
    facts: dict[str, Any],
    reward_curve: Path | None,
    checks: list[dict] | None = None,
    *,
    ablation: dict | None = None,
    per_seed: dict | None = None,
    single: dict | None = None,
) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths.

    ``scores``: the models' pooled scores by system key; ``baselines``: the baselines' scores.
    """
    everything = {**baselines, **scores}
    checks = checks if checks is not None else target_checks(everything, ablation)
    tasks = tuple(sorted({t for s in everything.values() for t in s.get("by_task", {})}))
    plot_comparison(everything, out / "scores_comparison.png", tasks)
    curve_name = None
    if reward_curve is not None and reward_curve.exists():
        curve_name = "reward_curve.png"
        if reward_curve.resolve() != (out / curve_name).resolve():
            shutil.copyfile(reward_curve, out / curve_name)
    header = ["system", "task", "n"] + list(METRICS)
    rows = scores_table(everything)
    ab_header = ["comparison (b - a)", "items", "n (studies)"] + [f"Δ {m}" for m in METRICS]
    ab_rows = ablation_table(ablation)
    seed_header = ["system", "figure", "mean ± sd over seeds", "per seed"]
    seed_rows = seed_table(per_seed)
    check_rows = [[c["check"], c["value"], "yes" if c["passed"] else "**no**"] for c in checks]

    md = [
        "# cxreason demo report",
        "",
        "**The images in this run are SYNTHETIC phantoms rendered from the labels of real Open-I "
        "report text. They are test data for the pipeline, not medical images.**",
        "",
        "Pipeline: Open-I reports → labels → benchmark + mined reasoning chains → phantoms → "
        "tiny VLM (random init) → vision warm-up → SFT → GRPO (outcome-only, and outcome + "
        "process) → CoT predictions on the test split → scores.",
        "",
        *[line for p in DESIGN for line in (p, "")],
        "## Run",
        "",
        *[f"- {k}: {v}" for k, v in facts.items()],
        "",
        "## Test scores beside the baselines (value [95% CI], pooled over seeds)",
        "",
        *_md_table(header, rows),
        "",
        "![scores](scores_comparison.png)",
        "",
        "## Targets, checked on this run",
        "",
        *_md_table(["target", "this run", "met"], check_rows),
        "",
        "## The process reward's effect: paired differences (b - a) [95% CI], * = CI excludes 0",
        "",
        *_md_table(ab_header, ab_rows),
        "",
    ]
    if seed_rows:
        md += ["## Seeds", "", *_md_table(seed_header, seed_rows), ""]
    if single:
        md += ["## Single-choice analysis", "", *single_lines(single), ""]
    if curve_name:
        md += [
            "## GRPO reward curve (process arm, first seed)",
            "",
            f"![reward curve]({curve_name})",
            "",
        ]
    md += ["## Examples (trained model, first seed)", ""]
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
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        ".warn{background:#fff3cd;padding:.6em;border:1px solid #e0c36a}img{max-width:100%}"
        ".ex img{width:192px;image-rendering:pixelated}</style></head><body>",
        "<h1>cxreason demo report</h1>",
        "<p class='warn'><b>The images are SYNTHETIC phantoms rendered from the labels of real "
        "Open-I report text: test data for the pipeline, not medical images.</b></p>",
        *[f"<p>{h(p).replace('**', '')}</p>" for p in DESIGN],
        "<h2>Run</h2><ul>",
        *[f"<li>{h(str(k))}: {h(str(v))}</li>" for k, v in facts.items()],
        "</ul><h2>Test scores beside the baselines (pooled over seeds)</h2>",
        _html_table(header, rows),
        "<p><img src='scores_comparison.png' alt='scores'></p>",
        "<h2>Targets, checked on this run</h2>",
        _html_table(
            ["target", "this run", "met"], [[a, b, c.strip("*")] for a, b, c in check_rows]
        ),
        "<h2>The process reward's effect: paired differences (b - a), * = CI excludes 0</h2>",
        _html_table(ab_header, ab_rows),
    ]
    if seed_rows:
        parts += ["<h2>Seeds</h2>", _html_table(seed_header, seed_rows)]
    if single:
        parts += [
            "<h2>Single-choice analysis</h2>",
            *[f"<p>{h(x)}</p>" for x in single_lines(single)],
        ]
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
