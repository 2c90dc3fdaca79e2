"""CheXpert Plus reader: ``df_chexpert_plus_240401.csv`` (one row per image) -> Study records.

Columns used: ``path_to_image`` (required; ``train/patient00001/study1/view1_frontal.jpg``),
``report`` (required), and where present ``frontal_lateral``, ``deid_patient_id``,
``patient_report_date_order``, ``section_findings``, ``section_impression``,
``section_clinical_history``, ``section_history``, ``section_comparison``.

Rows are grouped into studies by the ``patientNNNNN/studyN`` folder of ``path_to_image``;
``study_id`` is ``patientNNNNN_studyN``. Sections come from the ``section_*`` columns; when
both findings and impression are empty, the free ``report`` is split with
:func:`cxreason.data.sections.split_sections`. ``prior_study_id`` is the patient's previous
study by ``patient_report_date_order`` (else by study number).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path, PurePosixPath

from cxreason.data.csvio import read_csv_rows
from cxreason.data.mimic import report_missing
from cxreason.data.sections import split_sections
from cxreason.records import ImageRef, RecordError, Study

log = logging.getLogger(__name__)

REQUIRED = ("path_to_image", "report")
_STUDY = re.compile(r"(patient\d+)/(study\d+)/", re.IGNORECASE)


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _sections(row: dict[str, str]) -> dict[str, str]:
    sec = {
        "indication": _join(
            row.get("section_clinical_history", ""), row.get("section_history", "")
        ),
        "comparison": row.get("section_comparison", ""),
        "findings": row.get("section_findings", ""),
        "impression": row.get("section_impression", ""),
    }
    if not sec["findings"] and not sec["impression"]:
        parsed = split_sections(row.get("report", ""))
        sec = {k: sec[k] or parsed[k] for k in sec}
    return sec


def _order(value: str, path, line: int) -> float:
    if not value:
        return float("inf")
    try:
        return float(value)
    except ValueError:
        raise RecordError(
            path, line, f"column 'patient_report_date_order': not a number: {value!r}"
        ) from None


def read_chexpert_plus(
    csv_path: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    image_ext: str | None = None,
    missing_out: list[str] | None = None,
) -> list[Study]:
    """Read CheXpert Plus studies in first-appearance order.

    Image paths are ``images_dir/path_to_image`` (bare ``path_to_image`` without
    ``images_dir``); ``image_ext`` (e.g. ``".png"``) replaces the extension. Image files absent
    from ``images_dir`` are kept and reported in ``missing_out``. Raises
    :class:`RecordError` (file, line, column) on a missing column or an unparsable path.
    """
    studies: dict[str, Study] = {}
    order: dict[str, float] = {}
    missing: list[str] = []
    root = Path(images_dir) if images_dir is not None else None
    for line, row in read_csv_rows(csv_path, REQUIRED):
        rel = row["path_to_image"].replace("\\", "/")
        m = _STUDY.search(rel + "/" if not rel.endswith("/") else rel)
        if m is None:
            raise RecordError(
                csv_path, line, f"column 'path_to_image': no patientN/studyN in {rel!r}"
            )
        sid = f"{m.group(1)}_{m.group(2)}"
        study = studies.get(sid)
        if study is None:
            study = Study(
                study_id=sid,
                dataset="chexpert-plus",
                patient_id=row.get("deid_patient_id") or m.group(1),
                **_sections(row),
            )
            studies[sid] = study
            order[sid] = _order(row.get("patient_report_date_order", ""), csv_path, line)
        if image_ext:
            rel = str(PurePosixPath(rel).with_suffix(image_ext))
        path = str(root / rel) if root is not None else rel
        if root is not None and not (root / rel).is_file():
            missing.append(path)
        view = row.get("frontal_lateral", "").strip().lower()
        study.images.append(
            ImageRef(path=path, view=view if view in ("frontal", "lateral") else "unknown")
        )
    _link_priors(list(studies.values()), order)
    report_missing(
        missing, "image files", sum(len(s.images) for s in studies.values()), missing_out
    )
    return list(studies.values())


def _link_priors(studies: list[Study], order: dict[str, float]) -> None:
    by_patient: dict[str, list[Study]] = {}
    for s in studies:
        by_patient.setdefault(s.patient_id or s.study_id, []).append(s)
    for group in by_patient.values():
        group.sort(key=lambda s: (order[s.study_id], _study_number(s.study_id)))
        for prev, cur in zip(group, group[1:], strict=False):
            cur.prior_study_id = prev.study_id


def _study_number(study_id: str) -> int:
    m = re.search(r"study(\d+)$", study_id)
    return int(m.group(1)) if m else 0
