"""Reader-study log: a clinician's accept/edit decision and time per item (append-only JSONL).

NV-Reason-CXR's reader study measured time-to-report with and without the model's draft; the
viewer's reader mode records, per item shown, whether the reader accepted the model's
impression as is or edited it (with the edited text) and the seconds spent on the item. Each
decision is one JSON line appended (and fsync'd) to a local file; nothing is ever rewritten.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cxreason.records import append_jsonl, read_appended_jsonl

DECISIONS = ("accept", "edit")
#: Longest plausible time on one item, in seconds (a forgotten open tab is not a measurement).
MAX_SECONDS = 6 * 3600.0
MAX_TEXT = 20_000


class ReaderError(ValueError):
    """A malformed reader decision (message names the field)."""


def validate_decision(d: dict[str, Any], known_ids: set[str] | None = None) -> dict[str, Any]:
    """A clean decision record from client JSON, or ReaderError naming the bad field."""
    item_id = d.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        raise ReaderError("item_id: required string")
    if known_ids is not None and item_id not in known_ids:
        raise ReaderError(f"item_id: {item_id!r} is not an item of the loaded benchmark")
    decision = d.get("decision")
    if decision not in DECISIONS:
        raise ReaderError(f"decision: must be one of {DECISIONS}, got {decision!r}")
    edited = d.get("edited_text")
    if decision == "edit" and (not isinstance(edited, str) or not edited.strip()):
        raise ReaderError("edited_text: required (non-empty) when decision is 'edit'")
    if edited is not None and (not isinstance(edited, str) or len(edited) > MAX_TEXT):
        raise ReaderError(f"edited_text: must be a string of at most {MAX_TEXT} characters")
    secs = d.get("seconds")
    if isinstance(secs, bool) or not isinstance(secs, int | float) or not 0 <= secs <= MAX_SECONDS:
        raise ReaderError(f"seconds: must be a number in [0, {MAX_SECONDS:g}]")
    reader = d.get("reader") or "anonymous"
    if not isinstance(reader, str) or len(reader) > 100:
        raise ReaderError("reader: must be a string of at most 100 characters")
    return {
        "item_id": item_id,
        "reader": reader,
        "decision": decision,
        "edited_text": edited if decision == "edit" else None,
        "seconds": round(float(secs), 3),
    }


class ReaderLog:
    """Append-only JSONL of reader decisions (thread-safe within one process)."""

    def __init__(self, path: str | os.PathLike, model: str = ""):
        self.path, self.model = Path(path), model
        self._lock = threading.Lock()

    def record(self, decision: dict[str, Any], known_ids: set[str] | None = None) -> dict[str, Any]:
        """Validate and append one decision; returns the stored record (with UTC ``time``)."""
        rec = validate_decision(decision, known_ids)
        rec = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": self.model,
            **rec,
        }
        with self._lock:
            append_jsonl(self.path, rec)
        return rec

    def read(self) -> list[dict[str, Any]]:
        """All decisions recorded so far (a torn last line is ignored)."""
        return read_appended_jsonl(self.path)
