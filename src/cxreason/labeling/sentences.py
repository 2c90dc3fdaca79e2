"""Sentence splitting for radiology reports (abbreviations, decimals, enumerators, ``XXXX``)."""

from __future__ import annotations

import re

# A candidate boundary: terminal punctuation followed by whitespace, a line break, or the end of
# a bold heading that opens a line of model output ("1. **Edema (Option A):** Edema appears ...").
_BOUNDARY = re.compile(r"[.!?]+(?=\s)|\n+|:\*\*(?=\s)|\*\*:(?=\s)")
# Tokens that end with a period but do not end a sentence (lower case, without the period).
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms vs approx apprx e.g i.e etc fig nos st resp pt hx dx bilat incl".split()
)
_LAST_TOKEN = re.compile(r"(?<![A-Za-z])([A-Za-z][A-Za-z.]*)$")
_NONSPACE = re.compile(r"\S")
_ENUMERATOR = re.compile(r"\s*(?:\d{1,2}|[a-zA-Z])[.)]?\s*$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` into ``text`` (end exclusive, surrounding spaces trimmed).

    Splits after ``.``/``!``/``?`` followed by whitespace and at line breaks; keeps
    abbreviations ("vs.", "approx.") and decimals ("2.5 cm") inside a sentence and attaches a
    list enumerator ("1.", "2)") to the sentence it introduces. Linear in ``len(text)``.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    pending: int | None = None  # start of an enumerator waiting for its sentence
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        piece = text[start:end] if end - start <= 8 else ""
        if m.group()[0] != "\n" and _is_abbreviation(text, m.start(), start):
            continue
        if (
            m.group()[0] != "\n"
            and m.start() - start <= 6
            and _ENUMERATOR.fullmatch(piece.rstrip(".)"))
        ):
            pending = start if pending is None else pending
            start = end
            continue
        _emit(text, pending if pending is not None else start, end, spans)
        pending = None
        start = end
    _emit(text, pending if pending is not None else start, len(text), spans)
    return spans


def _is_abbreviation(text: str, dot: int, start: int) -> bool:
    """Is the word ending at ``dot`` (the boundary's first punctuation) an abbreviation?"""
    m = _LAST_TOKEN.search(text, max(start, dot - 8), dot)
    return bool(m) and m.group(1).lower().rstrip(".") in _ABBREVIATIONS and dot - start > 3


def _emit(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    m = _NONSPACE.search(text, start, end)
    if m is None:
        return
    start = m.start()
    while text[end - 1].isspace():
        end -= 1
    spans.append((start, end))
