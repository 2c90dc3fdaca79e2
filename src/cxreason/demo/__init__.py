"""``cxreason demo``: the whole pipeline on bundled data on a CPU (see :mod:`.pipeline`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxreason.demo.pipeline import DemoConfig, run_demo

__all__ = ["DemoConfig", "demo", "run_demo"]


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output folder (resumable)."),
    reports: Path = typer.Option(
        Path("../shared/data/openi/indiana_reports.csv"), help="Open-I reports CSV."
    ),
    projections: Path = typer.Option(
        Path("../shared/data/openi/indiana_projections.csv"), help="Open-I projections CSV."
    ),
    seed: int = typer.Option(0, help="Seed of the data stages and of the first training run."),
    seeds: int = typer.Option(
        1,
        "--seeds",
        min=1,
        metavar="N",
        help="Training runs (seed, seed+1, ...): the report pools them and shows the spread.",
    ),
    fast: bool = typer.Option(False, "--fast", help="Small and quick (CI): fewer items and steps."),
    force: bool = typer.Option(False, "--force", help="Redo every stage, even finished ones."),
    eval_items: int = typer.Option(
        None, help="Held-out items per split before the renders (default all; 60 with --fast)."
    ),
    augment: int = typer.Option(None, help="Extra phantom renders per training study."),
    vision_synthetic: int = typer.Option(
        None,
        "--vision-synthetic",
        min=0,
        metavar="N",
        help="Random-label phantoms added to the vision warm-up (default 0: train images only).",
    ),
    vision_steps: int = typer.Option(
        None,
        "--vision-steps",
        min=1,
        metavar="N",
        help="Steps of the vision warm-up (default 1000; 600 with --fast).",
    ),
    read_steps: int = typer.Option(
        None,
        "--read-steps",
        min=0,
        metavar="N",
        help="Answer-only binary SFT steps before the CoT SFT (default 0: none).",
    ),
    read_corpus: int = typer.Option(
        None,
        "--read-corpus",
        min=0,
        metavar="N",
        help="Random-label phantoms whose answer-only binary items join the SFT (default 0).",
    ),
    text_layers: int = typer.Option(
        None,
        "--text-layers",
        min=1,
        metavar="N",
        help="Decoder layers of the tiny VLM's language model (default 2).",
    ),
    text_hidden: int = typer.Option(
        None,
        "--text-hidden",
        min=8,
        metavar="N",
        help="Hidden size (width) of the tiny VLM's language model (default 128).",
    ),
    sft_steps: int = typer.Option(None, help="Override the SFT recipe's length (max_steps)."),
    grpo_steps: int = typer.Option(None, help="Override the GRPO recipe's max_steps."),
) -> None:
    """Run the whole method on a CPU: synthetic phantoms of real Open-I reports, SFT → GRPO."""
    from rich.console import Console

    console = Console()
    cfg = DemoConfig(
        out=out,
        reports=reports,
        projections=projections if projections and projections.exists() else None,
        seed=seed,
        seeds=seeds,
        fast=fast,
    )
    if eval_items is not None:
        cfg.max_eval_items = eval_items
    if augment is not None:
        cfg.augment = augment
    if vision_synthetic is not None:
        cfg.vision_synthetic = vision_synthetic
    if vision_steps is not None:
        cfg.vision_steps = vision_steps
    if read_steps is not None:
        cfg.read_steps = read_steps
    if read_corpus is not None:
        cfg.read_corpus = read_corpus
    if text_layers is not None:
        cfg.text_layers = text_layers
    if text_hidden is not None:
        cfg.text_hidden = text_hidden
    if sft_steps is not None:
        cfg.sft_overrides += ["--max_steps", str(sft_steps)]
    if grpo_steps is not None:
        cfg.grpo_overrides += ["--max_steps", str(grpo_steps)]
    try:
        scores = run_demo(cfg, force=force)
    except (FileNotFoundError, RuntimeError) as e:
        console.print(f"[red]demo failed:[/red] {e}")
        raise typer.Exit(1) from None
    by = scores.get("by_task", {})
    parts = [
        f"{t}: acc {v['accuracy']['value']:.3f} [{v['accuracy']['ci95'][0]:.3f}, "
        f"{v['accuracy']['ci95'][1]:.3f}]"
        for t, v in sorted(by.items())
    ]
    console.print(f"[green]demo done[/green] → {out / 'report.md'} ({'; '.join(parts)})")
