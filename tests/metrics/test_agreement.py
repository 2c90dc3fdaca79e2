"""Rank/linear correlation and the dev/check split used by benchmarks/judge_agreement.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxreason.metrics.agreement import (
    DEV_SHARE,
    correlation_ci,
    judged_part,
    paired_difference_ci,
    pearson,
    rankdata,
    spearman,
)


def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([1, 1, 1]).tolist() == [2.0, 2.0, 2.0]


def test_spearman_is_pearson_on_ranks():
    x = [0.1, 0.4, 0.2, 0.9, 0.5]
    y = [1, 8, 3, 100, 9]  # monotone in x, not linear
    assert spearman(x, y) == pytest.approx(1.0)
    assert pearson(x, y) < 0.95
    assert spearman(x, [-v for v in y]) == pytest.approx(-1.0)
    # with ties: scipy.stats.spearmanr gives 0.7894736842105264
    assert spearman([1, 2, 2, 3, 4], [2, 1, 3, 4, 4]) == pytest.approx(0.7894736842105264)


def test_constant_or_short_columns_have_no_correlation():
    assert math.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4]))
    assert math.isnan(pearson([1, 2], [2, 1]))


def test_correlation_ci_is_deterministic_and_brackets_the_value():
    rng = np.random.default_rng(1)
    x = rng.random(80)
    y = x + rng.normal(0, 0.3, 80)
    a = correlation_ci(x, y, n_resamples=300, seed=3)
    b = correlation_ci(x, y, n_resamples=300, seed=3)
    assert a == b and a["n"] == 80
    assert a["ci95"][0] < a["value"] < a["ci95"][1]


def test_cluster_bootstrap_is_wider_than_treating_copies_as_independent():
    rng = np.random.default_rng(2)
    x = rng.random(40)
    y = x + rng.normal(0, 0.5, 40)
    xx, yy = np.r_[x, x], np.r_[y, y]  # every item scored twice
    keys = [str(i) for i in range(40)] * 2
    clustered = correlation_ci(xx, yy, keys, n_resamples=400)
    naive = correlation_ci(xx, yy, None, n_resamples=400)
    width = lambda c: c["ci95"][1] - c["ci95"][0]  # noqa: E731
    assert width(clustered) > 1.2 * width(naive)


def test_paired_difference():
    d = paired_difference_ci([0.5, 0.5, 0.5, 0.5], [0.7, 0.6, 0.8, 0.7], n_resamples=200)
    assert d["value"] == pytest.approx(0.2) and d["n"] == 4
    assert d["ci95"][0] <= 0.2 <= d["ci95"][1]


def test_judged_split_is_stable_and_near_its_share():
    ids = [f"openi_single-{i}" for i in range(2000)]
    parts = [judged_part(i) for i in ids]
    assert parts == [judged_part(i) for i in ids]
    assert set(parts) == {"dev", "check"}
    assert abs(parts.count("dev") / len(ids) - DEV_SHARE) < 0.03
