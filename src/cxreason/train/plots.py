"""Training curves from a Trainer's ``log_history`` (PNG, matplotlib Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def series(log_history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` in the log history (entries without it are skipped)."""
    steps, vals = [], []
    for row in log_history:
        if key in row and row[key] is not None and "step" in row:
            steps.append(int(row["step"]))
            vals.append(float(row[key]))
    return steps, vals


def reward_keys(log_history: Sequence[dict[str, Any]]) -> list[str]:
    """Per-function reward means logged by TRL's GRPOTrainer (``rewards/<name>/mean``)."""
    keys = {
        k for row in log_history for k in row if k.startswith("rewards/") and k.endswith("/mean")
    }
    return sorted(keys)


def plot_reward_curve(
    log_history: Sequence[dict[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """Plot the total reward (with its std band) and each reward function vs step; write PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxreason.records import atomic_writer

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    steps, total = series(log_history, "reward")
    if steps:
        ax.plot(steps, total, color="black", lw=2, label="reward (weighted sum)")
        _, std = series(log_history, "reward_std")
        if len(std) == len(total):
            lo = [m - s for m, s in zip(total, std, strict=True)]
            hi = [m + s for m, s in zip(total, std, strict=True)]
            ax.fill_between(steps, lo, hi, color="black", alpha=0.1, label="± std within groups")
    for key in reward_keys(log_history):
        s, v = series(log_history, key)
        ax.plot(s, v, lw=1, label=key.split("/")[1])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("mean reward")
    ax.set_title(title or "GRPO reward")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out = Path(path)
    with atomic_writer(out, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return out
