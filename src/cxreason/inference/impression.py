"""Structured impression from a model output: parsed think/answer, labels, findings.

The structure is published as a JSON schema shipped in the package
(``cxreason/inference/impression.schema.json``, :data:`SCHEMA_VERSION`) and every object built
here is validated against it. Findings come from the labeler run over the ``<think>`` text; the
final ``<answer>`` overrides the reasoning for the labels it decides (an answer option's
labels become ``present``; for a binary question, ``No`` makes the asked finding ``absent``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from cxreason.records import BenchItem
from cxreason.vocab import ABSENT, CHEXPERT_LABELS, NO_FINDING, PRESENT, UNCERTAIN, canonical_order

SCHEMA_VERSION = "impression-v1"
SCHEMA_FILE = "impression.schema.json"


@cache
def impression_schema() -> dict[str, Any]:
    """The published JSON schema of a structured impression."""
    return json.loads(files("cxreason.inference").joinpath(SCHEMA_FILE).read_text("utf-8"))


def validate_impression(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` follows the published schema."""
    import jsonschema

    jsonschema.validate(obj, impression_schema())


def _sentence_of(text: str, start: int, end: int) -> str:
    from cxreason.labeling import split_sentences

    for s, e in split_sentences(text):
        if s <= start < e or s < end <= e:
            return text[s:e].strip()
    return text[start:end].strip()


def reasoning_findings(think: str | None) -> dict[str, tuple[str, str]]:
    """CheXpert label -> (status, evidence sentence) asserted in the reasoning text."""
    from cxreason.labeling import aggregate_labels, extract_mentions

    if not think:
        return {}
    mentions = extract_mentions(think)
    labels = aggregate_labels(mentions)
    out: dict[str, tuple[str, str]] = {}
    for label, status in labels.items():
        ev = next((m for m in mentions if m.label == label and m.status == status), None)
        ev = ev or next((m for m in mentions if m.label == label), None)
        out[label] = (status, _sentence_of(think, ev.start, ev.end) if ev else "")
    return out


def _question_label(question: str) -> str | None:
    """The CheXpert label a binary question asks about (by :data:`prompts.BINARY_TEMPLATE`)."""
    import re

    from cxreason import prompts
    from cxreason.labeling.ontology import normalize_label_name

    head, _, tail = prompts.BINARY_TEMPLATE.partition("{finding}")
    m = re.fullmatch(re.escape(head) + r"(.+?)" + re.escape(tail), question.strip())
    return normalize_label_name(m.group(1)) if m else None


def answer_findings(answer: str | None, item: BenchItem | None) -> dict[str, str]:
    """CheXpert label -> status decided by the final answer (empty when it decides none)."""
    from cxreason.metrics.outcome import match_option, parse_label_set

    if not answer:
        return {}
    options = item.options if item else None
    if item is not None and item.task == "temporal":
        return {}
    if options:
        letter = match_option(answer, options)
        if letter is None:
            return {}
        text = options[letter].strip()
        if item is not None and item.task == "binary" and text.lower() in ("yes", "no"):
            asked = _question_label(item.question)
            if asked is None:
                return {}
            return {asked: PRESENT if text.lower() == "yes" else ABSENT}
        labels, _ = parse_label_set(text)
    else:
        labels, _ = parse_label_set(answer)
    return {lb: PRESENT for lb in labels}


def impression_text(statuses: dict[str, str]) -> str:
    """Present labels in canonical order, uncertain ones as ``possible X``; else ``No Finding``."""
    parts = []
    for lb in canonical_order(statuses):
        if lb == NO_FINDING:
            continue
        if statuses[lb] == PRESENT:
            parts.append(lb)
        elif statuses[lb] == UNCERTAIN:
            parts.append(f"possible {lb}")
    return "; ".join(parts) if parts else NO_FINDING


def build_impression(
    think: str | None, answer: str | None, item: BenchItem | None = None
) -> dict[str, Any]:
    """The structured impression of one output (validated against the published schema)."""
    from_think = reasoning_findings(think)
    from_answer = answer_findings(answer, item)
    statuses = {lb: st for lb, (st, _) in from_think.items()}
    statuses.update(from_answer)
    if any(st == PRESENT for lb, st in statuses.items() if lb != NO_FINDING):
        statuses.pop(NO_FINDING, None)  # an asserted abnormality outranks "no finding"
    findings = []
    for lb in canonical_order(statuses):
        if lb not in CHEXPERT_LABELS:
            continue
        src = "answer" if lb in from_answer else "reasoning"
        evidence = from_think.get(lb, ("", ""))[1]
        if src == "answer" and (not evidence or from_think[lb][0] != statuses[lb]):
            evidence = (answer or "").strip()
        findings.append({"label": lb, "status": statuses[lb], "evidence": evidence, "source": src})
    obj = {"version": SCHEMA_VERSION, "findings": findings, "impression": impression_text(statuses)}
    validate_impression(obj)
    return obj


def structure_output(output: str, item: BenchItem | None = None) -> dict[str, Any]:
    """``think``, ``answer``, ``labels`` (label -> status) and ``impression`` of a model output.

    An empty output (a failed or missing generation) has no impression (None): it is not a
    reading of a normal study.
    """
    if not (output or "").strip():
        return {"think": None, "answer": None, "labels": {}, "impression": None}
    from cxreason.metrics.outcome import parse_answer
    from cxreason.metrics.radrscore import extract_think

    think = extract_think(output or "")
    answer = parse_answer(output or "")
    imp = build_impression(think, answer, item)
    labels = {f["label"]: f["status"] for f in imp["findings"]}
    return {"think": think, "answer": answer, "labels": labels, "impression": imp}
