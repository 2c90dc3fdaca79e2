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


def test_ci_coverage_and_null_p_values_are_calibrated():
    """95% CIs cover the true mean ~95% of the time; null p-values are rarely < 0.05."""
    rng = np.random.default_rng(7)
    covered, small_p = 0, 0
    trials = 200
    for t in range(trials):
        v = (rng.random(200) < 0.7).astype(float)
        _, (lo, hi) = mean_ci(v, n_resamples=500, seed=t)
        covered += lo <= 0.7 <= hi
        x, y = (rng.random(150) < 0.6).astype(float), (rng.random(150) < 0.6).astype(float)
        small_p += paired_bootstrap_p(x, y, n_resamples=500, seed=t)[2] < 0.05
    assert 0.90 <= covered / trials <= 0.99
    assert small_p / trials <= 0.10
