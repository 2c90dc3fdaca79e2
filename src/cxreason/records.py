"""Record schemas shared by every hop (SPEC "Records") and their JSON Lines I/O.

Conventions
- JSON Lines, UTF-8, one object per line. Readers name file, line and column on bad input.
- Writers are atomic: data goes to a temporary file in the same folder, then ``os.replace``.
- Mention spans (``start``/``end``, character offsets, end exclusive) index into
  :func:`report_text` of the study: ``findings + "\\n" + impression``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BENCH_TASKS = ("binary", "single", "multiple", "anomaly", "temporal")
#: Splits a benchmark item belongs to, in order.
SPLITS = ("train", "validation", "test")


class RecordError(ValueError):
    """A malformed record: the message names the file, line and (where known) column."""

    def __init__(self, path: str | os.PathLike, line: int, message: str, column: int | None = None):
        self.path, self.line, self.column = str(path), line, column
        where = f"{path}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")


@dataclass
class ImageRef:
    path: str
    view: str = "unknown"  # "frontal" | "lateral" | "unknown"


@dataclass
class Study:
    study_id: str
    dataset: str = ""
    patient_id: str | None = None
    indication: str = ""
    comparison: str = ""
    findings: str = ""
    impression: str = ""
    images: list[ImageRef] = field(default_factory=list)
    prior_study_id: str | None = None
    #: Temporal labels vs the prior study (MS-CXR-T style): CheXpert label -> worsening|stable|improving.
    progression: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Study:
        d = dict(d)
        d["images"] = [
            i if isinstance(i, ImageRef) else ImageRef(**i) for i in d.get("images") or []
        ]
        d["study_id"] = str(d["study_id"])
        return _build(cls, d)


@dataclass
class Mention:
    concept: str
    label: str | None  # CheXpert label or None (extended concept mapped to no label)
    status: str  # present | uncertain | absent
    text: str
    start: int
    end: int


@dataclass
class Labels:
    study_id: str
    labels: dict[str, str]
    mentions: list[Mention] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Labels:
        d = dict(d)
        d["mentions"] = [
            m if isinstance(m, Mention) else Mention(**m) for m in d.get("mentions") or []
        ]
        return _build(cls, d)


@dataclass
class BenchItem:
    id: str
    study_id: str
    task: str
    question: str
    options: dict[str, str] | None
    answer: str
    answer_labels: list[str]
    images: list[str]
    report: str
    reasoning: str = ""
    reasoning_steps: list[str] = field(default_factory=list)
    split: str = "test"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchItem:
        if d.get("task") not in BENCH_TASKS:
            raise ValueError(f"task must be one of {BENCH_TASKS}, got {d.get('task')!r}")
        return _build(cls, d)


@dataclass
class Prediction:
    id: str
    output: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        return _build(cls, {"id": str(d["id"]), "output": d.get("output")}, extra_ok=True)


def _build(cls: type[T], d: dict[str, Any], extra_ok: bool = True) -> T:
    names = {f.name for f in fields(cls)}
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in d and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    if not extra_ok:
        extra = set(d) - names
        if extra:
            raise ValueError(f"unknown field(s): {', '.join(sorted(extra))}")
    return cls(**{k: v for k, v in d.items() if k in names})


def report_text(findings: str, impression: str) -> str:
    """The text that mention spans index into: findings, a newline, impression."""
    return f"{findings or ''}\n{impression or ''}"


def bench_report(findings: str, impression: str) -> str:
    """The report string stored on a BenchItem: ``FINDINGS: ... IMPRESSION: ...``."""
    return f"FINDINGS: {(findings or '').strip()} IMPRESSION: {(impression or '').strip()}"


def to_dict(record: Any) -> dict[str, Any]:
    """A dataclass record as a plain dict (nested dataclasses included)."""
    return asdict(record)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; RecordError on bad JSON."""
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise RecordError(path, lineno, f"invalid JSON: {e.msg}", e.colno) from None
                if not isinstance(obj, dict):
                    raise RecordError(path, lineno, "expected a JSON object", 1)
                yield lineno, obj
        except UnicodeDecodeError as e:
            raise RecordError(path, 0, f"not valid UTF-8 at byte {e.start}") from None


def read_records(path: str | os.PathLike, cls: type[T]) -> list[T]:
    """Read a JSONL file of ``cls`` records (``cls.from_dict``); errors name file and line."""
    out: list[T] = []
    for lineno, obj in iter_jsonl(path):
        try:
            out.append(cls.from_dict(obj))  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(path, lineno, f"bad {cls.__name__} record: {e}") from None
    return out


def dumps_record(record: Any) -> str:
    """One JSONL line (no newline); dataclasses are converted, keys keep field order."""
    obj = to_dict(record) if hasattr(record, "__dataclass_fields__") else record
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> int:
    """Atomically write records as JSON Lines; returns the number written."""
    n = 0
    with atomic_writer(path) as fh:
        for r in records:
            fh.write(dumps_record(r) + "\n")
            n += 1
    return n


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Atomically write one JSON document (sorted keys off, UTF-8)."""
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")


class atomic_writer:
    """Context manager: write text to a temp file beside ``path``, then ``os.replace`` it.

    On an exception the temp file is removed and ``path`` is left untouched.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "w"):
        self.path = Path(path)
        self.mode = mode

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        enc = None if "b" in self.mode else "utf-8"
        self.fh = os.fdopen(fd, self.mode, encoding=enc, newline=None if enc is None else "\n")
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        self.fh.close()
        if exc_type is None:
            # mkstemp creates 0600; the finished file gets the mode a plain open() would give
            # (0666 minus the user's umask), so a group can read it on a shared cluster.
            os.chmod(self.tmp, 0o666 & ~current_umask())
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def current_umask() -> int:
    """The process umask. Linux reports it in /proc/self/status; elsewhere it is read by setting
    and restoring it (os has no getter; that briefly changes it for other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append one record and flush+fsync (for resumable, crash-safe progress logs)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as fh:
        fh.write(dumps_record(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_appended_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a progress log written by :func:`append_jsonl`, ignoring a torn last line."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    lines = p.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # torn tail from a kill mid-write: drop it
                break
            raise RecordError(p, i + 1, "invalid JSON in progress log") from None
    return out
