"""Reward-curve plot from a GRPO-style log history, and the GRPO-learns benchmark (slow)."""

from __future__ import annotations

import json

import pytest

from cxreason.train.plots import plot_reward_curve, reward_keys, series

HISTORY = [
    {
        "step": s,
        "reward": 0.1 * s,
        "reward_std": 0.05,
        "rewards/format_reward/mean": 0.2 * s / 2,
        "rewards/accuracy_reward/mean": 0.05 * s,
        "loss": 0.0,
    }
    for s in range(1, 6)
] + [{"step": 5, "train_runtime": 1.0}]


def test_series_and_reward_keys():
    assert series(HISTORY, "reward")[0] == [1, 2, 3, 4, 5]
    assert series(HISTORY, "missing") == ([], [])
    assert reward_keys(HISTORY) == ["rewards/accuracy_reward/mean", "rewards/format_reward/mean"]


def test_plot_reward_curve_writes_png(tmp_path):
    out = plot_reward_curve(HISTORY, tmp_path / "r" / "reward_curve.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.slow
def test_grpo_learns_benchmark(tmp_path, benchmark_script):
    """GRPO's reward rises: last-K mean > first-K mean + 2 SE (benchmarks/grpo_learns.py)."""
    mod = benchmark_script("grpo_learns")
    rc = mod.main(["--out", str(tmp_path / "gl")])
    figs = json.loads((tmp_path / "gl" / "grpo_learns.json").read_text())
    assert rc == 0 and figs["gain"] > 2 * figs["se_gain"], figs
    assert (tmp_path / "gl" / "grpo_learns.png").exists()
    assert (tmp_path / "gl" / "grpo" / "reward_curve.png").exists()


@pytest.mark.slow
def test_grpo_learns_benchmark_mixed_samples(tmp_path, benchmark_script):
    """One GRPO run mixing answer-only and reasoning prompts learns, and the process rewards
    scored exactly the reasoning samples at every step (benchmarks/grpo_learns.py --mixed)."""
    mod = benchmark_script("grpo_learns")
    rc = mod.main(["--mixed", "--out", str(tmp_path / "gl")])
    figs = json.loads((tmp_path / "gl" / "grpo_learns.json").read_text())
    assert figs["process_rewards"]["only_reasoning_samples"], figs["process_rewards"]
    assert 0 < figs["process_rewards"]["cot_share_mean"] < 1
    assert rc == 0 and figs["gain"] > 2 * figs["se_gain"], figs
