"""Train/validation/test splits by patient (where known) and study, deterministic from a seed.

A *group* is the unit that never crosses splits: all studies of one patient, joined with the
studies they are temporally linked to (``prior_study_id``); a study without a patient id is its
own group (plus its linked priors). Groups are ordered by ``sha256(seed, group key)`` and cut at
the cumulative ratios, so the assignment is deterministic, independent of input order, and
stable for existing groups when a few new studies are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cxreason.records import SPLITS, Study

DEFAULT_RATIOS = (0.7, 0.1, 0.2)


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.7,0.1,0.2"`` -> ratios (train, validation, test); they must be >= 0 and sum to 1."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(
            f"split ratios must be three numbers like 0.7,0.1,0.2, got {text!r}"
        ) from None
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise ValueError(
            f"split ratios must be three non-negative numbers summing to 1, got {text!r}"
        )
    return parts  # type: ignore[return-value]


def study_groups(studies: Sequence[Study]) -> dict[str, str]:
    """study_id -> group key (patient, joined through prior-study links; union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for s in studies:
        node = f"s:{s.study_id}"
        find(node)
        if s.patient_id:
            union(node, f"p:{s.patient_id}")
        if s.prior_study_id:
            union(node, f"s:{s.prior_study_id}")
    return {s.study_id: find(f"s:{s.study_id}") for s in studies}


def assign_splits(
    studies: Sequence[Study], seed: int = 0, ratios: Sequence[float] = DEFAULT_RATIOS
) -> dict[str, str]:
    """study_id -> ``train|validation|test``; no patient or linked pair spans two splits."""
    groups = study_groups(studies)
    keys = sorted(
        set(groups.values()), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()
    )
    n = len(keys)
    cut1 = round(n * ratios[0])
    cut2 = round(n * (ratios[0] + ratios[1]))
    split_of = {}
    for i, g in enumerate(keys):
        split_of[g] = SPLITS[0] if i < cut1 else SPLITS[1] if i < cut2 else SPLITS[2]
    return {sid: split_of[g] for sid, g in groups.items()}
