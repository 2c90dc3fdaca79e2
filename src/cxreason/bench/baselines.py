"""Baselines that never look at the image, written as predictions so ``cxreason score`` scores
them with the same parser, rules and CIs as a model.

- ``chance``: a uniformly random option (seeded per item), with a chain that states it.
- ``blind``: the image-blind template. Binary: always "No", the chain negates the asked
  finding; single and multiple choice: always option A, the chain negates the other options;
  anomaly: always ``No Finding``. It shows what the answer prior and a well-formed chain alone
  score on accuracy *and* RadRScore: a chain that negates findings agrees with most reports.
- ``oracle``: the normality oracle. It knows one bit per study (is it abnormal? from our
  labeler on the item's report) and nothing else: binary "Yes" iff abnormal; single/multiple
  ``No Finding`` iff normal and offered, else a random option other than ``No Finding``;
  anomaly ``No Finding`` iff normal, else the most frequent finding of the benchmark.

A model's figure means something only above all three (see ``docs/bench.md``).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

from cxreason.prompts import BINARY_TEMPLATE
from cxreason.records import BenchItem
from cxreason.vocab import NO_FINDING

BASELINES = ("chance", "blind", "oracle")
_BINARY_RE = re.compile(
    "^" + re.escape(BINARY_TEMPLATE).replace(re.escape("{finding}"), "(?P<f>.+)") + "$"
)


def binary_finding(question: str) -> str:
    """The finding a binary question names (``Does this chest X-ray show X?`` -> ``X``)."""
    m = _BINARY_RE.match(question.strip())
    return m.group("f") if m else "the finding asked about"


def _letter_of(options: dict[str, str], text: str) -> str:
    return next((k for k, v in options.items() if v.casefold() == text.casefold()), "")


def _join(names: Sequence[str]) -> str:
    names = [n.lower() for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _output(think: str, answer: str) -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def binary_output(it: BenchItem, yes: bool) -> str:
    """A binary answer with a chain that states it for the asked finding."""
    finding = binary_finding(it.question)
    opts = it.options or {"A": "Yes", "B": "No"}
    letter = _letter_of(opts, "Yes" if yes else "No")
    if yes:
        think = (
            f"There is {finding}. So this chest X-ray shows {finding}: the answer is {letter}) Yes."
        )
    else:
        think = (
            f"No {finding} is seen. So this chest X-ray does not show {finding}: "
            f"the answer is {letter}) No."
        )
    return _output(think, letter)


def option_output(it: BenchItem, letter: str) -> str:
    """A choice answer whose chain affirms option ``letter`` and negates the others."""
    opts = it.options or {}
    chosen = opts.get(letter, "")
    others = [t for k, t in opts.items() if k != letter and t != NO_FINDING]
    parts = []
    if chosen == NO_FINDING:
        parts.append("The heart, lungs, pleura and bones appear normal.")
    else:
        parts.append(f"The findings are consistent with {chosen.lower()}.")
    if others:
        parts.append(f"There is no visible {_join(others)}.")
    parts.append(f"So the answer is {letter}) {chosen}.")
    return _output(" ".join(parts), letter)


def anomaly_output(labels: Sequence[str]) -> str:
    """An open anomaly answer (a label list, or ``No Finding``) with a chain stating it."""
    if list(labels) == [NO_FINDING]:
        think = "The heart, lungs, pleura and bones appear normal. In summary, there is no finding."
    else:
        think = f"There is {_join(labels)}. In summary, the answer is {', '.join(labels)}."
    return _output(think, ", ".join(labels))


def _rng(name: str, seed: int, item_id: str) -> random.Random:
    return random.Random(f"{name}:{seed}:{item_id}")  # str seeds are hashed: stable across runs


def chance_output(it: BenchItem, seed: int = 0) -> str:
    rng = _rng("chance", seed, it.id)
    if it.task == "binary":
        return binary_output(it, rng.random() < 0.5)
    if it.options:
        return option_output(it, rng.choice(sorted(it.options)))
    from cxreason.vocab import FINDING_LABELS

    return anomaly_output([rng.choice([*FINDING_LABELS, NO_FINDING])])


def blind_output(it: BenchItem) -> str:
    if it.task == "binary":
        return binary_output(it, False)
    if it.options:
        return option_output(it, "A")
    return anomaly_output([NO_FINDING])


def oracle_output(it: BenchItem, normal: bool, common: str, seed: int = 0) -> str:
    """The normality oracle's answer (``common``: the most frequent finding, for anomaly)."""
    if it.task == "binary":
        return binary_output(it, not normal)
    if it.options:
        nf = [k for k, t in it.options.items() if t == NO_FINDING]
        if normal and nf:
            return option_output(it, nf[0])
        pool = sorted(k for k in it.options if k not in nf) or sorted(it.options)
        return option_output(it, _rng("oracle", seed, it.id).choice(pool))
    return anomaly_output([NO_FINDING] if normal else [common])


def most_common_finding(items: Sequence[BenchItem]) -> str:
    """The finding named most often in the answers of ``items`` (ties: alphabetical)."""
    counts = Counter(lb for it in items for lb in it.answer_labels if lb != NO_FINDING)
    if not counts:
        return "Cardiomegaly"
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def baseline_outputs(
    items: Sequence[BenchItem],
    name: str,
    seed: int = 0,
    normal: dict[str, bool] | None = None,
) -> dict[str, str]:
    """``{item id: output}`` of baseline ``name`` for every item.

    ``normal``: study id -> normal (the oracle's one bit); default: our labeler on each item's
    report (:func:`cxreason.bench.validity.label_normality`).
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    if name == "chance":
        return {it.id: chance_output(it, seed) for it in items}
    if name == "blind":
        return {it.id: blind_output(it) for it in items}
    if normal is None:
        from cxreason.bench.validity import label_normality

        normal = label_normality(items)
    common = most_common_finding(items)
    return {it.id: oracle_output(it, normal.get(it.study_id, False), common, seed) for it in items}


def baseline_rows(
    items: Sequence[BenchItem], name: str, bench_hash: str, seed: int = 0, normal=None
) -> list[dict]:
    """Prediction rows (``id``, ``output``, the bench's content hash) of one baseline."""
    from cxreason.provenance import PRED_HASH_FIELD

    outs = baseline_outputs(items, name, seed, normal)
    return [
        {"id": it.id, "output": outs[it.id], PRED_HASH_FIELD: bench_hash, "baseline": name}
        for it in items
    ]
