"""MS-CXR-T temporal image classification reader -> Study records with ``progression``.

``MS_CXR_T_temporal_image_classification_v1.0.0.csv`` columns: ``study_id, subject_id,
dicom_id, previous_study_id, previous_dicom_id`` and ``consolidation_progression,
edema_progression, pleural_effusion_progression, pneumonia_progression,
pneumothorax_progression`` (``improving`` | ``stable`` | ``worsening`` | empty).

Each row gives the CURRENT study (``study_id``; its image ``dicom_id``; ``prior_study_id`` =
``previous_study_id``; ``progression`` = {CheXpert label: class} of the non-empty columns) and
its PRIOR study (``previous_study_id`` with image ``previous_dicom_id``), which is emitted as a
Study record of its own so that consumers find it by id. Images live at the MIMIC-CXR-JPG path
``IMAGES_ROOT/files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg`` and are frontal views. With
``reports_root`` the MIMIC-CXR report sections are filled in (missing reports reported).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cxreason.data.csvio import read_csv_rows
from cxreason.data.mimic import image_path, report_missing, report_path, strip_id
from cxreason.data.sections import split_sections
from cxreason.records import ImageRef, RecordError, Study

log = logging.getLogger(__name__)

PROGRESSION_COLUMNS = {
    "consolidation_progression": "Consolidation",
    "edema_progression": "Edema",
    "pleural_effusion_progression": "Pleural Effusion",
    "pneumonia_progression": "Pneumonia",
    "pneumothorax_progression": "Pneumothorax",
}
PROGRESSION_CLASSES = ("improving", "stable", "worsening")
REQUIRED = ("study_id", "subject_id", "dicom_id", "previous_study_id", "previous_dicom_id")


def read_ms_cxr_t(
    csv_path: str | os.PathLike,
    images_root: str | os.PathLike | None = None,
    reports_root: str | os.PathLike | None = None,
    *,
    image_ext: str = ".jpg",
    missing_out: list[str] | None = None,
) -> list[Study]:
    """Read MS-CXR-T pairs: current studies (with ``progression`` and ``prior_study_id``) and
    their prior studies, in first-appearance order. Without ``images_root`` image paths are
    relative MIMIC-CXR-JPG paths (``files/pXX/...``). Raises :class:`RecordError` (file, line,
    column) on a missing column, an empty id or an unknown progression class."""
    cols = [c for c in PROGRESSION_COLUMNS]
    studies: dict[str, Study] = {}
    missing: list[str] = []
    for line, row in read_csv_rows(csv_path, (*REQUIRED, *cols)):
        subj = strip_id(row["subject_id"], "p")
        cur, prev = strip_id(row["study_id"], "s"), strip_id(row["previous_study_id"], "s")
        if not (subj and cur and prev and row["dicom_id"] and row["previous_dicom_id"]):
            raise RecordError(csv_path, line, "empty id (study, subject, dicom or previous)")
        progression = {}
        for col in cols:
            value = row[col].lower()
            if not value:
                continue
            if value not in PROGRESSION_CLASSES:
                where = list(row).index(col) + 1
                raise RecordError(
                    csv_path,
                    line,
                    f"column {col!r}: expected one of {PROGRESSION_CLASSES}, got {value!r}",
                    where,
                )
            progression[PROGRESSION_COLUMNS[col]] = value
        current = _get(studies, cur, subj, csv_path, line)
        prior = _get(studies, prev, subj, csv_path, line)
        if current.prior_study_id not in (None, prev):
            raise RecordError(
                csv_path,
                line,
                f"study {cur} has two previous studies: {current.prior_study_id}, {prev}",
            )
        current.prior_study_id = prev
        current.progression = _merge(current.progression, progression, csv_path, line)
        _add_image(current, subj, cur, row["dicom_id"], images_root, image_ext, missing)
        _add_image(prior, subj, prev, row["previous_dicom_id"], images_root, image_ext, missing)
    out = list(studies.values())
    if reports_root is not None:
        _fill_reports(out, reports_root, missing)
    report_missing(missing, "files (images/reports)", None, missing_out)
    return out


def _get(studies: dict[str, Study], sid: str, subj: str, path, line: int) -> Study:
    s = studies.get(sid)
    if s is None:
        s = studies[sid] = Study(study_id=sid, dataset="ms-cxr-t", patient_id=subj)
    elif s.patient_id != subj:
        raise RecordError(path, line, f"study {sid} has two subject ids: {s.patient_id}, {subj}")
    return s


def _merge(
    old: dict[str, str] | None, new: dict[str, str], path, line: int
) -> dict[str, str] | None:
    if old is None:
        return new or None
    for lb, cls in new.items():
        if old.get(lb, cls) != cls:
            raise RecordError(path, line, f"conflicting {lb} progression: {old[lb]} vs {cls}")
    return {**old, **new} or None


def _add_image(study: Study, subj: str, sid: str, dicom_id: str, root, ext: str, missing) -> None:
    if root is not None:
        p = image_path(root, subj, sid, dicom_id, ext)
        if not p.is_file():
            missing.append(str(p))
        path = str(p)
    else:
        path = f"files/p{subj[:2]}/p{subj}/s{sid}/{dicom_id}{ext}"
    if all(i.path != path for i in study.images):
        study.images.append(ImageRef(path=path, view="frontal"))


def _fill_reports(studies: list[Study], root: str | os.PathLike, missing: list[str]) -> None:
    for s in studies:
        rp = report_path(root, s.patient_id or "", s.study_id)
        if not Path(rp).is_file():
            missing.append(str(rp))
            continue
        sec = split_sections(rp.read_bytes().decode("utf-8", errors="replace"))
        s.indication, s.comparison = sec["indication"], sec["comparison"]
        s.findings, s.impression = sec["findings"], sec["impression"]
