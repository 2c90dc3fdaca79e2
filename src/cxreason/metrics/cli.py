"""``cxreason score``: accuracy, RadRScore and bootstrap CIs for one or several prediction files.

One ``--pred``: writes ``OUT/scores.json``, ``per_item.jsonl``, ``report.md``, ``scores.png``.
Several: the same per system under ``OUT/<name>/`` plus ``OUT/comparison.json|md`` (paired
bootstrap of each system vs the first on accuracy and RadRScore).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import typer
from rich.markup import escape

from cxreason.metrics import radrscore as rr
from cxreason.metrics.bootstrap import N_RESAMPLES, SEED
from cxreason.paths import cache_dir
from cxreason.records import RecordError

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """Inconsistent options (reported with exit code 2)."""


def _names(preds: list[Path], names: list[str] | None) -> list[str]:
    if names:
        if len(names) != len(preds):
            raise UsageError(f"{len(names)} --name for {len(preds)} --pred")
        out = list(names)
    else:
        out = [p.stem for p in preds]
    out = [re.sub(r"[^\w.-]+", "_", n) or "system" for n in out]
    if len(set(out)) != len(out):
        out = [f"{i + 1}_{n}" for i, n in enumerate(out)]
    return out


def _backend(backend: str, base_url, model, cache, api_key_env, concurrency, threshold, semantic):
    """(embedder, judge, meta) for the chosen backend."""
    if backend == "offline":
        from cxreason.metrics.embed import default_embedder
        from cxreason.metrics.radrscore import METRIC_VERSION

        emb = default_embedder() if semantic else None
        meta = {
            "backend": "offline",
            "metric_version": METRIC_VERSION,
            "threshold": threshold if semantic else None,
        }
        if emb is not None:
            meta["embed_model"] = emb.model_path.name
        return emb, None, meta
    if backend != "llm":
        raise UsageError(f"--backend must be offline or llm, got {backend!r}")
    if not base_url or not model:
        raise UsageError("--backend llm needs --llm-base-url and --llm-model")
    from cxreason.bench.llm_client import LLMClient
    from cxreason.metrics.judge import LLMJudge

    client = LLMClient(
        base_url, model, api_key_env=api_key_env, cache_dir=cache, max_concurrency=concurrency
    )
    judge = LLMJudge(client)
    return None, judge, {"backend": "llm", "llm_model": model, "judge_prompts": judge.version}


#: What ``score`` writes into ``--out`` (and per-system sub-folders): its own outputs.
OWN_OUTPUTS = (
    "scores.json",
    "per_item.jsonl",
    "report.md",
    "scores.png",
    "comparison.json",
    "comparison.md",
    "llm_cache",
)
#: Exit code of a run where most items failed or are missing (outputs are still written).
EXIT_MOSTLY_FAILED = 1


def score(
    bench: Path = typer.Option(..., "--bench", help="Benchmark JSONL (BenchItem records)."),
    pred: list[Path] = typer.Option(
        ..., "--pred", help="Predictions JSONL ({id, output}); repeat to compare."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    name: list[str] = typer.Option(
        None, "--name", help="System name per --pred (default: file stem)."
    ),
    split: str = typer.Option(
        "test", "--split", help="Items to score: train | validation | test | all."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Score only the first N items of --split (as predict --limit)."
    ),
    backend: str = typer.Option("offline", "--backend", help="RadRScore backend: offline | llm."),
    llm_base_url: str = typer.Option(
        None, "--llm-base-url", help="OpenAI-compatible base URL (…/v1)."
    ),
    llm_model: str = typer.Option(None, "--llm-model", help="Judge model name."),
    llm_cache: Path = typer.Option(
        None,
        "--llm-cache",
        help="Judge cache folder (default $CXREASON_CACHE/llm, else OUT/llm_cache).",
    ),
    llm_api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--llm-api-key-env", help="Env var holding the judge's API key."
    ),
    llm_concurrency: int = typer.Option(
        4, "--llm-concurrency", min=1, help="Judge requests in flight at once."
    ),
    threshold: float = typer.Option(
        rr.SIM_THRESHOLD, "--threshold", help="Step cosine-similarity threshold."
    ),
    semantic: bool = typer.Option(
        True, "--semantic/--no-semantic", help="MiniLM step matching (offline)."
    ),
    n_resamples: int = typer.Option(
        N_RESAMPLES, "--n-resamples", min=10, help="Bootstrap resamples per confidence interval."
    ),
    seed: int = typer.Option(SEED, "--seed", help="Bootstrap seed (same seed, same CIs)."),
    bootstrap_unit: str = typer.Option(
        "study",
        "--bootstrap-unit",
        metavar="UNIT",
        help="Resample whole studies (study: a study's items share one image and report) or "
        "single items (item).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Score predictions made on another build of the benchmark (flagged in the report).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Write into an --out that holds other files."
    ),
) -> None:
    """Score predictions: accuracy (set F1 for anomaly), RadRScore parts, 95% bootstrap CIs."""
    from rich.console import Console

    from cxreason.metrics import report as rp
    from cxreason.metrics import score as sc
    from cxreason.metrics.judge import JudgeError
    from cxreason.outputs import OutputRefused, guard_output_dir
    from cxreason.provenance import SplitError, check_split, items_sha256, select_split

    console = Console()
    err = Console(stderr=True)

    def fail(msg: str, code: int = 2) -> SystemExit:
        err.print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)
        return SystemExit(code)

    try:
        check_split(split)
        sc.cluster_keys([], bootstrap_unit)  # refuses an unknown unit before any work
        guard_output_dir(out, OWN_OUTPUTS, overwrite=overwrite, command="score", subdirs=True)
        all_items = sc.load_bench(bench)
        bench_hash = items_sha256(all_items)
        items = select_split(all_items, split)[:limit]
        if not items:
            raise sc.ScoreError(f"{bench}: no items in split {split!r} (try --split all)")
        all_ids = {it.id for it in all_items}
        errors: list[dict[str, str]] = [{} for _ in pred]
        hashes: list[set] = [set() for _ in pred]
        outputs = [
            sc.load_predictions(p, all_ids, bench, err_, h)
            for p, err_, h in zip(pred, errors, hashes, strict=True)
        ]
    except (RecordError, sc.ScoreError, OSError, OutputRefused, SplitError) as e:
        raise fail(str(e)) from None
    provenance = []
    for p, h in zip(pred, hashes, strict=True):
        problem = sc.provenance_problem(p, h, bench_hash)
        if problem and not force:
            raise fail(f"{problem}: re-predict on this build, or pass --force to score anyway")
        if problem:
            err.print(f"[bold red]FORCED:[/bold red] {escape(problem)}", highlight=False)
        elif sc.unchecked_provenance(h):
            err.print(
                f"[yellow]note:[/yellow] {escape(str(p))}: records carry no benchmark hash, so "
                "the build they were made on cannot be checked",
                highlight=False,
            )
        provenance.append(
            "forced" if problem else "unchecked" if sc.unchecked_provenance(h) else "verified"
        )
    cache = llm_cache or cache_dir("llm", out / "llm_cache")
    try:
        names = _names(pred, name)
        emb, judge, meta = _backend(
            backend,
            llm_base_url,
            llm_model,
            cache,
            llm_api_key_env,
            llm_concurrency,
            threshold,
            semantic,
        )
    except UsageError as e:
        console.print(f"[red]usage error:[/red] {e}")
        raise SystemExit(2) from None
    systems, worst = [], 0.0
    for p, sys_name, outs, errs, prov in zip(pred, names, outputs, errors, provenance, strict=True):
        in_split = {it.id for it in items}
        outs_split = {k: v for k, v in outs.items() if k in in_split}
        try:
            rows = sc.score_predictions(
                items,
                outs_split,
                backend=backend,
                embedder=emb,
                judge=judge,
                threshold=threshold,
                errors=errs,
            )
        except JudgeError as e:
            raise fail(str(e), 3) from None
        scores = sc.aggregate(rows, n_resamples, seed, unit=bootstrap_unit)
        scores["meta"] = {
            **meta,
            "bench": str(bench),
            "bench_sha256": bench_hash,
            "provenance": prov,
            "split": split,
            "limit": limit,
            "pred": str(p),
            "name": sys_name,
            "n_outside_split": len(outs) - len(outs_split),
            "per_item": "per_item.jsonl",
        }
        if judge is not None:
            scores["meta"]["llm_calls"] = judge.n_calls
        target = out if len(pred) == 1 else out / sys_name
        rp.write_outputs(target, scores, rows, title=f"Scores: {sys_name}")
        console.print(
            rp.rich_table(
                scores,
                title=f"{sys_name}: split {split}, {len(items)} items, {meta['backend']}",
                width=console.width,
            )
        )
        summary = rp.counts_summary(scores, rows)
        console.print(summary.line, highlight=False)
        if summary.first_error:
            err.print(f"  first error: {escape(summary.first_error)}", highlight=False)
        if scores["meta"]["n_outside_split"]:
            err.print(
                f"  {scores['meta']['n_outside_split']} prediction(s) for items outside split "
                f"{split} were not scored",
                highlight=False,
            )
        if rp.lenient_summary(scores):
            console.print(rp.lenient_summary(scores), highlight=False)
        console.print(f"wrote {target / 'scores.json'}")
        systems.append((sys_name, scores, rows))
        worst = max(worst, summary.failed_share)
    if len(systems) > 1:
        comp = rp.compare(systems, seed=seed, unit=bootstrap_unit)
        rp.write_comparison(out, comp)
        console.print(rp.comparison_rich(comp))
        console.print(f"wrote {out / 'comparison.json'}")
    if worst > 0.5:
        raise fail(
            f"{worst:.0%} of the items have no usable prediction (missing or failed): the scores "
            "above describe the failures, not the model",
            EXIT_MOSTLY_FAILED,
        )


def main(argv: list[str] | None = None) -> int:
    """Run ``score`` with ``argv`` (defaults to ``sys.argv[1:]``); returns the exit code."""
    from cxreason.cli import command_app, run_app

    return run_app(command_app(score), argv)
