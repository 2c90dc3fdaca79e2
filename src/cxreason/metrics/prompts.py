"""The LLM judge's prompts for RadRScore: one versioned source of truth.

They follow the procedure of the judge ChestX-Reasoner released (``eval/reasoning_eval.py`` in
``MAGIC-AI4Med/ChestX-Reasoner``), in our own words:

1. key findings: the medical observations of a text with their status (the released
   ``get_key_finding``), for the model's reasoning and for the reference reasoning;
2. factuality: each key finding of the reasoning is correct or not against the report, with the
   released criteria: a finding the report does not mention is normal, so a normal conclusion
   about it is correct and an abnormal one wrong; general statements are correct unless they
   misrepresent the report (``get_precision``);
3. completeness: which key findings of the reference the reasoning's findings recall
   (``cal_recall``);
4. effectiveness: each reasoning step, claim by claim, is supported by, contradicted by or not
   in the reference reasoning (``get_efficiency``: supported steps / all steps).

Departures, each also made by the offline backend (docs/metrics.md puts both side by side):
verdicts are asked per finding / per claim with ids (the released prompts ask for counts);
laterality, size and temporal change are part of a finding, never to be ignored; a step is
worth the share of its claims that the reference supports (the released judge counts whole
steps); recall is about addressing the same finding, the correctness of its conclusion being
factuality's part. Replies are JSON objects (the client asks for JSON mode). Bump
``JUDGE_PROMPTS_VERSION`` on any change: it is recorded in scores.json, and the client's cache
is keyed by the full prompt text.
"""

from __future__ import annotations

JUDGE_PROMPTS_VERSION = "radrscore-judge-2026-12-01.2"

JUDGE_SYSTEM = (
    "You are an expert radiologist who evaluates chest X-ray reasoning. Answer with JSON only."
)

#: Key findings of one text. Marker line "TASK: KEY_FINDINGS" identifies the request kind.
KEY_FINDINGS = """TASK: KEY_FINDINGS
Read the chest X-ray text below and list each key medical observation it makes about THIS
image (e.g. widening of the mediastinum, size of the cardiac silhouette, a left pleural
effusion), with its status as the text concludes it: "present" (seen), "absent" (ruled out or
described as normal) or "uncertain" (hedged: possible, cannot exclude). Keep in the
observation what the text says about side (left, right, bilateral), location, size and change
over time (new, worsening, improving, stable, resolved). Do not list statements that are not
about this image: hypotheses ("would appear as"), generic descriptions ("typically presents
with"), history, plans ("we assess for"), or an answer option merely being named. Stay with
what the text says; do not infer beyond it.
Return only JSON: {{"findings": [{{"observation": "<finding>", "status": "present|absent|uncertain"}}]}}
TEXT:
<<<
{text}
>>>"""

#: Factuality of the reasoning's key findings against the report.
FACT_CHECK = """TASK: FACT_CHECK
Decide for each finding below (taken from a model's reasoning about a chest X-ray) whether it is
correct according to the ground-truth report.
A finding is correct if it agrees with the report or does not contradict it, or if the report
does not mention it and the finding concludes it is normal or absent (a report implies that
what it does not mention is normal). A finding is incorrect if it contradicts the report
(including a stated side, location or change over time), or if the report does not mention it
and the finding concludes it is abnormal or present. A general statement is correct unless it
misrepresents the report.
Return only JSON, one entry per finding:
{{"verdicts": [{{"id": <id of finding>, "correct": true|false}}]}}
REPORT:
<<<
{report}
>>>
FINDINGS:
{findings}"""

#: Completeness: which reference findings the reasoning's findings recall.
RECALL = """TASK: RECALL
For each key finding of the reference reasoning (list R), say whether the model's reasoning
(its findings, list M) addresses the same observation: its meaning or content is substantially
present in M, in any wording (semantic equivalence, not exact phrasing), about the same side
and location where both state one. The status the model concludes may differ: whether it is
right is judged elsewhere.
Return only JSON, one entry per finding of R:
{{"recalls": [{{"id": <id in R>, "recalled": true|false}}]}}
R (reference findings):
{reference}
M (model findings):
{findings}"""

#: Effectiveness: reasoning steps, claim by claim, against the reference reasoning steps.
STEP_SUPPORT = """TASK: STEP_SUPPORT
Below are the steps of a model's reasoning about a chest X-ray and the steps of a reference
reasoning for the same image. Split each model step into its claims (one claim per finding it
states; a step that states no finding, such as a plan or a method, is one claim). Classify each
claim as "supported" (the reference states the same, or rules out the same finding),
"contradicted" (the reference states otherwise, including another side, location or change over
time) or "not_in_reference" (the reference does not address it).
Return only JSON, one entry per model step:
{{"steps": [{{"step": <id of step>, "claims": [{{"claim": "<text>", "verdict": "supported|contradicted|not_in_reference"}}]}}]}}
MODEL STEPS:
{steps}
REFERENCE STEPS:
{refs}"""
