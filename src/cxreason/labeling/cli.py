"""``cxreason label``: label reports (``cxreason label INPUT --out LABELS.jsonl``) and evaluate
the labeler against Open-I MeSH annotations (``cxreason label eval CSV``)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from cxreason.records import RecordError, write_jsonl

log = logging.getLogger(__name__)
console = Console(stderr=True)

DEFAULT_COMMAND = "run"


class _DefaultGroup(TyperGroup):
    """A group whose first positional argument, if not a subcommand, goes to ``run``.

    So both ``cxreason label INPUT --out X`` and ``cxreason label eval CSV`` work.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultGroup,
    help=(
        "Label reports with CheXpert-14 + extended ontology; evaluate against MeSH.\n\n"
        "cxreason label INPUT --out LABELS.jsonl   label every study of INPUT\n\n"
        "cxreason label eval CSV                   score the labeler against MeSH"
    ),
    subcommand_metavar="INPUT --out LABELS.jsonl | eval CSV",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_PROGRESS_MIN = 2000  # show a progress bar from this many studies


@app.command(DEFAULT_COMMAND)
def run(
    input: Path = typer.Argument(..., metavar="INPUT", help="Open-I reports CSV or Study JSONL."),
    out: Path = typer.Option(..., "--out", "-o", help="Labels JSONL to write (input order)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --out that is not a labels file."
    ),
) -> None:
    """Label every study of INPUT and write Labels records (input order) to --out."""
    from cxreason.data.load import load_studies
    from cxreason.labeling.labeler import label_study
    from cxreason.outputs import OutputRefused, guard_output_file, jsonl_has_keys

    try:
        guard_output_file(
            out, jsonl_has_keys("study_id", "labels"), overwrite=overwrite, what="labels"
        )
        studies = load_studies(input)
    except (RecordError, FileNotFoundError, OutputRefused) as e:
        raise click.ClickException(str(e)) from None
    records, warned = [], Counter()
    examples: dict[str, list[str]] = {}
    for study in _progress(studies, "labeling"):
        rec, warnings = label_study(study)
        records.append(rec)
        for w in warnings:
            warned[w] += 1
            examples.setdefault(w, []).append(study.study_id)
    n = write_jsonl(out, records)
    console.print(f"[green]wrote {n} label records to {out}[/green]")
    for w, k in warned.most_common():
        ids = ", ".join(examples[w][:5]) + (" ..." if k > 5 else "")
        console.print(f"[yellow]warning[/yellow] {k} report(s): {w} (study ids: {ids})")


@app.command("eval")
def eval_cmd(
    csv: Path = typer.Argument(..., metavar="CSV", help="Open-I reports CSV with a MeSH column."),
    json_out: Path | None = typer.Option(None, "--json", help="Write all scores as JSON here."),
    labels: Path | None = typer.Option(
        None, "--labels", help="Score these Labels JSONL (any labeler) instead of labeling now."
    ),
    policy: str = typer.Option(
        "strict", help="Table policy: strict (uncertain = negative) or lenient (= positive)."
    ),
) -> None:
    """Score the labeler against the MeSH annotations of an Open-I CSV (both policies)."""
    from cxreason.labeling.evaluate import POLICIES, evaluate_openi
    from cxreason.records import write_json

    if policy not in POLICIES:
        raise click.BadParameter(f"policy must be one of {sorted(POLICIES)}", param_hint="--policy")
    try:
        results = evaluate_openi(csv, labels)
    except (RecordError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    res = results[policy]
    Console().print(_table(res))
    for name, other in results.items():
        if name != policy:
            console.print(
                f"{name}: micro-F1 {other.micro().f1:.4f}, macro-F1 {other.macro_f1():.4f}"
            )
    if json_out is not None:
        write_json(
            json_out, {"headline_policy": policy, **{k: v.to_dict() for k, v in results.items()}}
        )
        console.print(f"[green]wrote {json_out}[/green]")


def _table(res):
    from rich.table import Table

    t = Table(
        title=f"Labeler vs MeSH ({res.n_reports} indexed reports, {res.n_skipped} not indexed; "
        f"uncertain counted as {'negative' if res.policy == 'strict' else 'positive'})"
    )
    for col in ("label", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lb in res.labels:
        s = res.per_label[lb]
        t.add_row(lb, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support))
    mic = res.micro()
    t.add_section()
    t.add_row(
        "micro", f"{mic.precision:.3f}", f"{mic.recall:.3f}", f"{mic.f1:.3f}", str(mic.support)
    )
    t.add_row("macro", "", "", f"{res.macro_f1():.3f}", "")
    return t


def _progress(items: list, what: str):
    if len(items) < _PROGRESS_MIN:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=what, console=console)


def main(argv: list[str] | None = None) -> int:
    """Run ``cxreason label`` with ``argv``; returns the exit code."""
    from cxreason.cli import main as root_main

    return root_main(["label", *(argv or [])])
