"""Kill -9 a training run after a checkpoint, re-run with resume: same global step, same data
order (the resumed run's per-step losses equal an uninterrupted run's)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _cmd(bench: Path, model: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cxreason.cli",
        "train",
        "sft",
        "--config",
        str(RECIPES / "tiny/sft.yaml"),
        "--bench",
        str(bench),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(out),
        "--max_steps",
        "16",
        "--save_steps",
        "4",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--per_device_train_batch_size",
        "2",
        "--save_total_limit",
        "10",
        "--resume_from_checkpoint",
        "auto",
    ]


def _losses(history: list[dict]) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in history if "loss" in r}


@pytest.mark.slow
def test_kill_and_resume_continues_same_step_same_order(tiny_bench, tiny_model_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    ref = tmp_path / "ref"
    subprocess.run(_cmd(tiny_bench, tiny_model_dir, ref), env=env, check=True, capture_output=True)
    reference = _losses(json.loads((ref / "log_history.json").read_text()))
    assert sorted(reference) == list(range(1, 17))

    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd(tiny_bench, tiny_model_dir, out),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not (out / "checkpoint-4" / "trainer_state.json").exists():
        assert proc.poll() is None, "run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (out / "log_history.json").exists()  # it really died mid-run
    done = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert done and done[-1] < 16

    res = subprocess.run(
        _cmd(tiny_bench, tiny_model_dir, out), env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = json.loads((out / "log_history.json").read_text())
    losses = _losses(resumed)
    assert sorted(losses) == list(range(1, 17))  # continued to the same last step, no step twice
    state = json.loads((out / "checkpoint-16" / "trainer_state.json").read_text())
    assert state["global_step"] == 16
    for step in range(done[-1] + 1, 17):  # steps run after the resume saw the same batches
        assert losses[step] == pytest.approx(reference[step], rel=1e-4, abs=1e-5), step
