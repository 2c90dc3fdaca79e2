"""Split free-text radiology reports (MIMIC-CXR style) into Study sections.

A heading is an upper-case phrase at the start of a line followed by a colon, e.g.
``INDICATION:``, ``COMPARISON:``, ``FINDINGS:``, ``IMPRESSION:``; its text runs until the next
heading. Headings map to Study fields (:data:`HEADINGS`); unknown headings (``EXAMINATION``,
``TECHNIQUE``, ``WET READ``, ...) end the previous section and are dropped. Wrapped lines are
joined with single spaces. When a report has neither findings nor impression, its last
paragraph becomes the impression (as the MIMIC-CXR section script does).
"""

from __future__ import annotations

import re

#: Heading (upper case, normalised spaces) -> Study field.
HEADINGS: dict[str, str] = {
    "INDICATION": "indication",
    "INDICATIONS": "indication",
    "HISTORY": "indication",
    "CLINICAL HISTORY": "indication",
    "CLINICAL INDICATION": "indication",
    "CLINICAL INFORMATION": "indication",
    "REASON FOR EXAM": "indication",
    "REASON FOR EXAMINATION": "indication",
    "REASON FOR STUDY": "indication",
    "COMPARISON": "comparison",
    "COMPARISONS": "comparison",
    "FINDINGS": "findings",
    "FINDING": "findings",
    "IMPRESSION": "impression",
    "IMPRESSIONS": "impression",
    "CONCLUSION": "impression",
    "CONCLUSIONS": "impression",
    "SUMMARY": "impression",
    "FINDINGS AND IMPRESSION": "impression",
    "FINDINGS/IMPRESSION": "impression",
}
FIELDS = ("indication", "comparison", "findings", "impression")

_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&()\-]{1,40}?)[ \t]*:", re.MULTILINE)
_TITLE = re.compile(r"^\s*FINAL REPORT\s*$", re.MULTILINE)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_sections(text: str) -> dict[str, str]:
    """Report text -> ``{indication, comparison, findings, impression}`` (missing ones "").

    Repeated headings of the same field are concatenated in order.
    """
    text = _TITLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    out = {f: "" for f in FIELDS}
    heads = list(_HEADING.finditer(text))
    for i, m in enumerate(heads):
        name = re.sub(r"\s+", " ", m.group(1)).strip()
        field = HEADINGS.get(name)
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        if field:
            body = _clean(text[m.end() : end])
            out[field] = f"{out[field]} {body}".strip() if out[field] else body
    if not out["findings"] and not out["impression"]:
        _last_paragraph_as_impression(text, out)
    return out


def _last_paragraph_as_impression(text: str, out: dict[str, str]) -> None:
    """Fallback: the last paragraph, unless it starts with a heading, is the impression; it is
    removed from the section (e.g. COMPARISON) that swallowed it."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs or _HEADING.match(paragraphs[-1]):
        return
    last = _clean(paragraphs[-1])
    out["impression"] = last
    for f in ("indication", "comparison"):
        if out[f].endswith(last):
            out[f] = out[f][: -len(last)].strip()
