"""Bootstrap confidence intervals and paired tests over items (numpy, vectorised).

Items are the resampling unit. Defaults: 1000 resamples, fixed seed 0, percentile 95% CI.
The same seed and data give the same interval bit for bit.
"""

from __future__ import annotations

import numpy as np

N_RESAMPLES = 1000
SEED = 0


def bootstrap_means(
    values, n_resamples: int = N_RESAMPLES, seed: int = SEED, chunk: int = 0
) -> np.ndarray:
    """Means of ``values`` (``(n,)`` or ``(n, k)``) over ``n_resamples`` item resamples.

    Resamples are drawn with replacement from ``np.random.default_rng(seed)`` in chunks (bounded
    memory); the same values and seed give the same means, bit for bit.
    Returns ``(n_resamples,)`` or ``(n_resamples, k)``.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    chunk = chunk or max(1, min(n_resamples, 4_000_000 // max(1, n * (v.size // max(1, n)))))
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        out.append(v[idx].mean(axis=1))
    return np.concatenate(out, axis=0)


def mean_ci(
    values, n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = 0.95
) -> tuple[float, list[float]]:
    """Mean of ``values`` and its percentile bootstrap CI ``[lo, hi]``; empty -> (nan, [nan, nan])."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), [float("nan"), float("nan")]
    means = bootstrap_means(v, n_resamples, seed)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(v.mean()), [float(lo), float(hi)]


def metric_cis(
    columns: dict[str, np.ndarray], n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> dict[str, dict]:
    """``{name: {value, ci95}}`` for several per-item columns, all on the SAME resamples."""
    names = list(columns)
    if not names:
        return {}
    mat = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in names])
    if mat.shape[0] == 0:
        return {k: {"value": None, "ci95": [None, None]} for k in names}
    means = bootstrap_means(mat, n_resamples, seed)
    lo, hi = np.quantile(means, [0.025, 0.975], axis=0)
    point = mat.mean(axis=0)
    return {
        k: {"value": float(point[i]), "ci95": [float(lo[i]), float(hi[i])]}
        for i, k in enumerate(names)
    }


def paired_bootstrap_p(
    a, b, n_resamples: int = 10_000, seed: int = SEED
) -> tuple[float, list[float], float]:
    """Two-sided paired bootstrap test of mean(b) - mean(a) = 0 over the same items.

    Returns ``(delta, ci95, p)``: delta = mean(b - a); p = share of centred resampled deltas at
    least as extreme as the observed one, (count + 1) / (B + 1).
    """
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if d.size == 0:
        return float("nan"), [float("nan"), float("nan")], float("nan")
    delta = float(d.mean())
    boot = bootstrap_means(d, n_resamples, seed)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    extreme = np.abs(boot - delta) >= abs(delta) - 1e-12
    p = (int(extreme.sum()) + 1) / (n_resamples + 1)
    return delta, [float(lo), float(hi)], float(min(1.0, p))
