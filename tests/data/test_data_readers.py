"""Dataset readers on small synthetic fixtures in the public formats (tests/fixtures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxreason.data.chexpert_plus import read_chexpert_plus
from cxreason.data.mimic import read_mimic, read_mimic_chexpert, read_mimic_metadata, view_of
from cxreason.data.mscxrt import read_ms_cxr_t
from cxreason.data.sections import split_sections
from cxreason.records import RecordError, Study, read_records, write_jsonl

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MIMIC = FIX / "mimic"
META = MIMIC / "mimic-cxr-2.0.0-metadata.csv"
CHEX = MIMIC / "mimic-cxr-2.0.0-chexpert.csv"
CXP = FIX / "chexpert_plus" / "df_chexpert_plus_240401.csv"
MSCXRT = FIX / "ms_cxr_t" / "MS_CXR_T_temporal_image_classification_v1.0.0.csv"


# ------------------------------------------------------------------ sections


def test_split_sections_mimic_layout() -> None:
    text = (MIMIC / "files/p10/p10000001/s50000001.txt").read_text()
    sec = split_sections(text)
    assert sec["indication"] == "___M with cough // eval for pneumonia"
    assert sec["comparison"] == "None."
    assert sec["findings"].startswith("The lungs are clear without focal consolidation. No pleural")
    assert "\n" not in sec["findings"] and "TECHNIQUE" not in sec["findings"]
    assert sec["impression"] == "No acute cardiopulmonary process."


def test_split_sections_fallback_last_paragraph() -> None:
    sec = split_sections((MIMIC / "files/p10/p10000001/s50000003.txt").read_text())
    assert sec["findings"] == ""
    assert sec["impression"].startswith("Interval improvement")
    assert sec["comparison"] == "___ radiograph."
    assert split_sections("") == dict.fromkeys(
        ("indication", "comparison", "findings", "impression"), ""
    )
    sec = split_sections("HISTORY: cough\n\nFINDINGS: a\n\nFINDINGS: b\n")
    assert sec["findings"] == "a b" and sec["indication"] == "cough"


# ------------------------------------------------------------------ MIMIC-CXR


def test_read_mimic_with_metadata() -> None:
    missing: list[str] = []
    studies = read_mimic(MIMIC, META, missing_out=missing)
    by = {s.study_id: s for s in studies}
    assert [s.study_id for s in studies] == ["50000001", "50000002", "50000003", "51000001"]
    s1 = by["50000001"]
    assert s1.dataset == "mimic-cxr" and s1.patient_id == "10000001" and s1.prior_study_id is None
    assert [(i.view, Path(i.path).name) for i in s1.images] == [
        ("frontal", "d0000001a.jpg"),
        ("lateral", "d0000001b.jpg"),
    ]
    assert s1.images[0].path == "files/p10/p10000001/s50000001/d0000001a.jpg"
    # same StudyDate: StudyTime orders 50000002 (08:10) before 50000003 (09:30)
    assert by["50000002"].prior_study_id == "50000001"
    assert by["50000003"].prior_study_id == "50000002"
    assert by["51000001"].prior_study_id is None
    assert by["50000002"].findings.startswith("New right lower lobe consolidation")
    # the report of 51000002 is absent: reported, not a crash, study left out
    assert missing == [str(MIMIC / "files/p11/p11000002/s51000002.txt")]


def test_read_mimic_images_root_reports_missing(tmp_path: Path) -> None:
    img = tmp_path / "files/p10/p10000001/s50000001/d0000001a.jpg"
    img.parent.mkdir(parents=True)
    img.write_bytes(b"x")
    missing: list[str] = []
    studies = read_mimic(MIMIC, META, images_root=tmp_path, missing_out=missing)
    assert studies[0].images[0].path == str(img)
    assert str(img) not in missing
    assert str(tmp_path / "files/p10/p10000001/s50000001/d0000001b.jpg") in missing


def test_read_mimic_without_metadata_scans_reports_and_filters() -> None:
    studies = read_mimic(MIMIC / "files")
    assert [s.study_id for s in studies] == ["50000001", "50000002", "50000003", "51000001"]
    assert all(s.prior_study_id is None and s.images == [] for s in studies)
    only = read_mimic(MIMIC, META, study_ids=["s50000002"])
    assert [s.study_id for s in only] == ["50000002"] and only[0].prior_study_id == "50000001"
    via_chexpert = read_mimic(MIMIC, chexpert_csv=CHEX)
    assert len(via_chexpert) == 4


def test_mimic_chexpert_labels() -> None:
    labels = read_mimic_chexpert(CHEX)
    assert labels["50000001"] == {
        "No Finding": "present",
        "Cardiomegaly": "absent",
        "Consolidation": "absent",
        "Pneumothorax": "absent",
        "Pleural Effusion": "absent",
    }
    assert labels["51000001"]["Pleural Effusion"] == "uncertain"
    assert "Edema" not in labels["50000002"]  # blank = not mentioned


def test_mimic_bad_csvs(tmp_path: Path) -> None:
    bad = tmp_path / "chexpert.csv"
    bad.write_text(CHEX.read_text().replace("Edema,", "Oedema,", 1))
    with pytest.raises(RecordError, match=r"chexpert\.csv:1: missing required column.*'Edema'"):
        read_mimic_chexpert(bad)
    bad.write_text(CHEX.read_text().replace("51000001,,1.0", "51000001,,yes"))
    with pytest.raises(RecordError, match=r"chexpert\.csv:5:4: column 'Cardiomegaly'"):
        read_mimic_chexpert(bad)
    meta = tmp_path / "meta.csv"
    meta.write_text(META.read_text().replace("dicom_id,", "dicom,", 1))
    with pytest.raises(RecordError, match=r"meta\.csv:1: .*'dicom_id'"):
        read_mimic_metadata(meta)
    meta.write_text(META.read_text().replace("101500.250", "10:15", 1))
    with pytest.raises(RecordError, match=r"meta\.csv:3: column 'StudyTime'"):
        read_mimic_metadata(meta)


def test_view_positions() -> None:
    assert view_of("PA") == view_of("ap") == "frontal"
    assert view_of("LATERAL") == view_of("LL") == "lateral"
    assert view_of("") == "unknown"


# ------------------------------------------------------------------ CheXpert Plus


def test_read_chexpert_plus_groups_images_into_studies() -> None:
    studies = read_chexpert_plus(CXP)
    by = {s.study_id: s for s in studies}
    assert list(by) == ["patient00001_study2", "patient00001_study1", "patient64541_study1"]
    s1 = by["patient00001_study1"]
    assert s1.dataset == "chexpert-plus" and s1.patient_id == "pid001"
    assert [(i.view, i.path) for i in s1.images] == [
        ("frontal", "train/patient00001/study1/view1_frontal.jpg"),
        ("lateral", "train/patient00001/study1/view2_lateral.jpg"),
    ]
    assert s1.indication == 'Chest pain, rule out "acute" process.'
    assert s1.findings == "Enlarged heart. No pleural effusion."
    assert s1.impression == "Cardiomegaly without edema."
    assert by["patient00001_study2"].prior_study_id == "patient00001_study1"
    assert s1.prior_study_id is None
    # empty section columns: the free report is split instead
    s3 = by["patient64541_study1"]
    assert s3.findings == "Small left pneumothorax."
    assert s3.impression == "Small left apical pneumothorax."


def test_chexpert_plus_images_dir_and_extension(tmp_path: Path) -> None:
    png = tmp_path / "train/patient00001/study1/view1_frontal.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"x")
    missing: list[str] = []
    studies = read_chexpert_plus(CXP, tmp_path, image_ext=".png", missing_out=missing)
    s1 = next(s for s in studies if s.study_id == "patient00001_study1")
    assert s1.images[0].path == str(png)
    assert str(png) not in missing and len(missing) == 3


def test_chexpert_plus_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "cxp.csv"
    bad.write_text(CXP.read_text().replace("path_to_image,", "image,", 1))
    with pytest.raises(RecordError, match=r"cxp\.csv:1: missing required column.*'path_to_image'"):
        read_chexpert_plus(bad)
    bad.write_text(
        CXP.read_text().replace("train/patient00001/study2/view1_frontal.jpg,", "x.jpg,", 1)
    )
    with pytest.raises(RecordError, match=r"cxp\.csv:2: column 'path_to_image'"):
        read_chexpert_plus(bad)


# ------------------------------------------------------------------ MS-CXR-T


def test_read_ms_cxr_t_pairs_and_progression() -> None:
    studies = read_ms_cxr_t(MSCXRT)
    by = {s.study_id: s for s in studies}
    assert set(by) == {"50000001", "50000002", "50000003", "51000001", "51000002"}
    cur = by["50000003"]
    assert cur.dataset == "ms-cxr-t" and cur.patient_id == "10000001"
    assert cur.prior_study_id == "50000002"
    assert cur.progression == {"Consolidation": "improving", "Pleural Effusion": "improving"}
    assert [i.path for i in cur.images] == ["files/p10/p10000001/s50000003/d0000003a.jpg"]
    assert by["50000002"].progression == {
        "Consolidation": "worsening",
        "Pleural Effusion": "worsening",
        "Pneumonia": "worsening",
    }
    prior = by["51000001"]  # emitted as its own record so consumers find the reference image
    assert prior.progression is None and prior.prior_study_id is None
    assert prior.images[0].path.endswith("s51000001/d1000001a.jpg")
    assert by["51000002"].progression == {"Edema": "stable"}


def test_ms_cxr_t_joined_with_mimic_reports(tmp_path: Path) -> None:
    missing: list[str] = []
    studies = read_ms_cxr_t(MSCXRT, images_root=tmp_path, reports_root=MIMIC, missing_out=missing)
    by = {s.study_id: s for s in studies}
    assert by["50000002"].impression == "Right lower lobe pneumonia."
    assert by["51000002"].findings == ""  # report missing -> reported
    assert str(MIMIC / "files/p11/p11000002/s51000002.txt") in missing
    # a root without a files/ folder is taken as the files folder itself
    assert str(tmp_path / "p10/p10000001/s50000002/d0000002a.jpg") in missing


def test_ms_cxr_t_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text(MSCXRT.read_text().replace("edema_progression,", "", 1))
    with pytest.raises(
        RecordError, match=r"t\.csv:1: missing required column.*'edema_progression'"
    ):
        read_ms_cxr_t(bad)
    bad.write_text(MSCXRT.read_text().replace(",stable,", ",better,"))
    with pytest.raises(RecordError, match=r"t\.csv:4:7: column 'edema_progression'"):
        read_ms_cxr_t(bad)


def test_studies_round_trip_jsonl(tmp_path: Path) -> None:
    studies = read_ms_cxr_t(MSCXRT, reports_root=MIMIC) + read_chexpert_plus(CXP)
    out = tmp_path / "studies.jsonl"
    write_jsonl(out, studies)
    assert read_records(out, Study) == studies


def test_fixture_tree_copy_is_self_contained(tmp_path: Path) -> None:
    """Readers take every path as an argument (no hard-coded roots)."""
    root = tmp_path / "mimic"
    shutil.copytree(MIMIC, root)
    studies = read_mimic(root, root / META.name)
    assert len(studies) == 4
