"""``cxreason model``: build or inspect models (``init-tiny OUT``, ``info PATH``)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command("init-tiny")
def init_tiny_cmd(
    out: Path = typer.Argument(
        ..., metavar="OUT", help="Output folder (HF format: config, weights, processor)."
    ),
    seed: int = typer.Option(0, help="Random-init seed."),
    arch: str = typer.Option("qwen2_5_vl", help="qwen2_5_vl | qwen2_vl"),
    vocab_size: int = typer.Option(8192, help="Qwen2 BPE ranks kept (0 = full 151,643)."),
    hidden: int = typer.Option(128, help="Text hidden size."),
    layers: int = typer.Option(2, help="Text decoder layers."),
    vision_depth: int = typer.Option(2, help="Vision encoder blocks."),
    image_size: int = typer.Option(112, help="Image side after resize, px (multiple of 28)."),
) -> None:
    """Build a tiny random-init Qwen-VL + processor offline (for CPU runs and tests)."""
    from rich.console import Console

    from cxreason.train.model import init_tiny

    path = init_tiny(
        out,
        seed=seed,
        arch=arch,
        vocab_size=vocab_size or None,
        hidden=hidden,
        layers=layers,
        vision_depth=vision_depth,
        image_size=image_size,
    )
    Console().print(f"[green]tiny {arch} model written to[/green] {path}")


@app.command("info")
def info_cmd(
    path: str = typer.Argument(..., metavar="MODEL", help="Model folder or hub id."),
) -> None:
    """Load a model + processor and print its architecture and parameter count."""
    from rich.console import Console

    from cxreason.train.model import load_model_and_processor

    model, proc = load_model_and_processor(path)
    n = sum(p.numel() for p in model.parameters())
    Console().print(
        f"{type(model).__name__}  params={n:,}  processor={type(proc).__name__}  "
        f"vocab={len(proc.tokenizer)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run this sub-app with ``argv``; returns the exit code."""
    from cxreason.cli import run_app

    return run_app(app, argv)
