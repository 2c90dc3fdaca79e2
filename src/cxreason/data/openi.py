"""Open-I (Indiana University chest X-ray collection) reader: reports CSV -> Study records.

Reports CSV columns: ``uid, MeSH, Problems, image, indication, comparison, findings,
impression`` (``uid``, ``findings`` and ``impression`` are required). Projections CSV columns:
``uid, filename, projection`` (``Frontal``/``Lateral`` -> view ``frontal``/``lateral``).
Text is kept verbatim, de-identification tokens (``XXXX``) included; invalid UTF-8 bytes are
replaced (U+FFFD) and reported with file and line. A malformed CSV (wrong field count,
unbalanced quote) is refused with its file and line (:mod:`cxreason.data.csvio`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cxreason.data.csvio import read_csv_rows
from cxreason.records import ImageRef, Study

log = logging.getLogger(__name__)

REQUIRED_REPORT_COLUMNS = ("uid", "findings", "impression")
OPTIONAL_REPORT_COLUMNS = ("MeSH", "Problems", "image", "indication", "comparison")
REQUIRED_PROJECTION_COLUMNS = ("uid", "filename", "projection")
_VIEWS = {"frontal": "frontal", "lateral": "lateral", "pa": "frontal", "ap": "frontal"}


def _dict_rows(
    path, required: tuple[str, ...], warnings: list[str] | None = None
) -> list[tuple[int, dict[str, str]]]:
    """Rows with verbatim text (values not stripped); see :mod:`cxreason.data.csvio`."""
    return read_csv_rows(path, required, strip=False, warnings=warnings)


def read_openi(
    reports_csv: str | os.PathLike,
    projections_csv: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    *,
    missing_out: list[str] | None = None,
    warnings_out: list[str] | None = None,
) -> list[Study]:
    """Read Open-I reports (and optionally projections) into Study records, in file order.

    Image paths are ``images_dir/filename`` when ``images_dir`` is given, else the bare file
    name. Images absent from ``images_dir`` stay on the study (the study is still valid) and
    are logged and appended to ``missing_out``. Raises :class:`RecordError` naming the file and
    column when a required column is absent.
    """
    studies: list[Study] = []
    seen: set[str] = set()
    for line, row in _dict_rows(reports_csv, REQUIRED_REPORT_COLUMNS, warnings_out):
        uid = row["uid"].strip()
        if not uid:
            _warn(warnings_out, f"{reports_csv}:{line}: empty uid; row skipped")
            continue
        if uid in seen:
            _warn(warnings_out, f"{reports_csv}:{line}: duplicate uid {uid!r}; row skipped")
            continue
        seen.add(uid)
        studies.append(
            Study(
                study_id=uid,
                dataset="openi",
                indication=row.get("indication", ""),
                comparison=row.get("comparison", ""),
                findings=row.get("findings", ""),
                impression=row.get("impression", ""),
            )
        )
    if projections_csv is not None:
        _attach_images(studies, projections_csv, images_dir, missing_out, warnings_out)
    return studies


def _attach_images(studies, projections_csv, images_dir, missing_out, warnings_out) -> None:
    by_id = {s.study_id: s for s in studies}
    root = Path(images_dir) if images_dir is not None else None
    missing: list[str] = []
    for _, row in _dict_rows(projections_csv, REQUIRED_PROJECTION_COLUMNS, warnings_out):
        study = by_id.get(row["uid"].strip())
        if study is None or not row["filename"].strip():
            continue
        name = row["filename"].strip()
        view = _VIEWS.get(row["projection"].strip().lower(), "unknown")
        path = str(root / name) if root is not None else name
        if root is not None and not (root / name).is_file():
            missing.append(path)
        study.images.append(ImageRef(path=path, view=view))
    if missing:
        total = sum(len(s.images) for s in studies)
        log.warning(
            "%d of %d images missing under %s (first: %s)", len(missing), total, root, missing[0]
        )
    if missing_out is not None:
        missing_out.extend(missing)


def read_openi_gold(reports_csv: str | os.PathLike, column: str = "MeSH") -> dict[str, str]:
    """uid -> the manual annotation string (``MeSH`` or ``Problems``) of each report."""
    return {
        row["uid"].strip(): row.get(column, "")
        for _, row in _dict_rows(reports_csv, ("uid", column))
        if row["uid"].strip()
    }


def _warn(out: list[str] | None, msg: str) -> None:
    log.warning(msg)
    if out is not None:
        out.append(msg)
