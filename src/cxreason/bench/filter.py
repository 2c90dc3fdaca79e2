"""Quality filter for mined chains: factuality 1 against the item's own report + reaches the answer.

Factuality is :func:`cxreason.metrics.radrscore.factuality` (the same entity logic RadRScore
uses). A chain that fails keeps its item as an answer-only item (empty reasoning); the reason is
counted in the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cxreason.records import BenchItem

_ANSWER_RE = re.compile(r"answer is\s*\(?([A-H])\)", re.IGNORECASE)

REASON_EMPTY = "empty chain"
REASON_NO_ENTITY = "no finding asserted"
REASON_FACTUALITY = "factuality < 1"
REASON_ANSWER = "does not reach the answer"


def reaches_answer(item: BenchItem, steps: Sequence[str]) -> bool:
    """The last step states the item's answer: ``answer is X)`` (closed) or the answer string."""
    if not steps:
        return False
    last = steps[-1]
    if item.task == "anomaly":
        return bool(re.search(r"answer is\s+" + re.escape(item.answer) + r"\s*\.?\s*$", last))
    letters = _ANSWER_RE.findall(last)
    return bool(letters) and letters[-1].upper() == item.answer


def by_image(steps: Sequence[str], prior_report: str | None) -> list[tuple[list[str], str]]:
    """Steps grouped by the report they must agree with: reference-image steps of a temporal
    chain (``miner.PRIOR_PREFIX``) with the prior study's report (``None``: the item's own)."""
    from cxreason.bench.miner import PRIOR_PREFIX

    prior = [s for s in steps if s.startswith(PRIOR_PREFIX)]
    rest = [s for s in steps if not s.startswith(PRIOR_PREFIX)]
    if not prior:
        return [(rest, "")]
    return [(rest, ""), (prior, prior_report if prior_report is not None else "")]


def chain_factuality(item: BenchItem, steps: Sequence[str], prior_report: str | None = None):
    """Factuality of the steps against their reports (entity-weighted), None if no entity."""
    from cxreason.metrics.radrscore import entities, factuality

    n = agree = 0.0
    for group, report in by_image(steps, prior_report):
        text = " ".join(group)
        k = len(entities(text))
        if k:
            n += k
            agree += k * (factuality(text, report or item.report) or 0.0)
    return None if n == 0 else agree / n


def chain_rejection(
    item: BenchItem, steps: Sequence[str], prior_report: str | None = None
) -> str | None:
    """Why the chain must be dropped, or None when it is kept.

    ``prior_report``: for temporal items, the prior study's report, against which the chain's
    reference-image steps are checked (``None``: checked against the item's report).
    """
    if not steps or not any(s.strip() for s in steps):
        return REASON_EMPTY
    fact = chain_factuality(item, steps, prior_report)
    if fact is None:
        return REASON_NO_ENTITY
    if fact < 1.0 - 1e-9:
        return REASON_FACTUALITY
    if not reaches_answer(item, steps):
        return REASON_ANSWER
    return None
