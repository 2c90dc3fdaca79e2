"""SFT -> GRPO hand-off: the GRPO stage starts from exactly the weights the SFT stage saved.

Run in one process, and through ``accelerate launch`` with every accelerate config of
``recipes/accelerate`` that runs on a CPU (``multi_cpu.yaml``: 2 processes, gloo). The GPU
configs (DeepSpeed ZeRO-2, FSDP) cannot run here; their final-save paths are checked below and
in ``test_fsdp_save.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
ACCELERATE = sorted((RECIPES / "accelerate").glob("*.yaml"))


def _stage_args(stage: str, bench: Path, model: Path, out: Path) -> list[str]:
    return [
        "--config", str(RECIPES / f"tiny/{stage}.yaml"), "--bench", str(bench),
        "--model_name_or_path", str(model), "--output_dir", str(out), "--report_to", "none",
        "--save_strategy", "no", "--warmup_steps", "0", "--train_split", "all",
        "--max_steps", "2" if stage == "sft" else "1",
        *(["--max_completion_length", "8"] if stage == "grpo" else []),
    ]  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_grpo_starts_from_the_saved_sft_weights(tiny_bench, tiny_model_dir, tmp_path):
    from trl import GRPOConfig, SFTConfig

    from cxreason.train.config import parse_args
    from cxreason.train.grpo import build_grpo_trainer
    from cxreason.train.sft import run_sft

    sft = run_sft(
        *parse_args(SFTConfig, _stage_args("sft", tiny_bench, tiny_model_dir, tmp_path / "sft"))
    )
    saved, initial = _weights(sft), _weights(tiny_model_dir)
    assert any(not torch.equal(saved[k], initial[k]) for k in initial)
    trainer, _ = build_grpo_trainer(
        *parse_args(GRPOConfig, _stage_args("grpo", tiny_bench, sft, tmp_path / "grpo"))
    )
    from cxreason.train.model import load_model_and_processor

    ref, _ = load_model_and_processor(sft, dtype="float32")
    for (k, a), (_, b) in zip(
        trainer.model.state_dict().items(), ref.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    trainer.train()
    assert trainer.state.global_step == 1


def _cpu_configs() -> list[Path]:
    return [p for p in ACCELERATE if yaml.safe_load(p.read_text()).get("use_cpu")]


def test_every_accelerate_config_has_a_final_save_that_loads():
    """CPU configs are launched below; GPU configs must use a save path that writes full weights:
    FSDP (any state-dict type: ``save_final_model`` gathers a full one) or DeepSpeed ZeRO-1/2
    (``Trainer.save_model`` gathers the replicated weights) or ZeRO-3 with 16-bit gathering."""
    assert _cpu_configs(), "no accelerate config runs on a CPU"
    for path in ACCELERATE:
        cfg = yaml.safe_load(path.read_text())
        kind = cfg["distributed_type"]
        if kind == "DEEPSPEED":
            ds = cfg["deepspeed_config"]
            assert ds["zero_stage"] in (1, 2) or ds.get("zero3_save_16bit_model"), path.name
        elif kind == "FSDP":
            assert cfg["fsdp_config"]["fsdp_state_dict_type"] in (
                "SHARDED_STATE_DICT",
                "FULL_STATE_DICT",
            )
        else:
            assert kind == "MULTI_CPU" and cfg["use_cpu"], path.name


@pytest.mark.slow
@pytest.mark.parametrize("config", _cpu_configs(), ids=lambda p: p.name)
def test_handoff_through_accelerate_launch(config, tiny_bench, tiny_model_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
        "--num_cpu_threads_per_process", "1", "-m", "cxreason.train.cli",
    ]  # fmt: skip
    sft, grpo = tmp_path / "sft", tmp_path / "grpo"
    for stage, model, out in (("sft", tiny_model_dir, sft), ("grpo", sft, grpo)):
        res = subprocess.run(
            [*launch, stage, *_stage_args(stage, tiny_bench, model, out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert (out / "model.safetensors").exists() and (out / "processor_config.json").exists()
    history = yaml.safe_load((grpo / "log_history.json").read_text())
    assert any("reward" in row for row in history)
    from cxreason.train.model import load_model_and_processor

    model, _ = load_model_and_processor(grpo, dtype="float32")
    assert sum(p.numel() for p in model.parameters()) > 0
