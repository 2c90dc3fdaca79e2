"""Strict CSV reading for every dataset reader: a broken file is refused, never misread.

:func:`read_csv_rows` returns ``(line, row)`` pairs (``line``: the physical line where the
record starts, 1-based). It raises :class:`~cxreason.records.RecordError` naming the file and
line when

- a required column is missing from the header;
- a record has more or fewer fields than the header;
- a quote is malformed (a character after a closing quote, a quote left open at the end of
  the file, a NUL byte): Python's ``csv`` in strict mode, its errors re-worded;
- a quoted field runs over several lines and swallows what parses as whole records of the
  file (an unbalanced quote: otherwise one report's text silently moves into another study);
- a field is larger than :data:`MAX_FIELD_BYTES` (fields of any size below that are read:
  Python's default limit of 128 KiB does not apply).

Text is decoded as UTF-8 (BOM allowed); invalid bytes become U+FFFD and are reported with
their line (logging and ``warnings``).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from cxreason.records import RecordError

log = logging.getLogger(__name__)

#: Largest field read (64 MiB); larger ones are refused with a clear message.
MAX_FIELD_BYTES = 64 * 1024 * 1024
_FIELD_LIMIT_RE = re.compile(r"field larger than field limit")


def read_text_lenient(path: str | os.PathLike, warnings: list[str] | None = None) -> str:
    """File contents as text; invalid UTF-8 is replaced and reported (file, line) via logging."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    bad = []
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            bad.append((lineno, e.start))
    for lineno, col in bad[:20]:
        msg = f"{path}:{lineno}: invalid UTF-8 at byte {col} of the line; replaced with U+FFFD"
        log.warning(msg)
        if warnings is not None:
            warnings.append(msg)
    if len(bad) > 20:
        log.warning("%s: %d more lines with invalid UTF-8", path, len(bad) - 20)
    return raw.decode("utf-8-sig", errors="replace")


def _ensure_field_limit() -> None:
    """Python's csv limit is per process (default 128 KiB): set it to ours for this read."""
    csv.field_size_limit(MAX_FIELD_BYTES)


def _csv_error(path, line: int, start: int, err: csv.Error) -> RecordError:
    msg = str(err)
    where = f" (detected on line {line})" if line != start else ""
    if _FIELD_LIMIT_RE.search(msg):
        return RecordError(
            path,
            start,
            f"a field of the record starting here is larger than {MAX_FIELD_BYTES // 2**20} MiB "
            "(an unbalanced quote swallowing the rest of the file?)",
        )
    if "unexpected end of data" in msg or "EOF" in msg:
        return RecordError(
            path, start, "a quoted field opened in this record is never closed (unbalanced quote)"
        )
    if "NUL" in msg:
        return RecordError(path, line, "NUL byte in the file (not a text CSV?)")
    return RecordError(
        path, start, f"malformed CSV quoting in this record{where}: {msg}; an unbalanced quote?"
    )


def _swallowed_record(fields: list[str], width: int) -> str | None:
    """A line inside a multi-line field that parses as a whole record of ``width`` fields."""
    for f in fields:
        if "\n" not in f:
            continue
        for inner in f.split("\n")[1:-1] or f.split("\n")[1:]:
            try:
                parsed = next(csv.reader([inner]), [])
            except csv.Error:
                continue
            if len(parsed) == width and parsed[0].strip():
                return inner
    return None


def read_csv_rows(
    path: str | os.PathLike,
    required: Iterable[str],
    *,
    strip: bool = True,
    warnings: list[str] | None = None,
) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of a UTF-8 CSV; see the module docstring for what is refused.

    ``strip``: strip whitespace around values (header names are always stripped). Blank lines
    are skipped.
    """
    _ensure_field_limit()
    text = read_text_lenient(path, warnings)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end = 0  # physical line where the previous record ended
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise _csv_error(path, reader.line_num, 1, e) from None
    header = [h.strip() for h in (header or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise RecordError(
            path,
            1,
            f"missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found columns: {', '.join(header) or 'none'})",
        )
    end = reader.line_num
    rows: list[tuple[int, dict[str, str]]] = []
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise _csv_error(path, reader.line_num, start, e) from None
        end = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if len(fields) != len(header):
            span = f" (the record runs to line {end})" if end > start else ""
            raise RecordError(
                path,
                start,
                f"{len(fields)} fields, the header has {len(header)}{span}; "
                "an unquoted comma or an unbalanced quote?",
            )
        if end > start:
            swallowed = _swallowed_record(fields, len(header))
            if swallowed is not None:
                raise RecordError(
                    path,
                    start,
                    f"a quoted field runs to line {end} and contains what reads as a whole "
                    f"record ({swallowed[:60]!r}...): an unbalanced quote",
                )
        values = [v.strip() for v in fields] if strip else fields
        rows.append((start, dict(zip(header, values, strict=True))))
    return rows
