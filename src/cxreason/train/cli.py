"""``cxreason train sft|grpo --config RECIPE.yaml [--key value ...]``.

Every key of cxreason's ScriptArguments, TRL's ModelConfig and TRL's SFTConfig/GRPOConfig can
be set in the flat YAML recipe and overridden on the command line (TrlParser semantics).
Multi-GPU: ``accelerate launch --config_file recipes/accelerate/deepspeed_zero2.yaml -m
cxreason.train.cli sft --config ...`` (docs/training.md).
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_PASS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _run(stage: str, argv: list[str]) -> None:
    from rich.console import Console

    from cxreason.train.config import parse_args

    if stage == "sft":
        from trl import SFTConfig as Cfg

        from cxreason.train.sft import run_sft as run
    else:
        from trl import GRPOConfig as Cfg

        from cxreason.train.grpo import run_grpo as run
    try:
        script, train_args, model_args = parse_args(Cfg, argv)
    except (ValueError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e)) from None
    out = run(script, train_args, model_args)
    Console().print(f"[green]{stage} done:[/green] {out}")


@app.command("sft", context_settings=_PASS)
def sft(ctx: typer.Context) -> None:
    """Supervised fine-tuning (answer-only + reasoning-augmented samples), loss on the assistant turn."""
    _run("sft", list(ctx.args))


@app.command("grpo", context_settings=_PASS)
def grpo(ctx: typer.Context) -> None:
    """GRPO with format / accuracy / factuality / length rewards (weights in the recipe)."""
    _run("grpo", list(ctx.args))


def main(argv: list[str] | None = None) -> int:
    """Run this sub-app with ``argv``; returns the exit code."""
    from cxreason.cli import run_app

    return run_app(app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
