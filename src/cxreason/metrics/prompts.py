"""The LLM judge's prompts for RadRScore: one versioned source of truth.

After ChestX-Reasoner's RadRScore procedure (an LLM extracts the medical entities of the model's
reasoning, of the report and of the reference reasoning, then matches them semantically). The
paper's exact prompt wording was not available when these were written: the texts below follow
its procedure, not its words. Replies are
JSON objects (the client asks for JSON mode). Bump ``JUDGE_PROMPTS_VERSION`` on any change: it
is recorded in scores.json, and the client's cache is keyed by the full prompt text.
"""

from __future__ import annotations

JUDGE_PROMPTS_VERSION = "radrscore-judge-2026-11-23.1"

JUDGE_SYSTEM = (
    "You are an expert radiologist who evaluates chest X-ray reasoning. Answer with JSON only."
)

#: Entity extraction. Marker line "TASK: ENTITY_EXTRACTION" identifies the request kind.
ENTITY_EXTRACTION = """TASK: ENTITY_EXTRACTION
Extract every medical entity asserted in the chest X-ray text below: findings, abnormalities,
devices, and normal observations of an anatomical structure. Give each entity a short
canonical name (e.g. "pleural effusion", "cardiomegaly", "pneumothorax") and its status:
"present" (stated as seen), "absent" (ruled out or described as normal) or "uncertain"
(hedged: possible, may represent, cannot exclude). Ignore laterality and size.
Return only JSON: {{"entities": [{{"name": "<entity>", "status": "present|absent|uncertain"}}]}}
TEXT:
<<<
{text}
>>>"""

#: Entity matching between list A (e.g. the reasoning) and list B (e.g. the report).
ENTITY_MATCHING = """TASK: ENTITY_MATCHING
For each entity of list A, find the entity of list B with the same clinical meaning (synonyms
and paraphrases count: "enlarged heart" = "cardiomegaly"), or null if B has none. When found,
say whether the statuses agree: "present" and "uncertain" agree with each other, "absent"
agrees only with "absent".
Return only JSON, one entry per entity of A:
{{"matches": [{{"a": <id in A>, "b": <id in B or null>, "agree": true|false}}]}}
LIST A:
{list_a}
LIST B:
{list_b}"""

#: Step matching: reasoning steps vs reference steps.
STEP_MATCHING = """TASK: STEP_MATCHING
For each reasoning step, find a reference step that states the same observation (same finding,
same status; wording may differ), or null if none does. A step that contradicts a reference
step does not match it.
Return only JSON, one entry per step:
{{"matches": [{{"step": <id of step>, "ref": <id of reference step or null>}}]}}
STEPS:
{steps}
REFERENCE STEPS:
{refs}"""
