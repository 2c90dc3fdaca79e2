"""``cxreason reader``: reader-study exports (agreement with the gold and the model, kappa)."""

from __future__ import annotations

from pathlib import Path

import click
import typer
from rich.console import Console
from rich.table import Table

from cxreason.metrics.bootstrap import N_RESAMPLES, SEED

console = Console(stderr=True)

app = typer.Typer(
    help="Reader-study exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Reader-study exports (the log is written by ``cxreason serve --reader-log``)."""


@app.command("agreement")
def agreement(
    log: Path = typer.Option(..., "--log", help="Reader log JSONL (serve --reader-log)."),
    bench: Path = typer.Option(..., "--bench", help="Benchmark JSONL the readers read."),
    pred: Path | None = typer.Option(None, "--pred", help="The model's predictions JSONL."),
    out: Path = typer.Option(..., "--out", help="Output folder (agreement.csv, agreement.json)."),
    n_resamples: int = typer.Option(
        N_RESAMPLES, "--n-resamples", min=10, help="Bootstrap resamples per kappa CI."
    ),
    seed: int = typer.Option(SEED, "--seed", help="Bootstrap seed (same seed, same CIs)."),
) -> None:
    """Per-item agreement (reader vs gold, reader vs model) and Cohen's kappa with 95% CIs."""
    from cxreason.inference.agreement import agreement_rows, agreement_summary, rows_csv
    from cxreason.records import (
        BenchItem,
        RecordError,
        atomic_writer,
        iter_jsonl,
        read_appended_jsonl,
        read_records,
        write_json,
    )

    try:
        for p in (log, bench, pred):
            if p is not None and not p.is_file():
                raise FileNotFoundError(2, "not found", str(p))
        items = {it.id: it for it in read_records(bench, BenchItem)}
        preds = {str(o["id"]): o for _, o in iter_jsonl(pred) if "id" in o} if pred else None
        decisions = read_appended_jsonl(log)
    except FileNotFoundError as e:
        raise click.ClickException(f"{e.filename}: file not found") from None
    except RecordError as e:
        raise click.ClickException(str(e)) from None
    rows = agreement_rows(decisions, items, preds)
    if not rows:
        raise click.ClickException(f"{log}: no reader answers for items of {bench.name}")
    summary = agreement_summary(rows, items, n_resamples, seed)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "agreement.csv") as fh:
        fh.write(rows_csv(rows))
    write_json(
        out / "agreement.json",
        {"bench": bench.name, "pred": pred.name if pred else None, **summary, "rows": rows},
    )
    Console().print(_table(summary))
    console.print(f"[green]{len(rows)} answers -> {out / 'agreement.csv'}, agreement.json[/green]")


def _fmt(stats: dict) -> str:
    if not stats["n"]:
        return "–"
    k, ci = stats["kappa"], stats["kappa_ci95"]
    kappa = "κ undefined" if k is None else f"κ {k:.2f}"
    if k is not None and ci[0] is not None:
        kappa += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return f"{stats['agreement']:.2f} · {kappa}"


def _table(summary: dict) -> Table:
    t = Table(title="Reader agreement (mean per-item agreement · Cohen's kappa [95% CI])")
    for col in ("reader", "task", "n", "reader vs gold", "reader vs model", "model vs gold"):
        t.add_column(col)
    for reader, tasks in summary["readers"].items():
        for task, s in tasks.items():
            t.add_row(
                reader,
                task,
                str(s["reader_vs_gold"]["n"]),
                _fmt(s["reader_vs_gold"]),
                _fmt(s["reader_vs_model"]),
                _fmt(s["model_vs_gold"]),
            )
    return t


def main(argv: list[str] | None = None) -> int:
    """Run ``cxreason reader`` with ``argv``; returns the exit code."""
    from cxreason.cli import run_app

    return run_app(app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
