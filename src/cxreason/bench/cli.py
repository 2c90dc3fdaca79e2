"""``cxreason bench``: build the VQA reasoning benchmark and audit it for answer leakage.

- ``cxreason bench build INPUT --out DIR [--projections CSV] [--images DIR] [--seed N]
  [--miner rules|llm] [--llm-base-url URL] [--llm-model M] [--llm-concurrency N] [--tasks ...]``
- ``cxreason bench audit DIR_or_BENCH.jsonl [--strict] [--json OUT]``
- ``cxreason bench export DIR --out OUT --format vlmevalkit|hf`` and
  ``cxreason bench import SRC --out DIR --format radrbench|nv-reason|vlmevalkit|hf``
  (:mod:`cxreason.bench.interop`)
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.table import Table

from cxreason.records import BENCH_TASKS, RecordError

log = logging.getLogger(__name__)
console = Console(stderr=True)

app = typer.Typer(
    help="Build and audit the VQA reasoning benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _parse_tasks(tasks: list[str] | None) -> tuple[str, ...]:
    if not tasks:
        return BENCH_TASKS
    out: list[str] = []
    for t in tasks:
        out.extend(x.strip() for x in t.split(",") if x.strip())
    bad = [t for t in out if t not in BENCH_TASKS]
    if bad:
        raise click.BadParameter(
            f"unknown task(s) {bad}; choose from {', '.join(BENCH_TASKS)}", param_hint="--tasks"
        )
    return tuple(t for t in BENCH_TASKS if t in out)


@app.command("build")
def build(
    input: Path = typer.Argument(..., metavar="INPUT", help="Open-I reports CSV or Study JSONL."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder (bench.jsonl, manifest.json)."
    ),
    projections: Path | None = typer.Option(None, help="Open-I projections CSV (image rows)."),
    images: Path | None = typer.Option(
        None, help="Image folder: resolve paths, report missing ones."
    ),
    seed: int = typer.Option(0, help="Seed of every random choice (splits, sampling, phrasing)."),
    tasks: list[str] | None = typer.Option(
        None, help=f"Tasks to build (repeat or comma-separate): {', '.join(BENCH_TASKS)}."
    ),
    splits: str = typer.Option(
        "0.7,0.1,0.2", help="Train,validation,test ratios (by patient/study)."
    ),
    miner: str = typer.Option("rules", help="Chain miner: rules (offline) or llm."),
    llm_base_url: str | None = typer.Option(
        None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
    ),
    llm_model: str | None = typer.Option(None, help="Model name for the llm miner."),
    llm_api_key_env: str = typer.Option(
        "OPENAI_API_KEY", help="Env var holding the API key (none needed locally)."
    ),
    llm_concurrency: int = typer.Option(4, help="Concurrent LLM requests."),
    llm_cache: Path | None = typer.Option(
        None, help="LLM response cache folder (default $CXREASON_CACHE/llm, else OUT/.llm_cache)."
    ),
    llm_timeout: float = typer.Option(60.0, help="Seconds per LLM request."),
    llm_max_retries: int = typer.Option(5, help="Retries per LLM request (429/5xx/timeouts)."),
    max_label_ratio: float = typer.Option(
        2.0, help="Max items of the most / least frequent label."
    ),
    min_label_items: int = typer.Option(
        20, help="Labels with fewer candidate items are kept whole, unbalanced."
    ),
    n_candidates: int = typer.Option(
        24, help="Option sets sampled per item for adversarial filtering."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Write into an --out that holds other files."
    ),
) -> None:
    """Build DIR/bench.jsonl and DIR/manifest.json (same inputs and seed -> identical bytes)."""
    from cxreason.bench.build import BuildConfig, build_bench
    from cxreason.bench.splits import parse_ratios
    from cxreason.outputs import OutputRefused, guard_output_dir

    try:
        guard_output_dir(out, OWN_OUTPUTS, overwrite=overwrite, command="bench build")
        previous = _previous_manifest(out)
        cfg = BuildConfig(
            input=input,
            out=out,
            projections=projections,
            images=images,
            seed=seed,
            tasks=_parse_tasks(tasks),
            ratios=parse_ratios(splits),
            miner=miner,
            max_ratio=max_label_ratio,
            min_label_items=min_label_items,
            n_candidates=n_candidates,
            llm_base_url=llm_base_url,
            llm_model=llm_model,
            llm_api_key_env=llm_api_key_env,
            llm_concurrency=llm_concurrency,
            llm_cache=llm_cache,
            llm_timeout_s=llm_timeout,
            llm_max_retries=llm_max_retries,
        )
        manifest = build_bench(cfg)
    except (RecordError, FileNotFoundError, ValueError, OutputRefused) as e:
        raise click.ClickException(str(e)) from None
    _print_build(manifest, out)
    if previous is not None:
        console.print(
            f"replaced the previous build in {out}{_changes(previous, manifest)}",
            soft_wrap=True,
            highlight=False,
        )


#: What ``bench build`` writes into ``--out``.
OWN_OUTPUTS = ("bench.jsonl", "manifest.json")


def _previous_manifest(out: Path) -> dict | None:
    import json

    try:
        return json.loads((out / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _changes(old: dict, new: dict) -> str:
    """``: seed 0 -> 1, ...`` for the settings that differ between two manifests ('' if none)."""
    pairs = [("seed", old.get("seed"), new.get("seed"))]
    pairs.append(
        ("input", old.get("source", {}).get("sha256"), new.get("source", {}).get("sha256"))
    )
    for k, v in (new.get("options") or {}).items():
        pairs.append((k, (old.get("options") or {}).get(k), v))
    pairs.append(("cxreason", old.get("version"), new.get("version")))
    diff = [
        f"{k} {str(a)[:12]} -> {str(b)[:12]}" if k == "input" else f"{k} {a} -> {b}"
        for k, a, b in pairs
        if a != b
    ]
    return (": " + ", ".join(diff)) if diff else " (same settings)"


def _print_build(m: dict, out: Path) -> None:
    t = Table(title=f"Benchmark {out / 'bench.jsonl'}")
    for col in ("task", "items", "train", "validation", "test", "letters"):
        t.add_column(col)
    for task, n in m["counts"]["per_task"].items():
        sp = m["counts"]["per_task_split"].get(task, {})
        t.add_row(
            task,
            str(n),
            *(str(sp.get(s, 0)) for s in ("train", "validation", "test")),
            str(m["letters"].get(task, "-")),
        )
    Console().print(t)
    ch = m["chains"]
    console.print(
        f"chains kept: {ch['kept']}, answer-only: {ch['answer_only']} {ch['dropped_by_reason'] or ''}"
    )
    if m["images"]["checked"]:
        console.print(
            f"images: {m['images']['missing']} of {m['images']['total']} missing (listed in manifest.json)"
        )
    for note in m["balance_notes"]:
        console.print(f"[yellow]note[/yellow] {note}")
    if ch["mining_failures"]:
        console.print(
            f"[red]{len(ch['mining_failures'])} item(s) failed mining (listed in manifest.json)[/red]"
        )


@app.command("audit")
def audit(
    path: Path = typer.Argument(
        ..., metavar="BENCH", help="A bench folder (with bench.jsonl) or a bench JSONL file."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when a rule beats chance + tolerance."
    ),
    tolerance: float = typer.Option(0.03, help="Allowed margin above chance."),
    split: str | None = typer.Option(
        None, help="Score only this split (frequencies still from train)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the audit as JSON here."),
    mesh: Path | None = typer.Option(
        None, "--mesh", help="Open-I reports CSV: also check answers against its MeSH column."
    ),
) -> None:
    """Blind-rule accuracies per closed task vs chance, and the letter distribution."""
    from cxreason.bench.audit import any_flagged, audit_items
    from cxreason.records import BenchItem, read_records, write_json

    bench = path / "bench.jsonl" if path.is_dir() else path
    try:
        items = read_records(bench, BenchItem)
    except (RecordError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    rep = audit_items(items, tolerance, split)
    Console().print(_audit_table(rep, tolerance))
    if mesh is not None:
        rep["mesh_agreement"] = _mesh(items, mesh)
    if json_out is not None:
        write_json(json_out, rep)
    if any_flagged({k: v for k, v in rep.items() if k != "mesh_agreement"}):
        console.print("[red]leakage: some blind rule beats chance + tolerance[/red]")
        if strict:  # SystemExit survives click's non-standalone mode (cxreason.cli.main)
            raise SystemExit(1)
    else:
        console.print(
            f"[green]no blind rule above chance + {tolerance:g} on any closed task[/green]"
        )


def _mesh(items, reports_csv: Path) -> dict:
    from cxreason.bench.audit import mesh_agreement
    from cxreason.data.openi import read_openi_gold

    try:
        agree = mesh_agreement(items, read_openi_gold(reports_csv))
    except (RecordError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    t = Table(title="Answers vs MeSH annotations (indexed, unambiguous)")
    for col in ("task", "n", "agree", "rate", "first disagreements"):
        t.add_column(col)
    for task, v in agree.items():
        t.add_row(
            task,
            str(v["n"]),
            str(v["agree"]),
            f"{v['rate']:.3f}",
            ", ".join(v["disagreements"][:4]),
        )
    Console().print(t)
    return agree


def _audit_table(rep: dict, tol: float) -> Table:
    """Rules as rows, closed tasks as columns; flagged cells in red."""
    from cxreason.bench.rules import RULES

    closed = {t: v for t, v in rep.items() if v.get("closed")}
    t = Table(title=f"Blind-rule accuracy per task (flag: > chance + {tol:g})")
    t.add_column("rule")
    for task, v in closed.items():
        t.add_column(f"{task} (n={v['n']})", justify="right")
    t.add_row("[bold]chance[/bold]", *(f"{v['chance']:.3f}" for v in closed.values()))
    for r in RULES:
        cells = []
        for v in closed.values():
            a = v["rules"][r]
            cells.append(f"[red]{a:.3f} !![/red]" if r in v["flagged"] else f"{a:.3f}")
        t.add_row(r, *cells)
    t.add_row(
        "letters", *(" ".join(f"{k}:{n}" for k, n in v["letters"].items()) for v in closed.values())
    )
    return t


@app.command("export")
def export(
    bench: Path = typer.Argument(
        ..., metavar="BENCH", help="A bench folder (with bench.jsonl) or a bench JSONL."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    format: str = typer.Option(..., "--format", "-f", help="vlmevalkit (TSV) | hf (datasets)."),
    images: Path | None = typer.Option(
        None, help="Images root (as for predict; default: the bench folder)."
    ),
    split: str | None = typer.Option(None, help="Export only this split (default: all)."),
    on_missing: str = typer.Option(
        "error", help="Items with missing images: error (refuse) | skip (listed in the manifest)."
    ),
    dedup_images: bool = typer.Option(
        False, "--dedup-images", help="VLMEvalKit: a repeated image cell refers to its first row."
    ),
    image_format: str = typer.Option(
        "keep", help="keep (PNG/JPEG files as they are; DICOM -> PNG) | png | jpeg."
    ),
    max_side: int = typer.Option(0, help="Downscale images to this longer side, px (0: keep)."),
) -> None:
    """Export the benchmark for other harnesses: a VLMEvalKit TSV or a Hugging Face dataset."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cxreason.bench.interop import export_bench
    from cxreason.inference.safety import InputRefused

    cols = (TextColumn("export"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*cols, console=console, transient=True) as bar:
            task = bar.add_task("export", total=None)
            m = export_bench(
                bench,
                out,
                format,
                images=images,
                split=split,
                on_missing=on_missing,
                dedup_images=dedup_images,
                image_format=image_format,
                max_side=max_side,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
    except (RecordError, FileNotFoundError, ValueError, InputRefused) as e:
        raise click.ClickException(_reason(e)) from None
    skipped = len(m["skipped_missing_images"])
    console.print(
        f"[green]{m['counts']['total']} items -> {out} ({format}: {', '.join(m['files'])})[/green]"
        + (
            f"; [yellow]{skipped} skipped (missing images, see export_manifest.json)"
            if skipped
            else ""
        )
    )


@app.command("import")
def import_(
    src: Path = typer.Argument(..., metavar="SRC", help="The file (or hf folder) to import."),
    out: Path = typer.Option(..., "--out", "-o", help="Output bench folder."),
    format: str = typer.Option(
        ..., "--format", "-f", help="radrbench | nv-reason | vlmevalkit | hf."
    ),
    split: str | None = typer.Option(
        None, help="Split of the items (train|validation|test; default test, or the file's own)."
    ),
    strip_prefix: str | None = typer.Option(
        None, help="Remove this prefix from image paths (make them relative to --images)."
    ),
    images: Path | None = typer.Option(None, help="Images root: count missing images."),
    task: str | None = typer.Option(None, help="Task of every item when questions do not tell."),
) -> None:
    """Import RadRBench-CXR JSON, NV-Reason-CXR datalists or an export into a cxreason bench."""
    from cxreason.bench.audit import any_flagged
    from cxreason.bench.interop import import_bench

    try:
        m = import_bench(
            src, out, format, split=split, strip_prefix=strip_prefix, images=images, task=task
        )
    except (RecordError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(_reason(e)) from None
    t = Table(title=f"Imported {src.name} ({format}) -> {out / 'bench.jsonl'}")
    for col in ("task", "items"):
        t.add_column(col)
    for task_name, n in m["counts"]["per_task"].items():
        t.add_row(task_name, str(n))
    Console().print(t)
    d = m["dropped"]
    if d["total"]:
        console.print(
            f"[yellow]{d['total']} row(s) dropped[/yellow] {d['by_reason']} (manifest.json)"
        )
    if m["images"]["checked"] and m["images"]["missing"]:
        console.print(f"[yellow]{m['images']['missing']} image file(s) missing[/yellow]")
    if any_flagged(m["audit"]):
        console.print("[red]leakage: a blind rule beats chance + 0.03 (cxreason bench audit)[/red]")


def _reason(e: Exception) -> str:
    if isinstance(e, FileNotFoundError) and e.filename:
        return f"{e.filename}: file not found"
    return getattr(e, "reason", None) or str(e)


def main(argv: list[str] | None = None) -> int:
    """Run ``cxreason bench`` with ``argv``; returns the exit code."""
    from cxreason.cli import run_app

    return run_app(app, argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
