"""``cxreason predict``: run a model over a benchmark (resumable) or over one study."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cxreason import prompts

console = Console()
err_console = Console(stderr=True)


def _fail(msg: str) -> SystemExit:
    """Print a red one-line error; the SystemExit(2) to raise (passes through click unchanged)."""
    err_console.print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)
    return SystemExit(2)


# Options shared by `predict` and `eval` (declared once).
MODEL_OPT = typer.Option(
    ...,
    "--model",
    "-m",
    help="Model folder, .gguf file, or 'smollm2'; with --base-url: the served model name.",
)
BACKEND_OPT = typer.Option(
    "auto", help="auto | transformers | vllm | openai (auto: openai when --base-url is given)."
)
BASE_URL_OPT = typer.Option(
    None,
    "--base-url",
    help="OpenAI-compatible endpoint incl. /v1 (vLLM, SGLang, TGI, an API, cxreason serve).",
)
API_KEY_ENV_OPT = typer.Option(
    "OPENAI_API_KEY",
    "--api-key-env",
    help="Env var holding the endpoint's API key (unset: no Authorization header).",
)
CONCURRENCY_OPT = typer.Option(4, "--concurrency", help="Requests in flight at once (--base-url).")
IMAGE_MAX_SIDE_OPT = typer.Option(
    1024, "--image-max-side", help="Longest image side sent to the endpoint, pixels (downscaled)."
)
IMAGE_FORMAT_OPT = typer.Option(
    "png", "--image-format", help="png | jpeg (images sent as data URLs)."
)
REQUEST_TIMEOUT_OPT = typer.Option(
    300.0, "--request-timeout", help="Seconds per request before it is retried (--base-url)."
)
MAX_RETRIES_OPT = typer.Option(
    5, "--max-retries", help="Retries per request on 429/5xx/timeouts, with backoff (--base-url)."
)
CACHE_OPT = typer.Option(
    None,
    "--cache",
    help="Response cache folder (--base-url; default $CXREASON_CACHE/openai, else beside --out).",
)
IMAGE_FALLBACK_OPT = typer.Option(
    "error",
    "--image-fallback",
    help="Missing image: error | phantom (a SYNTHETIC report-conditioned phantom, flagged per row).",
)
PHANTOM_SIZE_OPT = typer.Option(128, "--phantom-size", help="Side of SYNTHETIC phantoms, pixels.")
BATCH_SIZE_OPT = typer.Option(
    None, "--batch-size", help="Items per generate call (default 4; --base-url: 4 x --concurrency)."
)
THREADS_OPT = typer.Option(
    1,
    help="torch CPU threads while generating (1 avoids oversubscribing shared CPUs; 0 = torch default).",
)
PROMPT_PROFILE_OPT = typer.Option(
    prompts.DEFAULT_PROFILE,
    "--prompt-profile",
    help="Prompt wording: cxreason | chestx-reasoner | nv-reason-cxr (a released "
    "checkpoint prompted as its authors ran it; recorded in the output).",
)
ALLOW_DOWNLOAD_OPT = typer.Option(
    False,
    "--allow-download",
    help="Let --model name a Hugging Face Hub id that is not cached (off: no network).",
)


def engine_options(
    model: str,
    backend: str,
    device: str | None,
    threads: int,
    allow_download: bool,
    base_url: str | None,
    api_key_env: str,
    concurrency: int,
    image_max_side: int,
    image_format: str,
    request_timeout: float,
    max_retries: int,
    cache: Path | None,
):
    """The EngineOptions of the shared options, checked (EngineError on a bad combination)."""
    from cxreason.inference.backends import EngineOptions

    opts = EngineOptions(
        model=model,
        backend=backend,
        device=device,
        threads=threads,
        allow_download=allow_download,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        image_max_side=image_max_side,
        image_format=image_format,
        request_timeout=request_timeout,
        max_retries=max_retries,
        cache=cache,
    )
    opts.check()
    return opts


def predict(
    model: str = MODEL_OPT,
    bench: Path = typer.Option(None, help="Benchmark JSONL to predict (needs --out)."),
    out: Path = typer.Option(None, help="Predictions JSONL (benchmark) or JSON (single study)."),
    image: list[Path] = typer.Option(None, "--image", help="Image of a single study (repeatable)."),
    question: str = typer.Option(
        None, help="Question for a single study (default: the anomaly question)."
    ),
    options: str = typer.Option(
        None, help='Options for a single study as JSON, e.g. \'{"A": "Yes", "B": "No"}\'.'
    ),
    mode: str = typer.Option("cot", help="cot | direct."),
    prompt_profile: str = PROMPT_PROFILE_OPT,
    batch_size: int = BATCH_SIZE_OPT,
    max_new_tokens: int = typer.Option(256, help="Max generated tokens per item."),
    temperature: float = typer.Option(0.0, help="0 = greedy."),
    seed: int = typer.Option(0, help="Sampling seed (temperature > 0)."),
    images: Path = typer.Option(None, help="Images root for benchmark image paths."),
    limit: int = typer.Option(None, help="Only the first N benchmark items (of --split)."),
    split: str = typer.Option(
        "test", help="Benchmark split to predict: train | validation | test | all."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --out that is not a predictions file."
    ),
    allow_download: bool = ALLOW_DOWNLOAD_OPT,
    backend: str = BACKEND_OPT,
    device: str = typer.Option(None, help="torch device (cpu, cuda, ...)."),
    threads: int = THREADS_OPT,
    chest_check: bool = typer.Option(
        True,
        "--chest-check/--no-chest-check",
        help="Refuse single-study images that do not look like radiographs.",
    ),
    base_url: str = BASE_URL_OPT,
    api_key_env: str = API_KEY_ENV_OPT,
    concurrency: int = CONCURRENCY_OPT,
    image_max_side: int = IMAGE_MAX_SIDE_OPT,
    image_format: str = IMAGE_FORMAT_OPT,
    request_timeout: float = REQUEST_TIMEOUT_OPT,
    max_retries: int = MAX_RETRIES_OPT,
    cache: Path = CACHE_OPT,
    image_fallback: str = IMAGE_FALLBACK_OPT,
    phantom_size: int = PHANTOM_SIZE_OPT,
) -> None:
    """Predict with a model over a benchmark (--bench B --out P) or one study (--image ... --question ...).

    The model is a local folder (transformers, vLLM) or, with --base-url, any model behind an
    OpenAI-compatible endpoint. Benchmark runs resume after an interruption.
    """
    from cxreason.inference.predict import IMAGE_FALLBACKS, EngineError, GenConfig
    from cxreason.inference.safety import InputRefused
    from cxreason.outputs import OutputRefused, guard_output_file, jsonl_has_keys
    from cxreason.paths import ModelNotFound
    from cxreason.provenance import SplitError, check_split
    from cxreason.records import RecordError

    if mode not in prompts.MODES:
        raise _fail(f"--mode must be one of {', '.join(prompts.MODES)}, got {mode!r}")
    if prompt_profile not in prompts.PROFILES:
        raise _fail(
            f"--prompt-profile must be one of {', '.join(prompts.PROFILES)}, got {prompt_profile!r}"
        )
    if prompt_profile == "nv-reason-cxr" and mode != "cot":
        raise _fail("--prompt-profile nv-reason-cxr has one prompt, with reasoning: use --mode cot")
    if image_fallback not in IMAGE_FALLBACKS:
        raise _fail(
            f"--image-fallback must be one of {', '.join(IMAGE_FALLBACKS)}, got {image_fallback!r}"
        )
    if bool(bench) == bool(image):
        raise _fail("give either --bench B --out P, or --image FILE [--image FILE] --question Q")
    if bench and not out:
        raise _fail("--bench needs --out")
    cfg = GenConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    try:
        check_split(split)
        eopts = engine_options(
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
        if bench:
            guard_output_file(
                out, jsonl_has_keys("id", "output"), overwrite=overwrite, what="predictions"
            )
            run = BenchRun(
                bench=bench,
                out=out,
                mode=mode,
                cfg=cfg,
                batch_size=eopts.batch_size(batch_size),
                images=images,
                limit=limit,
                split=split,
                image_fallback=image_fallback,
                phantom_size=phantom_size,
                profile=prompt_profile,
            )
            summary = predict_with_progress(eopts, run)
            report_summary(summary, split)
        else:
            load = eopts.load
            _predict_single(
                load, image, question, options, mode, cfg, out, chest_check, prompt_profile
            )
    except (InputRefused, EngineError, RecordError, OutputRefused, ModelNotFound, SplitError) as e:
        raise _fail(str(e)) from None
    except FileNotFoundError as e:
        raise _fail(f"{e.filename}: file not found") from None


@dataclass
class BenchRun:
    """What a benchmark prediction run reads and writes (the engine aside)."""

    bench: Path
    out: Path
    mode: str = "cot"
    cfg: Any = None
    batch_size: int = 4
    images: Path | None = None
    limit: int | None = None
    split: str = "test"
    image_fallback: str = "error"
    phantom_size: int = 128
    profile: str = prompts.DEFAULT_PROFILE


def predict_with_progress(eopts, run: BenchRun):
    """Load the engine and predict the benchmark with a progress bar; the PredictSummary.

    ``summary.engine_stats``: a remote engine's request counters (None for local engines).
    """
    from cxreason.inference.predict import predict_bench

    if not Path(run.bench).is_file():
        raise FileNotFoundError(2, "not found", str(run.bench))
    engine = eopts.load(run.out)
    cols = (TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*cols, console=err_console, transient=False) as bar:
            task = bar.add_task("predict", total=None)
            s = predict_bench(
                engine,
                run.bench,
                run.out,
                mode=run.mode,
                cfg=run.cfg,
                batch_size=run.batch_size,
                images_dir=run.images,
                limit=run.limit,
                split=run.split,
                on_progress=lambda d, t: bar.update(task, completed=d, total=t),
                image_fallback=run.image_fallback,
                phantom_size=run.phantom_size,
                profile=run.profile,
            )
    finally:
        stats = getattr(engine, "stats", None)
        if stats is not None:
            err_console.print(
                f"endpoint: {stats['requests']} requests ({stats['retries']} retries), "
                f"{stats['cache_hits']} answers from the cache, {stats['failures']} failed calls",
                highlight=False,
            )
        if hasattr(engine, "close"):
            engine.close()
    s.engine_stats = stats
    return s


def report_summary(s, split: str) -> None:
    """The console's account of a prediction run (failures and SYNTHETIC images included)."""
    msg = (
        f"{s.total} items of split {split} -> {s.out}: {s.generated} generated, "
        f"{s.done_before} already done, {s.failed} failed, {s.seconds:.1f} s"
    )
    err_console.print(("[yellow]" if s.failed else "[green]") + msg, highlight=False)
    if s.first_error:
        err_console.print(f"  first error: {escape(s.first_error)}", highlight=False)
    if s.failed:
        err_console.print(
            "[yellow]failed items keep an 'error' field; rerun to retry them", highlight=False
        )
    if s.first_error and "no such file" in s.first_error:
        err_console.print(
            "[yellow]images are missing: --image-fallback phantom predicts on SYNTHETIC "
            "report-conditioned phantoms instead (pipeline tests only, flagged per row)",
            highlight=False,
        )
    if s.phantom_items:
        err_console.print(
            f"[bold yellow]{s.phantom_items} of {s.total} items were predicted on SYNTHETIC "
            f"phantom images ({s.phantom_images} missing image files replaced; rows flagged "
            "'synthetic_images'): not a measurement on real radiographs",
            highlight=False,
        )


def _predict_single(load, image, question, options, mode, cfg, out, chest_check, profile) -> None:
    from cxreason.inference.impression import structure_output
    from cxreason.inference.predict import ChatRequest, EngineError
    from cxreason.inference.safety import ImageLimits, InputRefused, load_safe_image
    from cxreason.records import write_json

    opts = None
    if options:
        try:
            opts = json.loads(options)
        except json.JSONDecodeError as e:
            raise InputRefused(f"--options is not valid JSON: {e}") from None
        if not isinstance(opts, dict) or not all(isinstance(v, str) for v in opts.values()):
            raise InputRefused(
                '--options must be a JSON object of letter -> text, e.g. {"A": "Yes"}'
            )
    lim = ImageLimits(check_chest=chest_check)
    imgs = [
        load_safe_image(p, limits=lim) for p in image
    ]  # refuse bad inputs before loading a model
    engine = load()
    q = question or prompts.ANOMALY_QUESTION
    n_images = len(imgs) if engine.is_vlm else 0
    msgs = prompts.profile_messages(q, opts, n_images, mode, profile)
    gen = engine.generate_batch([ChatRequest(msgs, imgs if engine.is_vlm else [])], cfg)[0]
    if gen.error:
        raise EngineError(gen.error)
    rec = {
        "id": "study",
        "question": q,
        "options": opts,
        "images": [str(p) for p in image],
        "output": gen.text,
        **structure_output(gen.text),
        "prompt_profile": profile,
        "prompts_version": prompts.PROMPTS_VERSION,
    }
    if out:
        write_json(out, rec)
        err_console.print(f"[green]wrote {out}", highlight=False)
    console.print_json(json.dumps(rec, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    """Run ``predict`` with ``argv``; returns the exit code."""
    from cxreason.cli import command_app, run_app

    return run_app(command_app(predict), argv)


if __name__ == "__main__":
    raise SystemExit(main())
