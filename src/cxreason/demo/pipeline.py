"""``cxreason demo``: the whole method on a CPU, on synthetic phantoms conditioned on real reports.

Real Open-I report text → labels → benchmark + mined chains → report-conditioned phantoms
(SYNTHETIC test images) → tiny VLM (random init, offline) → SFT → GRPO (format + accuracy +
process rewards) → CoT predictions on the held-out split → scores → report.

Every stage goes through the same public CLI a user would call (``cxreason bench build``,
``cxreason train sft`` ...), in-process. Stages are resumable: a re-run skips the stages that
finished with the same inputs (see :mod:`cxreason.demo.stages`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cxreason.demo.stages import StageRunner
from cxreason.environment import environment
from cxreason.environment import summary as env_summary
from cxreason.metrics.radrscore import METRIC_VERSION
from cxreason.records import BenchItem, read_records, write_json, write_jsonl

log = logging.getLogger(__name__)

REPO_RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@dataclass
class DemoConfig:
    """Sizes of the demo run. ``fast`` shrinks everything for CI (minutes, not tens)."""

    out: Path = Path("demo_out")
    reports: Path = Path("../shared/data/openi/indiana_reports.csv")
    projections: Path | None = Path("../shared/data/openi/indiana_projections.csv")
    #: Seed of the data stages (phantoms, benchmark, renders) and of the first training run.
    seed: int = 0
    #: Training runs (init, vision warm-up, SFT, both GRPO arms) with seeds seed, seed+1, ...
    seeds: int = 1
    fast: bool = False
    image_size: int = 112
    #: Decoder layers of the tiny VLM's language model.
    text_layers: int = 2
    #: Hidden size (width) of the tiny VLM's language model; the merger projects to it.
    text_hidden: int = 128
    train_tasks: tuple[str, ...] = ("binary", "single")
    eval_tasks: tuple[str, ...] = ("binary", "single")
    #: Phantom renders of each held-out (validation and test) study per task, the original
    #: included: several renders of one report (new anatomy/noise seeds) give the test set
    #: enough items for a narrow CI; the bootstrap resamples whole studies, so the renders of a
    #: study are never counted as independent evidence.
    eval_renders: dict[str, int] = field(default_factory=lambda: {"binary": 8, "single": 2})
    #: Held-out items per split before the renders (None: all). Only --fast limits them.
    max_eval_items: int | None = None
    #: Keep only the frontal view of each item: lateral phantoms are schematic (no pneumothorax
    #: or fracture drawn), so they add tokens and no signal to the synthetic task.
    frontal_only: bool = True
    #: Steps of the vision-tower warm-up (multi-label classification of the phantoms).
    vision_steps: int = 1000
    #: Random-label phantoms (no report behind them) added to the vision warm-up: a synthetic
    #: pretraining corpus, as real VLMs start from an encoder pretrained on other images (the
    #: train split alone has 8 pneumothorax images). 3000 lifts the validation probe from 0.73
    #: to 0.80 but not the trained model (docs/training.md), so the default stays 0.
    vision_synthetic: int = 0
    #: Steps of an answer-only SFT on the binary items before the CoT SFT (0: none): a stage
    #: whose only target is the answer letter, to make the model read the image first. On
    #: validation it learned to read with one trainer seed and not with another
    #: (docs/training.md): too fragile to adopt, so the default is 0.
    read_steps: int = 0
    #: Random-label phantoms turned into answer-only binary SFT items (two per image, one
    #: "Yes" and one "No"; :func:`cxreason.demo.phantoms.reading_items`): a reading corpus, as
    #: the train split asks about some findings only a few times. 0: none.
    read_corpus: int = 0
    #: Extra phantom renders (new anatomy/noise seeds) of each training study: data augmentation.
    augment: int = 3
    #: New-token budget of the untrained model: its random output never parses, so a longer
    #: budget only costs time (the trained models get 160).
    untrained_max_new_tokens: int = 48
    sft_recipe: Path = field(default_factory=lambda: REPO_RECIPES / "demo" / "sft.yaml")
    grpo_recipe: Path = field(default_factory=lambda: REPO_RECIPES / "demo" / "grpo.yaml")
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.fast:
            self.max_eval_items = min(self.max_eval_items or 60, 60)
            self.eval_renders = {"binary": 2, "single": 1}
            self.augment = min(self.augment, 1)
            self.vision_steps = min(self.vision_steps, 600)
            self.vision_synthetic = min(self.vision_synthetic, 200)
            self.read_steps = min(self.read_steps, 20)
            self.read_corpus = min(self.read_corpus, 100)
            self.sft_overrides = ["--max_steps", "400", *self.sft_overrides]
            self.grpo_overrides = ["--max_steps", "4", *self.grpo_overrides]

    def prepare_paths(self) -> Path:
        """Make every path absolute, create ``out`` and check the reports exist; returns ``out``.

        Absolute because the benchmark stores image paths as given and the trainer resolves a
        relative image path against --images_dir (a relative --out would be doubled).
        """
        self.out = Path(self.out).resolve()
        self.reports = Path(self.reports).resolve()
        self.projections = Path(self.projections).resolve() if self.projections else None
        if not self.reports.exists():
            raise FileNotFoundError(
                f"Open-I reports CSV not found: {self.reports} "
                "(pass --reports or place ../shared/data)"
            )
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + k for k in range(max(1, self.seeds))]


#: The read stage: the SFT recipe on binary items with the answer letter as the only target.
READ_OVERRIDES = [
    "--tasks", "binary", "--cot_fraction", "0", "--both_modes", "false",
    "--save_strategy", "no", "--report_to", "none",
]  # fmt: skip


def read_overrides(cfg: DemoConfig) -> list[str]:
    """The read stage's command line: the SFT recipe with the demo's SFT overrides (e.g. a frozen
    merger), then the answer-only binary settings and ``cfg.read_steps``, which win."""
    return [*cfg.sft_overrides, *READ_OVERRIDES, "--max_steps", str(cfg.read_steps)]


#: The systems the demo trains and scores per seed, in report order.
TRAINED_SYSTEMS = ("untrained", "sft", "grpo_outcome", "trained")
#: The outcome-only arm of the ablation: the process recipe with its process rewards removed
#: (same SFT start, steps, seeds, data and every other setting).
OUTCOME_REWARDS = ("format", "accuracy")
PROCESS_REWARDS = ("factuality", "completeness", "radrscore")


def _cli(args: list[str]) -> None:
    """Run one ``cxreason`` command in-process; raise if it fails."""
    from cxreason.cli import main

    log.info("$ cxreason %s", " ".join(str(a) for a in args))
    rc = main([str(a) for a in args])
    if rc:
        raise RuntimeError(f"`cxreason {' '.join(map(str, args))}` failed with exit code {rc}")


def _subset(items: list[BenchItem], split: str, tasks, limit: int | None, seed: int):
    chosen = [it for it in items if it.split == split and it.task in tasks]
    if limit is not None and len(chosen) > limit:
        rng = random.Random(seed)
        by_task: dict[str, list[BenchItem]] = {}
        for it in chosen:
            by_task.setdefault(it.task, []).append(it)
        per = max(1, limit // len(by_task))
        chosen = [
            x for t in sorted(by_task) for x in rng.sample(by_task[t], min(per, len(by_task[t])))
        ]
        chosen.sort(key=lambda it: it.id)
    return chosen


def pin_cpu_numerics() -> None:
    """Fixed thread counts and deterministic kernels for repeatable CPU runs.

    Two demo runs of the same inputs once drifted apart at the 4th decimal of the SFT loss by
    step 75 and ended 6 points apart in binary accuracy. MKL's default ``MKL_DYNAMIC=TRUE`` may
    use fewer threads on a busy machine, which changes GEMM summation order, so it is pinned
    off here. A check with a CPU hog beside a 30-step SFT did not reproduce the drift with
    either setting, so this is a guard, not a proven cure. Must run before torch's first BLAS
    call (the environment carries it to child processes).
    """
    os.environ.setdefault("MKL_DYNAMIC", "FALSE")
    os.environ.setdefault("OMP_DYNAMIC", "FALSE")
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class DemoData:
    """What the data stages wrote: the three benchmark files and their fingerprint."""

    images: Path
    train: Path
    validation: Path
    test: Path
    fingerprint: str


def prepare_data(cfg: DemoConfig, runner: StageRunner) -> DemoData:
    """Phantoms -> benchmark -> train / validation / test files (resumable stages)."""
    from cxreason.data.load import load_studies
    from cxreason.demo.phantoms import render_phantoms

    out = cfg.out
    images = out / "images"
    bench_dir = out / "bench"
    common = {"reports": str(cfg.reports), "seed": cfg.seed, "size": cfg.image_size}

    def phantoms() -> None:
        studies = load_studies(cfg.reports, projections=cfg.projections)
        if images.exists():
            shutil.rmtree(images)
        counts = render_phantoms(studies, images, size=cfg.image_size, seed=cfg.seed)
        log.info(
            "rendered %d synthetic phantoms for %d studies", counts["images"], counts["studies"]
        )

    fp_img = runner.run("phantoms", common, phantoms)

    def bench() -> None:
        args = ["bench", "build", cfg.reports, "--out", bench_dir, "--seed", cfg.seed]
        args += ["--images", images]
        if cfg.projections:
            args += ["--projections", cfg.projections]
        _cli(args)

    fp_bench = runner.run("bench", {**common, "after": fp_img}, bench)
    data = DemoData(
        images=images,
        train=out / "train_bench.jsonl",
        validation=out / "val_bench.jsonl",
        test=out / "test_bench.jsonl",
        fingerprint="",
    )

    def split_bench() -> None:
        items = read_records(bench_dir / "bench.jsonl", BenchItem)
        studies = {s.study_id: s for s in load_studies(cfg.reports, projections=cfg.projections)}
        frontal = (lambda its: _frontal_only(its, studies)) if cfg.frontal_only else list
        tr = frontal([it for it in items if it.split == "train" and it.task in cfg.train_tasks])
        tr += _augment(tr, studies, images, cfg)
        write_jsonl(data.train, tr)
        sizes = {"train": len(tr)}
        for split, path, salt in (("validation", data.validation, 1), ("test", data.test, 2)):
            held = frontal(_subset(items, split, cfg.eval_tasks, cfg.max_eval_items, cfg.seed))
            held += _held_out_renders(held, studies, images, cfg, split, salt)
            write_jsonl(path, held)
            sizes[split] = len(held)
        log.info(
            "train samples: %d (with %d phantom re-renders per study); validation items: %d, "
            "test items: %d (renders per study: %s)",
            sizes["train"], cfg.augment, sizes["validation"], sizes["test"], cfg.eval_renders,
        )  # fmt: skip

    data.fingerprint = runner.run(
        "split",
        {
            "after": fp_bench,
            "tasks": cfg.train_tasks,
            "eval": cfg.eval_tasks,
            "n": cfg.max_eval_items,
            "augment": cfg.augment,
            "renders": cfg.eval_renders,
            "frontal": cfg.frontal_only,
        },
        split_bench,
    )
    return data


def run_baselines(cfg: DemoConfig, runner: StageRunner, data: DemoData) -> dict[str, dict]:
    """Chance, image-blind template and normality oracle on the test items, scored like a model."""
    from cxreason.bench.baselines import BASELINES, baseline_rows
    from cxreason.provenance import bench_sha256

    out = cfg.out
    result = {}
    for name in BASELINES:
        pred, sdir = out / f"pred_{name}.jsonl", out / f"score_{name}"

        def make(name=name, pred=pred, sdir=sdir) -> None:
            items = read_records(data.test, BenchItem)
            write_jsonl(pred, baseline_rows(items, name, bench_sha256(data.test), cfg.seed))
            _cli(["score", "--bench", data.test, "--pred", pred, "--out", sdir])

        runner.run(
            f"baseline_{name}",
            {"after": data.fingerprint, "seed": cfg.seed, "metric": METRIC_VERSION}, make,
            outputs=(pred, sdir),
        )  # fmt: skip
        result[name] = json.loads((sdir / "scores.json").read_text())
        write_json(out / f"scores_{name}.json", result[name])
    return result


def _init_fingerprint(cfg: DemoConfig, seed: int) -> dict:
    """What the random-init model depends on. The width enters only when it is not the default
    128, so demo folders made before ``text_hidden`` existed keep their trained models."""
    fp = {"seed": seed, "size": cfg.image_size, "layers": cfg.text_layers}
    if cfg.text_hidden != DemoConfig.text_hidden:
        fp["hidden"] = cfg.text_hidden
    return fp


@dataclass
class SeedRun:
    """One seed's models and where their test scores are."""

    seed: int
    root: Path
    models: dict[str, tuple[Path, str]] = field(default_factory=dict)

    def score_dir(self, system: str) -> Path:
        return self.root / f"score_{system}"


def train_seed(
    cfg: DemoConfig,
    runner: StageRunner,
    data: DemoData,
    seed: int,
    stop_after: str | None = None,
) -> SeedRun:
    """init -> vision warm-up -> SFT -> GRPO (outcome + process) and GRPO (outcome only).

    Stage names carry the seed (``sft@seed0``); outputs live under ``OUT/seed{seed}/``.
    ``stop_after`` ("vision", "read" or "sft") stops after that stage (the validation scripts
    train their own variants from that checkpoint); the last model is ``models["start"]``.
    """
    root = cfg.out / f"seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    run = SeedRun(seed, root)
    tag = f"@seed{seed}"
    init_dir = root / "model_init"
    fp_init = runner.run(
        "init" + tag,
        _init_fingerprint(cfg, seed),
        lambda: _cli([
            "model", "init-tiny", init_dir, "--seed", seed,
            "--image-size", cfg.image_size, "--layers", cfg.text_layers,
            "--hidden", cfg.text_hidden,
        ]),
        outputs=(init_dir,),
    )  # fmt: skip
    run.models["untrained"] = (init_dir, fp_init)

    vis_dir = root / "model_vision"
    corpus_dir = cfg.out / "vision_synthetic"

    def corpus() -> list[tuple[str, dict[str, str]]]:
        from cxreason.demo.phantoms import render_random_phantoms

        return render_random_phantoms(corpus_dir, cfg.vision_synthetic, cfg.image_size, cfg.seed)

    fp_corpus = None  # no corpus stage (and no folder) at the default of 0
    if cfg.vision_synthetic:
        corpus_cfg = {"n": cfg.vision_synthetic, "size": cfg.image_size, "seed": cfg.seed}
        fp_corpus = runner.run("vision_corpus", corpus_cfg, corpus, outputs=(corpus_dir,))

    def vision() -> None:
        from cxreason.data.load import load_studies
        from cxreason.train.vision_pretrain import VisionPretrainConfig, pretrain_vision

        studies = {s.study_id: s for s in load_studies(cfg.reports, projections=cfg.projections)}
        examples = _vision_examples(read_records(data.train, BenchItem), studies)
        examples += corpus() if fp_corpus else []  # files exist: no re-render
        r = pretrain_vision(
            init_dir, vis_dir, examples,
            VisionPretrainConfig(steps=cfg.vision_steps, batch_size=32, seed=seed),
        )  # fmt: skip
        log.info("vision warm-up on %d images: BCE %.3f -> %.3f", len(examples),
                 r["loss_first"], r["loss_last"])  # fmt: skip

    fp_vis = runner.run(
        "vision" + tag,
        {"after": [data.fingerprint, fp_init], "steps": cfg.vision_steps}
        | ({"corpus": fp_corpus} if fp_corpus else {}),
        vision, outputs=(vis_dir,),
    )  # fmt: skip

    start_dir, fp_start = vis_dir, fp_vis
    run.models["start"] = (start_dir, fp_start)
    if stop_after == "vision":
        return run
    # the reading corpus joins both SFT stages (answer-only read, then CoT); GRPO keeps the train
    # split, whose items have reports for the process rewards
    sft_bench, fp_reading = data.train, []
    if cfg.read_corpus:
        sft_bench, fp = reading_corpus(cfg, runner, data)
        fp_reading = [fp]
    if cfg.read_steps > 0:
        read_dir = root / "model_read"
        fp_start = _train_stage(
            runner, "read" + tag, "sft", cfg.sft_recipe, vis_dir, read_dir, seed,
            [data.fingerprint, fp_vis, *fp_reading], data, read_overrides(cfg), bench=sft_bench,
        )  # fmt: skip
        start_dir = read_dir
        run.models["start"] = (start_dir, fp_start)
    if stop_after == "read":
        return run
    sft_dir = root / "sft"
    fp_sft = _train_stage(
        runner, "sft" + tag, "sft", cfg.sft_recipe, start_dir, sft_dir, seed,
        [data.fingerprint, fp_start, *fp_reading], data, cfg.sft_overrides, bench=sft_bench,
    )  # fmt: skip
    run.models["sft"] = (sft_dir, fp_sft)
    if stop_after == "sft":
        return run
    for system, overrides in (
        ("trained", cfg.grpo_overrides),
        ("grpo_outcome", [*outcome_only_overrides(cfg.grpo_recipe), *cfg.grpo_overrides]),
    ):
        model_dir = root / ("grpo" if system == "trained" else system)
        fp = _train_stage(
            runner, f"{system}{tag}", "grpo", cfg.grpo_recipe, sft_dir, model_dir, seed,
            fp_sft, data, overrides,
        )  # fmt: skip
        run.models[system] = (model_dir, fp)
    return run


def reading_corpus(cfg: DemoConfig, runner: StageRunner, data: DemoData) -> tuple[Path, str]:
    """Stage ``read_corpus`` (shared by the seeds): render ``cfg.read_corpus`` random-label
    phantoms and write the SFT's training file: the train split's items, then two answer-only
    binary items per phantom. Returns (that file, the stage's fingerprint). Nothing of validation or test:
    the phantoms come from random labels, not from reports."""
    from cxreason.demo.phantoms import reading_items, render_random_phantoms

    corpus_dir = cfg.out / "read_corpus"
    bench = cfg.out / "train_sft.jsonl"
    seed = cfg.seed + 7919  # other images than the vision warm-up's corpus of the same seed

    def make() -> None:
        corpus = render_random_phantoms(corpus_dir, cfg.read_corpus, cfg.image_size, seed)
        extra = reading_items(corpus, seed)
        write_jsonl(bench, [*read_records(data.train, BenchItem), *extra])
        log.info("reading corpus: %d answer-only binary items on %d random-label phantoms",
                 len(extra), len(corpus))  # fmt: skip

    fp = runner.run(
        "read_corpus",
        {"after": data.fingerprint, "n": cfg.read_corpus, "size": cfg.image_size, "seed": seed},
        make, outputs=(corpus_dir, bench),
    )  # fmt: skip
    return bench, fp


def outcome_only_overrides(recipe: Path, weights: Sequence[float] | None = None) -> list[str]:
    """Overrides that turn the GRPO recipe into its outcome-only arm: the recipe's rewards minus
    the process rewards, each keeping its weight; everything else unchanged.

    ``weights``: the process arm's reward weights when they differ from the recipe's (one per
    reward of the recipe).
    """
    conf = _recipe_conf(recipe)
    funcs = list(conf.get("reward_funcs") or [])
    weights = list(
        weights if weights is not None else conf.get("reward_weights") or [1.0] * len(funcs)
    )
    if len(weights) != len(funcs):
        raise RuntimeError(f"{recipe}: reward_weights and reward_funcs differ in length")
    kept = [(f, w) for f, w in zip(funcs, weights, strict=True) if f not in PROCESS_REWARDS]
    if len(kept) == len(funcs):
        raise RuntimeError(f"{recipe}: no process reward to ablate in {funcs}")
    return [
        "--reward_funcs", *[f for f, _ in kept],
        "--reward_weights", *[str(float(w)) for _, w in kept],
    ]  # fmt: skip


def evaluate_seed(
    cfg: DemoConfig, runner: StageRunner, data: DemoData, run: SeedRun, systems: Sequence[str]
) -> None:
    """CoT predictions of each system on the test file, scored with ``cxreason score``."""
    for name in systems:
        model_dir, fp_model = run.models[name]
        tokens = cfg.untrained_max_new_tokens if name == "untrained" else 160
        evaluate_model(
            runner, f"eval_{name}@seed{run.seed}", data, model_dir, fp_model,
            run.root / f"pred_{name}.jsonl", run.score_dir(name), tokens,
        )  # fmt: skip


def evaluate_model(
    runner: StageRunner,
    stage: str,
    data: DemoData,
    model_dir: Path,
    fp_model: str,
    pred: Path,
    sdir: Path,
    tokens: int,
    split: str = "test",
) -> None:
    """Two resumable stages: ``stage`` predicts (greedy CoT, ``tokens`` new tokens at most) and
    ``stage`` + ``.score`` scores. Only the score stage depends on ``METRIC_VERSION``, so a new
    metric definition rescores the saved predictions without generating them again."""
    from cxreason.inference.predict import progress_path

    fp_pred = runner.run(
        stage,
        {"model": fp_model, "eval": data.fingerprint, "tokens": tokens, "split": split},
        lambda: _predict(data, model_dir, pred, tokens, split),
        outputs=(pred, progress_path(pred)),
    )
    runner.run(
        stage + ".score",
        {"pred": fp_pred, "metric": METRIC_VERSION},
        lambda: _score(data, pred, sdir, split),
        outputs=(sdir,),
    )


def _predict(data: DemoData, model_dir: Path, pred: Path, tokens: int, split: str = "test") -> None:
    """Greedy CoT predictions of ``model_dir`` on the ``split`` file (resumable)."""
    _cli([
        "predict", "--model", model_dir, "--bench", _split_bench(data, split), "--out", pred,
        "--images", data.images, "--mode", "cot", "--batch-size", "16",
        "--max-new-tokens", tokens, "--split", split,
    ])  # fmt: skip


def _score(data: DemoData, pred: Path, sdir: Path, split: str = "test") -> None:
    """``cxreason score`` of ``pred`` against the ``split`` file."""
    bench = _split_bench(data, split)
    _cli(["score", "--bench", bench, "--pred", pred, "--out", sdir, "--split", split])


def _split_bench(data: DemoData, split: str) -> Path:
    return data.test if split == "test" else data.validation


def run_demo(cfg: DemoConfig, force: bool = False) -> dict:
    """Run (or resume) the demo under ``cfg.out``; returns the trained model's pooled scores."""
    pin_cpu_numerics()
    t_start = time.perf_counter()
    out = cfg.prepare_paths()
    runner = StageRunner(out, force=force)
    data = prepare_data(cfg, runner)
    baselines = run_baselines(cfg, runner, data)
    runs = []
    for k, seed in enumerate(cfg.seed_list):
        run = train_seed(cfg, runner, data, seed)
        # the untrained model never parses: scored once (first seed), not per seed
        systems = TRAINED_SYSTEMS if k == 0 else TRAINED_SYSTEMS[1:]
        evaluate_seed(cfg, runner, data, run, systems)
        runs.append(run)

    from cxreason.demo import analysis

    pooled = analysis.pool_seeds(runs, TRAINED_SYSTEMS)
    for name, (scores, _) in pooled.items():
        target = out / ("scores.json" if name == "trained" else f"scores_{name}.json")
        write_json(target, scores)
    per_seed = analysis.per_seed_summary(runs, TRAINED_SYSTEMS[1:])
    ablation = analysis.ablation(pooled)
    single = analysis.single_choice_analysis(data.test, runs[0].root / "pred_trained.jsonl")

    from cxreason.demo.report import target_checks, write_report

    examples = _examples(out, data.test, runs[0].root / "pred_trained.jsonl", data.images)
    env = environment()
    write_json(out / "environment.json", env)
    facts = {
        "reports": cfg.reports,
        "seeds": cfg.seed_list,
        "fast": cfg.fast,
        "train samples (train split only, with re-renders)": _count_lines(data.train),
        "validation items (selection only)": _count_lines(data.validation),
        "test items (scored once per run)": _count_lines(data.test),
        "test renders per study": cfg.eval_renders,
        "stage seconds": {k: round(v, 1) for k, v in runner.timings.items()},
        "total seconds (this invocation)": round(time.perf_counter() - t_start, 1),
        "environment (this invocation; environment.json)": env_summary(env),
    }
    checks = target_checks({**{k: v[0] for k, v in pooled.items()}, **baselines}, ablation)
    write_json(out / "checks.json", checks)
    write_json(out / "ablation.json", ablation)
    write_json(out / "per_seed.json", per_seed)
    for c in checks:
        log.info("target %s: %s (%s)", "met" if c["passed"] else "NOT met", c["check"],
                 c["value"])  # fmt: skip
    write_report(
        out,
        {k: v[0] for k, v in pooled.items()},
        baselines,
        examples,
        facts,
        runs[0].root / "grpo" / "reward_curve.png",
        checks,
        ablation=ablation,
        per_seed=per_seed,
        single=single,
    )
    write_json(out / "demo_config.json", {k: str(v) for k, v in asdict(cfg).items()})
    return pooled["trained"][0]


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def _train_stage(
    runner: StageRunner,
    name: str,
    stage: str,
    recipe: Path,
    model_dir: Path,
    out_dir: Path,
    seed: int,
    after,
    data: DemoData,
    overrides: list[str],
    bench: Path | None = None,
) -> str:
    """Run ``cxreason train STAGE`` from ``model_dir`` into ``out_dir`` as resumable stage ``name``
    (on ``bench``, default the demo's train file).

    The fingerprint covers the command line and the recipe's text, so editing the recipe redoes
    the stage (and drops its stale checkpoints); an interrupted run resumes from its checkpoint.
    A GRPO run with a process reward also covers ``METRIC_VERSION``: those rewards are the
    metric's functions, so a new definition is a new reward.
    """
    args = [
        "train", stage, "--config", recipe,
        "--model_name_or_path", model_dir, "--bench", bench or data.train,
        "--images_dir", data.images,
        "--output_dir", out_dir, "--seed", seed, *overrides,
    ]  # fmt: skip
    config = {"after": after, "args": [str(a) for a in args], "recipe": _read(recipe)}
    if stage == "grpo" and set(reward_funcs(recipe, overrides)) & set(PROCESS_REWARDS):
        config["reward"] = METRIC_VERSION  # the process rewards are the metric's functions
    return runner.run(name, config, lambda: _train(args, out_dir), outputs=(out_dir,))


def pop_list_option(args: Sequence, flag: str) -> tuple[list[str], list[str] | None]:
    """(``args`` without any ``flag V1 V2 ...``, the values of its last occurrence or None).

    A list-valued option on a command line (TrlParser's ``--reward_funcs``, ``--reward_weights``):
    the values run to the next ``--option``, and the last occurrence wins.
    """
    rest: list[str] = []
    values = None
    items = [str(a) for a in args]
    i = 0
    while i < len(items):
        if items[i] != flag:
            rest.append(items[i])
            i += 1
            continue
        j = i + 1
        while j < len(items) and not items[j].startswith("--"):
            j += 1
        values, i = items[i + 1 : j], j
    return rest, values


def reward_funcs(recipe: Path, overrides: Sequence[str]) -> list[str]:
    """The rewards a GRPO run trains on: ``--reward_funcs`` of ``overrides`` (the last one
    given wins, as in TrlParser) or else the recipe's."""
    _, funcs = pop_list_option(overrides, "--reward_funcs")
    if funcs is not None:
        return funcs
    return list(_recipe_conf(recipe).get("reward_funcs") or [])


def _recipe_conf(recipe: Path) -> dict:
    """A recipe YAML's settings (an empty file: none)."""
    import yaml

    return yaml.safe_load(Path(recipe).read_text(encoding="utf-8")) or {}


def _augment(
    items: list[BenchItem], studies: dict, images: Path, cfg: DemoConfig
) -> list[BenchItem]:
    """Copies of training items whose images are new phantom renders (other seeds) of the study.

    Augmentation for the synthetic world only: the labels (and so the answers and chains) are
    those of the same report; anatomy jitter, noise and exposure differ.
    """
    from cxreason.demo.phantoms import render_phantoms

    if cfg.augment <= 0 or not items:
        return []
    ids = sorted({it.study_id for it in items})
    extra: list[BenchItem] = []
    for k in range(1, cfg.augment + 1):
        aug_dir = images / f"aug{k}"
        render_phantoms(
            [studies[i] for i in ids if i in studies],
            aug_dir,
            size=cfg.image_size,
            seed=cfg.seed + 7919 * k,
        )
        for it in items:
            copy = BenchItem(**{**it.__dict__})
            copy.id = f"{it.id}~aug{k}"
            copy.images = [str(aug_dir / Path(p).name) for p in it.images]
            extra.append(copy)
    return extra


def _held_out_renders(
    items: list[BenchItem], studies: dict, images: Path, cfg: DemoConfig, split: str, salt: int
) -> list[BenchItem]:
    """Copies of held-out items on new phantom renders of the same report (ids ``ID~rK``).

    ``cfg.eval_renders[task]`` renders per item, the original included. The copies keep the
    study id, so the study-clustered bootstrap treats them as one study.
    """
    from cxreason.demo.phantoms import render_phantoms

    extra: list[BenchItem] = []
    most = max([cfg.eval_renders.get(t, 1) for t in {it.task for it in items}] or [1])
    ids = sorted({it.study_id for it in items})
    for k in range(1, most):
        r_dir = images / f"{split}_r{k}"
        render_phantoms(
            [studies[i] for i in ids if i in studies],
            r_dir,
            size=cfg.image_size,
            seed=cfg.seed + 104_729 * k + salt,
        )
        for it in items:
            if k < cfg.eval_renders.get(it.task, 1):
                copy = BenchItem(**{**it.__dict__})
                copy.id = f"{it.id}~r{k}"
                copy.images = [str(r_dir / Path(p).name) for p in it.images]
                extra.append(copy)
    return extra


def _frontal_only(items: list[BenchItem], studies: dict) -> list[BenchItem]:
    """Items reduced to one frontal image each (the study's first frontal view, else the first)."""
    out = []
    for it in items:
        st = studies.get(it.study_id)
        views = {Path(r.path).name: r.view for r in (st.images if st else [])}
        frontal = [p for p in it.images if views.get(Path(p).name) == "frontal"]
        keep = (frontal or it.images)[:1]
        out.append(BenchItem(**{**it.__dict__, "images": keep}))
    return out


def _vision_examples(items: list[BenchItem], studies: dict) -> list[tuple[str, dict[str, str]]]:
    """(frontal image, study labels) for every distinct training image (re-renders included)."""
    from cxreason.demo.phantoms import laterality_from_report

    labels_of: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    out = []
    for it in items:
        if not it.images or it.images[0] in seen or it.study_id not in studies:
            continue
        seen.add(it.images[0])
        if it.study_id not in labels_of:
            st = studies[it.study_id]
            labels_of[it.study_id] = laterality_from_report(st.findings, st.impression)[0]
        out.append((it.images[0], labels_of[it.study_id]))
    return out


def _read(p: Path) -> str:
    return Path(p).read_text(encoding="utf-8") if Path(p).exists() else ""


def _train(args: list, output_dir: Path) -> None:
    """Train; the trainer resumes from the last checkpoint in ``output_dir`` if one exists."""
    _cli(args)
    if not (output_dir / "config.json").exists():
        raise RuntimeError(f"training finished without saving a model in {output_dir}")


def _examples(out: Path, bench: Path, pred: Path, images: Path, k: int = 3) -> list[dict]:
    """Three held-out items (different tasks where possible) with the trained model's output."""
    from cxreason.metrics.outcome import outcome_score, parse_answer
    from cxreason.metrics.radrscore import extract_think

    items = {it.id: it for it in read_records(bench, BenchItem)}
    preds = [json.loads(line) for line in open(pred, encoding="utf-8") if line.strip()]
    chosen, seen_tasks = [], set()
    for p in preds:
        it = items.get(str(p["id"]))
        if it is None or it.task in seen_tasks:
            continue
        seen_tasks.add(it.task)
        chosen.append((it, p))
    for p in preds:
        if len(chosen) >= k:
            break
        it = items.get(str(p["id"]))
        if it is not None and all(c[0].id != it.id for c in chosen):
            chosen.append((it, p))
    ex_dir = out / "examples"
    ex_dir.mkdir(exist_ok=True)
    result = []
    for it, p in chosen[:k]:
        src = images / Path(it.images[0]).name if it.images else None
        img_name = f"examples/{Path(src).name}" if src else ""
        if src and Path(src).exists():
            shutil.copyfile(src, out / img_name)
        q = it.question + (
            "" if not it.options else " " + " ".join(f"{a}) {t}" for a, t in it.options.items())
        )
        result.append({
            "id": it.id, "task": it.task, "image": img_name, "question": q,
            "think": extract_think(p["output"]), "answer": parse_answer(p["output"]),
            "gold": it.answer, "correct": outcome_score(it, p["output"]) >= 1.0,
        })  # fmt: skip
    return result
