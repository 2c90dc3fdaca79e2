"""``cxreason train sft|grpo --config RECIPE.yaml [--key value ...]``.

Every key of cxreason's ScriptArguments, TRL's ModelConfig and TRL's SFTConfig/GRPOConfig can
be set in the flat YAML recipe and overridden on the command line (TrlParser semantics, option
names spelled in full: no prefix matching). ``--help`` lists every key with its help text and
default. A problem with the recipe, the bench or the model is one line on stderr and exit code
2, never a traceback; a model path that does not exist is refused before anything heavy is
imported (and never looked up on the hub).
Multi-GPU: ``accelerate launch --config_file recipes/accelerate/deepspeed_zero2.yaml -m
cxreason.train.cli sft --config ...`` (docs/training.md).
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_PASS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _config_class(stage: str) -> type:
    if stage == "sft":
        from trl import SFTConfig

        return SFTConfig
    from trl import GRPOConfig

    return GRPOConfig


def stage_help(stage: str) -> str:
    """The full option list of ``cxreason train STAGE`` (every recipe key, help, default)."""
    from cxreason.train.config import make_parser

    return make_parser(_config_class(stage)).format_help()


def _fail(message: str) -> SystemExit:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(
        f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
    return SystemExit(2)


def _run(stage: str, argv: list[str]) -> None:
    from cxreason.records import RecordError
    from cxreason.train.config import RecipeError, parse_args, precheck_inputs
    from cxreason.train.formatting import MissingImageError

    if any(a in ("-h", "--help") for a in argv):
        typer.echo(stage_help(stage))
        return
    try:
        precheck_inputs(argv)  # before TRL and torch are imported: a typo fails at once
        if stage == "sft":
            from cxreason.train.sft import run_sft as run
        else:
            from cxreason.train.grpo import run_grpo as run
        script, train_args, model_args = parse_args(_config_class(stage), argv)
        out = run(script, train_args, model_args)
    except (RecipeError, RecordError, MissingImageError) as e:
        raise _fail(str(e)) from None
    from rich.console import Console

    Console().print(f"[green]{stage} done:[/green] {out}")


@app.command("sft", context_settings=_PASS, add_help_option=False)
def sft(ctx: typer.Context) -> None:
    """Supervised fine-tuning (answer-only + reasoning-augmented samples), loss on the assistant turn.

    Options: every recipe key as --key value (run with --help for the full list).
    """
    _run("sft", list(ctx.args))


@app.command("grpo", context_settings=_PASS, add_help_option=False)
def grpo(ctx: typer.Context) -> None:
    """GRPO with format / accuracy / process / length rewards (weights in the recipe).

    Options: every recipe key as --key value (run with --help for the full list).
    """
    _run("grpo", list(ctx.args))


def main(argv: list[str] | None = None) -> int:
    """Run this sub-app with ``argv``; returns the exit code."""
    from cxreason.cli import run_app

    return run_app(app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
