"""The CheXpert-14 vocabulary and mention statuses: the single source of truth.

Every stage (labeler, benchmark, metrics, rewards, viewer) imports label names from here.
"""

from __future__ import annotations

VOCAB_VERSION = "chexpert14-v1"

NO_FINDING = "No Finding"

CHEXPERT_LABELS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

#: Abnormal labels (all but No Finding), in canonical order.
FINDING_LABELS: tuple[str, ...] = tuple(lb for lb in CHEXPERT_LABELS if lb != NO_FINDING)

PRESENT = "present"
UNCERTAIN = "uncertain"
ABSENT = "absent"
STATUSES: tuple[str, ...] = (PRESENT, UNCERTAIN, ABSENT)

#: Canonical position of each label (used to order labels inside options and answers).
LABEL_ORDER: dict[str, int] = {lb: i for i, lb in enumerate(CHEXPERT_LABELS)}


def canonical_order(labels) -> list[str]:
    """Return ``labels`` sorted in CheXpert canonical order (unknown labels last, by name)."""
    return sorted(set(labels), key=lambda lb: (LABEL_ORDER.get(lb, len(LABEL_ORDER)), lb))
