"""``cxreason bench``: build the VQA reasoning benchmark and audit it for answer leakage.

- ``cxreason bench build INPUT --out DIR [--projections CSV] [--images DIR] [--seed N]
  [--miner rules|llm] [--llm-base-url URL] [--llm-model M] [--llm-concurrency N] [--tasks ...]
  [--check-labels auto|none|FILE] [--judge-model M] [--judge-base-url URL] [--overwrite]``
- ``cxreason bench audit DIR_or_BENCH.jsonl [--strict] [--mesh REPORTS.csv] [--json OUT]``
- ``cxreason bench export DIR --out OUT --format vlmevalkit|hf`` and
  ``cxreason bench import SRC --out DIR --format radrbench|nv-reason|vlmevalkit|hf``
  (:mod:`cxreason.bench.interop`)
- ``cxreason bench baselines BENCH --out DIR [--split test] [--seed N]``: predictions of the
  input-blind baselines (chance, image-blind template, normality oracle) to score beside a
  model (:mod:`cxreason.bench.baselines`)
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
    check_labels: str = typer.Option(
        "auto",
        help="Independent labels for the chain check: auto (an Open-I CSV's MeSH column), "
        "none, or a file (CheXpert-style label CSV such as mimic-cxr-2.0.0-chexpert.csv, or a "
        "Labels JSONL).",
    ),
    judge_model: str | None = typer.Option(
        None, help="LLM judge of chains (OpenAI-compatible); off when not given."
    ),
    judge_base_url: str | None = typer.Option(
        None, help="Judge endpoint (default: --llm-base-url)."
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
            check_labels=check_labels,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
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
        None,
        help="Blind rules: score only this split (frequencies still from train); the validity "
        "checks always use the whole bench.",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the audit as JSON here."),
    mesh: Path | None = typer.Option(
        None,
        "--mesh",
        help="Open-I reports CSV: also check answers and chains against its MeSH column.",
    ),
    probes: bool = typer.Option(
        True, "--probes/--no-probes", help="Run the learned probes (a few seconds)."
    ),
) -> None:
    """Every validity check beside its chance level: blind rules, normality oracle, text probe,
    id/answer independence and (with --mesh) agreement with the MeSH annotations."""
    from cxreason.bench.audit import any_flagged, audit_items
    from cxreason.bench.validity import validity_checks
    from cxreason.records import BenchItem, read_records, write_json

    bench = path / "bench.jsonl" if path.is_dir() else path
    try:
        items = read_records(bench, BenchItem)
        gold = _read_mesh(mesh) if mesh is not None else None
    except (RecordError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    if not items:
        raise click.ClickException(f"{bench}: no items")
    rep = audit_items(items, tolerance, split)
    out = Console(width=max(Console().width, 100))  # the tables need 100 columns
    out.print(_audit_table(rep, tolerance))
    checks = validity_checks(items, gold, probes=probes)
    out.print(_validity_table(checks))
    if gold is not None:
        _print_mesh_disagreements(checks["mesh"])
    if json_out is not None:
        write_json(json_out, {"blind_rules": rep, "validity": checks})
    leak = any_flagged(rep)
    if leak:
        console.print("[red]leakage: some blind rule beats chance + tolerance[/red]")
    else:
        console.print(
            f"[green]no blind rule above chance + {tolerance:g} on any closed task[/green]"
        )
    if checks["ok"]:
        console.print("[green]every validity check within its limit[/green]")
    else:
        console.print("[red]some validity check is beyond its limit (FAIL rows above)[/red]")
    if strict and (leak or not checks["ok"]):  # SystemExit survives click's non-standalone mode
        raise SystemExit(1)


def _read_mesh(reports_csv: Path) -> dict[str, str]:
    from cxreason.data.openi import read_openi_gold

    return read_openi_gold(reports_csv)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def validity_rows(checks: dict) -> list[tuple[str, str, dict]]:
    """(check name, task, check dict) for every gated or reported figure, in print order."""
    rows = []
    for task, c in checks["normality_oracle"].items():
        rows.append(("oracle (labels)", task, c))
    for task, c in checks.get("text_probe", {}).items():
        rows.append(("text probe", task, c))
    for field, per_task in checks["id_independence"].items():
        for task, c in per_task.items():
            rows.append((f"{field} rule", task, c["rule"]))
            if "probe" in c:
                rows.append((f"{field} probe", task, c["probe"]))
    mesh = checks.get("mesh")
    if mesh:
        for task, c in mesh["normality_oracle"].items():
            rows.append(("oracle (MeSH)", task, c))
        for task, c in mesh["agreement"].items():
            rows.append(("MeSH agreement", task, c))
        rows.append(("chains vs MeSH", "all", mesh["chains"]))
    return rows


def _validity_table(checks: dict) -> Table:
    t = Table(
        title="Validity checks (value beside its chance level and limit)",
        caption="oracle: knows only whether the study is abnormal; rule: picks the option "
        "named in the field; probe: cross-validated logistic regression on that text; noise: "
        "above its limit but not significantly above chance (binomial p >= 0.05)",
    )
    for col in ("check", "task", "n", "value", "chance", "limit", "95% CI", "status"):
        t.add_column(
            col,
            justify="right" if col in ("n", "value", "chance", "limit") else "left",
            no_wrap=True,
        )
    for name, task, c in validity_rows(checks):
        if "rate" in c:  # an agreement: a floor, not a ceiling
            value, limit = c["rate"], f">= {c['limit_min']:.2f}" if "limit_min" in c else "-"
        else:
            value, limit = c["value"], f"<= {c['limit']:.3f}"
        ci = c.get("ci95")
        status = "ok" if c.get("ok", True) else "[red]FAIL[/red]"
        if c.get("within_noise"):
            status = "[yellow]noise[/yellow]"
        if c.get("gated") is False:
            status = "reported"
        t.add_row(
            name,
            task,
            str(c["n"]),
            _fmt(value),
            _fmt(c.get("chance")),
            limit,
            f"{ci[0]:.2f}-{ci[1]:.2f}" if ci else "",
            status,
        )
    return t


def _print_mesh_disagreements(mesh: dict) -> None:
    for task, v in mesh["agreement"].items():
        if v["disagreements"]:
            console.print(f"MeSH disagreements, {task}: {', '.join(v['disagreements'][:8])}")
    if mesh["chains"]["ids"]:
        console.print(
            f"chains asserting a MeSH-absent finding: {', '.join(mesh['chains']['ids'][:8])}"
        )


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


@app.command("baselines")
def baselines(
    bench: Path = typer.Argument(
        ..., metavar="BENCH", help="A bench folder (with bench.jsonl) or a bench JSONL."
    ),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Output folder."),
    split: str = typer.Option(
        "test", metavar="SPLIT", help="Items of this split: train | validation | test | all."
    ),
    seed: int = typer.Option(0, metavar="N", help="Seed of the random choices (chance, oracle)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Write into an --out that holds other files."
    ),
) -> None:
    """Write DIR/pred_chance.jsonl, pred_blind.jsonl and pred_oracle.jsonl: baselines that never
    see the image, to score with `cxreason score` beside a model on the same items."""
    from cxreason.bench.baselines import BASELINES, baseline_rows
    from cxreason.outputs import OutputRefused, guard_output_dir
    from cxreason.provenance import SplitError, bench_sha256, check_split, select_split
    from cxreason.records import BenchItem, read_records, write_jsonl

    path = bench / "bench.jsonl" if bench.is_dir() else bench
    files = tuple(f"pred_{n}.jsonl" for n in BASELINES)
    try:
        check_split(split)
        if not path.exists():
            raise FileNotFoundError(f"benchmark not found: {path}")
        guard_output_dir(out, files, overwrite=overwrite, command="bench baselines")
        items = select_split(read_records(path, BenchItem), split)
        if not items:
            raise ValueError(f"{path}: no items in split {split!r} (try --split all)")
        digest = bench_sha256(path)
        out.mkdir(parents=True, exist_ok=True)
        for name in BASELINES:
            write_jsonl(out / f"pred_{name}.jsonl", baseline_rows(items, name, digest, seed))
    except (RecordError, FileNotFoundError, ValueError, OutputRefused, SplitError) as e:
        raise click.ClickException(_reason(e)) from None
    console.print(
        f"[green]{len(items)} items (split {split}) x {len(BASELINES)} baselines -> {out}[/green]"
        f"; score each: cxreason score --bench {path} --pred {out}/pred_blind.jsonl --out DIR"
        + ("" if split == "test" else f" --split {split}")
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
