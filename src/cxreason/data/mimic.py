"""MIMIC-CXR reader: free-text reports (+ metadata, CheXpert labels) -> Study records.

Layout (PhysioNet MIMIC-CXR 2.0.0 / MIMIC-CXR-JPG 2.0.0):
- reports: ``ROOT/files/p10/p10000032/s50414267.txt`` (``ROOT`` may also be the ``files`` folder);
- images: ``IMAGES_ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg`` (or ``.dcm``);
- ``mimic-cxr-2.0.0-metadata.csv``: ``dicom_id, subject_id, study_id, ViewPosition,
  StudyDate, StudyTime, ...`` (one row per image);
- ``mimic-cxr-2.0.0-chexpert.csv``: ``subject_id, study_id`` + the 14 CheXpert columns with
  ``1.0`` (present), ``0.0`` (absent), ``-1.0`` (uncertain) or blank (not mentioned).

Study ids are the numeric strings of the CSVs (``"50414267"``); ``patient_id`` is the
``subject_id``. ``prior_study_id`` is the patient's previous study by (StudyDate, StudyTime)
when the metadata CSV is given. A study whose report file is missing is left out and reported
(``missing_out``, log), never a crash. Malformed CSVs raise :class:`RecordError` naming the file,
line and column.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cxreason.data.csvio import read_csv_rows
from cxreason.data.sections import split_sections
from cxreason.records import ImageRef, RecordError, Study
from cxreason.vocab import ABSENT, CHEXPERT_LABELS, PRESENT, UNCERTAIN

log = logging.getLogger(__name__)

METADATA_REQUIRED = ("dicom_id", "subject_id", "study_id")
CHEXPERT_REQUIRED = ("subject_id", "study_id", *CHEXPERT_LABELS)
#: CheXpert CSV value -> status (blank = not mentioned, omitted).
CHEXPERT_VALUES = {
    "1.0": PRESENT,
    "1": PRESENT,
    "0.0": ABSENT,
    "0": ABSENT,
    "-1.0": UNCERTAIN,
    "-1": UNCERTAIN,
}
FRONTAL_POSITIONS = {"PA", "AP", "AP AXIAL", "PA LLD", "AP LLD", "AP RLD", "PA RLD", "PA AXIAL"}
LATERAL_POSITIONS = {"LATERAL", "LL", "RL", "LAO", "RAO", "LPO", "RPO", "XTABLE LATERAL"}


# ------------------------------------------------------------------ CSV helpers (shared)


def strip_id(value: str, prefix: str) -> str:
    """``"s50414267"`` / ``"50414267"`` / ``"50414267.0"`` -> ``"50414267"``."""
    v = value.strip()
    if v[:1].lower() == prefix and v[1:].isdigit():
        v = v[1:]
    if v.endswith(".0") and v[:-2].isdigit():
        v = v[:-2]
    return v


# ------------------------------------------------------------------ paths


def _files_dir(root: str | os.PathLike) -> Path:
    root = Path(root)
    return root / "files" if (root / "files").is_dir() else root


def report_path(root: str | os.PathLike, subject_id: str, study_id: str) -> Path:
    """``ROOT/files/pXX/pSUBJECT/sSTUDY.txt`` (``files`` optional)."""
    return _files_dir(root) / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}.txt"


def image_path(
    root: str | os.PathLike, subject_id: str, study_id: str, dicom_id: str, ext: str = ".jpg"
) -> Path:
    """``ROOT/files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg`` (``files`` optional)."""
    return (
        _files_dir(root)
        / f"p{subject_id[:2]}"
        / f"p{subject_id}"
        / f"s{study_id}"
        / f"{dicom_id}{ext}"
    )


def view_of(position: str) -> str:
    """DICOM ViewPosition -> ``frontal`` | ``lateral`` | ``unknown``."""
    p = " ".join(position.upper().split())
    if p in FRONTAL_POSITIONS:
        return "frontal"
    if p in LATERAL_POSITIONS:
        return "lateral"
    return "unknown"


# ------------------------------------------------------------------ metadata and labels


@dataclass
class StudyMeta:
    """Per-study facts from the metadata CSV."""

    subject_id: str
    when: tuple[str, float] = ("", 0.0)  # (StudyDate YYYYMMDD, StudyTime HHMMSS.fff)
    images: list[tuple[str, str]] = field(default_factory=list)  # (dicom_id, view)


def read_mimic_metadata(path: str | os.PathLike) -> dict[str, StudyMeta]:
    """study_id -> :class:`StudyMeta` from ``mimic-cxr-2.0.0-metadata.csv`` (file order)."""
    out: dict[str, StudyMeta] = {}
    for line, row in read_csv_rows(path, METADATA_REQUIRED):
        sid, subj = strip_id(row["study_id"], "s"), strip_id(row["subject_id"], "p")
        if not sid or not subj or not row["dicom_id"]:
            raise RecordError(path, line, "empty dicom_id, subject_id or study_id")
        meta = out.setdefault(sid, StudyMeta(subj))
        if meta.subject_id != subj:
            raise RecordError(
                path, line, f"study {sid} has two subject ids: {meta.subject_id}, {subj}"
            )
        when = (row.get("StudyDate", ""), _float(row.get("StudyTime", ""), path, line, "StudyTime"))
        if not meta.images or when < meta.when:
            meta.when = when
        meta.images.append((row["dicom_id"], view_of(row.get("ViewPosition", ""))))
    return out


def _float(value: str, path, line: int, column: str) -> float:
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise RecordError(path, line, f"column {column!r}: not a number: {value!r}") from None


def read_mimic_chexpert(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """study_id -> {CheXpert label: present|absent|uncertain} from ``mimic-cxr-2.0.0-chexpert.csv``
    (also the ``negbio`` CSV). 1 -> present, 0 -> absent, -1 -> uncertain; blank omitted."""
    out: dict[str, dict[str, str]] = {}
    for line, row in read_csv_rows(path, CHEXPERT_REQUIRED):
        labels = {}
        for lb in CHEXPERT_LABELS:
            v = row[lb]
            if not v:
                continue
            if v not in CHEXPERT_VALUES:
                col = list(row).index(lb) + 1
                raise RecordError(
                    path, line, f"column {lb!r}: expected 1.0, 0.0, -1.0 or blank, got {v!r}", col
                )
            labels[lb] = CHEXPERT_VALUES[v]
        out[strip_id(row["study_id"], "s")] = labels
    return out


# ------------------------------------------------------------------ reader


def scan_reports(root: str | os.PathLike) -> dict[str, str]:
    """study_id -> subject_id for every ``pXX/pSUBJECT/sSTUDY.txt`` under ``root``."""
    out = {}
    for p in sorted(_files_dir(root).glob("p*/p*/s*.txt")):
        out[strip_id(p.stem, "s")] = strip_id(p.parent.name, "p")
    return out


def read_mimic(
    reports_root: str | os.PathLike,
    metadata_csv: str | os.PathLike | None = None,
    chexpert_csv: str | os.PathLike | None = None,
    images_root: str | os.PathLike | None = None,
    *,
    image_ext: str = ".jpg",
    study_ids: Iterable[str] | None = None,
    missing_out: list[str] | None = None,
) -> list[Study]:
    """Read MIMIC-CXR studies as :class:`Study` records, ordered by (patient, time, study).

    The study list comes from ``metadata_csv`` if given, else ``chexpert_csv``, else the report
    files under ``reports_root``; ``study_ids`` restricts it. Images (from the metadata) are
    ``images_root`` paths with ``image_ext`` (relative ``files/pXX/...`` paths without
    ``images_root``); image files absent under ``images_root`` are kept and reported in
    ``missing_out``. Studies without a report file are skipped and their report paths
    reported in ``missing_out``. ``prior_study_id`` (needs the metadata) is the previous
    study of the patient in time, even when that study's report is missing.
    """
    meta = read_mimic_metadata(metadata_csv) if metadata_csv is not None else {}
    subjects = {sid: m.subject_id for sid, m in meta.items()}
    if not subjects and chexpert_csv is not None:
        subjects = {
            strip_id(r["study_id"], "s"): strip_id(r["subject_id"], "p")
            for _, r in read_csv_rows(chexpert_csv, ("subject_id", "study_id"))
        }
    if not subjects:
        subjects = scan_reports(reports_root)
    keep = {strip_id(s, "s") for s in study_ids} if study_ids is not None else None
    order = sorted(
        subjects, key=lambda s: (subjects[s], meta[s].when if s in meta else ("", 0.0), s)
    )
    studies, missing_reports, missing_images = [], [], []
    prev: dict[str, str] = {}
    for sid in order:
        subj = subjects[sid]
        rp = report_path(reports_root, subj, sid)
        prior = prev.get(subj) if sid in meta else None
        prev[subj] = sid
        if keep is not None and sid not in keep:
            continue
        if not rp.is_file():
            missing_reports.append(str(rp))
            continue
        sec = split_sections(rp.read_bytes().decode("utf-8", errors="replace"))
        images = []
        for dicom_id, view in meta[sid].images if sid in meta else []:
            if images_root is None:
                ref = f"files/p{subj[:2]}/p{subj}/s{sid}/{dicom_id}{image_ext}"
            else:
                ip = image_path(images_root, subj, sid, dicom_id, image_ext)
                if not ip.is_file():
                    missing_images.append(str(ip))
                ref = str(ip)
            images.append(ImageRef(path=ref, view=view))
        studies.append(
            Study(
                study_id=sid,
                dataset="mimic-cxr",
                patient_id=subj,
                images=images,
                prior_study_id=prior,
                **sec,
            )
        )
    report_missing(missing_reports, "report files", len(order), missing_out)
    report_missing(missing_images, "image files", sum(len(s.images) for s in studies), missing_out)
    return studies


def report_missing(missing: list[str], what: str, total: int | None, out: list[str] | None) -> None:
    """Log how many ``what`` are missing (of ``total`` when known) and extend ``out``."""
    if missing:
        of = f" of {total}" if total is not None else ""
        log.warning("%d%s %s missing (first: %s)", len(missing), of, what, missing[0])
    if out is not None:
        out.extend(missing)
