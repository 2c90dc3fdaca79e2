"""SFT and GRPO on the tiny model through the tiny recipes: masks, updates, logs, artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from cxreason.train.config import CONFIG_NAME, parse_args

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _args(recipe: str, bench: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--config",
        str(RECIPES / recipe),
        "--bench",
        str(bench),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(out),
        "--report_to",
        "none",
        *extra,
    ]


def test_sft_loss_mask_covers_only_the_assistant_turn(tiny_bench, tiny_model_dir, tmp_path):
    from trl import SFTConfig

    from cxreason.train.sft import build_sft_trainer

    script, targs, margs = parse_args(
        SFTConfig, _args("tiny/sft.yaml", tiny_bench, tiny_model_dir, tmp_path / "o")
    )
    trainer, _ = build_sft_trainer(script, targs, margs)
    tok = trainer.processing_class.tokenizer
    batch = next(iter(trainer.get_train_dataloader()))
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    for ids, labels, mask in zip(
        batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
    ):
        trained = labels != -100
        text = tok.decode(ids[trained])
        assert text.startswith(("<think>", "<answer>")) and text.endswith("</answer><|im_end|>\n")
        # everything before the supervised span is the prompt (system, user, images, header)
        first = int(trained.nonzero()[0])
        prompt = tok.decode(ids[:first][mask[:first].bool()])
        assert prompt.rstrip().endswith("<|im_start|>assistant")
        assert (ids[:first] == im_start).sum() == 3  # system, user, assistant headers all masked
        assert not (trained & ~mask.bool()).any()  # no loss on padding
        assert (labels[trained] == ids[trained]).all()


def _changed(saved: Path, initial: Path) -> list[str]:
    from safetensors.torch import load_file

    a, b = load_file(saved / "model.safetensors"), load_file(initial / "model.safetensors")
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


def test_sft_updates_parameters_and_saves_run(tiny_bench, tiny_model_dir, tmp_path):
    from trl import SFTConfig

    from cxreason.train.sft import run_sft

    out = tmp_path / "sft"
    argv = _args(
        "tiny/sft.yaml",
        tiny_bench,
        tiny_model_dir,
        out,
        "--max_steps",
        "3",
        "--save_steps",
        "2",
        "--logging_steps",
        "1",
    )
    run_sft(*parse_args(SFTConfig, argv))
    changed = _changed(out, tiny_model_dir)
    assert any("visual" in k for k in changed) and any(
        k.startswith("model.layers.") for k in changed
    )
    cfg = yaml.safe_load((out / CONFIG_NAME).read_text())
    assert (
        cfg["stage"] == "sft"
        and cfg["script"]["cot_fraction"] == 0.5
        and cfg["training"]["max_steps"] == 3
    )
    assert cfg["data"]["n_samples"] == 8 and cfg["prompts_version"]
    assert (out / "processor_config.json").exists() and (out / "checkpoint-2").is_dir()
    hist = json.loads((out / "log_history.json").read_text())
    assert [r["step"] for r in hist if "loss" in r] == [1, 2, 3]


def test_grpo_logs_rewards_updates_and_plots(tiny_bench, tiny_model_dir, tmp_path):
    from trl import GRPOConfig

    from cxreason.train.grpo import run_grpo

    out = tmp_path / "grpo"
    argv = _args(
        "tiny/grpo.yaml",
        tiny_bench,
        tiny_model_dir,
        out,
        "--max_steps",
        "2",
        "--max_completion_length",
        "8",
        "--save_steps",
        "1",
    )
    script, targs, margs = parse_args(GRPOConfig, argv)
    assert targs.entropy_coef == 1e-4 and targs.beta == 1e-4 and targs.num_generations == 4
    run_grpo(script, targs, margs)
    assert _changed(out, tiny_model_dir)
    hist = json.loads((out / "log_history.json").read_text())
    logged = [r for r in hist if "reward" in r]
    assert len(logged) == 2
    for name in ("format", "accuracy", "factuality", "completeness", "length"):
        assert f"rewards/{name}_reward/mean" in logged[0]
    # mixed prompts: the process rewards scored exactly the CoT samples of each step
    for row in logged:
        share = row["samples/cot_share"]
        for name in ("factuality", "completeness", "length"):
            assert row[f"rewards/{name}_reward/applies"] == pytest.approx(share)
    assert "entropy" in logged[0] and "kl" in logged[0]
    assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = yaml.safe_load((out / CONFIG_NAME).read_text())
    assert cfg["training"]["reward_weights"] == [0.5, 1.0, 0.5, 0.5, 0.1]
    assert cfg["script"]["prompt_mode"] == "mixed" and cfg["data"]["n_direct"] > 0


def test_grpo_rollouts_never_sample_vision_tokens(tiny_bench, tiny_model_dir, tmp_path):
    from trl import GRPOConfig

    from cxreason.train.grpo import build_grpo_trainer

    argv = _args("tiny/grpo.yaml", tiny_bench, tiny_model_dir, tmp_path / "g", "--max_steps", "1")
    trainer, _ = build_grpo_trainer(*parse_args(GRPOConfig, argv))
    tok = trainer.processing_class.tokenizer
    banned = tok.convert_tokens_to_ids(
        ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    )
    assert set(banned) <= set(trainer.generation_config.suppress_tokens)


def test_grpo_batch_with_prompts_of_different_lengths(tiny_bench, tiny_model_dir, tmp_path):
    """Multi-image and single-image, binary and anomaly prompts in one batch (regression: TRL
    built Qwen's mm_token_type_ids right-padded against left-padded ids -> RoPE index crash)."""
    from trl import GRPOConfig

    from cxreason.train.grpo import build_grpo_trainer

    argv = _args(
        "tiny/grpo.yaml",
        tiny_bench,
        tiny_model_dir,
        tmp_path / "g",
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "32",
        "--max_completion_length",
        "4",
    )
    trainer, _ = build_grpo_trainer(*parse_args(GRPOConfig, argv))
    assert trainer.processing_class.tokenizer.padding_side == "left"
    trainer.train()  # 8 prompts x 4 generations: every item, mixed lengths, in one step
    assert trainer.state.global_step == 1


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_freeze_vision_tower_is_honoured_by_both_stages(
    stage, tiny_bench, tiny_model_dir, tmp_path
):
    """`freeze_vision_tower: true` in a recipe freezes the encoder blocks in SFT *and* GRPO."""
    from trl import GRPOConfig, SFTConfig

    from cxreason.train.grpo import build_grpo_trainer
    from cxreason.train.sft import build_sft_trainer

    config, build = {
        "sft": (SFTConfig, build_sft_trainer),
        "grpo": (GRPOConfig, build_grpo_trainer),
    }[stage]
    argv = _args(
        f"tiny/{stage}.yaml", tiny_bench, tiny_model_dir, tmp_path / stage, "--max_steps", "1"
    )
    for flag, frozen in (("false", False), ("true", True)):
        trainer, _ = build(*parse_args(config, [*argv, "--freeze_vision_tower", flag]))
        visual = trainer.model.model.visual
        blocks = [
            p.requires_grad for n, p in visual.named_parameters() if not n.startswith("merger.")
        ]
        merger = [p.requires_grad for n, p in visual.named_parameters() if n.startswith("merger.")]
        assert all(merger)
        assert not any(blocks) if frozen else all(blocks)
    trainer, _ = build(*parse_args(config, [*argv, "--freeze_vision_tower", "true",
                                            "--freeze_merger", "true"]))  # fmt: skip
    assert not any(p.requires_grad for p in trainer.model.model.visual.parameters())
