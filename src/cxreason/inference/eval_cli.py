"""``cxreason eval``: predict + score + report in one command, or a leaderboard of finished runs.

cxreason eval --bench B --out DIR --model M                    # a local model folder
cxreason eval --bench B --out DIR --base-url URL --model NAME  # any OpenAI-compatible server
cxreason eval --compare DIR1 DIR2 ... --out L                  # leaderboard, paired tests
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cxreason import prompts
from cxreason.inference.cli import (
    ALLOW_DOWNLOAD_OPT,
    API_KEY_ENV_OPT,
    BACKEND_OPT,
    BASE_URL_OPT,
    BATCH_SIZE_OPT,
    CACHE_OPT,
    CONCURRENCY_OPT,
    IMAGE_FALLBACK_OPT,
    IMAGE_FORMAT_OPT,
    IMAGE_MAX_SIDE_OPT,
    MAX_RETRIES_OPT,
    PHANTOM_SIZE_OPT,
    PROMPT_PROFILE_OPT,
    REQUEST_TIMEOUT_OPT,
    THREADS_OPT,
    BenchRun,
    _fail,
    engine_options,
    err_console,
    predict_with_progress,
    report_summary,
)


def eval_cmd(
    runs: list[Path] = typer.Argument(
        None,
        metavar="[DIR]...",
        help="With --compare: finished eval folders (the first is the baseline).",
    ),
    compare: bool = typer.Option(
        False, "--compare", help="Compare finished eval folders DIR... in one leaderboard."
    ),
    bench: Path = typer.Option(
        None, "--bench", help="Benchmark JSONL (with --compare: where it is now, if moved)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (run or leaderboard)."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder, .gguf file or 'smollm2'; with --base-url: the served model name.",
    ),
    name: str = typer.Option(
        None, "--name", help="System name in reports (default: --out's name)."
    ),
    split: str = typer.Option("test", "--split", help="train | validation | test | all."),
    limit: int = typer.Option(None, "--limit", help="Only the first N items of --split."),
    mode: str = typer.Option("cot", "--mode", help="cot | direct."),
    prompt_profile: str = PROMPT_PROFILE_OPT,
    max_new_tokens: int = typer.Option(
        256, "--max-new-tokens", help="Max generated tokens per item."
    ),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (sent to the endpoint too)."),
    images: Path = typer.Option(None, "--images", help="Images root for benchmark image paths."),
    batch_size: int = BATCH_SIZE_OPT,
    image_fallback: str = IMAGE_FALLBACK_OPT,
    phantom_size: int = PHANTOM_SIZE_OPT,
    backend: str = BACKEND_OPT,
    base_url: str = BASE_URL_OPT,
    api_key_env: str = API_KEY_ENV_OPT,
    concurrency: int = CONCURRENCY_OPT,
    image_max_side: int = IMAGE_MAX_SIDE_OPT,
    image_format: str = IMAGE_FORMAT_OPT,
    request_timeout: float = REQUEST_TIMEOUT_OPT,
    max_retries: int = MAX_RETRIES_OPT,
    cache: Path = CACHE_OPT,
    device: str = typer.Option(None, "--device", help="torch device (cpu, cuda, ...)."),
    threads: int = THREADS_OPT,
    allow_download: bool = ALLOW_DOWNLOAD_OPT,
    semantic: bool = typer.Option(
        True, "--semantic/--no-semantic", help="MiniLM step matching in RadRScore (offline)."
    ),
    n_resamples: int = typer.Option(
        None, "--n-resamples", min=10, help="Bootstrap resamples per CI (score's default)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Write into an --out that holds other files."
    ),
) -> None:
    """Evaluate a model (predict + score + Markdown/HTML report) or compare finished runs."""
    extra = [] if semantic else ["--no-semantic"]
    if n_resamples:
        extra += ["--n-resamples", str(n_resamples)]
    if compare:
        if model or base_url:
            raise _fail("--compare takes finished eval folders, not --model/--base-url")
        code = _compare(runs or [], out, bench, overwrite, extra)
    else:
        if runs:
            raise _fail(f"unexpected argument {runs[0]} (folders are for --compare)")
        if not bench or not model:
            raise _fail("give --bench B --model M (and --base-url URL for a served model)")
        engine_args = (
            model,
            backend,
            device,
            threads,
            allow_download,
            base_url,
            api_key_env,
            concurrency,
            image_max_side,
            image_format,
            request_timeout,
            max_retries,
            cache,
        )
        from cxreason.inference.evaluate import PRED_FILE
        from cxreason.inference.predict import GenConfig

        run = BenchRun(
            bench=bench,
            out=out / PRED_FILE,
            mode=mode,
            cfg=GenConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
            batch_size=batch_size or 0,
            images=images,
            limit=limit,
            split=split,
            image_fallback=image_fallback,
            phantom_size=phantom_size,
            profile=prompt_profile,
        )
        code = _evaluate(engine_args, run, name or out.resolve().name, overwrite, extra)
    if code:
        raise SystemExit(code)


def _evaluate(engine_args: tuple, run: BenchRun, name: str, overwrite: bool, extra) -> int:
    from cxreason.inference import evaluate as ev
    from cxreason.inference.predict import IMAGE_FALLBACKS, EngineError
    from cxreason.inference.safety import InputRefused
    from cxreason.outputs import OutputRefused, guard_output_dir
    from cxreason.paths import ModelNotFound
    from cxreason.provenance import SplitError, bench_sha256, check_split
    from cxreason.records import RecordError

    out = run.out.parent
    try:
        if run.mode not in prompts.MODES:
            raise EngineError(f"--mode must be one of {', '.join(prompts.MODES)}, got {run.mode!r}")
        if run.image_fallback not in IMAGE_FALLBACKS:
            raise EngineError(
                f"--image-fallback must be one of {', '.join(IMAGE_FALLBACKS)}, "
                f"got {run.image_fallback!r}"
            )
        check_split(run.split)
        if not run.bench.is_file():
            raise FileNotFoundError(2, "not found", str(run.bench))
        eopts = engine_options(*engine_args)
        run.batch_size = eopts.batch_size(run.batch_size or None)
        replaced = guard_output_dir(out, ev.own_outputs(), overwrite=overwrite, command="eval")
        if replaced:
            err_console.print(
                f"{escape(str(out))} holds an earlier evaluation: resuming its predictions, "
                "rewriting scores and reports",
                highlight=False,
            )
        out.mkdir(parents=True, exist_ok=True)
        summary = predict_with_progress(eopts, run)
        digest = bench_sha256(run.bench)
    except (InputRefused, EngineError, RecordError, OutputRefused, ModelNotFound, SplitError) as e:
        raise _fail(str(e)) from None
    except FileNotFoundError as e:
        raise _fail(f"{e.filename}: file not found") from None
    report_summary(summary, run.split)
    record = ev.eval_record(
        name=name,
        engine=eopts.describe(),
        bench=run.bench,
        bench_sha256=digest,
        split=run.split,
        limit=run.limit,
        settings={
            "mode": run.mode,
            "max_new_tokens": run.cfg.max_new_tokens,
            "temperature": run.cfg.temperature,
            "seed": run.cfg.seed,
            "image_fallback": run.image_fallback,
            "phantom_size": run.phantom_size,
        },
        summary=summary.as_dict(),
    )
    ev.write_eval_record(out, record)
    limit = ["--limit", str(run.limit)] if run.limit else []
    code = ev.score_files(run.bench, [run.out], [name], out, run.split, [*limit, *extra])
    scores_path = out / "scores.json"
    if scores_path.is_file():
        import json

        scores = json.loads(scores_path.read_text(encoding="utf-8"))
        paths = ev.write_report(out, ev.run_markdown(record, scores), f"Evaluation: {name}")
        err_console.print(
            f"wrote {escape(str(paths[0]))} and {escape(paths[1].name)}", highlight=False
        )
    return code


def _compare(dirs: list[Path], out: Path, bench: Path | None, overwrite: bool, extra) -> int:
    import json

    from rich.console import Console

    from cxreason.inference import evaluate as ev
    from cxreason.outputs import OutputRefused, guard_output_dir
    from cxreason.records import RecordError

    try:
        runs = [ev.load_run(d) for d in dirs]
        bench_path = ev.check_comparable(runs, bench)
        guard_output_dir(
            out,
            ev.leaderboard_outputs(),
            overwrite=overwrite,
            command="eval --compare",
            subdirs=True,
        )
    except (ev.EvalError, OutputRefused, RecordError) as e:
        raise _fail(str(e)) from None
    names = _unique([r.record.get("name") or r.folder.name for r in runs])
    split = runs[0].record["split"]
    limit = runs[0].record.get("limit")  # the runs predicted the same items (checked)
    extra = [*(["--limit", str(limit)] if limit else []), *extra]
    code = ev.score_files(bench_path, [r.predictions for r in runs], names, out, split, extra)
    comp_path = out / "comparison.json"
    if not comp_path.is_file():
        return code or 2
    comp = json.loads(comp_path.read_text(encoding="utf-8"))
    scores = {
        s["name"]: json.loads((out / s["name"] / "scores.json").read_text(encoding="utf-8"))
        for s in comp["systems"]
    }
    by_name = dict(zip([s["name"] for s in comp["systems"]], runs, strict=True))
    rows = ev.leaderboard_rows(comp, scores, by_name)
    md = ev.leaderboard_markdown(rows, comp, split, runs[0].record["bench_sha256"])
    paths = ev.write_report(out, md, "Leaderboard", stem="leaderboard")
    Console().print(_leaderboard_table(rows, comp))
    err_console.print(f"wrote {escape(str(paths[0]))} and {escape(paths[1].name)}", highlight=False)
    return code


def _unique(names: list[str]) -> list[str]:
    """Names made unique by numbering repeats (``a``, ``a-2``)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def _leaderboard_table(rows, comp):
    """The console's leaderboard: readable at 80 columns (n and the split go in the title)."""
    from rich.table import Table

    from cxreason.metrics.report import fmt

    t = Table(
        title=f"Leaderboard: {rows[0]['n']} identical items; Δ: paired bootstrap vs "
        f"{comp['baseline']}"
    )
    t.add_column("#", justify="right")
    t.add_column("system", no_wrap=True)
    for col in ("accuracy", "radrscore", "Δacc (p)", "failed", "missing"):
        t.add_column(col, justify="right")
    for k, r in enumerate(rows, 1):
        d = r["deltas"].get("accuracy")
        delta = "-" if r["baseline"] or not d else f"{d['delta']:+.3f} (p={d['p']:.4f})"
        t.add_row(
            str(k),
            r["name"],
            fmt(r["metrics"].get("accuracy")),
            fmt(r["metrics"].get("radrscore")),
            delta,
            str(r["failed"]),
            str(r["missing"]),
        )
    return t


def main(argv: list[str] | None = None) -> int:
    """Run ``eval`` with ``argv``; returns the exit code."""
    from cxreason.cli import command_app, run_app

    return run_app(command_app(eval_cmd), argv)


if __name__ == "__main__":
    raise SystemExit(main())
