"""Audit view of one benchmark item and its prediction (what the viewer shows).

For each reasoning step (a sentence of the ``<think>`` block) the view lists the findings the
labeler finds in it (character spans into the step) and, where the item has a report, marks
each finding and the step against the report with the metric code's rules
(:mod:`cxreason.metrics.radrscore`): ``supported`` (the report states the same polarity),
``contradicted`` (the report states the opposite), ``not_in_report`` (the report does not
mention it; a stated normal counts as correct there, an asserted abnormality as wrong).
A step with no finding is marked ``no_finding``.
"""

from __future__ import annotations

from typing import Any

from cxreason.records import BenchItem

SUPPORTED, CONTRADICTED, NOT_IN_REPORT, NO_FINDING_MARK = (
    "supported",
    "contradicted",
    "not_in_report",
    "no_finding",
)


def _mention_mark(m, report_index) -> tuple[str, bool]:
    """(mark, counts_as_correct) of one mention against the report's entity index."""
    from cxreason.metrics.radrscore import Entity, agrees_with_report, polarity

    e = Entity(m.concept, m.label, polarity(m.status))
    ok = agrees_with_report(e, report_index)
    if report_index.polarities(e) is None:
        return NOT_IN_REPORT, ok
    return (SUPPORTED if ok else CONTRADICTED), ok


def annotate_steps(think: str | None, report: str | None) -> list[dict[str, Any]]:
    """Steps of ``think`` with findings (spans into the step) and marks against ``report``."""
    from cxreason.labeling import extract_mentions
    from cxreason.metrics.radrscore import EntityIndex, entities, factuality, split_steps

    if not think:
        return []
    rep_index = EntityIndex(entities(report)) if report else None
    steps = []
    for text in split_steps(think):
        mentions = []
        for m in extract_mentions(text):
            d = {
                "start": m.start,
                "end": m.end,
                "text": m.text,
                "concept": m.concept,
                "label": m.label,
                "status": m.status,
            }
            if rep_index is not None:
                d["mark"], d["correct"] = _mention_mark(m, rep_index)
            mentions.append(d)
        step: dict[str, Any] = {"text": text, "mentions": mentions}
        if rep_index is not None:
            marks = {d["mark"] for d in mentions}
            step["mark"] = (
                CONTRADICTED
                if CONTRADICTED in marks
                else SUPPORTED
                if SUPPORTED in marks
                else NOT_IN_REPORT
                if marks
                else NO_FINDING_MARK
            )
            step["factuality"] = factuality(text, report)
        steps.append(step)
    return steps


def item_view(
    item: BenchItem, pred: dict[str, Any] | None, *, embedder: Any = None
) -> dict[str, Any]:
    """Everything the viewer shows for one item: question, gold, parsed output, step marks, scores.

    ``embedder``: passed to RadRScore's effectiveness (None = entity matching only).
    """
    from cxreason.inference.impression import structure_output
    from cxreason.metrics.outcome import match_option, outcome_score
    from cxreason.metrics.radrscore import score_item

    view: dict[str, Any] = {
        "id": item.id,
        "study_id": item.study_id,
        "task": item.task,
        "question": item.question,
        "options": item.options,
        "gold": item.answer,
        "gold_labels": item.answer_labels,
        "report": item.report,
        "reference_steps": item.reasoning_steps,
        "has_prediction": pred is not None,
    }
    if pred is None:
        return view
    output = pred.get("output") or ""
    if pred.get("error"):  # a failed generation: scored wrong, never shown as a reading
        view.update(output=output, error=str(pred["error"]), failed=True, outcome=0.0)
        view.update(correct=False, answer=None, answer_letter=None, impression=None, steps=[])
        return view
    parsed = structure_output(output, item)
    letter = (
        match_option(parsed["answer"], item.options) if item.options and parsed["answer"] else None
    )
    score = outcome_score(item, output)
    view.update(
        output=output,
        error=pred.get("error"),
        think=parsed["think"],
        answer=parsed["answer"],
        answer_letter=letter,
        outcome=score,
        correct=score >= 1.0 if item.options else score > 0.5,
        labels=parsed["labels"],
        impression=parsed["impression"],
        steps=annotate_steps(parsed["think"], item.report),
        radrscore=score_item(item, output, embedder=embedder),
    )
    return view
