"""Report-level labeling: findings + impression -> labels, mentions, warnings."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from cxreason.labeling.aggregate import aggregate_labels
from cxreason.labeling.extract import extract_mentions
from cxreason.records import Labels, Mention, Study, report_text

log = logging.getLogger(__name__)

#: A word that is not a de-identification token (``XXXX``) starts here.
_CONTENT_WORD = re.compile(r"(?<![a-z0-9])(?!x{2,}(?![a-z0-9]))[a-z0-9]", re.IGNORECASE)
_CONTENT = re.compile(r"[a-z0-9]", re.IGNORECASE)


@dataclass
class ReportLabels:
    """Labels of one report. Spans of ``mentions`` index into ``report_text(findings, impression)``."""

    labels: dict[str, str]
    mentions: list[Mention] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def label_report(findings: str, impression: str) -> ReportLabels:
    """Label one report (findings + impression); never raises on odd text.

    An empty report, or one made only of de-identification tokens (``XXXX``), yields no labels
    and a warning. ``XXXX`` tokens elsewhere are ignored (they never form a mention).
    """
    text = report_text(findings or "", impression or "")
    warnings: list[str] = []
    if not _CONTENT_WORD.search(text):
        why = (
            "empty report"
            if not _CONTENT.search(text)
            else "report holds only XXXX de-identification tokens"
        )
        warnings.append(f"{why}: no labels")
        return ReportLabels({}, [], warnings)
    mentions = extract_mentions(text)
    if not mentions:
        warnings.append("no finding or normal statement recognised: no labels")
    return ReportLabels(aggregate_labels(mentions), mentions, warnings)


def label_study(study: Study) -> tuple[Labels, list[str]]:
    """A :class:`Labels` record for a study plus its warnings."""
    r = label_report(study.findings, study.impression)
    return Labels(study.study_id, r.labels, r.mentions), r.warnings
