"""Outcome scoring: parse the model's answer and compare it with the benchmark's.

Conventions (docs/metrics.md has the full rules):

- The answer is the content of the LAST non-empty ``<answer>...</answer>`` block (tags are
  case-insensitive). Empty blocks are skipped: ``<answer></answer>`` is the signature of an
  echoed prompt ("enclose the answer within <answer></answer>"), never an answer.
- Closed tasks (binary, single, multiple, temporal) score 1/0 on the option letter. Accepted
  spellings: ``B``, ``b``, ``B)``, ``(B)``, ``B.``, ``[B]``, ``**B**``, ``Option B``, ``Answer: B``,
  ``The answer is B``, ``B) text`` / ``B. text`` (the text must not name a different option), the
  exact option text (case/whitespace/trailing-punctuation insensitive) and, for label-list options,
  the same set of labels in any order or spelling. Anything else (``A or B``, ``A, B``, a letter
  that is not an option) is unparsable: wrong, kept in the denominator, counted separately.
- Anomaly items score the set-level F1 between the labels named in the answer and the item's
  ``answer_labels`` (an empty gold list means ``No Finding``). Terms are separated by commas,
  semicolons, periods, newlines, "and", "+" and "&"; a term names a label by its name or a
  synonym, or by the findings the labeler reads in it ("there is cardiomegaly"); a normal
  statement ("no acute cardiopulmonary abnormality", "normal chest x-ray") is ``No Finding``; a
  negated term ("no pneumothorax") asserts nothing and is left out. Terms outside the
  vocabulary (no finding recognised, or one outside CheXpert-14) are false positives. ``No
  Finding`` named together with a finding is contradictory: that ``No Finding`` is always a
  false positive, never a true positive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cxreason.metrics.tags import last_block
from cxreason.records import BenchItem
from cxreason.vocab import CHEXPERT_LABELS, NO_FINDING, canonical_order

CLOSED_TASKS = ("binary", "single", "multiple", "temporal")

_LETTER = r"[\(\[]?\s*([A-Za-z])\s*[\)\]]?"
_PREFIX = r"(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*"
_LETTER_ONLY_RE = re.compile(rf"^(?:{_PREFIX})?{_LETTER}\s*[.:]?$", re.IGNORECASE)
_LETTER_TEXT_RE = re.compile(r"^[\(\[]?\s*([A-Za-z])\s*(?:[\)\]]|[.:]|\s-)\s*(.+)$", re.DOTALL)
_OPTION_PREFIX_RE = re.compile(
    rf"^{_PREFIX}(?=[\(\[]?\s*[A-Za-z]\s*(?:[\)\]]|[.:]|\s-))", re.IGNORECASE
)
_SPLIT_RE = re.compile(r"\s*(?:[,;\n]|\.(?!\d)|\band\b|\+|&)\s*", re.IGNORECASE)
_BULLET_RE = re.compile(r"^[\s\-\*\u2022\d.)]*")


@dataclass
class Outcome:
    """One item's outcome: ``score`` in [0, 1] and how the answer was read.

    ``status``: ``ok`` (parsed), ``no_answer`` (no non-empty ``<answer>`` block), ``unparsable``
    (an answer block that names no single option), ``missing`` (no prediction for the item).
    """

    score: float
    status: str
    answer: str | None = None
    letter: str | None = None
    pred_labels: list[str] = field(default_factory=list)
    oov: list[str] = field(default_factory=list)
    precision: float | None = None
    recall: float | None = None
    negated: list[str] = field(default_factory=list)


@dataclass
class LabelTerms:
    """How an anomaly answer's terms were read: CheXpert labels, out-of-vocabulary terms (false
    positives), and negated terms (left out)."""

    labels: set[str] = field(default_factory=set)
    oov: list[str] = field(default_factory=list)
    negated: list[str] = field(default_factory=list)


def parse_answer(output: str | None) -> str | None:
    """Content (stripped) of the LAST non-empty ``<answer>...</answer>`` block, else None."""
    return last_block(output, "answer")


def _norm(text: str) -> str:
    """Case-folded, whitespace-collapsed text without surrounding quotes or trailing punctuation."""
    t = " ".join(text.split()).casefold()
    return t.strip(" \"'`*").rstrip(".!;:, ").strip()


def _normalize_label(term: str) -> str | None:
    """A label or synonym -> CheXpert label via the labeler's ontology (exact names as fallback)."""
    try:
        from cxreason.labeling.ontology import normalize_label_name
    except ImportError:  # labeler not installed: exact vocabulary names only
        normalize_label_name = None
    if normalize_label_name is not None:
        label = normalize_label_name(term)
        if label is not None:
            return label
    by_fold = {lb.casefold(): lb for lb in CHEXPERT_LABELS}
    return by_fold.get(_norm(term))


def parse_label_set(answer: str) -> tuple[set[str], list[str]]:
    """Labels named in ``answer`` -> (CheXpert labels, out-of-vocabulary terms in order)."""
    terms = parse_label_terms(answer)
    return terms.labels, terms.oov


def parse_label_terms(answer: str) -> LabelTerms:
    """Read an anomaly answer term by term (module docstring); bullets and numbering stripped."""
    out = LabelTerms()
    for raw in _SPLIT_RE.split(answer or ""):
        term = _BULLET_RE.sub("", raw).strip().strip("*_`\"'").rstrip(".").strip()
        if not term:
            continue
        label = _normalize_label(term)
        if label is not None:
            out.labels.add(label)
        else:
            _read_term(term, out)
    return out


def _read_term(term: str, out: LabelTerms) -> None:
    """A term that is no label name: read the findings the labeler asserts in it."""
    from cxreason.labeling.extract import ASSERTED, extract_annotated
    from cxreason.labeling.ontology import CONCEPTS

    said = [m for m in extract_annotated(term) if m.context == ASSERTED]
    positive = [m for m in said if m.status != "absent"]
    if not said:
        out.oov.append(term)
    elif not positive:
        normal = any(CONCEPTS[m.concept].group == "normal-statement" for m in said)
        if normal:
            out.labels.add(NO_FINDING)
        else:
            out.negated.append(term)
    else:
        for m in positive:
            if m.label and m.label != NO_FINDING:
                out.labels.add(m.label)
            elif m.text not in out.oov:
                out.oov.append(m.text)


def set_prf(pred: set[str], gold: set[str]) -> tuple[float, float, float]:
    """Set precision, recall, F1. Both empty -> (1, 1, 1); exactly one empty -> (0, 0, 0)."""
    if not pred and not gold:
        return 1.0, 1.0, 1.0
    if not pred or not gold:
        return 0.0, 0.0, 0.0
    tp = len(pred & gold)
    p, r = tp / len(pred), tp / len(gold)
    return p, r, (2 * p * r / (p + r) if tp else 0.0)


def _label_set_letter(answer: str, options: dict[str, str]) -> str | None:
    """The option whose label set equals the answer's (no OOV terms allowed), if unique."""
    labels, oov = parse_label_set(answer)
    if oov or not labels:
        return None
    hits = []
    for letter, text in options.items():
        opt_labels, opt_oov = parse_label_set(text)
        if not opt_oov and opt_labels == labels:
            hits.append(letter)
    return hits[0] if len(hits) == 1 else None


def _text_letter(text: str, options: dict[str, str]) -> str | None:
    """Option letter whose text equals ``text`` (normalised), else by label set."""
    key = _norm(text)
    hits = [k for k, v in options.items() if _norm(v) == key]
    if len(hits) == 1:
        return hits[0]
    return _label_set_letter(text, options)


def match_option(answer: str | None, options: dict[str, str] | None) -> str | None:
    """Map an answer string to one option letter (keys of ``options``), or None if unparsable."""
    if not answer or not options:
        return None
    letters = {k.upper(): k for k in options}
    text = " ".join(answer.replace("*", " ").replace("`", " ").split())  # markdown emphasis
    m = _LETTER_ONLY_RE.match(text)
    if m:
        return letters.get(m.group(1).upper())
    by_text = _text_letter(text, options)
    if by_text is not None:
        return by_text
    m = _LETTER_TEXT_RE.match(_OPTION_PREFIX_RE.sub("", text))
    if m and m.group(1).upper() in letters:
        letter = letters[m.group(1).upper()]
        rest = _LETTER_ONLY_RE.match(m.group(2))
        named = (
            letters.get(rest.group(1).upper(), "?") if rest else _text_letter(m.group(2), options)
        )
        return letter if named in (None, letter) else None  # "B) <text of C>" is contradictory
    return None


def gold_label_set(item: BenchItem) -> set[str]:
    """Gold labels of an anomaly item; an empty ``answer_labels`` means ``{No Finding}``."""
    gold = set(item.answer_labels or [])
    return gold or {NO_FINDING}


def anomaly_outcome(answer: str | None, gold: set[str]) -> Outcome:
    """Set-level P/R/F1 of the labels named in ``answer`` vs ``gold``; OOV terms are FPs."""
    if answer is None:
        return Outcome(0.0, "no_answer", precision=0.0, recall=0.0)
    terms = parse_label_terms(answer)
    labels, oov = terms.labels, terms.oov
    contradictory = NO_FINDING in labels and len(labels) > 1
    matchable = labels - {NO_FINDING} if contradictory else labels
    tp = len(matchable & gold)
    n_pred = len(labels) + len(oov)
    if n_pred == 0:
        return Outcome(
            0.0, "unparsable", answer=answer, precision=0.0, recall=0.0, negated=terms.negated
        )
    p, r = tp / n_pred, tp / len(gold)
    f1 = 2 * p * r / (p + r) if tp else 0.0
    return Outcome(
        f1,
        "ok",
        answer=answer,
        pred_labels=canonical_order(labels),
        oov=oov,
        precision=p,
        recall=r,
        negated=terms.negated,
    )


def outcome_detail(item: BenchItem, output: str | None) -> Outcome:
    """Score one output against one item; ``output=None`` means no prediction (``missing``)."""
    if output is None:
        return Outcome(0.0, "missing")
    answer = parse_answer(output)
    if item.task == "anomaly":
        return anomaly_outcome(answer, gold_label_set(item))
    if answer is None:
        return Outcome(0.0, "no_answer")
    if item.options:
        letter = match_option(answer, item.options)
        if letter is None:
            return Outcome(0.0, "unparsable", answer=answer)
        return Outcome(float(letter == item.answer), "ok", answer=answer, letter=letter)
    ok = _norm(answer) == _norm(item.answer)  # closed item without options: compare text
    return Outcome(float(ok), "ok", answer=answer)


def outcome_score(item: BenchItem, output: str | None) -> float:
    """1/0 for closed tasks, set F1 for anomaly items (see module docstring)."""
    return outcome_detail(item, output).score
