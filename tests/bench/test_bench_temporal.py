"""Temporal items: one chain structure for every class; the class is only in the comparison."""

from __future__ import annotations

import re

import pytest
from bench_fixtures import temporal_parity_studies

from cxreason.bench import probe as P
from cxreason.bench.cli import main
from cxreason.bench.miner import CURRENT_PREFIX, PRIOR_PREFIX
from cxreason.records import BenchItem, read_records, write_jsonl

CLASSES = ("worsening", "stable", "improving")
_WORD = re.compile(r"[a-z]+")


@pytest.fixture(scope="module")
def parity_items(tmp_path_factory) -> list[BenchItem]:
    tmp = tmp_path_factory.mktemp("parity")
    write_jsonl(tmp / "studies.jsonl", temporal_parity_studies(243))
    assert main(["build", str(tmp / "studies.jsonl"), "--out", str(tmp / "b"),
                 "--tasks", "temporal", "--splits", "0.6,0.1,0.3"]) == 0  # fmt: skip
    items = read_records(tmp / "b" / "bench.jsonl", BenchItem)
    assert len(items) >= 150 and all(it.reasoning_steps for it in items)
    return items


def _chain_tokens(steps: list[str]) -> list[str]:
    toks = [f"nsteps:{len(steps)}"]
    for i, s in enumerate(steps):
        words = _WORD.findall(s.lower())
        toks += [f"w:{w}" for w in words]
        toks += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
        toks += [f"head{i}:{' '.join(words[:3])}", f"len{i}:{len(words)}"]
    return toks


def _class_probe(items: list[BenchItem], keep) -> P.ProbeResult:
    """A cross-validated logistic regression from chain text to the class (chance 1/3)."""
    group = P.item_group(items)
    examples = []
    for it in items:
        toks = _chain_tokens(keep(it.reasoning_steps))
        examples.append(
            P.Example(
                [[f"{c}|{t}" for t in toks] for c in CLASSES],
                CLASSES.index(it.options[it.answer]),
                group(it),
            )
        )
    return P.cross_validated(examples)


def test_every_class_has_the_same_five_step_structure(parity_items):
    for it in parity_items:
        s = it.reasoning_steps
        assert len(s) == 5, s
        assert s[0].startswith("I compare ") and "reference image" in s[0]
        assert s[1].startswith(PRIOR_PREFIX) and s[2].startswith(CURRENT_PREFIX)
        assert s[3].startswith("Compared with the reference image, the ")
        cls = it.options[it.answer]
        assert s[4] == f"So the progression is {cls}: the answer is {it.answer}) {cls}."
        assert "first image is the reference image" in it.question
        # the per-image steps never state a change (that is the comparison's job)
        assert not re.search(r"increas|decreas|unchanged|stable|improv|worse", " ".join(s[:3]))


def test_chain_without_its_comparison_does_not_reveal_the_class(parity_items):
    blind = _class_probe(parity_items, lambda steps: steps[:-2])  # minus comparison + answer
    assert blind.accuracy <= 1 / 3 + 0.05, blind
    # the probe has the power to read the class where it is stated
    full = _class_probe(parity_items, lambda steps: steps[:-1])
    assert full.accuracy >= 0.9, full
