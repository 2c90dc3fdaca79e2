"""Bootstrap CIs: deterministic, cover the mean, shrink with n; paired test finds real gaps."""

from __future__ import annotations

import numpy as np

from cxreason.metrics.bootstrap import mean_ci, metric_cis, paired_bootstrap_p


def test_ci_is_deterministic_and_contains_mean():
    v = np.random.default_rng(1).random(200)
    m, ci = mean_ci(v)
    assert ci[0] < m < ci[1]
    assert mean_ci(v) == (m, ci)


def test_ci_width_matches_binomial_theory():
    v = np.r_[np.ones(500), np.zeros(500)]
    _, (lo, hi) = mean_ci(v)
    se = np.sqrt(0.25 / 1000)
    assert abs((hi - lo) - 2 * 1.96 * se) < 0.01


def test_constant_column_has_zero_width_and_columns_share_resamples():
    out = metric_cis({"a": np.ones(30), "b": np.arange(30) % 2})
    assert out["a"] == {"value": 1.0, "ci95": [1.0, 1.0]}
    assert out["b"]["ci95"][0] < 0.5 < out["b"]["ci95"][1]


def test_paired_bootstrap():
    a = np.zeros(200)
    b = np.r_[np.ones(30), np.zeros(170)]
    delta, ci, p = paired_bootstrap_p(a, b)
    assert delta == 0.15 and ci[0] > 0 and p < 0.01
    _, _, p_same = paired_bootstrap_p(b, b)
    assert p_same == 1.0
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    assert paired_bootstrap_p(x, y)[2] > 0.05 or abs(x.mean() - y.mean()) > 0.08
