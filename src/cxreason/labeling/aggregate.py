"""Study-level labels from mentions, including the ``No Finding`` rule."""

from __future__ import annotations

from collections.abc import Iterable

from cxreason.records import Mention
from cxreason.vocab import ABSENT, CHEXPERT_LABELS, NO_FINDING, PRESENT, UNCERTAIN

_RANK = {PRESENT: 2, UNCERTAIN: 1, ABSENT: 0}


def aggregate_labels(mentions: Iterable[Mention]) -> dict[str, str]:
    """CheXpert label -> status for a study (unmentioned labels omitted).

    Per label the strongest status wins: ``present`` > ``uncertain`` > ``absent`` (a positive
    mention anywhere beats a negation elsewhere, as in the CheXpert labeler).
    ``No Finding`` is ``present`` when the report has at least one mention and none of them is
    present or uncertain (any concept counts, extended ones and devices included: "no
    abnormality of any kind"); ``absent`` when some concept is present or uncertain; omitted
    when the text mentions nothing at all. Labels come in canonical CheXpert order.
    """
    best: dict[str, str] = {}
    n = 0
    abnormal = False
    for m in mentions:
        n += 1
        if m.status in (PRESENT, UNCERTAIN):
            abnormal = True
        if m.label is None or m.label == NO_FINDING:
            continue
        if m.label not in best or _RANK[m.status] > _RANK[best[m.label]]:
            best[m.label] = m.status
    if n:
        best[NO_FINDING] = ABSENT if abnormal else PRESENT
    return {lb: best[lb] for lb in CHEXPERT_LABELS if lb in best}
