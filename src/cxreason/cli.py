"""The one thin command-line interface: ``cxreason <command>``.

Each stage owns a Typer sub-app in ``cxreason/<stage>/cli.py``; this module only mounts them.
A sub-app that fails to import (e.g. an optional extra is missing) is reported, not fatal.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from cxreason import __version__

app = typer.Typer(
    name="cxreason",
    help="Reasoning VLMs for chest X-rays: label, bench, score, train, predict, serve, demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name, help). A module's attribute is either a Typer app (mounted as a
# group) or a plain function (registered as a single command).
_COMMANDS: list[tuple[str, str, str, str]] = [
    (
        "cxreason.labeling.cli",
        "app",
        "label",
        "Label reports with CheXpert-14 + extended ontology.",
    ),
    ("cxreason.bench.cli", "app", "bench", "Build and audit the VQA reasoning benchmark."),
    ("cxreason.metrics.cli", "score", "score", "Score predictions: accuracy, RadRScore, CIs."),
    ("cxreason.train.cli", "app", "train", "SFT then GRPO training (TRL)."),
    ("cxreason.train.model_cli", "app", "model", "Build or inspect models (init-tiny)."),
    ("cxreason.inference.cli", "predict", "predict", "Run a model over a benchmark or study."),
    (
        "cxreason.inference.eval_cli",
        "eval_cmd",
        "eval",
        "Evaluate a model (predict + score + report) or compare runs.",
    ),
    (
        "cxreason.inference.serve_cli",
        "serve",
        "serve",
        "Serve a model over HTTP (OpenAI API + viewer).",
    ),
    ("cxreason.inference.reader_cli", "app", "reader", "Reader-study exports: agreement, kappa."),
    ("cxreason.demo", "demo", "demo", "The whole pipeline on bundled data on a CPU."),
]


@app.callback(invoke_without_command=True)
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
        force=True,
    )


def _mount() -> None:
    for module, attr, name, help_ in _COMMANDS:
        try:
            obj = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):  # the stage itself is absent
                continue
            logging.getLogger(__name__).warning("command %r unavailable: %s", name, e)
            continue
        if isinstance(obj, typer.Typer):  # a group's own help (with usage forms) wins
            app.add_typer(obj, name=name, help=obj.info.help or help_)
        else:
            app.command(name=name, help=help_)(obj)


_mount()


def run_app(typer_app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run a Typer app on ``argv`` (default ``sys.argv[1:]``) and return its exit code.

    Shared by this CLI and every stage's ``main(argv)``: usage errors are shown and give their
    code (typer vendors click, so they are matched by interface), and the code of a
    ``typer.Exit`` is returned (click returns it instead of raising in non-standalone mode).
    """
    try:
        rv = typer_app(args=list(sys.argv[1:] if argv is None else argv), standalone_mode=False)
    except SystemExit as e:
        return int(e.code or 0)
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            return int(e.exit_code)
        if type(e).__name__ == "Abort":
            return 1
        raise
    return rv if isinstance(rv, int) else 0


def command_app(fn) -> typer.Typer:
    """A one-command Typer app around a command function (for a stage's ``main``)."""
    one = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    one.command()(fn)
    return one


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (defaults to ``sys.argv[1:]``); returns the exit code."""
    return run_app(app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
