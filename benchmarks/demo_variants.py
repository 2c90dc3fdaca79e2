"""Choose the demo's GRPO recipe on the VALIDATION split (never on test).

    python benchmarks/demo_variants.py --out demo_out [--write-doc docs/training.md]

Runs (or reuses, in the same folder as ``cxreason demo --out``) the demo's data stages and the
first seed's SFT model, then GRPO variants of ``recipes/demo/grpo.yaml`` from that checkpoint,
each in both arms (outcome + process, and outcome only), predicts the validation items in CoT
mode and scores them with ``cxreason score --split validation``. The test file is never read.

Selection rule (fixed before any run): the variant whose PROCESS arm has the highest
validation binary accuracy + RadRScore (the mean of the two); ties go to the earlier variant
in the list (the recipe as written first). The outcome arm is trained with the same setting, so
the ablation compares arms that differ only in the process reward. Writes
``OUT/variants/variants.json`` and ``variants.md`` (the table for docs/training.md) and, with
``--write-doc``, replaces the block between ``<!-- figures:demo-variants -->`` markers.

``--train-seed N`` trains the demo's seed N (the data of ``--seed``, model seed N, as
``cxreason demo --seeds`` does) instead of the first, so a setting can be checked over seeds.
``--sft-overrides "..."`` / ``--grpo-overrides "..."`` change the demo's SFT (and read) stage and
every GRPO arm (e.g. ``--sft-overrides "--freeze_merger true --verdict_step true"``).
``--curve EVERY`` keeps a GRPO checkpoint every EVERY steps and scores each on validation (a
learning curve, appended to ``variants.md``); ``--process-only`` trains only the outcome +
process arm. ``--subdir`` keeps a comparison in its own folder; its stages are named
``NAME@SUBDIR`` so comparisons never reuse or remove each other's outputs.

``--seeds-table SUBDIRS`` gathers finished comparisons (one ``--train-seed N`` run per seed)
into one table, variant by seed, written to ``OUT/variants_seeds.md``; it trains nothing.

``--reading SEEDS`` (with ``--read-steps N``) asks a narrower question instead: per seed, does
the answer-only read stage learn to read the image? It trains each seed up to the read stage
and answers the validation binary items in direct mode with their own images and with the
images shuffled among the items (``demo_vision_probe.image_reliance``); writes
``OUT/SUBDIR/reading.json`` and ``reading.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import sys
from pathlib import Path

from cxreason.demo.pipeline import (
    DemoConfig,
    _train_stage,
    evaluate_model,
    outcome_only_overrides,
    pin_cpu_numerics,
    pop_list_option,
    prepare_data,
    train_seed,
)
from cxreason.demo.stages import StageRunner
from cxreason.records import atomic_writer, write_json

log = logging.getLogger("demo_variants")

#: (name, overrides of recipes/demo/grpo.yaml). Each variant states its reward weights in full
#: (format, accuracy, factuality, completeness), so the set does not move when the recipe's
#: own weights are set to the chosen one; every other setting is the recipe's.
VARIANTS: tuple[tuple[str, list[str]], ...] = (
    ("lr 1e-4, process weights 1 + 1", ["--reward_weights", "0.5", "0.5", "1.0", "1.0"]),
    (
        "accuracy weight 1, process weights 0.5 + 0.5",
        ["--reward_weights", "0.5", "1.0", "0.5", "0.5"],
    ),
    (
        "lr 2e-4, process weights 1 + 1",
        ["--learning_rate", "2.0e-4", "--reward_weights", "0.5", "0.5", "1.0", "1.0"],
    ),
)
MARK = "demo-variants"


def _metric(scores: dict, task: str | None, metric: str) -> float | None:
    block = scores if task is None else scores.get("by_task", {}).get(task, {})
    m = block.get(metric)
    return None if not m or m.get("value") is None else float(m["value"])


def _fmt_ci(scores: dict, task: str | None, metric: str) -> str:
    block = scores if task is None else scores.get("by_task", {}).get(task, {})
    m = block.get(metric)
    if not m or m.get("value") is None:
        return "–"
    return f"{m['value']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]"


def selection_score(scores: dict) -> float:
    """The rule: mean of validation binary accuracy and overall RadRScore (process arm)."""
    acc = _metric(scores, "binary", "accuracy") or 0.0
    radr = _metric(scores, None, "radrscore") or 0.0
    return (acc + radr) / 2


def stage_name(name: str, subdir: str) -> str:
    """The resumable stage's name: ``name@subdir``, so comparisons in other folders never skip
    on (or delete) each other's stages; the default folder keeps the plain names it always had."""
    return name if subdir == "variants" else f"{name}@{subdir}"


def _prepare(cfg: DemoConfig, subdir: str):
    """The demo's data stages (run or reused) and this comparison's folder under ``cfg.out``."""
    pin_cpu_numerics()
    runner = StageRunner(cfg.prepare_paths())
    data = prepare_data(cfg, runner)
    vdir = cfg.out / subdir
    vdir.mkdir(exist_ok=True)
    return runner, data, vdir


def run_variants(
    cfg: DemoConfig,
    variants=VARIANTS,
    steps: int | None = None,
    subdir: str = "variants",
    train_seed_: int | None = None,
    curve: int = 0,
    process_only: bool = False,
) -> dict:
    """SFT of one training seed (``train_seed_``, default the demo's first), then each variant's
    two GRPO arms from it (only the process arm with ``process_only``), all scored on
    validation (the data stay those of ``cfg.seed``); ``curve``: also every saved checkpoint."""
    runner, data, vdir = _prepare(cfg, subdir)
    seed = cfg.seed_list[0] if train_seed_ is None else train_seed_
    run = train_seed(cfg, runner, data, seed, stop_after="sft")
    sft_dir, fp_sft = run.models["sft"]
    extra = ["--max_steps", str(steps)] if steps else []
    if curve:  # keep every checkpoint: each is scored on validation (a learning curve)
        extra += ["--save_steps", str(curve), "--save_total_limit", "1000"]
    results = {"rule": selection_score.__doc__, "seed": seed, "variants": []}

    def evaluate(name: str, model_dir: Path, fp: str) -> dict:
        pred, sdir = vdir / f"pred_{name}.jsonl", vdir / f"score_{name}"
        stage = stage_name(f"val_{name}", subdir)
        evaluate_model(runner, stage, data, model_dir, fp, pred, sdir, 160, split="validation")
        return json.loads((sdir / "scores.json").read_text())

    results["sft"] = evaluate("sft", sft_dir, fp_sft)
    done: dict[tuple, dict] = {}  # identical arms (e.g. the outcome arm of a re-weighting) run once
    for k, (label, overrides) in enumerate(variants):
        entry = {"name": label, "overrides": overrides, "arms": {}}
        for arm in ("process",) if process_only else ("process", "outcome"):
            arm_over = [*overrides, *cfg.grpo_overrides, *extra]
            if arm == "outcome":  # the variant's own weights, minus the process rewards
                rest, weights = split_weights(arm_over)
                arm_over = [*outcome_only_overrides(cfg.grpo_recipe, weights), *rest]
            if tuple(arm_over) in done:
                entry["arms"][arm] = done[tuple(arm_over)]
                continue
            key = f"v{k}_{arm}"
            model_dir = vdir / key
            fp = _train_stage(
                runner, stage_name(f"variant_{key}", subdir), "grpo", cfg.grpo_recipe, sft_dir,
                model_dir, seed, fp_sft, data, arm_over,
            )  # fmt: skip
            entry["arms"][arm] = done[tuple(arm_over)] = evaluate(key, model_dir, fp)
            if curve:
                entry.setdefault("curves", {})[arm] = learning_curve(evaluate, key, model_dir, fp)
        entry["selection_score"] = round(selection_score(entry["arms"]["process"]), 4)
        results["variants"].append(entry)
        write_json(vdir / "variants.json", results)  # partial results survive an interruption
    best = max(range(len(results["variants"])), key=lambda i: (
        results["variants"][i]["selection_score"], -i))  # fmt: skip
    results["chosen"] = best
    write_json(vdir / "variants.json", results)
    return results


def learning_curve(evaluate, key: str, model_dir: Path, fp: str) -> list[dict]:
    """Validation binary accuracy and RadRScore of every saved checkpoint of one GRPO arm."""
    points = []
    for ck in sorted(model_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        step = int(ck.name.split("-")[1])
        s = evaluate(f"{key}_step{step}", ck, f"{fp}:{step}")
        points.append({
            "step": step,
            "binary_accuracy": _metric(s, "binary", "accuracy"),
            "binary_ci95": s["by_task"]["binary"]["accuracy"]["ci95"],
            "radrscore": _metric(s, None, "radrscore"),
        })  # fmt: skip
    return points


def curve_markdown(results: dict) -> str:
    """One row per checkpoint: validation binary accuracy [CI] and RadRScore, per arm."""
    lines = [
        "| variant | arm | GRPO step | binary accuracy | RadRScore |",
        "|---|---|---|---|---|",
    ]
    for v in results["variants"]:
        for arm, points in v.get("curves", {}).items():
            for pt in points:
                lo, hi = pt["binary_ci95"]
                lines.append(
                    f"| {v['name']} | {arm} | {pt['step']} | {pt['binary_accuracy']:.3f} "
                    f"[{lo:.3f}, {hi:.3f}] | {pt['radrscore']:.3f} |"
                )
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def reading_study(cfg: DemoConfig, seeds: list[int], subdir: str = "reading") -> dict:
    """Per seed: train up to the read stage, then image reliance on validation (direct mode)."""
    if cfg.read_steps <= 0:
        raise SystemExit("--reading needs --read-steps N > 0 (the stage it measures)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from demo_vision_probe import image_reliance

    runner, data, vdir = _prepare(cfg, subdir)
    res = {
        "read_steps": cfg.read_steps,
        "vision_synthetic": cfg.vision_synthetic,
        "read_corpus": cfg.read_corpus,
        "sft_overrides": cfg.sft_overrides,
        "seeds": [],
    }
    for seed in seeds:
        run = train_seed(cfg, runner, data, seed, stop_after="read")
        model, _ = run.models["start"]
        res["seeds"].append({"seed": seed, **image_reliance(cfg.out, model, "direct", seed)})
        write_json(vdir / "reading.json", res)  # finished seeds survive an interruption
    return res


def reading_markdown(res: dict) -> str:
    lines = [
        "| seed | accuracy, own images | accuracy, shuffled | same answer | answers A |",
        "|---|---|---|---|---|",
    ]
    for r in res["seeds"]:
        lines.append(
            f"| {r['seed']} | {r['accuracy_own_images']:.3f} | "
            f"{r['accuracy_shuffled_images']:.3f} | {r['same_answer_share']:.3f} | "
            f"{r['answer_A_share']:.3f} |"
        )
    over = " ".join(res["sft_overrides"]) or "none"
    lines += [
        "",
        f"Read stage of {res['read_steps']} steps (SFT overrides: {over}; random-label "
        f"phantoms in the vision warm-up: {res['vision_synthetic']}, in the reading corpus: "
        f"{res.get('read_corpus', 0)}); validation binary items, direct mode.",
    ]
    return "\n".join(lines) + "\n"


def seeds_table(out: Path, subdirs: list[str]) -> str:
    """One row per variant, one column per seed: the process arm's validation binary accuracy
    (and the rule), gathered from the ``variants.json`` of runs in ``subdirs`` (e.g. one
    ``--train-seed N`` run per seed), with the mean over the seeds that have the variant."""
    cells: dict[str, dict[int, tuple[float, float]]] = {}
    for sub in subdirs:
        path = out / sub / "variants.json"
        if not path.exists():
            raise SystemExit(f"{path} not found: run that comparison first")
        res = json.loads(path.read_text())
        for v in res["variants"]:
            acc = _metric(v["arms"]["process"], "binary", "accuracy") or 0.0
            cells.setdefault(v["name"], {})[int(res["seed"])] = (acc, v["selection_score"])
    order = [name for name, _ in VARIANTS if name in cells]
    order += sorted(set(cells) - set(order))
    seeds = sorted({sd for row in cells.values() for sd in row})
    lines = [
        "| variant: process arm, binary accuracy (rule) | "
        + " | ".join(f"seed {sd}" for sd in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]  # fmt: skip
    for name in order:
        row = cells[name]
        got = [row[sd] for sd in seeds if sd in row]
        mean = tuple(sum(x[i] for x in got) / len(got) for i in (0, 1))
        shown = [f"{row[sd][0]:.3f} ({row[sd][1]:.3f})" if sd in row else "–" for sd in seeds]
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {mean[0]:.3f} ({mean[1]:.3f}) |")
    lines += ["", "Validation split, CoT mode; rule: mean of binary accuracy and RadRScore."]
    return "\n".join(lines) + "\n"


def split_weights(args: list[str]) -> tuple[list[str], list[float] | None]:
    """(``args`` without ``--reward_weights ...``, the weights that apply (the last given) or
    None)."""
    rest, weights = pop_list_option(args, "--reward_weights")
    return rest, None if weights is None else [float(w) for w in weights]


def markdown(results: dict) -> str:
    head = (
        "| variant (from the same SFT checkpoint) | arm | binary accuracy | single accuracy "
        "| RadRScore | completeness | effectiveness | rule |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    sft = results["sft"]
    lines.append(
        f"| SFT only | – | {_fmt_ci(sft, 'binary', 'accuracy')} | "
        f"{_fmt_ci(sft, 'single', 'accuracy')} | {_fmt_ci(sft, None, 'radrscore')} | "
        f"{_fmt_ci(sft, None, 'completeness')} | {_fmt_ci(sft, None, 'effectiveness')} | |"
    )
    for i, v in enumerate(results["variants"]):
        for arm in ("process", "outcome"):
            if arm not in v["arms"]:  # --process-only
                continue
            s = v["arms"][arm]
            name = v["name"] + (" **(chosen)**" if i == results.get("chosen") else "")
            rule = f"{v['selection_score']:.3f}" if arm == "process" else ""
            lines.append(
                f"| {name} | {arm} | {_fmt_ci(s, 'binary', 'accuracy')} | "
                f"{_fmt_ci(s, 'single', 'accuracy')} | {_fmt_ci(s, None, 'radrscore')} | "
                f"{_fmt_ci(s, None, 'completeness')} | {_fmt_ci(s, None, 'effectiveness')} | "
                f"{rule} |"
            )
    n = results["sft"]["n"]
    lines += [
        "",
        f"Validation split, {n} items (renders included), seed {results['seed']}, CoT mode; "
        "value [95% CI, studies resampled]. Rule, fixed before the runs: "
        + " ".join(results["rule"].split()).removeprefix("The rule: "),
    ]
    return "\n".join(lines) + "\n"


def write_doc(doc: Path, block: str) -> None:
    text = doc.read_text(encoding="utf-8")
    start, end = f"<!-- figures:{MARK} -->", f"<!-- /figures:{MARK} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{doc}: no {start} ... {end} block to replace")
    with atomic_writer(doc) as fh:
        fh.write(pattern.sub(lambda _: f"{start}\n{block}{end}", text))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo_out"), help="The demo's folder.")
    ap.add_argument("--reports", type=Path, default=DemoConfig.reports)
    ap.add_argument("--projections", type=Path, default=DemoConfig.projections)
    ap.add_argument("--seed", type=int, default=0, help="The demo's seed (data and first run).")
    ap.add_argument(
        "--train-seed", type=int, default=None, metavar="N",
        help="Train this seed of the demo (as `cxreason demo --seeds` does: same data, model "
        "seed N) instead of the first.",
    )  # fmt: skip
    ap.add_argument("--fast", action="store_true", help="CI-sized (tests only).")
    ap.add_argument("--steps", type=int, default=None, help="Override every variant's max_steps.")
    ap.add_argument("--write-doc", type=Path, default=None, help="Replace the doc's table block.")
    ap.add_argument(
        "--vision-synthetic", type=int, default=DemoConfig.vision_synthetic, metavar="N",
        help="Random-label phantoms in the vision warm-up (the demo's setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--process-only", action="store_true",
        help="Train only the outcome + process arm (no ablation arm): a quicker look.",
    )  # fmt: skip
    ap.add_argument(
        "--curve", type=int, default=0, metavar="EVERY",
        help="Save a GRPO checkpoint every EVERY steps and score each on validation.",
    )  # fmt: skip
    ap.add_argument(
        "--vision-steps", type=int, default=None, metavar="N",
        help="Steps of the vision warm-up (the demo's setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--read-steps", type=int, default=DemoConfig.read_steps, metavar="N",
        help="Answer-only binary SFT steps before the CoT SFT (the demo's setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--read-corpus", type=int, default=DemoConfig.read_corpus, metavar="N",
        help="Random-label phantoms whose answer-only binary items join the SFT (the demo's "
        "setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--text-layers", type=int, default=DemoConfig.text_layers, metavar="N",
        help="Decoder layers of the tiny VLM's language model (the demo's setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--text-hidden", type=int, default=DemoConfig.text_hidden, metavar="N",
        help="Hidden size of the tiny VLM's language model (the demo's setting by default).",
    )  # fmt: skip
    ap.add_argument(
        "--only", default=None, metavar="I,J",
        help="Run only these variants (0-based indices into VARIANTS).",
    )  # fmt: skip
    ap.add_argument(
        "--subdir", default="variants",
        help="Folder under OUT for this comparison (keeps runs of other settings apart).",
    )  # fmt: skip
    ap.add_argument(
        "--sft-overrides", default="", metavar="ARGS",
        help='Extra SFT (and read stage) options, e.g. "--freeze_merger true".',
    )  # fmt: skip
    ap.add_argument(
        "--grpo-overrides", default="", metavar="ARGS",
        help='Extra options for every GRPO arm, e.g. "--freeze_merger true".',
    )  # fmt: skip
    ap.add_argument(
        "--reading", default=None, metavar="SEEDS",
        help="Only measure whether the read stage learns to read, for these seeds (e.g. 0,1,2).",
    )  # fmt: skip
    ap.add_argument(
        "--seeds-table", default=None, metavar="SUBDIRS",
        help="Only gather finished comparisons (e.g. one --train-seed run per seed, comma-"
        "separated subdirs) into a table of the process arms per seed; trains nothing.",
    )  # fmt: skip
    ap.add_argument(
        "--table-only",
        action="store_true",
        help="Rewrite the table from OUT/variants/variants.json without training anything.",
    )
    args = ap.parse_args(argv)
    if args.curve < 0:
        ap.error(f"--curve EVERY must be 0 (off) or a positive step count, got {args.curve}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    projections = args.projections if args.projections and args.projections.exists() else None
    cfg = DemoConfig(
        out=args.out, reports=args.reports, projections=projections, seed=args.seed,
        fast=args.fast,
    )  # fmt: skip
    cfg.vision_synthetic = args.vision_synthetic
    if args.vision_steps is not None:
        cfg.vision_steps = args.vision_steps
    cfg.read_steps = args.read_steps
    cfg.read_corpus = args.read_corpus
    cfg.text_layers = args.text_layers
    cfg.text_hidden = args.text_hidden
    cfg.sft_overrides = [*cfg.sft_overrides, *shlex.split(args.sft_overrides)]
    cfg.grpo_overrides = [*cfg.grpo_overrides, *shlex.split(args.grpo_overrides)]
    if args.seeds_table:
        md = seeds_table(Path(cfg.out), args.seeds_table.split(","))
        with atomic_writer(Path(cfg.out) / "variants_seeds.md") as fh:
            fh.write(md)
        sys.stdout.write(md)
        return 0
    if args.reading:
        res = reading_study(cfg, [int(x) for x in args.reading.split(",")], args.subdir)
        md = reading_markdown(res)
        with atomic_writer(Path(cfg.out) / args.subdir / "reading.md") as fh:
            fh.write(md)
        sys.stdout.write(md)
        return 0
    saved = Path(cfg.out) / args.subdir / "variants.json"
    if args.table_only:
        if not saved.exists():
            raise SystemExit(f"{saved} not found: run without --table-only first")
        results = json.loads(saved.read_text())
        if "chosen" not in results:
            raise SystemExit(f"{saved}: the run did not finish (no chosen variant)")
    else:
        chosen = VARIANTS
        if args.only:
            chosen = tuple(VARIANTS[int(i)] for i in args.only.split(","))
        results = run_variants(
            cfg, chosen, args.steps, args.subdir, args.train_seed, args.curve, args.process_only
        )
    md = markdown(results)
    if curve_md := curve_markdown(results):
        md += "\nLearning curve (every saved GRPO checkpoint, validation):\n\n" + curve_md
    with atomic_writer(Path(cfg.out) / args.subdir / "variants.md") as fh:
        fh.write(md)
    sys.stdout.write(md)
    chosen = results["variants"][results["chosen"]]
    sys.stdout.write(f"\nchosen: {chosen['name']} (overrides: {chosen['overrides'] or 'none'})\n")
    if args.write_doc:
        write_doc(args.write_doc, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
