"""``cxreason predict``: run a model over a benchmark (resumable) or over one study."""

from __future__ import annotations

import json
from pathlib import Path

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


def predict(
    model: str = typer.Option(..., "--model", "-m", help="Model folder, .gguf file, or 'smollm2'."),
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
    prompt_profile: str = typer.Option(
        prompts.DEFAULT_PROFILE,
        "--prompt-profile",
        help="Prompt wording: cxreason | chestx-reasoner | nv-reason-cxr (a released "
        "checkpoint prompted as its authors ran it; recorded in the output).",
    ),
    batch_size: int = typer.Option(4, help="Items per generate call."),
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
    allow_download: bool = typer.Option(
        False,
        "--allow-download",
        help="Let --model name a Hugging Face Hub id that is not cached (off: no network).",
    ),
    backend: str = typer.Option("auto", help="auto | transformers | vllm."),
    device: str = typer.Option(None, help="torch device (cpu, cuda, ...)."),
    threads: int = typer.Option(
        1,
        help="torch CPU threads while generating (1 avoids oversubscribing shared CPUs; 0 = torch default).",
    ),
    chest_check: bool = typer.Option(
        True,
        "--chest-check/--no-chest-check",
        help="Refuse single-study images that do not look like radiographs.",
    ),
) -> None:
    """Predict with a model over a benchmark (--bench B --out P) or one study (--image ... --question ...)."""
    from cxreason.inference.predict import EngineError, GenConfig
    from cxreason.inference.safety import InputRefused
    from cxreason.outputs import OutputRefused, guard_output_file, jsonl_has_keys
    from cxreason.paths import ModelNotFound, resolve_model_ref
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
    if bool(bench) == bool(image):
        raise _fail("give either --bench B --out P, or --image FILE [--image FILE] --question Q")
    if bench and not out:
        raise _fail("--bench needs --out")
    cfg = GenConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    def load():
        from cxreason.inference.predict import load_engine

        return load_engine(
            model,
            backend=backend,
            device=device,
            threads=threads or None,
            allow_download=allow_download,
        )

    try:
        check_split(split)
        if model != "smollm2":  # refuse a mistyped path before anything slow
            resolve_model_ref(model, allow_download=allow_download)
        if bench:
            guard_output_file(
                out, jsonl_has_keys("id", "output"), overwrite=overwrite, what="predictions"
            )
            _predict_bench(
                load, bench, out, mode, cfg, batch_size, images, limit, split, prompt_profile
            )
        else:
            _predict_single(
                load, image, question, options, mode, cfg, out, chest_check, prompt_profile
            )
    except (InputRefused, EngineError, RecordError, OutputRefused, ModelNotFound, SplitError) as e:
        raise _fail(str(e)) from None
    except FileNotFoundError as e:
        raise _fail(f"{e.filename}: file not found") from None


def _predict_bench(load, bench, out, mode, cfg, batch_size, images, limit, split, profile) -> None:
    from cxreason.inference.predict import predict_bench

    if not bench.is_file():
        raise FileNotFoundError(2, "not found", str(bench))
    engine = load()
    cols = (TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*cols, console=err_console, transient=False) as bar:
        task = bar.add_task("predict", total=None)
        s = predict_bench(
            engine,
            bench,
            out,
            mode=mode,
            cfg=cfg,
            batch_size=batch_size,
            images_dir=images,
            limit=limit,
            split=split,
            on_progress=lambda d, t: bar.update(task, completed=d, total=t),
            profile=profile,
        )
    msg = (
        f"{s.total} items of split {split} -> {s.out}: {s.generated} generated, "
        f"{s.done_before} already done, {s.failed} failed, {s.seconds:.1f} s"
    )
    err_console.print(("[yellow]" if s.failed else "[green]") + msg, highlight=False)
    if s.failed:
        err_console.print(
            "[yellow]failed items keep an 'error' field; rerun to retry them", highlight=False
        )


def _predict_single(load, image, question, options, mode, cfg, out, chest_check, profile) -> None:
    from cxreason.inference.impression import structure_output
    from cxreason.inference.predict import ChatRequest
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
