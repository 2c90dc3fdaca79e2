"""Span correctness: every mention's text is exactly its slice of the report text."""

from __future__ import annotations

from cxreason.data.openi import read_openi
from cxreason.labeling import extract_mentions, label_report, split_sentences
from cxreason.records import report_text


def _check(findings: str, impression: str) -> int:
    text = report_text(findings, impression)
    r = label_report(findings, impression)
    for m in r.mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text, m
    return len(r.mentions)


def test_spans_synthetic_mixed_case_and_unicode() -> None:
    assert (
        _check("Réport: Small LEFT Pleural Effusion. No pneumothorax.", "Stable CARDIOMEGALY.") >= 3
    )


def test_spans_survive_case_folding_that_changes_length() -> None:
    # "İ".lower() is two characters: spans must still index the original text
    assert _check("İİ patient. Small left pleural effusion İ. No pneumothorax.", "İ") == 2


def test_sentence_memo_gives_identical_results() -> None:
    from cxreason.labeling.extract import _sentence_mentions

    text = "No pneumothorax. Stable cardiomegaly. No pneumothorax."
    first = label_report(text, "No pneumothorax.")
    _sentence_mentions.cache_clear()
    again = label_report(text, "No pneumothorax.")
    assert first == again and len(first.mentions) == 4
    assert [m.start for m in first.mentions if m.concept == "pneumothorax"] == [3, 41, 58]


def test_spans_on_open_i(openi_reports) -> None:
    n = sum(_check(s.findings, s.impression) for s in read_openi(openi_reports))
    assert n > 5000


def test_split_sentences_abbreviations_decimals_enumerators() -> None:
    text = "Nodule measures 2.5 cm. Compared vs. prior. 1. No effusion. 2. Stable.\nXXXX XXXX."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Nodule measures 2.5 cm.",
        "Compared vs. prior.",
        "1. No effusion.",
        "2. Stable.",
        "XXXX XXXX.",
    ]
    assert split_sentences("") == [] and split_sentences("   ") == []


def test_a_bold_heading_ends_its_sentence() -> None:
    """Model output opens a line on a bold heading: the heading names a topic, the text after it
    is a sentence of its own (a generic description is then read as one)."""
    text = "1. **Edema (Option A):** Edema appears as hazy opacities. **B) Normal**: none."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "1. **Edema (Option A):**",
        "Edema appears as hazy opacities.",
        "**B) Normal**:",
        "none.",
    ]
    plain = "Findings: cardiomegaly."
    assert [plain[a:b] for a, b in split_sentences(plain)] == [plain]


def test_large_report_is_linear() -> None:
    import time

    unit = "There is no pneumothorax. Stable cardiomegaly with small left effusion. "
    big = unit * (1_000_000 // len(unit))
    t0 = time.perf_counter()
    r = label_report(big, "")
    assert time.perf_counter() - t0 < 30  # generous: shared CI machine
    assert r.labels["Cardiomegaly"] == "present" and len(r.mentions) > 10_000
    # a single 1 MB sentence of triggers and no terminal punctuation
    r = label_report("no " * 300_000 + "pneumothorax", "")
    assert r.labels["Pneumothorax"] == "absent"
    assert extract_mentions("a" * 1_000_000) == []
