"""Bootstrap confidence intervals and paired tests (numpy, vectorised).

The resampling unit is the item, or a cluster of items (``clusters=``: one key per item, e.g.
the study id): items of one study share an image and a report, so they are not independent,
and resampling them one by one gives intervals that are too narrow. A cluster resample draws
whole clusters with replacement and takes the mean over all items they hold (the ratio
estimator). Defaults: 1000 resamples, fixed seed 0, percentile 95% CI. The same seed and data
give the same interval bit for bit.
"""

from __future__ import annotations

import numpy as np

N_RESAMPLES = 1000
SEED = 0


def bootstrap_means(
    values, n_resamples: int = N_RESAMPLES, seed: int = SEED, chunk: int = 0, clusters=None
) -> np.ndarray:
    """Means of ``values`` (``(n,)`` or ``(n, k)``) over ``n_resamples`` resamples.

    ``clusters``: one hashable key per item; whole clusters are resampled (see the module
    docstring). None: every item is its own cluster. Resamples are drawn with replacement from
    ``np.random.default_rng(seed)`` in chunks (bounded memory); the same values and seed give
    the same means, bit for bit. Returns ``(n_resamples,)`` or ``(n_resamples, k)``.
    """
    v = np.asarray(values, dtype=np.float64)
    if clusters is not None:
        return _cluster_bootstrap_means(v, clusters, n_resamples, seed)
    n = v.shape[0]
    chunk = chunk or max(1, min(n_resamples, 4_000_000 // max(1, n * (v.size // max(1, n)))))
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        out.append(v[idx].mean(axis=1))
    return np.concatenate(out, axis=0)


def _cluster_bootstrap_means(v: np.ndarray, clusters, n_resamples: int, seed: int) -> np.ndarray:
    """Cluster resampling: per-cluster sums and sizes, then sum(sums) / sum(sizes) per draw."""
    keys = list(clusters)
    if len(keys) != v.shape[0]:
        raise ValueError(f"{len(keys)} cluster keys for {v.shape[0]} values")
    index: dict = {}
    codes = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
    n_clusters = len(index)
    flat = v.reshape(v.shape[0], -1)
    sums = np.zeros((n_clusters, flat.shape[1]))
    np.add.at(sums, codes, flat)
    sizes = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, 4_000_000 // max(1, n_clusters * flat.shape[1])))
    out = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n_clusters, size=(min(chunk, n_resamples - start), n_clusters))
        out.append(sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)[:, None])
    means = np.concatenate(out, axis=0)
    return means[:, 0] if v.ndim == 1 else means


def mean_ci(
    values,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
    clusters=None,
) -> tuple[float, list[float]]:
    """Mean of ``values`` and its percentile bootstrap CI ``[lo, hi]``; empty -> (nan, [nan, nan]).

    ``clusters``: resample whole clusters (one key per value), see :func:`bootstrap_means`.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), [float("nan"), float("nan")]
    means = bootstrap_means(v, n_resamples, seed, clusters=clusters)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(v.mean()), [float(lo), float(hi)]


def metric_cis(
    columns: dict[str, np.ndarray],
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    clusters=None,
) -> dict[str, dict]:
    """``{name: {value, ci95}}`` for several per-item columns, all on the SAME resamples.

    ``clusters``: one key per row; whole clusters are resampled (see :func:`bootstrap_means`).
    """
    names = list(columns)
    if not names:
        return {}
    mat = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in names])
    if mat.shape[0] == 0:
        return {k: {"value": None, "ci95": [None, None]} for k in names}
    means = bootstrap_means(mat, n_resamples, seed, clusters=clusters)
    lo, hi = np.quantile(means, [0.025, 0.975], axis=0)
    point = mat.mean(axis=0)
    return {
        k: {"value": float(point[i]), "ci95": [float(lo[i]), float(hi[i])]}
        for i, k in enumerate(names)
    }


def paired_bootstrap_p(
    a, b, n_resamples: int = 10_000, seed: int = SEED, clusters=None
) -> tuple[float, list[float], float]:
    """Two-sided paired bootstrap test of mean(b) - mean(a) = 0 over the same items.

    Returns ``(delta, ci95, p)``: delta = mean(b - a); p = share of centred resampled deltas at
    least as extreme as the observed one, (count + 1) / (B + 1). ``clusters``: one key per
    pair; whole clusters of pairs are resampled.
    """
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if d.size == 0:
        return float("nan"), [float("nan"), float("nan")], float("nan")
    delta = float(d.mean())
    boot = bootstrap_means(d, n_resamples, seed, clusters=clusters)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    extreme = np.abs(boot - delta) >= abs(delta) - 1e-12
    p = (int(extreme.sum()) + 1) / (n_resamples + 1)
    return delta, [float(lo), float(hi)], float(min(1.0, p))
