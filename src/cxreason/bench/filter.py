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


def chain_rejection(item: BenchItem, steps: Sequence[str]) -> str | None:
    """Why the chain must be dropped, or None when it is kept."""
    from cxreason.metrics.radrscore import factuality

    if not steps or not any(s.strip() for s in steps):
        return REASON_EMPTY
    fact = factuality(" ".join(steps), item.report)
    if fact is None:
        return REASON_NO_ENTITY
    if fact < 1.0:
        return REASON_FACTUALITY
    if not reaches_answer(item, steps):
        return REASON_ANSWER
    return None
