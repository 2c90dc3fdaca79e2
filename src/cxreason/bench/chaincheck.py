"""Independent chain checks: labels the dataset carries itself, and an LLM judge.

The quality filter (:mod:`cxreason.bench.filter`) checks a chain against its report with the
same labeler that wrote the item, so it cannot catch that labeler's own mistakes. These checks
use a source the labeler did not produce:

- **dataset labels** (:class:`IndependentLabels`): Open-I MeSH terms (NLM indexers; an indexed
  report lists every positive finding, so a CheXpert finding it does not list, and that no
  ambiguous term covers, is absent; ``normal`` makes every finding absent), or a CheXpert-style
  label file (MIMIC-CXR ``mimic-cxr-2.0.0-chexpert.csv``/``negbio.csv``, CheXpert Plus labels
  converted to the same columns, or a cxreason Labels JSONL) where only an explicit ``0``
  (absent) counts. A chain that asserts present a finding the source calls absent, or states
  "no abnormality" of a study the source calls abnormal, is dropped.
- **LLM judge** (:func:`judge_chains`, where configured): reads the report and the chain and
  says whether every step is supported; an unsupported chain is dropped. Calls go through
  :class:`cxreason.bench.llm_client.LLMClient` (cached, concurrent, retried); a failed call is
  recorded and the chain kept (it passed the other checks), never silently dropped.

What they cannot catch: findings neither source annotates (extended concepts such as
granulomas), a correct finding with a wrong location or size, and errors the source shares
(an indexer who missed a finding, a judge misled the same way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cxreason.vocab import ABSENT, CHEXPERT_LABELS, FINDING_LABELS, NO_FINDING

log = logging.getLogger(__name__)

#: Statements that deny any abnormality ("no abnormality", "normal chest"). "No acute
#: cardiopulmonary abnormality" is not one: it is true of a study with chronic findings.
WHOLE_STUDY_NORMAL = frozenset({"chest abnormality"})
#: MeSH terms that describe the examination, not the patient: alone they do not make a study
#: abnormal.
MESH_NON_FINDINGS = frozenset({"technical quality of image unsatisfactory"})

REASON_LABELS = "asserts a finding the dataset labels call absent"
REASON_JUDGE = "llm judge: unsupported step"


@dataclass(frozen=True)
class StudyGold:
    """What an independent source says of one study: labels it calls absent, and abnormality."""

    absent: frozenset[str]
    abnormal: bool | None  # None: the source does not say


@dataclass
class IndependentLabels:
    """Per-study independent labels; ``source`` names them in the manifest."""

    source: str
    studies: dict[str, StudyGold] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.studies)

    @classmethod
    def from_mesh(cls, gold: dict[str, str], source: str = "openi-mesh") -> IndependentLabels:
        out = cls(source)
        for sid, cell in gold.items():
            g = mesh_gold(cell)
            if g is not None:
                out.studies[sid] = g
        return out

    @classmethod
    def from_statuses(cls, labels: dict[str, dict[str, str]], source: str) -> IndependentLabels:
        out = cls(source)
        for sid, st in labels.items():
            absent = frozenset(lb for lb, s in st.items() if s == ABSENT and lb != NO_FINDING)
            nf = st.get(NO_FINDING)
            abnormal = None if nf is None else nf != "present"
            out.studies[sid] = StudyGold(absent, abnormal)
        return out


def mesh_gold(cell: str) -> StudyGold | None:
    """Absent CheXpert findings and abnormality of one MeSH cell (None when not indexed)."""
    from cxreason.labeling.mesh import is_indexed, mesh_labels, parse_mesh

    if not is_indexed(cell):
        return None
    pos, amb = mesh_labels(cell)
    terms = {t.term.lower() for t in parse_mesh(cell)}
    abnormal = NO_FINDING not in pos and bool(terms - MESH_NON_FINDINGS - {"normal"})
    absent = frozenset(lb for lb in FINDING_LABELS if lb not in pos and lb not in amb)
    return StudyGold(absent, abnormal)


def load_label_file(path: str | os.PathLike) -> IndependentLabels:
    """A CheXpert-style CSV (``study_id`` + the 14 label columns) or a Labels JSONL."""
    from cxreason.data.mimic import read_mimic_chexpert
    from cxreason.records import Labels, read_records

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(p, "rb") as fh:
        head = fh.read(1).lstrip(b"\xef\xbb\xbf")
    if head == b"{":
        recs = read_records(p, Labels)
        return IndependentLabels.from_statuses({r.study_id: r.labels for r in recs}, p.name)
    return IndependentLabels.from_statuses(read_mimic_chexpert(p), p.name)


def gold_conflicts(steps: Sequence[str], gold: StudyGold) -> list[str]:
    """Findings the steps assert present that ``gold`` calls absent (``No Finding`` for a
    "no abnormality" statement about a study the source calls abnormal)."""
    from cxreason.metrics.radrscore import NEGATIVE, POSITIVE, entities

    bad: list[str] = []
    for e in entities(" ".join(steps)):
        if e.label in FINDING_LABELS and e.polarity == POSITIVE and e.label in gold.absent:
            bad.append(e.label)
        elif e.concept in WHOLE_STUDY_NORMAL and e.polarity == NEGATIVE and gold.abnormal:
            bad.append(NO_FINDING)
    order = {lb: i for i, lb in enumerate(CHEXPERT_LABELS)}
    return sorted(set(bad), key=order.__getitem__)


def mesh_absent_assertions(steps: Sequence[str], cell: str) -> list[str] | None:
    """:func:`gold_conflicts` against one MeSH cell; None when the study is not indexed."""
    g = mesh_gold(cell)
    return None if g is None else gold_conflicts(steps, g)


# ---------------------------------------------------------------------------------------------
# LLM judge
@dataclass
class JudgeVerdict:
    supported: bool | None  # None: the call failed
    unsupported_steps: list[int] = field(default_factory=list)
    error: str | None = None


def judge_chains(client, jobs: Sequence[tuple[str, str, Sequence[str]]]) -> dict[str, JudgeVerdict]:
    """``jobs`` = (item id, report, steps) -> verdict per id (one request each, concurrent)."""
    from cxreason.bench import llm_prompts as LP

    msgs = [LP.judge_messages(report, steps) for _, report, steps in jobs]
    results = client.chat_many(msgs, temperature=0.0, json_mode=True)
    out = {}
    for (iid, _, steps), res in zip(jobs, results, strict=True):
        if res.error is not None:
            out[iid] = JudgeVerdict(None, error=res.error)
            continue
        try:
            bad = LP.validate_judge(res.text, len(steps))
        except LP.SchemaError as e:
            out[iid] = JudgeVerdict(None, error=f"invalid judge reply: {e}")
            continue
        out[iid] = JudgeVerdict(not bad, bad)
    return out


def judge_summary(verdicts: dict[str, JudgeVerdict]) -> dict:
    return {
        "judged": sum(v.supported is not None for v in verdicts.values()),
        "unsupported": sum(v.supported is False for v in verdicts.values()),
        "failures": sorted(
            ({"id": k, "error": v.error} for k, v in verdicts.items() if v.error),
            key=lambda f: f["id"],
        ),
    }
