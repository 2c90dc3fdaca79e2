"""Load studies from an Open-I reports CSV or a Study JSONL, chosen by content."""

from __future__ import annotations

import os
from pathlib import Path

from cxreason.data.openi import read_openi
from cxreason.records import RecordError, Study, read_records


def detect_format(path: str | os.PathLike) -> str:
    """``"jsonl"`` (first non-blank line starts with ``{``) or ``"openi-csv"`` (a CSV header with uid)."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    for lineno, raw in enumerate(head.splitlines(), 1):
        line = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
        if not line:
            continue
        if line.startswith("{"):
            return "jsonl"
        cols = [c.strip().strip('"') for c in line.split(",")]
        if "uid" in cols:
            return "openi-csv"
        raise RecordError(
            path, lineno, "not a Study JSONL (no '{') nor an Open-I reports CSV (no 'uid' column)"
        )
    raise RecordError(path, 0, "empty file: no studies")


def load_studies(
    path: str | os.PathLike,
    projections: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
) -> list[Study]:
    """Studies from ``path``: Open-I CSV (with optional projections/images) or Study JSONL."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if detect_format(path) == "jsonl":
        return read_records(path, Study)
    return read_openi(path, projections, images_dir)
