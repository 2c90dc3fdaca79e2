"""Agreement between RadRScore and an external judge: rank and linear correlations with CIs.

Used by ``benchmarks/judge_agreement.py`` against the ChestX-Reasoner authors' released GPT-4o
judgements (``../shared/data/radrscore_judged``). Conventions:

- Spearman's rho is Pearson's r on average ranks (ties share their mean rank), as in
  ``scipy.stats.spearmanr``; a constant column has no correlation (``nan``).
- Confidence intervals: percentile bootstrap over *items* (clusters): when several systems are
  pooled, an item's rows (one per system) are drawn together, so the interval is not narrowed
  by treating two outputs for the same question as independent.
- The dev / check split of the judged items is fixed by a hash of the item id
  (:func:`judged_part`): iterate on ``dev``, look at ``check`` rarely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from cxreason.metrics.bootstrap import N_RESAMPLES, SEED

#: Share of judged items in the ``dev`` part (the rest is ``check``).
DEV_SHARE = 0.6
PARTS = ("dev", "check")


def judged_part(item_id: str) -> str:
    """``dev`` or ``check`` for a judged item, from a hash of its id (stable across runs)."""
    h = hashlib.sha256(f"radrscore-judged-split:{item_id}".encode()).digest()
    return "dev" if int.from_bytes(h[:8], "big") / 2**64 < DEV_SHARE else "check"


def rankdata(values: Sequence[float]) -> np.ndarray:
    """Average ranks (1-based; ties get the mean of the ranks they span)."""
    a = np.asarray(values, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    first = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(a)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends
    out = np.empty(len(a))
    out[order] = mean_rank[group]
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r; ``nan`` when fewer than 3 pairs or a column is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 3:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (Pearson on average ranks); ``nan`` as for :func:`pearson`."""
    if len(x) < 3:
        return float("nan")
    return pearson(rankdata(x), rankdata(y))


def correlation_ci(
    x: Sequence[float],
    y: Sequence[float],
    clusters: Sequence[str] | None = None,
    method: str = "spearman",
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict:
    """``{value, ci95, n}`` of the correlation, with a cluster bootstrap CI.

    ``clusters``: one key per pair (the item id); pairs sharing a key are resampled together.
    None: every pair is its own cluster.
    """
    fn = {"spearman": spearman, "pearson": pearson}[method]
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keys = list(clusters) if clusters is not None else list(range(len(a)))
    groups: dict = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    members = list(groups.values())
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_resamples if len(members) >= 3 else 0):
        pick = rng.integers(0, len(members), size=len(members))
        idx = np.fromiter((i for g in pick for i in members[g]), dtype=np.int64)
        r = fn(a[idx], b[idx])
        if not np.isnan(r):
            boot.append(r)
    lo, hi = np.quantile(boot, [0.025, 0.975]) if boot else (np.nan, np.nan)
    return {"value": fn(a, b), "ci95": [float(lo), float(hi)], "n": len(a)}


def paired_difference_ci(
    a: Sequence[float], b: Sequence[float], n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> dict:
    """``mean(b - a)`` over paired items with its percentile bootstrap CI."""
    from cxreason.metrics.bootstrap import mean_ci

    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    value, ci = mean_ci(d, n_resamples, seed)
    return {"value": value, "ci95": ci, "n": int(d.size)}
