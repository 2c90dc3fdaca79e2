"""Throughput of ``cxreason train`` beside a bare TRL script: the same SFT and GRPO steps.

World (SYNTHETIC TEST DATA, not medical images): a tiny random Qwen2.5-VL and report-
conditioned phantoms (112 px PNG files) of binary Cardiomegaly items. Both sides train the same
model on the same prompts, targets, images, seeds and hyper-parameters (the tiny recipes):

- ``cxreason``: ``cxreason train sft|grpo --config recipes/tiny/...`` in this process
  (recipe parsing, lazy image references decoded at batch time, reward wrappers, end-of-run
  files);
- ``bare TRL``: a minimal script: images loaded with PIL into ``Dataset.from_list``, TRL's
  ``SFTTrainer`` / ``GRPOTrainer`` with two plain reward functions (the same format and
  accuracy scoring functions, without cxreason's gating and logging wrappers).

After an untimed one-step warm-up of each side (imports, first-call caches), runs alternate
(cxreason, bare, cxreason, bare, ...) ``--repeats`` times to spread the noise of a shared
machine over both sides. Reported: samples/s of the training loop (TRL's
``train_samples_per_second``; GRPO counts completions) and of the whole command (wall clock,
including data preparation, model loading and the final save), median over repeats, and the
overhead ratio cxreason / bare (goal: within 5%, i.e. ratio of samples/s >= 0.95).

    python benchmarks/train_overhead.py --out runs/train_overhead

Writes OUT/train_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_items import cardiomegaly_item  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def build_bench(root: Path, n: int, size: int = 112) -> Path:
    """n binary Cardiomegaly items over SYNTHETIC phantom PNGs (half with Cardiomegaly)."""
    from cxreason.data.phantom import render_study
    from cxreason.records import write_jsonl

    (root / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        name = f"images/p{i}.png"
        labels = {"Cardiomegaly": "present"} if i % 2 == 0 else {}
        render_study(labels, seed=i, size=size).save(root / name)
        items.append(cardiomegaly_item(i, name))
    write_jsonl(root / "bench.jsonl", items)
    return root / "bench.jsonl"


def common(stage: str, steps: int, batch: int, seed: int) -> dict:
    """Hyper-parameters both sides share (the tiny recipe's, with these overrides)."""
    out = {
        "max_steps": steps,
        "per_device_train_batch_size": batch,
        "seed": seed,
        "save_strategy": "no",
        "report_to": "none",
        "logging_steps": steps,
        "learning_rate": 1e-4,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
    }
    if stage == "grpo":
        out.update(max_completion_length=16, num_generations=4, temperature=1.0)
    return out


def run_cxreason(stage, bench, model, out, hp) -> dict:
    from cxreason.train import cli

    argv = [stage, "--config", str(RECIPES / f"tiny/{stage}.yaml"), "--bench", str(bench),
            "--model_name_or_path", str(model), "--output_dir", str(out),
            "--train_split", "all", "--max_items", "100000"]  # fmt: skip
    if stage == "sft":
        argv += ["--cot_fraction", "0.0"]
    else:
        argv += ["--prompt_mode", "direct", "--reward_funcs", "format", "accuracy",
                 "--reward_weights", "1.0", "1.0", "--format_gate", "false"]  # fmt: skip
    for k, v in hp.items():
        argv += [f"--{k}", str(v)]
    t0 = time.perf_counter()
    code = cli.main(argv)
    wall = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"cxreason train {stage} exited {code}")
    history = json.loads((out / "log_history.json").read_text())
    return {"train_runtime": history[-1]["train_runtime"], "wall": wall}


def _bare_rows(bench: Path, mode: str) -> list[dict]:
    from PIL import Image

    from cxreason.prompts import chat_messages
    from cxreason.records import BenchItem, read_records

    rows = []
    for it in read_records(bench, BenchItem):
        images = [Image.open(bench.parent / p).convert("RGB") for p in it.images]
        row = {
            "prompt": chat_messages(it.question, it.options, len(images), mode),
            "images": images,
        }
        if mode == "direct":
            row["completion"] = [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": f"<answer>{it.answer}</answer>"}],
                }
            ]
        row.update(task=it.task, answer=it.answer, options=json.dumps(it.options), mode="direct")
        rows.append(row)
    return rows


def run_bare(stage, bench, model, out, hp) -> dict:
    """The same steps with TRL only (what a user would write from TRL's VLM examples)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText

    from cxreason.train.model import load_processor

    t0 = time.perf_counter()
    rows = _bare_rows(bench, "direct")
    model_obj = AutoModelForImageTextToText.from_pretrained(str(model), dtype=torch.float32)
    processor = load_processor(model)
    base = dict(output_dir=str(out), use_cpu=True, bf16=False, activation_checkpointing=False,
                dataloader_num_workers=0, **hp)  # fmt: skip
    if stage == "sft":
        from trl import SFTConfig, SFTTrainer

        ds = Dataset.from_list(
            [{k: r[k] for k in ("prompt", "completion", "images")} for r in rows]
        )
        args = SFTConfig(max_length=1024, completion_only_loss=True, **base)
        trainer = SFTTrainer(
            model=model_obj, args=args, train_dataset=ds, processing_class=processor
        )
    else:
        from trl import GRPOConfig, GRPOTrainer

        from cxreason.train.grpo import suppress_vision_tokens
        from cxreason.train.rewards import accuracy_reward, format_reward

        ds = Dataset.from_list(rows)
        args = GRPOConfig(beta=1e-4, entropy_coef=1e-4, reward_weights=[1.0, 1.0], **base)
        suppress_vision_tokens(args, processor)  # both sides: TRL crashes on sampled vision tokens
        processor.tokenizer.padding_side = "left"
        trainer = GRPOTrainer(
            model=model_obj,
            reward_funcs=[format_reward, accuracy_reward],
            args=args,
            train_dataset=ds,
            processing_class=processor,
        )
    metrics = trainer.train().metrics
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    return {"train_runtime": metrics["train_runtime"], "wall": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/train_overhead"))
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--grpo-steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    from cxreason.train.model import init_tiny

    t0 = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    bench = build_bench(a.out / "bench", a.items)
    model = init_tiny(a.out / "model", seed=a.seed)
    figures: dict = {"items": a.items, "batch": a.batch, "repeats": a.repeats, "stages": {}}
    for stage in ("sft", "grpo"):  # untimed warm-up: imports and first-call caches for both sides
        for side, fn in (("cxreason", run_cxreason), ("bare", run_bare)):
            fn(
                stage,
                bench,
                model,
                a.out / f"warmup_{stage}_{side}",
                common(stage, 1, a.batch, a.seed),
            )
    for stage, steps in (("sft", a.sft_steps), ("grpo", a.grpo_steps)):
        hp = common(stage, steps, a.batch, a.seed)
        samples = steps * a.batch
        times: dict[str, list[dict]] = {"cxreason": [], "bare": []}
        for r in range(a.repeats):
            for side, fn in (("cxreason", run_cxreason), ("bare", run_bare)):
                res = fn(stage, bench, model, a.out / f"{stage}_{side}_{r}", hp)
                times[side].append(res)
                print(f"{stage} {side:8s} repeat {r}: loop {samples / res['train_runtime']:.2f} "
                      f"samples/s, whole command {res['wall']:.1f} s", flush=True)  # fmt: skip
        row = {"steps": steps, "samples": samples}
        for side, runs in times.items():
            row[side] = {
                "loop_samples_per_s": statistics.median(samples / x["train_runtime"] for x in runs),
                "wall_samples_per_s": statistics.median(samples / x["wall"] for x in runs),
                "runs": runs,
            }
        for kind in ("loop", "wall"):
            key = f"{kind}_samples_per_s"
            row[f"{kind}_ratio"] = row["cxreason"][key] / row["bare"][key]
        field = "train_runtime"  # paired (same repeat) ratios show the run-to-run noise
        row["loop_ratio_per_repeat"] = [
            b[field] / c[field] for c, b in zip(times["cxreason"], times["bare"], strict=True)
        ]
        row["within_5pct"] = row["loop_ratio"] >= 0.95
        figures["stages"][stage] = row
    figures["total_seconds"] = round(time.time() - t0, 1)
    (a.out / "train_overhead.json").write_text(json.dumps(figures, indent=2))
    for stage, row in figures["stages"].items():
        print(
            f"{stage}: cxreason {row['cxreason']['loop_samples_per_s']:.2f} vs bare "
            f"{row['bare']['loop_samples_per_s']:.2f} samples/s in the loop (ratio "
            f"{row['loop_ratio']:.3f}); whole command ratio {row['wall_ratio']:.3f}"
        )
    return 0 if all(r["within_5pct"] for r in figures["stages"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
