"""Negation, uncertainty, persistence and normal statements, on real Open-I phrasings."""

from __future__ import annotations

import pytest

from cxreason.labeling import extract_mentions, label_report

A, P, U = "absent", "present", "uncertain"


def labels(text: str, impression: str = "") -> dict[str, str]:
    return label_report(text, impression).labels


@pytest.mark.parametrize(
    "text, expected",
    [
        # lists under one negation: every member negated
        ("No pneumothorax or large pleural effusion.", {"Pneumothorax": A, "Pleural Effusion": A}),
        (
            "The lungs are normally inflated without evidence of focal airspace disease, "
            "pleural effusion, or pneumothorax.",
            {"Lung Opacity": A, "Pleural Effusion": A, "Pneumothorax": A},
        ),
        (
            "Negative for focal pulmonary consolidation, pleural effusion, or pneumothorax.",
            {"Consolidation": A, "Pleural Effusion": A, "Pneumothorax": A},
        ),
        ("Lungs are free of focal airspace disease.", {"Lung Opacity": A}),
        ("There is no pleural effusion or pneumothorax is seen.", {"Pleural Effusion": A}),
        ("Pneumothorax is not seen.", {"Pneumothorax": A}),
        # contractions of "not" (free-text model reasoning writes them; reports rarely do)
        ("I don't see any pleural effusion.", {"Pleural Effusion": A}),
        ("There isn’t a pneumothorax.", {"Pneumothorax": A}),
        (
            "There doesn't appear to be significant cardiomegaly or edema.",
            {"Cardiomegaly": A, "Edema": A},
        ),
        ("We can't see any support devices.", {"Support Devices": A}),
        # hedges
        ("Cannot exclude pneumonia.", {"Pneumonia": U}),
        (
            "Left basilar opacity, pneumonia cannot be excluded.",
            {"Lung Opacity": P, "Pneumonia": U},
        ),
        ("Findings may represent atelectasis.", {"Atelectasis": U}),
        ("Questionable small right effusion.", {"Pleural Effusion": U}),
        ("Atelectasis versus pneumonia in the left base.", {"Atelectasis": U, "Pneumonia": U}),
        ("Bibasilar opacities, likely atelectasis.", {"Atelectasis": P, "Lung Opacity": P}),
        ("Probable mild pulmonary edema.", {"Edema": P}),
        # negation that continues through "to suggest"
        ("There is no focal air space opacity to suggest a pneumonia.", {"Pneumonia": A}),
        # persistence keeps a finding present; resolution removes it
        ("Stable cardiomegaly.", {"Cardiomegaly": P}),
        ("No change in the moderate cardiomegaly.", {"Cardiomegaly": P}),
        ("No pneumothorax, stable cardiomegaly.", {"Pneumothorax": A, "Cardiomegaly": P}),
        ("Unchanged left pleural effusion.", {"Pleural Effusion": P}),
        ("Resolved left effusion.", {"Pleural Effusion": A}),
        ("Interval resolution of the right lower lobe pneumonia.", {"Pneumonia": A}),
        ("The left pleural effusion has resolved.", {"Pleural Effusion": A}),
        ("The right PICC line has been removed.", {"Support Devices": A}),
        # heart size statements
        ("Heart size is upper limits of normal.", {"Cardiomegaly": A}),
        ("Normal heart size.", {"Cardiomegaly": A}),
        ("The heart is normal in size.", {"Cardiomegaly": A}),
        ("Borderline cardiomegaly.", {"Cardiomegaly": P}),
        ("The heart is mildly enlarged.", {"Cardiomegaly": P}),
        ("Heart size XXXX mildly enlarged.", {"Cardiomegaly": P}),
        (
            "Heart size and mediastinal contour are within normal limits.",
            {"Cardiomegaly": A, "Enlarged Cardiomediastinum": A},
        ),
        # a clause boundary ends a negation
        (
            "No effusion, but there is left basilar atelectasis.",
            {"Pleural Effusion": A, "Atelectasis": P},
        ),
        (
            "No focal alveolar consolidation, no definite pleural effusion seen, "
            "left hilar calcifications and dense nodule in the left lung.",
            {"Consolidation": A, "Pleural Effusion": A, "Lung Lesion": P},
        ),
    ],
)
def test_status(text: str, expected: dict[str, str]) -> None:
    got = labels(text)
    for label, status in expected.items():
        assert got.get(label) == status, (text, got)


def test_hypothetical_mentions_are_dropped() -> None:
    r = label_report(
        "Heart size normal. Lungs are clear.", "If there is concern for rib fracture, XXXX."
    )
    assert "Fracture" not in r.labels and r.labels["No Finding"] == "present"
    assert "Pneumothorax" not in labels("A pneumothorax wouldn't be subtle on this view.")
    assert "Pleural Effusion" not in labels("An effusion shouldn’t be missed.")


def test_no_acute_abnormality_is_normal_but_does_not_negate_chronic_findings() -> None:
    assert labels("", "No acute cardiopulmonary abnormality.") == {"No Finding": P}
    got = labels(
        "Stable cardiomegaly. Calcified granuloma.", "No acute cardiopulmonary abnormality."
    )
    assert got["Cardiomegaly"] == P and got["No Finding"] == A


def test_clear_lungs_negates_parenchymal_labels_only() -> None:
    got = labels("The lungs are clear.")
    assert got["Lung Opacity"] == A and got["Consolidation"] == A and got["Edema"] == A
    assert "Pleural Effusion" not in got and "Pneumothorax" not in got
    # an explicit finding elsewhere wins over the global statement
    got = labels("Left basilar opacity. The lungs are otherwise clear.")
    assert got["Lung Opacity"] == P


def test_no_finding_requires_no_abnormality_of_any_kind() -> None:
    normal = "Heart size normal. Lungs are clear. No pneumothorax or pleural effusion."
    assert labels(normal)["No Finding"] == P
    # extended concepts (outside CheXpert-14) make the study abnormal
    for extra in (
        "Calcified granuloma in the right upper lobe.",
        "Mild dextroscoliosis.",
        "Small hiatal hernia.",
        "Degenerative changes of the thoracic spine.",
    ):
        got = labels(normal + " " + extra)
        assert got["No Finding"] == A, extra
    # uncertain findings too
    assert labels(normal + " Possible small nodule.")["No Finding"] == A  # fmt: skip


def test_deid_tokens_are_ignored_and_xxxx_only_report_warns() -> None:
    r = label_report("XXXX XXXX. XXXX", "XXXX.")
    assert r.labels == {} and r.mentions == []
    assert any("XXXX" in w for w in r.warnings)
    empty = label_report("", "  ")
    assert empty.labels == {} and empty.warnings
    r = label_report("Right chest XXXX tip in the mid SVC. No pneumothorax.", "")
    assert r.labels["Support Devices"] == P and "XXXX" not in {m.concept for m in r.mentions}


def test_extract_mentions_on_free_text_reasoning() -> None:
    ms = extract_mentions(
        "There is no visible pleural effusion. The cardiac silhouette is enlarged."
    )
    by_label = {m.label: m.status for m in ms}
    assert by_label == {"Pleural Effusion": A, "Cardiomegaly": P}
    ext = extract_mentions("Small hiatal hernia.")
    assert [(m.concept, m.label, m.status) for m in ext] == [("hiatal hernia", None, P)]


def test_qualifiers_are_part_of_the_span() -> None:
    (m,) = [m for m in extract_mentions("There is a small left pleural effusion.") if m.label]
    assert m.text == "small left pleural effusion"


def _context_of(text: str) -> list[tuple[str, str, str]]:
    """(concept, status, context) of every mention of ``text``."""
    from cxreason.labeling.extract import extract_annotated

    return [(m.concept, m.status, m.context) for m in extract_annotated(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        # the result of a search is asserted; what was searched for is not
        (
            "Reviewing the chest X-ray for bilateral interstitial infiltrates at the lung bases "
            "revealed no reticular or nodular opacities.",
            [("lung opacity", P, "hypothetical"), ("lung opacity", A, "asserted")],
        ),
        (
            "Investigation of a round density in the right middle lobe showed absence of any "
            "nodular opacities.",
            [("lung opacity", P, "hypothetical"), ("lung opacity", A, "asserted")],
        ),
        # ... unless the verb belongs to the search itself
        (
            "To determine whether the image shows a pneumothorax, we look at the apex.",
            [("pneumothorax", P, "hypothetical")],
        ),
        # a search object with an aside; what a step is after; a purpose
        (
            "I evaluated the heart silhouette, particularly near the left atrium border, for any "
            "increased density.",
            [("lung opacity", P, "hypothetical")],
        ),
        (
            "The investigation seeks an abnormal lateral curvature of the spine.",
            [("scoliosis", P, "hypothetical")],
        ),
        (
            "Next, to find an opacity at the lung base, the focus should be on any localized "
            "increase in density.",
            [("lung opacity", P, "hypothetical"), ("lung opacity", P, "hypothetical")],
        ),
        # a method step in the imperative, whole sentence
        (
            "Look for focal areas of increased density which could indicate an infiltrate or "
            "consolidation.",
            [("lung opacity", P, "hypothetical")] * 2 + [("consolidation", P, "hypothetical")],
        ),
        ("Examine the bases: there is no effusion.", [("pleural effusion", A, "asserted")]),
        # a heading names a topic and asserts nothing
        ("2. **Bilateral interstitial opacity in lung bases:**", [("lung opacity", P, "option")]),
        ("Findings: cardiomegaly.", [("cardiomegaly", P, "asserted")]),
        # generic and expected appearances
        (
            "- Granulomatous disease shows up as calcified nodules.",
            [("granuloma", P, "generic"), ("calcification", P, "generic")]
            + [("lung lesion", P, "generic")],
        ),
        ("The heart shows cardiomegaly.", [("cardiomegaly", P, "asserted")]),
        (
            "Hyperdistention refers to an increase in lung volume, which might result in a "
            "flattened diaphragm.",
            [("hyperinflation", P, "generic")],
        ),
        ("The frontal film may show a triangular opacity.", [("lung opacity", P, "hypothetical")]),
        (
            "Specifically, for right middle lobe pneumonia, an opacity near the right heart "
            "border will be indicative.",
            [("pneumonia", P, "option"), ("lung opacity", P, "hypothetical")],
        ),
        # a post-negation reaches back over a list of examples that follows the mention
        (
            "Thus, conditions related to nodular densities, such as solitary pulmonary nodules "
            "or granulomas, were excluded.",
            [("lung opacity", A, "asserted"), ("lung lesion", A, "asserted")]
            + [("granuloma", A, "asserted")],
        ),
        # a closed parenthetical aside is transparent to a trigger outside it, and its own
        # triggers stay inside it
        (
            "This would show up as thickened pleura (potentially appearing denser) on both "
            "sides, and areas of lung collapse.",
            [("atelectasis", P, "hypothetical")],
        ),
        ("Atelectasis (left base) is not seen.", [("atelectasis", A, "asserted")]),
        (
            "Normal heart size (no cardiomegaly) and small effusion.",
            [("cardiomegaly", A, "asserted")] * 2 + [("pleural effusion", P, "asserted")],
        ),
        (
            "These often represent interstitial lung disease or pulmonary edema.",
            [("interstitial markings", P, "generic"), ("edema", P, "generic")],
        ),
        (
            "Thoracic vertebrae deformities can involve changes in shape.",
            [("bone deformity", P, "generic")],
        ),
        (
            "This describes calcification within the aorta.",
            [("calcification", P, "generic")],
        ),
        # a list of definitions: a label and a colon, and "is visible as"
        (
            "- Atelectasis: Lung volume loss usually leads to increased opacity.",
            [("atelectasis", P, "option"), ("volume loss", P, "generic")]
            + [("lung opacity", P, "generic")],
        ),
        (
            "- Tortuous aorta is visible as a meandering path of the aorta.",
            [("tortuous aorta", P, "generic")],
        ),
        ("Findings: cardiomegaly.", [("cardiomegaly", P, "asserted")]),
        (  # a conclusion with a colon is not a label
            "So this chest x-ray does show edema: the answer is A) yes.",
            [("edema", P, "asserted")],
        ),
        (  # the chest's cavity is anatomy, not a cavitary lesion
            "The heart appears enlarged, taking up a larger proportion of the chest cavity.",
            [("cardiomegaly", P, "asserted")],
        ),
        ("There is a cavity in the right upper lobe.", [("lung lesion", P, "asserted")]),
        (
            "An indwelling catheter on the right does not appear present.",
            [("support device", A, "asserted")],
        ),
        (  # "e.g." ends with a dot: no word boundary before the space after it
            "Thus, nodular densities, e.g. nodules or granulomas, were excluded.",
            [("lung opacity", A, "asserted"), ("lung lesion", A, "asserted")]
            + [("granuloma", A, "asserted")],
        ),
        (
            "There is cardiomegaly, such as seen in heart failure, and effusion was excluded.",
            [("cardiomegaly", P, "asserted"), ("pleural effusion", A, "asserted")],
        ),
    ],
)
def test_assertion_context_of_chain_phrasings(text, expected):
    """Phrasings of mined chains and zero-shot model reasoning (the judged GPT-4o and
    ChestX-Reasoner outputs): none occurs in the Open-I reports, whose labels they leave as
    they were."""
    assert _context_of(text) == expected, text
