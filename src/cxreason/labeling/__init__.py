"""cxreason.labeling: CheXpert-14 + extended ontology report labeler (regex, negation-aware).

Public API (docs/CONTRACTS.md "labeling"): :func:`label_report`, :func:`extract_mentions`,
:func:`aggregate_labels`, :func:`split_sentences` and the :mod:`ontology` module.
"""

from cxreason.labeling import ontology
from cxreason.labeling.aggregate import aggregate_labels
from cxreason.labeling.extract import extract_mentions
from cxreason.labeling.labeler import ReportLabels, label_report, label_study
from cxreason.labeling.ontology import CONCEPTS, Concept, concept_label, normalize_label_name
from cxreason.labeling.sentences import split_sentences

__all__ = [
    "CONCEPTS",
    "Concept",
    "ReportLabels",
    "aggregate_labels",
    "concept_label",
    "extract_mentions",
    "label_report",
    "label_study",
    "normalize_label_name",
    "ontology",
    "split_sentences",
]
