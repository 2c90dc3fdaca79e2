"""Ontology: one CheXpert label (or none) per concept, label-name normalisation."""

from __future__ import annotations

import re

import pytest

from cxreason.labeling import CONCEPTS, concept_label, normalize_label_name
from cxreason.labeling.ontology import MULTI_NORMAL
from cxreason.vocab import CHEXPERT_LABELS, FINDING_LABELS


def test_every_concept_maps_to_one_label_or_none() -> None:
    for name, c in CONCEPTS.items():
        assert c.name == name
        assert c.label is None or c.label in CHEXPERT_LABELS
        for frag in (*c.synonyms, *c.normal):
            assert re.compile(frag).groups == 0, frag
    for _, names in MULTI_NORMAL:
        assert all(n in CONCEPTS for n in names)
    covered = {c.label for c in CONCEPTS.values()}
    assert set(FINDING_LABELS) <= covered  # every CheXpert finding has a concept
    for extended in (
        "granuloma",
        "hiatal hernia",
        "emphysema",
        "scoliosis",
        "degenerative spine",
        "scarring",
        "hyperinflation",
        "aortic atherosclerosis",
        "tortuous aorta",
    ):
        assert concept_label(extended) is None  # fmt: skip
    assert concept_label("pleural thickening") == "Pleural Other"
    with pytest.raises(KeyError):
        concept_label("not a concept")


@pytest.mark.parametrize(
    "text, label",
    [
        ("Cardiomegaly", "Cardiomegaly"),
        ("pleural effusion", "Pleural Effusion"),
        ("Pleural effusions", "Pleural Effusion"),
        ("effusion", "Pleural Effusion"),
        ("  lung OPACITY ", "Lung Opacity"),
        ("nodule", "Lung Lesion"),
        ("infiltrate", "Lung Opacity"),
        ("normal", "No Finding"),
        ("No Finding", "No Finding"),
        ("support devices", "Support Devices"),
        ("granuloma", None),
        ("banana", None),
        ("", None),
    ],
)
def test_normalize_label_name(text: str, label: str | None) -> None:
    assert normalize_label_name(text) == label
