"""``cxreason eval``: one system = predict + score + report; several finished runs = a leaderboard.

An evaluation folder holds (all written by ``cxreason eval``; hidden entries are the progress
log and the response cache of ``predict``):

- ``predictions.jsonl``: the predictions (resumable, see :func:`cxreason.inference.predict.predict_bench`),
- ``eval.json``: what was evaluated and how (engine, benchmark and its content hash, split,
  limit, prompt settings, prompts version, image fallback, prediction counts),
- ``scores.json``, ``per_item.jsonl``, ``scores.png``: written by ``cxreason score`` itself (its
  command runs underneath, so every system is scored by the same parser and the same rules),
- ``report.md`` and ``report.html``: the run's settings, then the score report.

A leaderboard (``cxreason eval --compare DIR1 DIR2 ... --out L``) checks that the runs were
made on the same benchmark build, the same split and the same items, then scores them together
with ``cxreason score``'s comparison mode (paired bootstrap on identical items, each run vs the
first one given) and writes ``leaderboard.md`` / ``leaderboard.html`` beside its outputs.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxreason.records import atomic_writer, write_json

PRED_FILE = "predictions.jsonl"
EVAL_FILE = "eval.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_HTML = "leaderboard.html"
#: Version of the eval.json layout.
EVAL_FORMAT = "cxreason-eval-v1"


class EvalError(ValueError):
    """Runs that cannot be evaluated or compared (the message says why)."""


def own_outputs() -> tuple[str, ...]:
    """What ``cxreason eval`` writes into a run folder (``score``'s outputs included)."""
    from cxreason.metrics.cli import OWN_OUTPUTS

    return (*OWN_OUTPUTS, PRED_FILE, EVAL_FILE, REPORT_HTML)


def leaderboard_outputs() -> tuple[str, ...]:
    """What ``cxreason eval --compare`` writes into its folder (one sub-folder per run too)."""
    from cxreason.metrics.cli import OWN_OUTPUTS

    return (*OWN_OUTPUTS, LEADERBOARD_MD, LEADERBOARD_HTML)


def score_files(
    bench: str | os.PathLike,
    preds: Sequence[str | os.PathLike],
    names: Sequence[str],
    out: str | os.PathLike,
    split: str,
    extra: Sequence[str] = (),
) -> int:
    """Run ``cxreason score`` (the command itself) on ``preds``; its exit code.

    ``out`` has been checked by the caller (it holds eval's own files), hence ``--overwrite``.
    """
    from cxreason.metrics.cli import main as score_main

    argv = ["--bench", str(bench), "--out", str(out), "--split", split, "--overwrite", *extra]
    for p, n in zip(preds, names, strict=True):
        argv += ["--pred", str(p), "--name", n]
    return score_main(argv)


def eval_record(
    *,
    name: str,
    engine: dict[str, Any],
    bench: str | os.PathLike,
    bench_sha256: str,
    split: str,
    limit: int | None,
    settings: dict[str, Any],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """The body of eval.json."""
    from cxreason import __version__, prompts

    return {
        "format": EVAL_FORMAT,
        "name": name,
        "engine": engine,
        "bench": str(Path(bench).resolve()),
        "bench_sha256": bench_sha256,
        "split": split,
        "limit": limit,
        "settings": settings,
        "prompts_version": prompts.PROMPTS_VERSION,
        "predictions": PRED_FILE,
        "last_predict": summary,
        "cxreason_version": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_eval_record(out: str | os.PathLike, record: dict[str, Any]) -> Path:
    path = Path(out) / EVAL_FILE
    write_json(path, record)
    return path


# ---------------------------------------------------------------------------------------
# Reports


def synthetic_warning(n_items: int, n_total: int) -> str | None:
    """The report's warning when items were predicted on SYNTHETIC phantoms (None if none)."""
    if not n_items:
        return None
    return (
        f"**WARNING: {n_items} of {n_total} items were predicted on SYNTHETIC phantom images** "
        "(`--image-fallback phantom`: missing image files replaced by report-conditioned "
        "phantoms, rows flagged `synthetic_images`). These scores test the pipeline; they are "
        "not a measurement on real radiographs."
    )


def run_markdown(record: dict[str, Any], scores: dict[str, Any]) -> str:
    """report.md of one run: what was evaluated, then ``score``'s report."""
    from cxreason.metrics.report import markdown_report

    eng, st, last = record["engine"], record["settings"], record["last_predict"]
    where = (
        f"`{eng['model']}` at `{eng['base_url']}` (OpenAI-compatible API, "
        f"concurrency {eng['concurrency']}, images {eng['image_format']} <= "
        f"{eng['image_max_side']} px)"
        if eng.get("backend") == "openai"
        else f"`{eng['model']}` (local, backend {eng.get('backend')})"
    )
    lines = [
        f"# Evaluation: {record['name']}",
        "",
        f"- model: {where}",
        f"- benchmark: `{record['bench']}` (content hash `{record['bench_sha256'][:12]}`), "
        f"split **{record['split']}**"
        + (f", first {record['limit']} items" if record.get("limit") else ""),
        f"- prompts: mode `{st['mode']}`, prompts version `{record['prompts_version']}`; "
        f"max new tokens {st['max_new_tokens']}, temperature {st['temperature']}, "
        f"seed {st['seed']}",
        f"- predictions: `{record['predictions']}`: {last['total']} items, {last['failed']} "
        f"failed" + (f" (first error: `{last['first_error']}`)" if last.get("first_error") else ""),
        f"- image fallback: `{st['image_fallback']}`",
    ]
    warn = synthetic_warning(last.get("phantom_items", 0), last["total"])
    if warn:
        lines += ["", warn]
    body = markdown_report(scores, title="Scores")
    lines += ["", "#" + body if body.startswith("# ") else body, "", "![scores](scores.png)", ""]
    return "\n".join(lines)


def markdown_to_html(md: str, title: str) -> str:
    """A standalone HTML page of a Markdown report (tables kept; raw HTML in it escaped)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}code{background:#f4f4f4}</style></head><body>"
        f"{body}</body></html>"
    )


def write_report(out: str | os.PathLike, md: str, title: str, stem: str = "report") -> list[Path]:
    """Write ``stem.md`` and ``stem.html`` into ``out``; their paths."""
    out = Path(out)
    paths = [out / f"{stem}.md", out / f"{stem}.html"]
    with atomic_writer(paths[0]) as fh:
        fh.write(md)
    with atomic_writer(paths[1]) as fh:
        fh.write(markdown_to_html(md, title))
    return paths


# ---------------------------------------------------------------------------------------
# Leaderboards


@dataclass
class Run:
    """A finished evaluation folder."""

    folder: Path
    record: dict[str, Any]

    @property
    def predictions(self) -> Path:
        return self.folder / self.record.get("predictions", PRED_FILE)


def load_run(folder: str | os.PathLike) -> Run:
    """A finished ``cxreason eval`` folder, or EvalError naming what is missing."""
    folder = Path(folder)
    path = folder / EVAL_FILE
    if not path.is_file():
        raise EvalError(f"{folder}: not a finished cxreason eval run (no {EVAL_FILE})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvalError(f"{path}: unreadable ({e})") from None
    if not isinstance(record, dict) or record.get("format") != EVAL_FORMAT:
        raise EvalError(f"{path}: not an {EVAL_FORMAT} record")
    run = Run(folder, record)
    if not run.predictions.is_file():
        raise EvalError(f"{folder}: its predictions file {run.predictions.name} is missing")
    return run


def predicted_ids(run: Run) -> set[str]:
    """Ids of the run's prediction rows (failed ones included: they count as wrong)."""
    from cxreason.records import iter_jsonl

    return {str(o["id"]) for _, o in iter_jsonl(run.predictions) if "id" in o}


def check_comparable(runs: Sequence[Run], bench: str | os.PathLike | None = None) -> Path:
    """The benchmark file all ``runs`` were made on; EvalError unless they share the build, the
    split and the very items (``bench`` overrides the path the runs recorded)."""
    from cxreason.provenance import bench_sha256, short

    if len(runs) < 2:
        raise EvalError("--compare needs at least two evaluation folders")
    first = runs[0].record
    for r in runs[1:]:
        if r.record["bench_sha256"] != first["bench_sha256"]:
            raise EvalError(
                f"{r.folder} was evaluated on another benchmark build "
                f"({short(r.record['bench_sha256'])}, {runs[0].folder}: "
                f"{short(first['bench_sha256'])}): compare runs on the same build"
            )
        if r.record["split"] != first["split"]:
            raise EvalError(
                f"{r.folder} scored split {r.record['split']}, {runs[0].folder} split "
                f"{first['split']}: compare runs on the same split"
            )
    ids = [predicted_ids(r) for r in runs]
    for r, got in zip(runs[1:], ids[1:], strict=True):
        if got != ids[0]:
            raise EvalError(
                f"{r.folder} predicted other items than {runs[0].folder} ({len(got)} vs "
                f"{len(ids[0])} items, {len(got ^ ids[0])} differ): rerun them with the same "
                "--split and --limit, so that every system is scored on the same items"
            )
    path = Path(bench) if bench else Path(first["bench"])
    if not path.is_file():
        raise EvalError(f"{path}: benchmark file not found (pass --bench to say where it is now)")
    digest = bench_sha256(path)
    if digest != first["bench_sha256"]:
        raise EvalError(
            f"{path} is another build of the benchmark ({short(digest)}) than the runs were "
            f"made on ({short(first['bench_sha256'])})"
        )
    return path


def metric_blocks(scores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every ``{value, ci95}`` block of a scores.json, top level and one level down (e.g. a
    lenient reading ``lenient.accuracy``); per-task blocks and metadata excluded."""
    out: dict[str, dict[str, Any]] = {}
    for key, val in scores.items():
        if key in ("by_task", "meta", "bootstrap") or not isinstance(val, dict):
            continue
        if "value" in val and "ci95" in val:
            out[key] = val
            continue
        for sub, block in val.items():
            if isinstance(block, dict) and "value" in block and "ci95" in block:
                out[f"{key}.{sub}"] = block
    return out


def leaderboard_rows(
    comp: dict[str, Any], scores: dict[str, dict[str, Any]], runs: dict[str, Run]
) -> list[dict[str, Any]]:
    """One row per system (sorted by accuracy, best first) with its metrics, deltas vs the
    baseline (the first run given), counts and run settings."""
    rows = []
    for s in comp["systems"]:
        sc = scores[s["name"]]
        rec = runs[s["name"]].record
        last = rec.get("last_predict", {})
        rows.append(
            {
                "name": s["name"],
                "model": rec["engine"].get("model"),
                "backend": rec["engine"].get("backend"),
                "mode": rec["settings"].get("mode"),
                "n": sc["n"],
                "metrics": metric_blocks(sc),
                "deltas": {m: s.get(f"{m}_vs_baseline") for m in comp["metrics"]},
                "failed": sc.get("n_pred_errors", 0),
                "missing": sc.get("n_missing", 0),
                "unparsable": sc.get("n_unparsable", 0),
                "synthetic": last.get("phantom_items", 0),
                "baseline": s["name"] == comp["baseline"],
            }
        )
    acc = [r["metrics"].get("accuracy", {}).get("value") for r in rows]
    order = sorted(range(len(rows)), key=lambda i: -(acc[i] if acc[i] is not None else -1))
    return [rows[i] for i in order]


def leaderboard_markdown(
    rows: list[dict[str, Any]], comp: dict[str, Any], split: str, bench_hash: str
) -> str:
    """leaderboard.md: the table, then how it was made."""
    from cxreason.metrics.report import fmt

    metrics = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    head = ["#", "system", "model", "backend", "mode", "n", *metrics]
    head += [f"Δ{m} (p)" for m in comp["metrics"]]
    head += ["failed", "missing", "unparsable", "items on phantoms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k, r in enumerate(rows, 1):
        deltas = [
            "baseline"
            if r["baseline"] or not r["deltas"].get(m)
            else f"{r['deltas'][m]['delta']:+.3f} (p={r['deltas'][m]['p']:.4f})"
            for m in comp["metrics"]
        ]
        cells = [str(k), r["name"], f"`{r['model']}`", str(r["backend"]), str(r["mode"])]
        cells += [str(r["n"]), *(fmt(r["metrics"].get(m)) for m in metrics), *deltas]
        cells += [str(r["failed"]), str(r["missing"]), str(r["unparsable"]), str(r["synthetic"])]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "# Leaderboard",
        "",
        f"Split **{split}** of the benchmark build `{bench_hash[:12]}`; every system scored on "
        f"the same {rows[0]['n']} items by `cxreason score` (same parser, same rules; a failed "
        "or missing prediction counts as wrong). Value [95% bootstrap CI, resampling whole "
        "studies]; Δ: paired bootstrap over identical items (studies resampled) vs "
        f"**{comp['baseline']}** (the first run given), "
        f"{comp['n_resamples']} resamples, two-sided p.",
        "",
        *lines,
        "",
    ]
    if any(r["synthetic"] for r in rows):
        notes += [
            "**Systems with items on phantoms > 0 were evaluated on SYNTHETIC phantoms standing "
            "in for missing image files: a pipeline test, not a measurement on radiographs.**",
            "",
        ]
    return "\n".join(notes)
