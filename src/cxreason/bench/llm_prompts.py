"""Prompts of the LLM chain miner (plan -> evidence -> refinement), versioned in ONE place.

Bump :data:`LLM_PROMPTS_VERSION` whenever any text here changes: manifests record it and the
cache key contains the full prompt, so changed prompts are never served stale answers.

Every stage answers one JSON object; :func:`validate_plan`, :func:`validate_evidence` and
:func:`validate_refine` check it and raise :class:`SchemaError` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cxreason.vocab import CHEXPERT_LABELS

LLM_PROMPTS_VERSION = "bench-llm-2026-12-01.1"

STATUSES = ("present", "absent", "uncertain", "not_mentioned")

PLAN_SYSTEM = """STAGE: plan
You are a radiologist preparing to answer a question about a chest X-ray.
Decide which findings must be examined on the image to answer the question.
Choose only from the candidate findings given. Reply with one JSON object:
{"findings": ["<finding>", ...]}"""

PLAN_USER = """Question: {question}
Options: {options}
Candidate findings: <findings>{findings}</findings>"""

EVIDENCE_SYSTEM = """STAGE: evidence
You are a radiologist. For each finding to examine, read the radiology report and give its
status: "present", "absent", "uncertain", or "not_mentioned" (a finding the report does not
mention is normal), and copy the report sentence that settles it ("" if not mentioned).
Reply with one JSON object:
{"evidence": [{"finding": "<finding>", "status": "<status>", "sentence": "<sentence>"}, ...]}"""

EVIDENCE_USER = """Report: <report>{report}</report>
Findings to examine: <plan>{plan}</plan>"""

REFINE_SYSTEM = """STAGE: refine
You are a radiologist writing your reasoning for a chest X-ray question. Write short steps
phrased as observations on the image ("There is no visible pleural effusion.", "The cardiac
silhouette is enlarged, consistent with cardiomegaly."). Never mention a report. State only
what the evidence supports; a finding not mentioned is normal. The last step must be exactly
the final sentence given. Reply with one JSON object: {"steps": ["<sentence>", ...]}"""

REFINE_USER = """Question: {question}
Options: {options}
Evidence: <evidence>{evidence}</evidence>
Final sentence: <final>{final}</final>"""

JUDGE_SYSTEM = """STAGE: judge
You are a radiologist checking a reasoning chain written about a chest X-ray against the
radiology report of that X-ray. A step is unsupported when it states a finding the report
does not support: a finding the report negates or does not mention stated as present, a
finding the report attributes to something else (e.g. a density the report calls a hiatal
hernia used as lung opacity), a present finding stated as absent, or a wrong side. Steps that
only plan the review or state the answer are supported when their findings are. A finding
the report does not mention is normal. Reply with one JSON object:
{"unsupported_steps": [<1-based step number>, ...], "reason": "<short>"}"""

JUDGE_USER = """Report: <report>{report}</report>
Steps: <steps>{steps}</steps>"""

RETRY_NOTE = (
    "Your previous reply was not valid ({error}). Reply again with only the JSON object described."
)


class SchemaError(ValueError):
    """A stage's reply is not the JSON object its schema asks for."""


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def plan_messages(question: str, options: str, candidates: Sequence[str]) -> list[dict]:
    return [
        {"role": "system", "content": PLAN_SYSTEM},
        {
            "role": "user",
            "content": PLAN_USER.format(
                question=question, options=options or "none", findings=_dumps(list(candidates))
            ),
        },
    ]


def evidence_messages(report: str, plan: Sequence[str]) -> list[dict]:
    return [
        {"role": "system", "content": EVIDENCE_SYSTEM},
        {"role": "user", "content": EVIDENCE_USER.format(report=report, plan=_dumps(list(plan)))},
    ]


def refine_messages(question: str, options: str, evidence: list[dict], final: str) -> list[dict]:
    return [
        {"role": "system", "content": REFINE_SYSTEM},
        {
            "role": "user",
            "content": REFINE_USER.format(
                question=question, options=options or "none", evidence=_dumps(evidence), final=final
            ),
        },
    ]


def judge_messages(report: str, steps: Sequence[str]) -> list[dict]:
    numbered = [{"step": i, "text": t} for i, t in enumerate(steps, 1)]
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": JUDGE_USER.format(report=report, steps=_dumps(numbered))},
    ]


def with_retry_note(messages: list[dict], reply: str, error: str) -> list[dict]:
    """The conversation extended by the invalid reply and a request to fix it."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": RETRY_NOTE.format(error=error)},
    ]


def _load_object(text: str) -> dict:
    t = text.strip()
    if t.startswith("```"):
        t = t.strip("`")
        t = t[t.find("{") :] if "{" in t else t
    try:
        obj = json.loads(t)
    except json.JSONDecodeError as e:
        raise SchemaError(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise SchemaError("not a JSON object")
    return obj


def validate_plan(text: str, candidates: Sequence[str]) -> list[str]:
    """The planned findings: a non-empty list of distinct candidate labels."""
    obj = _load_object(text)
    f = obj.get("findings")
    if not isinstance(f, list) or not f or not all(isinstance(x, str) for x in f):
        raise SchemaError('"findings" must be a non-empty list of strings')
    bad = [x for x in f if x not in candidates]
    if bad:
        raise SchemaError(f"findings not among the candidates: {bad}")
    return list(dict.fromkeys(f))


def validate_evidence(text: str, plan: Sequence[str], report: str) -> list[dict]:
    """One entry per planned finding; status in :data:`STATUSES`; sentence taken from the report."""
    obj = _load_object(text)
    ev = obj.get("evidence")
    if not isinstance(ev, list):
        raise SchemaError('"evidence" must be a list')
    out = []
    for e in ev:
        if (
            not isinstance(e, dict)
            or not isinstance(e.get("finding"), str)
            or e.get("status") not in STATUSES
        ):
            raise SchemaError(f"bad evidence entry {e!r}: needs finding and status in {STATUSES}")
        sentence = e.get("sentence") or ""
        if not isinstance(sentence, str) or (sentence and sentence.strip() not in report):
            raise SchemaError(
                f"evidence sentence for {e['finding']!r} is not copied from the report"
            )
        out.append({"finding": e["finding"], "status": e["status"], "sentence": sentence.strip()})
    if sorted(e["finding"] for e in out) != sorted(plan):
        raise SchemaError(f"evidence must cover exactly the planned findings {list(plan)}")
    if any(e["finding"] not in CHEXPERT_LABELS for e in out):
        raise SchemaError("unknown finding in evidence")
    return out


def validate_refine(text: str, final: str) -> list[str]:
    """The chain's steps: non-empty strings, the last one equal to ``final``."""
    obj = _load_object(text)
    steps = obj.get("steps")
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(s, str) and s.strip() for s in steps)
    ):
        raise SchemaError('"steps" must be a non-empty list of non-empty strings')
    steps = [" ".join(s.split()) for s in steps]
    if steps[-1] != final:
        raise SchemaError("the last step must be exactly the final sentence given")
    low = " ".join(steps).lower()
    if "report" in low:
        raise SchemaError("steps must describe the image, never a report")
    return steps


def validate_judge(text: str, n_steps: int) -> list[int]:
    """The unsupported step numbers (1-based, sorted, distinct; empty: the chain is supported)."""
    obj = _load_object(text)
    bad = obj.get("unsupported_steps")
    if not isinstance(bad, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in bad
    ):
        raise SchemaError('"unsupported_steps" must be a list of step numbers')
    out = sorted(set(bad))
    if any(not 1 <= x <= n_steps for x in out):
        raise SchemaError(f"step numbers must be between 1 and {n_steps}")
    return out
