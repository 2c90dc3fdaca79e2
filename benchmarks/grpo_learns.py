"""Does GRPO improve what it optimises? A few-minute CPU check on SYNTHETIC phantoms.

World (SYNTHETIC TEST DATA, not medical images): report-conditioned phantoms
(``cxreason.data.phantom``). Warm-up SFT bench: "Does this chest X-ray show Edema?" on phantoms
with and without edema (half each), direct prompt: it teaches the answer layout
``<answer>A|B</answer>`` but nothing about the GRPO questions. GRPO bench: phantoms that all show
Cardiomegaly and no Pneumothorax, asked "... show Cardiomegaly?" (truth A) or "... show
Pneumothorax?" (truth B): a signal the policy can learn from the question text (a text-level
sanity task). GRPO optimises the format gate + accuracy (tiny recipe, overridden; rollouts at
temperature 0.3: the briefly warmed-up tiny model is still high-entropy, so at temperature 1 no
sample has the layout and every group's reward is 0, i.e. no learning signal).
Claim checked: mean reward over the last K GRPO steps exceeds the first K steps by more than
twice the standard error of that difference (per-step rewards as samples).

``--mixed``: the paper's sample mix in one GRPO run. The warm-up SFT teaches both layouts (half
the items with a one-sentence chain); GRPO draws per item the CoT or the direct prompt
(``prompt_mode: mixed``, ``cot_fraction`` 0.5) and adds the process rewards (factuality vs the
report, completeness vs the chain), which score CoT samples only. Checked besides the learning
claim: at every step the share of samples the process rewards scored equals the share of CoT
samples (``rewards/<name>/applies`` vs ``samples/cot_share``), i.e. the process reward is
computed and logged for reasoning samples only.

    python benchmarks/grpo_learns.py --out runs/grpo_learns
    python benchmarks/grpo_learns.py --mixed --out runs/grpo_learns_mixed

Writes OUT/grpo/reward_curve.png (TRL log history), OUT/grpo_learns.png (per-step reward with a
moving average and the first/last-K means) and OUT/grpo_learns.json (the figures).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_items import binary_item  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
PROCESS = ["factuality", "completeness"]
DIRECT_REWARDS = [
    "--prompt_mode", "direct", "--reward_funcs", "format", "accuracy",
    "--reward_weights", "0.5", "1.0", "--max_completion_length", "10",
]  # fmt: skip
MIXED_REWARDS = [
    "--prompt_mode", "mixed", "--cot_fraction", "0.5",
    "--reward_funcs", "format", "accuracy", *PROCESS,
    "--reward_weights", "0.5", "1.0", "0.5", "0.5", "--max_completion_length", "40",
    "--per_device_train_batch_size", "16",
]  # fmt: skip


def build_phantom_benches(root: Path, n: int, size: int = 112) -> tuple[Path, Path]:
    """(warm-up SFT bench on Edema, GRPO bench on Cardiomegaly/Pneumothorax) under ``root``."""
    from cxreason.data.phantom import render_study
    from cxreason.records import bench_report, write_jsonl

    (root / "images").mkdir(parents=True, exist_ok=True)
    sft, grpo = [], []
    for i in range(n):
        edema = i % 2 == 0
        name = f"images/e{i}.png"
        render_study({"Edema": "present"} if edema else {}, seed=i, size=size).save(root / name)
        rep = bench_report("Pulmonary edema." if edema else "Clear lungs.", "")
        chain = "There is pulmonary edema." if edema else "There is no pulmonary edema."
        sft.append(binary_item(i, "Edema", edema, name, rep, chain))
        name = f"images/c{i}.png"
        render_study({"Cardiomegaly": "present"}, seed=1000 + i, size=size).save(root / name)
        rep = bench_report("The heart is enlarged. No pneumothorax.", "Cardiomegaly.")
        finding = "Cardiomegaly" if i % 2 == 0 else "Pneumothorax"
        chain = "The heart is enlarged." if i % 2 == 0 else "There is no pneumothorax."
        grpo.append(binary_item(i, finding, finding == "Cardiomegaly", name, rep, chain))
    write_jsonl(root / "sft.jsonl", sft)
    write_jsonl(root / "grpo.jsonl", grpo)
    return root / "sft.jsonl", root / "grpo.jsonl"


def _stage(stage: str, recipe: str, argv: list[str]) -> Path:
    from trl import GRPOConfig, SFTConfig

    from cxreason.train.config import parse_args
    from cxreason.train.grpo import run_grpo
    from cxreason.train.sft import run_sft

    cfg, run = (SFTConfig, run_sft) if stage == "sft" else (GRPOConfig, run_grpo)
    return run(*parse_args(cfg, ["--config", str(RECIPES / recipe), *argv]))


def learning_figures(history: list[dict], k: int) -> dict:
    """First-K vs last-K mean of the per-step total reward, and the noise of their difference."""
    rewards = [r["reward"] for r in history if "reward" in r]
    first, last = rewards[:k], rewards[-k:]
    se = math.sqrt(statistics.variance(first) / k + statistics.variance(last) / k)
    gain = statistics.fmean(last) - statistics.fmean(first)
    return {
        "steps": len(rewards),
        "k": k,
        "first_mean": statistics.fmean(first),
        "last_mean": statistics.fmean(last),
        "gain": gain,
        "se_gain": se,
        "gain_over_2se": gain > 2 * se,
        "rewards": rewards,
        "format_first_last": _first_last(history, "rewards/format_reward/mean", k),
        "accuracy_first_last": _first_last(history, "rewards/accuracy_reward/mean", k),
    }


def process_reward_coverage(history: list[dict], names: list[str]) -> dict:
    """Per process reward: does its scored share equal the CoT share at every logged step?"""
    rows = [r for r in history if "samples/cot_share" in r]
    out = {
        "steps": len(rows),
        "cot_share_mean": statistics.fmean(r["samples/cot_share"] for r in rows),
    }
    for name in names:
        key = f"rewards/{name}_reward/applies"
        gaps = [abs(r[key] - r["samples/cot_share"]) for r in rows if key in r]
        out[name] = {
            "logged_steps": len(gaps),
            "max_gap_to_cot_share": max(gaps) if gaps else None,
            "first_last": _first_last(history, f"rewards/{name}_reward/mean", min(8, len(rows))),
        }
    out["only_reasoning_samples"] = all(
        out[n]["logged_steps"] == len(rows) and out[n]["max_gap_to_cot_share"] < 1e-6 for n in names
    )
    return out


def _first_last(history: list[dict], key: str, k: int) -> list[float]:
    v = [r[key] for r in history if r.get(key) is not None and r[key] == r[key]]  # no None/NaN
    return [statistics.fmean(v[:k]), statistics.fmean(v[-k:])] if v else []


def plot(fig_path: Path, figs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = figs["rewards"]
    k = figs["k"]
    steps = list(range(1, len(r) + 1))
    ma = [statistics.fmean(r[max(0, i - k + 1) : i + 1]) for i in range(len(r))]
    process = figs.get("process_series")
    if process:
        fig, (ax, bx) = plt.subplots(
            2, 1, figsize=(7, 6), dpi=110, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
        )
    else:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, r, "o-", ms=3, lw=0.8, color="grey", label="reward per step")
    ax.plot(steps, ma, lw=2, color="C0", label=f"moving mean ({k})")
    ax.hlines(
        figs["first_mean"], 1, k, colors="C3", lw=2, label=f"first {k}: {figs['first_mean']:.2f}"
    )
    ax.hlines(
        figs["last_mean"],
        len(r) - k + 1,
        len(r),
        colors="C2",
        lw=2,
        label=f"last {k}: {figs['last_mean']:.2f}",
    )
    ax.set_ylabel(figs.get("ylabel", "reward: 0.5 format + 1.0 accuracy"))
    if process:  # per step, over the CoT samples only (None where a step had none)
        for i, (name, ys) in enumerate(process.items()):
            pts = [(x, y) for x, y in zip(steps, ys, strict=False) if y is not None]
            bx.plot(*zip(*pts, strict=True), "o-", ms=3, lw=0.8, color=f"C{i + 4}", label=name)
        bx.set_ylabel("process reward\n(CoT samples)")
        bx.grid(alpha=0.3)
        bx.legend(fontsize=8)
        bx.set_xlabel("GRPO step")
    else:
        ax.set_xlabel("GRPO step")
    ax.set_title(
        f"GRPO on synthetic phantoms: gain {figs['gain']:+.2f} (2 SE = {2 * figs['se_gain']:.2f})"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(fig_path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/grpo_learns"))
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--sft-steps", type=int, default=None, help="30 (50 with --mixed)")
    ap.add_argument("--lr", type=float, default=2e-4, help="GRPO learning rate")
    ap.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="GRPO rollout temperature: 0.3 (0.7 with --mixed)",
    )
    ap.add_argument("--grpo-steps", type=int, default=40)
    ap.add_argument("--k", type=int, default=8, help="steps averaged at each end")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mixed", action="store_true", help="CoT + direct prompts, process rewards")
    a = ap.parse_args(argv)
    if a.sft_steps is None:
        a.sft_steps = 50 if a.mixed else 30  # the CoT layout takes longer to learn
    if a.temperature is None:  # mixed: a longer SFT leaves a sharper policy; sample wider
        a.temperature = 0.7 if a.mixed else 0.3

    from cxreason.train.model import init_tiny

    t0 = time.time()
    sft_bench, grpo_bench = build_phantom_benches(a.out / "bench", a.items)
    model = init_tiny(a.out / "model", seed=a.seed)
    common = [
        "--train_split",
        "all",
        "--report_to",
        "none",
        "--seed",
        str(a.seed),
        "--save_strategy",
        "no",
    ]
    sft = _stage(
        "sft",
        "tiny/sft.yaml",
        [
            *common,
            "--bench",
            str(sft_bench),
            "--model_name_or_path",
            str(model),
            "--output_dir",
            str(a.out / "sft"),
            "--max_steps",
            str(a.sft_steps),
            "--cot_fraction",
            "0.5" if a.mixed else "0.0",
            "--learning_rate",
            "3e-3",
            "--per_device_train_batch_size",
            "8",
        ],
    )
    t_sft = time.time() - t0
    grpo = _stage(
        "grpo",
        "tiny/grpo.yaml",
        [
            *common,
            "--bench",
            str(grpo_bench),
            "--model_name_or_path",
            str(sft),
            "--output_dir",
            str(a.out / "grpo"),
            "--max_steps",
            str(a.grpo_steps),
            *(MIXED_REWARDS if a.mixed else DIRECT_REWARDS),
            "--learning_rate",
            str(a.lr),
            "--temperature",
            str(a.temperature),
        ],
    )
    history = json.loads((grpo / "log_history.json").read_text())
    figs = learning_figures(history, a.k)
    if a.mixed:
        figs["process_rewards"] = process_reward_coverage(history, PROCESS)
    figs.update(sft_seconds=round(t_sft, 1), total_seconds=round(time.time() - t0, 1))
    if a.mixed:
        figs["ylabel"] = "total reward (mixed prompts)"
        figs["process_series"] = {
            name: [
                r.get(f"rewards/{name}_reward/mean") if r.get("samples/cot_share") else None
                for r in history
                if "reward" in r
            ]
            for name in PROCESS
        }
    plot(a.out / "grpo_learns.png", figs)
    (a.out / "grpo_learns.json").write_text(json.dumps(figs, indent=2))
    print(json.dumps({k: v for k, v in figs.items() if k != "rewards"}, indent=2))
    ok = figs["gain_over_2se"] and (
        not a.mixed or figs["process_rewards"]["only_reasoning_samples"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
