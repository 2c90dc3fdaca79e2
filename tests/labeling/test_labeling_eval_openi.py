"""The labeler against the NLM MeSH annotations of the shared Open-I reports (targets)."""

from __future__ import annotations

import pytest

from cxreason.labeling.evaluate import evaluate_openi


@pytest.fixture(scope="module")
def results(openi_reports):
    return evaluate_openi(openi_reports)


def test_micro_f1_target(results) -> None:
    res = results["strict"]
    assert res.n_reports > 1000
    assert res.micro().f1 >= 0.93, res.to_dict()


def test_per_label_f1_with_support(results) -> None:
    res = results["strict"]
    weak = {
        lb: round(res.per_label[lb].f1, 3)
        for lb in res.labels
        if res.per_label[lb].support >= 20 and res.per_label[lb].f1 < 0.85
    }
    assert not weak, weak
    assert "No Finding" in res.labels


def test_lenient_policy_is_reported(results) -> None:
    assert 0.85 < results["lenient"].micro().f1 <= 1.0
