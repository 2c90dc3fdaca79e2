"""GPU recipes validated on CPU: same trainer built with a tiny model of the same architecture,
one optimizer step (model path, batch sizes, bf16, vLLM and image size overridden)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxreason.train.config import parse_args

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
CPU = [
    "--use_cpu",
    "true",
    "--bf16",
    "false",
    "--dtype",
    "float32",
    "--max_steps",
    "1",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--dataloader_num_workers",
    "0",
    "--image_size",
    "112",
    "--image_min_size",
    "56",
    "--train_split",
    "all",
    "--tf32",
    "false",
    "--attn_implementation",
    "sdpa",
    "--use_liger_kernel",
    "false",
    "--report_to",
    "none",
]


@pytest.fixture(scope="module")
def tiny_qwen2_vl(tmp_path_factory) -> Path:
    from cxreason.train.model import init_tiny

    return init_tiny(tmp_path_factory.mktemp("q2") / "m", arch="qwen2_vl", vision_depth=1, layers=1)


def _one_step(stage: str, recipe: str, model: Path, bench: Path, out: Path, extra: list[str]):
    from trl import GRPOConfig, SFTConfig

    from cxreason.train.grpo import build_grpo_trainer
    from cxreason.train.sft import build_sft_trainer

    argv = [
        "--config",
        str(RECIPES / recipe),
        "--bench",
        str(bench),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(out),
        *CPU,
        *extra,
    ]
    cfg, build = (
        (SFTConfig, build_sft_trainer) if stage == "sft" else (GRPOConfig, build_grpo_trainer)
    )
    script, targs, margs = parse_args(cfg, argv)
    trainer, _ = build(script, targs, margs)
    trainer.train()
    assert trainer.state.global_step == 1
    return script, targs, trainer


def test_qwen2_vl_7b_sft_recipe_paper_hparams(tiny_qwen2_vl, tiny_bench, tmp_path):
    script, targs, trainer = _one_step(
        "sft",
        "qwen2_vl_7b/sft.yaml",
        tiny_qwen2_vl,
        tiny_bench,
        tmp_path / "o",
        ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"],
    )
    raw = yaml.safe_load((RECIPES / "qwen2_vl_7b/sft.yaml").read_text())
    assert raw["per_device_train_batch_size"] * raw["gradient_accumulation_steps"] * 8 == 512
    assert (targs.learning_rate, targs.adam_beta1, targs.adam_beta2) == (2e-6, 0.9, 0.95)
    assert (targs.warmup_steps, targs.max_grad_norm, targs.weight_decay) == (0.1, 1.0, 0.0)
    assert targs.lr_scheduler_type.value == "cosine" and script.both_modes
    assert type(trainer.model).__name__ == "Qwen2VLForConditionalGeneration"


@pytest.mark.slow
def test_qwen2_vl_7b_grpo_recipe_paper_hparams(tiny_qwen2_vl, tiny_bench, tmp_path):
    script, targs, trainer = _one_step(
        "grpo",
        "qwen2_vl_7b/grpo.yaml",
        tiny_qwen2_vl,
        tiny_bench,
        tmp_path / "o",
        [
            "--per_device_train_batch_size",
            "2",
            "--num_generations",
            "2",
            "--gradient_accumulation_steps",
            "1",
            "--use_vllm",
            "false",
            "--max_completion_length",
            "8",
        ],
    )
    raw = yaml.safe_load((RECIPES / "qwen2_vl_7b/grpo.yaml").read_text())
    completions = raw["per_device_train_batch_size"] * raw["gradient_accumulation_steps"] * 8
    assert raw["num_generations"] == 8 and completions // raw["num_generations"] == 256  # prompts
    assert raw["use_vllm"] and raw["vllm_mode"] == "colocate"
    assert raw["max_completion_length"] == 2048 and raw["mask_truncated_completions"]
    assert (targs.learning_rate, targs.beta, targs.entropy_coef) == (5e-7, 1e-4, 1e-4)
    assert script.prompt_mode == "mixed" and 0 < script.cot_fraction < 1
    assert any("reward" in r for r in trainer.state.log_history)


def test_qwen2_5_vl_3b_sft_recipe(tiny_model_dir, tiny_bench, tmp_path):
    _, targs, trainer = _one_step(
        "sft",
        "qwen2_5_vl_3b/sft.yaml",
        tiny_model_dir,
        tiny_bench,
        tmp_path / "o",
        ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"],
    )
    assert type(trainer.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert targs.gradient_checkpointing  # the GPU setting itself runs on CPU


@pytest.mark.slow
def test_qwen2_5_vl_3b_grpo_recipe_with_lora(tiny_model_dir, tiny_bench, tmp_path):
    _, _, trainer = _one_step(
        "grpo",
        "qwen2_5_vl_3b/grpo.yaml",
        tiny_model_dir,
        tiny_bench,
        tmp_path / "o",
        [
            "--per_device_train_batch_size",
            "2",
            "--num_generations",
            "2",
            "--gradient_accumulation_steps",
            "1",
            "--use_vllm",
            "false",
            "--max_completion_length",
            "8",
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
        ],
    )
    assert type(trainer.model).__name__.startswith("PeftModel")


def test_demo_grpo_recipe_and_its_outcome_only_arm(tiny_model_dir, tiny_bench, tmp_path):
    """The demo's GRPO stage: binary items only, vision tower frozen, process reward =
    factuality + completeness (logged); its outcome-only arm drops exactly those two."""
    from cxreason.demo.pipeline import outcome_only_overrides

    extra = ["--per_device_train_batch_size", "4", "--max_completion_length", "8"]
    script, _, trainer = _one_step(
        "grpo", "demo/grpo.yaml", tiny_model_dir, tiny_bench, tmp_path / "o", extra
    )
    assert script.tasks == ["binary"] and set(trainer.train_dataset["task"]) == {"binary"}
    assert script.reward_funcs == ["format", "accuracy", "factuality", "completeness"]
    assert not any(
        p.requires_grad for n, p in trainer.model.model.visual.named_parameters()
        if not n.startswith("merger.")
    )  # fmt: skip
    logged = trainer.state.log_history[-1]
    assert "rewards/factuality_reward/mean" in logged
    assert "rewards/completeness_reward/mean" in logged

    arm = outcome_only_overrides(RECIPES / "demo" / "grpo.yaml")
    assert arm == ["--reward_funcs", "format", "accuracy", "--reward_weights", "0.5", "1.0"]
    script, targs, trainer = _one_step(
        "grpo", "demo/grpo.yaml", tiny_model_dir, tiny_bench, tmp_path / "oc", [*extra, *arm]
    )
    assert script.reward_funcs == ["format", "accuracy"] and targs.reward_weights == [0.5, 1.0]
    logged = trainer.state.log_history[-1]
    assert not any("factuality" in k or "completeness" in k for k in logged)


@pytest.mark.parametrize(
    "stage,recipe,arch",
    [
        ("sft", "chestx_reasoner_7b/sft.yaml", "qwen2_vl"),
        pytest.param("grpo", "chestx_reasoner_7b/grpo.yaml", "qwen2_vl", marks=pytest.mark.slow),
        ("sft", "nv_reason_cxr_3b/sft.yaml", "qwen2_5_vl"),
        pytest.param("grpo", "nv_reason_cxr_3b/grpo.yaml", "qwen2_5_vl", marks=pytest.mark.slow),
    ],
)
def test_reproduction_recipes_build_and_step(
    stage, recipe, arch, tiny_qwen2_vl, tiny_model_dir, tiny_bench, tmp_path
):
    """The authors' runs build their trainer and step once on a tiny model of their architecture."""
    model = tiny_qwen2_vl if arch == "qwen2_vl" else tiny_model_dir
    extra = ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"]
    if stage == "grpo":
        extra += ["--num_generations", "2", "--use_vllm", "false", "--max_completion_length", "8"]
    script, targs, trainer = _one_step(stage, recipe, model, tiny_bench, tmp_path / "o", extra)
    name = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VL"}[arch]
    assert type(trainer.model).__name__.startswith(name)
    if recipe.startswith("nv_reason") and stage == "grpo":
        assert script.reward_semantics == "nv_reason_cxr"
        logged = next(r for r in trainer.state.log_history if "reward" in r)
        assert "rewards/nv_accuracy_reward/mean" in logged
        assert "rewards/length_reward/mean" in logged  # the token penalty ran


@pytest.mark.parametrize("name", ["deepspeed_zero2.yaml", "fsdp.yaml"])
def test_accelerate_configs_parse(name):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(RECIPES / "accelerate" / name)
    assert cfg.mixed_precision == "bf16" and cfg.num_processes == 8
    assert cfg.distributed_type.name in ("DEEPSPEED", "FSDP")


@pytest.mark.parametrize(
    "recipe",
    [
        "tiny/sft.yaml",
        "tiny/grpo.yaml",
        "qwen2_vl_7b/sft.yaml",
        "qwen2_vl_7b/grpo.yaml",
        "qwen2_5_vl_3b/sft.yaml",
        "qwen2_5_vl_3b/grpo.yaml",
        "demo/sft.yaml",
        "demo/grpo.yaml",
        "chestx_reasoner_7b/sft.yaml",
        "chestx_reasoner_7b/grpo.yaml",
        "nv_reason_cxr_3b/sft.yaml",
        "nv_reason_cxr_3b/grpo.yaml",
    ],
)
def test_every_recipe_parses(recipe):
    from trl import GRPOConfig, SFTConfig

    cfg = GRPOConfig if recipe.endswith("grpo.yaml") else SFTConfig
    script, targs, margs = parse_args(
        cfg,
        [
            "--config",
            str(RECIPES / recipe),
            "--bench",
            "b.jsonl",
            "--model_name_or_path",
            "m",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
            "--tf32",
            "false",
        ],
    )
    reproduction = recipe.startswith(("chestx_reasoner", "nv_reason"))
    if cfg is GRPOConfig:
        assert len(targs.reward_weights) == len(script.reward_funcs)
        assert (targs.per_device_train_batch_size * 8) % targs.num_generations == 0
        if not reproduction:
            assert script.format_gate and script.reward_semantics == "strict"
            funcs = set(script.reward_funcs)  # a process reward that one safe sentence cannot max
            assert {"factuality", "completeness"} <= funcs or "radrscore" in funcs, funcs
        if not recipe.startswith(("tiny", "demo")):  # GPU recipes roll out with vLLM
            assert targs.use_vllm and targs.vllm_mode == "colocate"
    else:
        assert targs.completion_only_loss is (not recipe.startswith("nv_reason"))
