"""MeSH -> CheXpert gold mapping."""

from __future__ import annotations

from cxreason.labeling.mesh import is_indexed, mesh_labels, parse_mesh


def test_parse_and_indexing() -> None:
    (t,) = parse_mesh("Opacity/lung/base/left")
    assert t.term == "Opacity" and t.modifiers == ("lung", "base", "left")
    assert not is_indexed("No Indexing") and not is_indexed("") and is_indexed("normal")


def test_mapping_positive_and_ambiguous() -> None:
    assert mesh_labels("normal") == ({"No Finding"}, set())
    pos, amb = mesh_labels("Cardiomegaly/mild;Pulmonary Congestion;Calcified Granuloma/lung")
    assert pos == {"Cardiomegaly", "Edema"} and amb == set()
    pos, amb = mesh_labels("Cardiac Shadow/enlarged;Costophrenic Angle/blunted")
    assert pos == set() and {"Cardiomegaly", "Pleural Effusion"} <= amb
    pos, _ = mesh_labels(
        "Density/lung/upper lobe;Nodule/lung;Thickening/pleura;Surgical Instruments"
    )
    assert pos == {"Lung Opacity", "Lung Lesion", "Pleural Other", "Support Devices"}
    pos, amb = mesh_labels("Opacity/ribs/right")
    assert pos == set() and amb == {"Lung Opacity"}
