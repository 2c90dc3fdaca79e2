"""Reader-study log: a clinician's own answers and accept/edit decisions per item (append-only).

Two measures, one JSONL file (each decision one line, appended and fsync'd; never rewritten):

- **answer** — the reader's own answer to the item (an option letter; for anomaly items the
  CheXpert labels they see). In a **blinded** study the server withholds the model's answer,
  the gold and the scores until the reader has committed this answer, and a committed answer
  cannot be changed (a second one is refused). :mod:`cxreason.inference.agreement` turns these
  into per-item agreement (reader vs gold, reader vs model) and Cohen's kappa.
- **accept / edit** — NV-Reason-CXR's reader-study measure: whether the reader accepted the
  model's impression as is or edited it (with the edited text), and the seconds spent on the
  item (time-to-report with a model draft). In a blinded study only after the answer.

Reader names are labels the reader types, not an authentication: a study that needs identities
runs behind the server's own access control.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cxreason.records import BenchItem, append_jsonl, read_appended_jsonl

DECISIONS = ("accept", "edit", "answer")
#: Longest plausible time on one item, in seconds (a forgotten open tab is not a measurement).
MAX_SECONDS = 6 * 3600.0
MAX_TEXT = 20_000


class ReaderError(ValueError):
    """A malformed reader decision (message names the field)."""


class ReaderConflict(ReaderError):
    """A decision the study's order forbids (answer twice; accept before answering, blinded)."""


def reader_answer(answer: Any, item: BenchItem) -> str:
    """A reader's answer to ``item`` in the benchmark's answer form, or ReaderError.

    Closed items: one option letter. Anomaly items: a list (or comma-separated string) of exact
    CheXpert-14 names -> canonical ``Label, Label``; ``No Finding`` stands alone.
    """
    from cxreason.bench.interop import exact_labels
    from cxreason.vocab import NO_FINDING

    if item.options:
        if not isinstance(answer, str) or answer.strip() not in item.options:
            raise ReaderError(f"answer: must be one of the options {sorted(item.options)}")
        return answer.strip()
    if isinstance(answer, list) and all(isinstance(a, str) for a in answer):
        answer = ", ".join(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ReaderError("answer: a non-empty list of CheXpert labels (or 'No Finding')")
    labels, other = exact_labels(answer)
    if other:
        raise ReaderError(f"answer: not CheXpert-14 label names: {other}")
    if NO_FINDING in labels and len(labels) > 1:
        raise ReaderError("answer: 'No Finding' cannot be combined with findings")
    return ", ".join(labels)


def validate_decision(
    d: dict[str, Any], known: Mapping[str, BenchItem] | set[str] | None = None
) -> dict[str, Any]:
    """A clean decision record from client JSON, or ReaderError naming the bad field.

    ``known``: the loaded benchmark's items by id (needed to check an ``answer``) or their ids.
    """
    item_id = d.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        raise ReaderError("item_id: required string")
    if known is not None and item_id not in known:
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
    rec: dict[str, Any] = {
        "item_id": item_id,
        "reader": reader.strip() or "anonymous",
        "decision": decision,
        "edited_text": edited if decision == "edit" else None,
        "seconds": round(float(secs), 3),
    }
    if decision == "answer":
        if not isinstance(known, Mapping):
            raise ReaderError("answer decisions need the loaded benchmark's items")
        rec["answer"] = reader_answer(d.get("answer"), known[item_id])
    return rec


class ReaderLog:
    """Append-only JSONL of reader decisions (thread-safe within one process).

    ``blinded``: answers are final (a second answer by the same reader to the same item is
    refused) and accept/edit come only after the answer.
    """

    def __init__(self, path: str | os.PathLike, model: str = "", blinded: bool = False):
        self.path, self.model, self.blinded = Path(path), model, blinded
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.read():
            if r.get("decision") == "answer":
                self._answers.setdefault((r.get("reader", ""), r.get("item_id", "")), r)

    def answer_of(self, reader: str, item_id: str) -> dict[str, Any] | None:
        """The first answer ``reader`` committed to ``item_id``, or None."""
        return self._answers.get(((reader or "anonymous").strip() or "anonymous", item_id))

    def record(
        self, decision: dict[str, Any], known: Mapping[str, BenchItem] | set[str] | None = None
    ) -> dict[str, Any]:
        """Validate and append one decision; returns the stored record (with UTC ``time``)."""
        rec = validate_decision(decision, known)
        rec = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": self.model,
            **rec,
            "blinded": self.blinded,
        }
        key = (rec["reader"], rec["item_id"])
        if self.blinded and rec["reader"] == "anonymous":
            raise ReaderError("reader: a blinded study needs the reader's name or initials")
        with self._lock:
            if self.blinded and rec["decision"] == "answer" and key in self._answers:
                raise ReaderConflict(
                    f"{rec['reader']} already committed an answer to {rec['item_id']}: "
                    "answers are final in a blinded study"
                )
            if self.blinded and rec["decision"] != "answer" and key not in self._answers:
                raise ReaderConflict("commit your own answer before judging the model's")
            append_jsonl(self.path, rec)
            if rec["decision"] == "answer":
                self._answers.setdefault(key, rec)
        return rec

    def read(self) -> list[dict[str, Any]]:
        """All decisions recorded so far (a torn last line is ignored)."""
        return read_appended_jsonl(self.path)
