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


def test_singleton_clusters_equal_the_item_bootstrap():
    v = np.random.default_rng(2).random(150)
    m, ci = mean_ci(v)
    mc, cic = mean_ci(v, clusters=[f"s{i}" for i in range(150)])
    assert mc == m and np.allclose(cic, ci, atol=1e-12)


def test_cluster_bootstrap_widens_for_duplicated_items():
    """Ten copies of each study's outcome carry the information of one study, not ten: the
    cluster CI matches the study-level CI, the item CI is about sqrt(10) times too narrow."""
    studies = np.r_[np.ones(50), np.zeros(50)]
    items = np.repeat(studies, 10)
    keys = np.repeat(np.arange(100), 10)
    _, (lo_s, hi_s) = mean_ci(studies)
    _, (lo_c, hi_c) = mean_ci(items, clusters=keys)
    _, (lo_i, hi_i) = mean_ci(items)
    assert abs((hi_c - lo_c) - (hi_s - lo_s)) < 0.02
    assert (hi_c - lo_c) / (hi_i - lo_i) > 2.5


def test_cluster_ratio_estimator_weights_clusters_by_size():
    """Unequal clusters: the point value is the item mean, and every resample is a ratio of
    sums (a one-item cluster does not count as much as a ten-item one)."""
    v = np.r_[np.ones(10), np.zeros(1)]
    keys = ["big"] * 10 + ["small"]
    out = metric_cis({"a": v}, clusters=keys)
    assert out["a"]["value"] == 10 / 11
    assert out["a"]["ci95"][0] == 0.0 and out["a"]["ci95"][1] == 1.0


def test_paired_cluster_bootstrap_and_bad_keys():
    a = np.zeros(40)
    b = np.r_[np.ones(20), np.zeros(20)]
    keys = np.repeat(np.arange(4), 10)  # two studies all gained, two gained nothing
    delta, ci, _ = paired_bootstrap_p(a, b, n_resamples=2000, clusters=keys)
    assert delta == 0.5 and ci[0] <= 0.25 and ci[1] >= 0.75
    try:
        mean_ci(np.ones(3), clusters=["x", "y"])
    except ValueError as e:
        assert "2 cluster keys for 3 values" in str(e)
    else:
        raise AssertionError("mismatched cluster keys must raise")
