"""Benchmark content hashes and split selection (cxreason.provenance)."""

from __future__ import annotations

import json

import pytest

from cxreason.provenance import (
    SplitError,
    bench_sha256,
    check_split,
    items_sha256,
    select_split,
    short,
)
from cxreason.records import BenchItem, write_jsonl


def _item(i, split="test", **kw):
    d = dict(
        id=f"i{i}",
        study_id=f"s{i}",
        task="binary",
        question="Does this chest X-ray show Cardiomegaly?",
        options={"A": "Yes", "B": "No"},
        answer="A",
        answer_labels=["Cardiomegaly"],
        images=[],
        report="FINDINGS: x IMPRESSION: y",
        split=split,
    )
    d.update(kw)
    return BenchItem(**d)


def test_hash_ignores_serialisation_and_sees_every_content_change(tmp_path):
    items = [_item(0), _item(1, "train")]
    a = tmp_path / "a.jsonl"
    write_jsonl(a, items)
    b = tmp_path / "b.jsonl"  # the same items re-serialised with other whitespace and key order
    b.write_text(
        "\n".join(
            json.dumps(json.loads(x), indent=None, sort_keys=True)
            for x in a.read_text().splitlines()
        )
        + "\n\n"
    )
    assert bench_sha256(a) == bench_sha256(b) == items_sha256(items)
    for change in ({"answer": "B"}, {"options": {"A": "No", "B": "Yes"}}, {"split": "train"}):
        assert items_sha256([_item(0, **{"split": "test", **change}), items[1]]) != items_sha256(
            items
        )
    assert items_sha256(items[::-1]) != items_sha256(items)  # order is part of a build
    assert short(items_sha256(items)) == items_sha256(items)[:12] and short(None) == "?"


def test_select_split():
    items = [_item(0, "train"), _item(1, "validation"), _item(2, "test"), _item(3, "test")]
    assert [it.id for it in select_split(items, "test")] == ["i2", "i3"]
    assert [it.id for it in select_split(items, "validation")] == ["i1"]
    assert select_split(items, "all") == items
    with pytest.raises(SplitError, match="train, validation, test, all"):
        check_split("dev")
