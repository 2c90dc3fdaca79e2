"""Labeler vs Open-I MeSH gold: per-label precision / recall / F1, micro and macro F1.

Scoring (see docs/labeling.md): reports with ``No Indexing`` (or an empty MeSH cell) are
skipped. For every evaluated label and report, gold is positive when a MeSH term maps to the
label (:mod:`cxreason.labeling.mesh`); a report whose only MeSH evidence for the label is an
ambiguous term is left out for that label. The prediction is positive when the labeler says
``present`` (policy ``strict``, the headline) or ``present``/``uncertain`` (policy
``lenient``). ``No Finding`` is predicted positive only when the labeler outputs it ``present``.
Labels are evaluated when the gold holds at least one positive for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cxreason.data.openi import read_openi, read_openi_gold
from cxreason.labeling.labeler import label_report
from cxreason.labeling.mesh import is_indexed, mesh_labels
from cxreason.records import Labels, read_records
from cxreason.vocab import CHEXPERT_LABELS, PRESENT, UNCERTAIN

POLICIES = {"strict": (PRESENT,), "lenient": (PRESENT, UNCERTAIN)}


@dataclass
class LabelScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class EvalResult:
    policy: str
    n_reports: int
    n_skipped: int
    per_label: dict[str, LabelScore]
    errors: list[dict] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Labels the gold supports (at least one positive), in canonical order."""
        return [lb for lb in CHEXPERT_LABELS if lb in self.per_label and self.per_label[lb].support]

    def micro(self) -> LabelScore:
        tot = LabelScore()
        for lb in self.labels:
            s = self.per_label[lb]
            tot.tp, tot.fp, tot.fn, tot.tn = (
                tot.tp + s.tp,
                tot.fp + s.fp,
                tot.fn + s.fn,
                tot.tn + s.tn,
            )
        return tot

    def macro_f1(self) -> float:
        labs = self.labels
        return sum(self.per_label[lb].f1 for lb in labs) / len(labs) if labs else 0.0

    def to_dict(self) -> dict:
        mic = self.micro()
        return {
            "policy": self.policy,
            "n_reports": self.n_reports,
            "n_skipped_not_indexed": self.n_skipped,
            "micro": {"precision": mic.precision, "recall": mic.recall, "f1": mic.f1},
            "macro_f1": self.macro_f1(),
            "labels": {
                lb: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "support": s.support,
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
                for lb in self.labels
                for s in [self.per_label[lb]]
            },
        }


def evaluate_predictions(
    gold: dict[str, str], predicted: dict[str, dict[str, str]], policy: str = "strict"
) -> EvalResult:
    """Score predicted labels (study id -> label -> status) against MeSH cells (study id -> cell)."""
    accept = POLICIES[policy]
    per = {lb: LabelScore() for lb in CHEXPERT_LABELS}
    errors, n, skipped = [], 0, 0
    for sid, cell in gold.items():
        if not is_indexed(cell):
            skipped += 1
            continue
        n += 1
        pos, amb = mesh_labels(cell)
        labels = predicted.get(sid, {})
        for lb in CHEXPERT_LABELS:
            g = lb in pos
            if not g and lb in amb:
                continue
            p = labels.get(lb) in accept
            s = per[lb]
            if g and p:
                s.tp += 1
            elif g:
                s.fn += 1
                errors.append({"study_id": sid, "label": lb, "error": "fn"})
            elif p:
                s.fp += 1
                errors.append({"study_id": sid, "label": lb, "error": "fp"})
            else:
                s.tn += 1
    return EvalResult(policy, n, skipped, per, errors)


def evaluate_openi(
    reports_csv: str | os.PathLike, labels_jsonl: str | os.PathLike | None = None
) -> dict[str, EvalResult]:
    """Score labels against the MeSH gold of an Open-I CSV under every policy.

    The labels are this labeler's (the CSV's reports are labeled now), or those of any labeler
    read from ``labels_jsonl`` (Labels records; a study missing there predicts nothing).
    """
    gold = read_openi_gold(reports_csv)
    if labels_jsonl is None:
        studies = read_openi(reports_csv)
        predicted = {s.study_id: label_report(s.findings, s.impression).labels for s in studies}
    else:
        predicted = {r.study_id: r.labels for r in read_records(labels_jsonl, Labels)}
    return {pol: evaluate_predictions(gold, predicted, pol) for pol in POLICIES}
