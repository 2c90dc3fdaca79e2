"""Leakage audit: accuracy of blind rules per closed task vs chance, and letter distribution.

Frequencies for the ``most_frequent``/``least_frequent`` rules come from the train split of the
same task (the whole task when the bench has no train items). A rule is flagged when its
accuracy exceeds chance + ``tolerance`` (default 0.03).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from cxreason.bench.rules import (
    CLOSED_TASKS,
    RULES,
    RuleContext,
    answer_frequencies,
    answer_texts,
    label_prevalence,
    pair_frequencies,
    rule_hits,
)
from cxreason.records import BENCH_TASKS, BenchItem

TOLERANCE = 0.03


def audit_items(
    items: Sequence[BenchItem], tolerance: float = TOLERANCE, split: str | None = None
) -> dict:
    """Per closed task: n, chance, rule accuracies, flagged rules, letter counts.

    ``split`` restricts the scored items (frequencies still come from the train split).
    """
    out: dict = {}
    prevalence = label_prevalence(items)
    for task in BENCH_TASKS:
        task_items = [it for it in items if it.task == task]
        if not task_items:
            continue
        if task not in CLOSED_TASKS:
            out[task] = {"n": len(task_items), "closed": False}
            continue
        train = [it for it in task_items if it.split == "train"] or task_items
        ctx = RuleContext(
            answer_frequencies(train),
            answer_frequencies(task_items),
            prevalence,
            answer_texts(train),
            pair_frequencies(train),
        )
        scored = [it for it in task_items if split is None or it.split == split]
        if not scored:
            continue
        hits: Counter = Counter()
        for it in scored:
            hits.update(rule_hits(task, it.question, it.options or {}, it.answer, ctx))
        chance = sum(1.0 / len(it.options or {"A": ""}) for it in scored) / len(scored)
        acc = {r: round(hits[r] / len(scored), 4) for r in RULES}
        letters = Counter(it.answer for it in scored)
        out[task] = {
            "n": len(scored),
            "closed": True,
            "chance": round(chance, 4),
            "rules": acc,
            "flagged": [r for r, a in acc.items() if a > chance + tolerance + 1e-9],
            "letters": {k: letters[k] for k in sorted(letters)},
            "frequency_source": "train" if any(it.split == "train" for it in task_items) else "all",
        }
    return out


def any_flagged(report: dict) -> bool:
    return any(v.get("flagged") for v in report.values())


def mesh_agreement(items: Sequence[BenchItem], gold: dict[str, str]) -> dict:
    """Agreement of answers with Open-I MeSH annotations (``study_id -> MeSH cell``).

    Only indexed studies count; an item is left out when a label its answer rests on is
    *ambiguous* in the MeSH mapping (``cxreason.labeling.mesh``). An answer agrees when every
    label it asserts present is a MeSH positive and, for a binary "No", the label is not one.
    ``chance``: the agreement of a uniformly random option (closed tasks), the baseline.
    Returns per task ``{n, agree, rate, chance, disagreements: [ids]}``.
    """
    from cxreason.bench.miner import question_label
    from cxreason.labeling.mesh import is_indexed, mesh_labels

    def agrees(it: BenchItem, text: str, pos: set[str]) -> bool:
        if it.task == "binary":
            return (question_label(it) in pos) == (text == "Yes")
        asserted = {t.strip() for t in text.split(",")} if it.task != "anomaly" else set()
        return asserted <= pos

    out: dict = {}
    for it in items:
        cell = gold.get(it.study_id, "")
        if not is_indexed(cell):
            continue
        pos, amb = mesh_labels(cell)
        if it.task == "binary":
            lb = question_label(it)
            if lb in amb:
                continue
            ok = (lb in pos) == (it.answer == "A")
        else:
            asserted = set(it.answer_labels)
            if asserted & amb:
                continue
            ok = asserted <= pos
        rep = out.setdefault(it.task, {"n": 0, "agree": 0, "chance_sum": 0.0, "disagreements": []})
        rep["n"] += 1
        rep["agree"] += int(ok)
        if it.options and it.task != "temporal":
            opts = list(it.options.values())
            rep["chance_sum"] += sum(agrees(it, t, pos) for t in opts) / len(opts)
        if not ok:
            rep["disagreements"].append(it.id)
    for task, rep in out.items():
        n = rep["n"]
        rep["rate"] = round(rep["agree"] / n, 4) if n else None
        chance = rep.pop("chance_sum")
        rep["chance"] = (
            round(chance / n, 4) if n and task in ("binary", "single", "multiple") else None
        )
    return {
        t: {k: out[t][k] for k in ("n", "agree", "rate", "chance", "disagreements")} for t in out
    }
