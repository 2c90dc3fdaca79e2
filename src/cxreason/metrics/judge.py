"""RadRScore with an LLM judge (ChestX-Reasoner's procedure), through any OpenAI-compatible endpoint.

The judge (temperature 0, JSON mode, cached on disk by :class:`cxreason.bench.llm_client.LLMClient`)
follows the released judge's steps (prompts and their departures: :mod:`cxreason.metrics.prompts`):

1. ``KEY_FINDINGS``: text -> ``[{observation, status}]``, for the reasoning and the reference;
2. ``FACT_CHECK``: each reasoning finding correct or not against the report;
3. ``RECALL``: each reference finding addressed or not by the reasoning's findings;
4. ``STEP_SUPPORT``: each reasoning step's claims supported / contradicted / not in the
   reference steps.

Parts: factuality = correct findings / reasoning findings (0 without findings); completeness =
recalled reference findings / reference findings (1.0 without any); effectiveness = mean over
steps of the share of the step's claims that are supported (0 without steps). Requests are
deduplicated (a reference is read once, whatever the number of its items). A judge call that
fails, or returns invalid JSON twice (the second time after a repair turn), raises
:class:`JudgeError` after the run; successful calls are cached, so rerunning resumes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence

from cxreason.metrics import radrscore as rr
from cxreason.metrics.prompts import (
    FACT_CHECK,
    JUDGE_PROMPTS_VERSION,
    JUDGE_SYSTEM,
    KEY_FINDINGS,
    RECALL,
    STEP_SUPPORT,
)
from cxreason.records import BenchItem

log = logging.getLogger(__name__)
STATUSES = ("present", "absent", "uncertain")
#: Status spellings judges use besides the three canonical ones.
_STATUS_ALIASES = {
    "positive": "present",
    "confirmed": "present",
    "seen": "present",
    "negative": "absent",
    "normal": "absent",
    "not present": "absent",
    "ruled out": "absent",
    "possible": "uncertain",
    "hedged": "uncertain",
    "indeterminate": "uncertain",
    "unlikely": "uncertain",
}
VERDICTS = ("supported", "contradicted", "not_in_reference")
_FENCE_RE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


#: Sent after a reply that is not the JSON asked for.
REPAIR_TURN = {
    "role": "user",
    "content": "Your reply was not the JSON object asked for. Reply again with that JSON object only.",
}


class JudgeError(RuntimeError):
    """Judge calls failed or answered invalid JSON (the message lists the first few)."""


def messages(user: str) -> list[dict]:
    """Chat messages for one judge request (system + user, plain-text content)."""
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def _numbered(entries: Sequence[dict]) -> str:
    return json.dumps([{"id": i, **e} for i, e in enumerate(entries)], ensure_ascii=False)


def key_findings_request(text: str) -> list[dict]:
    return messages(KEY_FINDINGS.format(text=text))


def fact_check_request(findings: list[dict], report: str) -> list[dict]:
    return messages(FACT_CHECK.format(report=report, findings=_numbered(findings)))


def recall_request(reference: list[dict], findings: list[dict]) -> list[dict]:
    return messages(RECALL.format(reference=_numbered(reference), findings=_numbered(findings)))


def step_support_request(steps: Sequence[str], refs: Sequence[str]) -> list[dict]:
    return messages(
        STEP_SUPPORT.format(
            steps=_numbered([{"text": s} for s in steps]),
            refs=_numbered([{"text": r} for r in refs]),
        )
    )


def parse_json(text: str) -> dict:
    """The JSON object of a judge reply (code fences tolerated); ValueError otherwise."""
    obj = json.loads(_FENCE_RE.sub("", text.strip()))
    if not isinstance(obj, dict):
        raise ValueError("judge reply is not a JSON object")
    return obj


def _status(raw) -> str:
    s = " ".join(str(raw or "").lower().replace("_", " ").split())
    s = _STATUS_ALIASES.get(s, s)
    if s not in STATUSES:
        raise ValueError(f"bad status {raw!r}")
    return s


def parse_findings(text: str) -> list[dict]:
    """``[{observation, status}]`` from a key-findings reply; observations case-folded and
    deduplicated, statuses validated (``name`` and the released ``key_conclusion`` list are
    accepted too)."""
    obj = parse_json(text)
    raw = next((obj[k] for k in ("findings", "key_conclusion", "entities") if k in obj), None)
    if not isinstance(raw, list):
        raise ValueError("'findings' must be a list")
    out: list[dict] = []
    for f in raw:
        if not isinstance(f, dict):
            raise ValueError(f"bad finding {f!r}")
        obs = str(f.get("observation") or f.get("name") or "").strip().casefold()
        if not obs:
            raise ValueError(f"bad finding {f!r}")
        entry = {"observation": obs, "status": _status(f.get("status"))}
        if entry not in out:
            out.append(entry)
    return out


def _as_id(v) -> int | None:
    """An id as int (``3`` or ``"3"``), else None (``null``, ``"none"``, garbage)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def parse_flags(text: str, n: int, list_key: str, flag: str) -> list[bool]:
    """One boolean per id 0..n-1 from ``{list_key: [{id, flag: bool}]}``; a missing id is False."""
    raw = parse_json(text).get(list_key)
    if not isinstance(raw, list):
        raise ValueError(f"'{list_key}' must be a list")
    out = [False] * n
    for m in raw:
        i = _as_id(m.get("id")) if isinstance(m, dict) else None
        if i is not None and 0 <= i < n:
            v = m.get(flag)
            out[i] = v is True or (isinstance(v, str) and v.strip().lower() in ("true", "yes"))
    return out


def parse_step_support(text: str, n: int) -> list[float]:
    """Per step 0..n-1: the share of its claims judged ``supported`` (0 for a missing step)."""
    raw = parse_json(text).get("steps")
    if not isinstance(raw, list):
        raise ValueError("'steps' must be a list")
    out = [0.0] * n
    for m in raw:
        i = _as_id(m.get("step")) if isinstance(m, dict) else None
        claims = m.get("claims") if isinstance(m, dict) else None
        if i is None or not 0 <= i < n or not isinstance(claims, list) or not claims:
            continue
        verdicts = [
            str(c.get("verdict", "")).strip().lower() for c in claims if isinstance(c, dict)
        ]
        if any(v not in VERDICTS for v in verdicts) or not verdicts:
            raise ValueError(f"bad verdicts {verdicts!r}")
        out[i] = verdicts.count("supported") / len(verdicts)
    return out


def _has_ref(item: BenchItem) -> bool:
    return bool(rr.reference_text(item).strip())


def _scored(items, outputs) -> list[tuple[BenchItem, str]]:
    thinks = [rr.extract_think(o) for o in outputs]
    return [(it, t) for it, t in zip(items, thinks, strict=True) if t and _has_ref(it)]


class LLMJudge:
    """RadRScore through an LLM judge; ``client`` is an :class:`LLMClient` (or compatible)."""

    version = JUDGE_PROMPTS_VERSION

    def __init__(self, client):
        self.client = client
        self.n_calls = 0  # distinct prompts asked (the client's disk cache may answer some)
        self.errors: list[str] = []

    # -- request planning ---------------------------------------------------------------------
    @staticmethod
    def plan_calls(items: Sequence[BenchItem], outputs: Sequence[str | None]) -> dict[str, int]:
        """Judge requests per kind for a batch, deduplicated, without calling (an upper bound:
        fact-check and recall calls are skipped where one side has no finding)."""
        scored = _scored(items, outputs)
        texts = {x for it, t in scored for x in (t, rr.reference_text(it))}
        facts = {(t, it.report) for it, t in scored}
        recalls = {(rr.reference_text(it), t) for it, t in scored}
        steps = {(t, tuple(rr.reference_steps(it))) for it, t in scored}
        return {
            "key_findings": len(texts),
            "fact_check": len(facts),
            "recall": len(recalls),
            "step_support": len(steps),
            "total": len(texts) + len(facts) + len(recalls) + len(steps),
        }

    # -- calls ----------------------------------------------------------------------------------
    def _run(self, requests: dict, parse) -> dict:
        """Run ``{key: messages}`` (identical prompts sent once); ``{key: parsed}``, failures absent.

        A reply that does not parse is asked again once with a repair turn (a new prompt, so the
        cached bad reply is not reused); a second bad reply or a failed call is an error.
        """
        by_prompt: dict[str, list] = {}
        for k, msgs in requests.items():
            by_prompt.setdefault(json.dumps(msgs, sort_keys=True), []).append(k)
        groups = [(requests[keys[0]], keys) for keys in by_prompt.values()]
        out: dict = {}
        bad = self._ask(groups, parse, out)
        repairs = [
            (msgs + [{"role": "assistant", "content": text}, REPAIR_TURN], keys)
            for msgs, keys, text in bad
        ]
        for _, _, text in self._ask(repairs, parse, out):
            self.errors.append(f"invalid judge JSON after a repair turn: {text[:120]!r}")
        return out

    def _ask(self, groups, parse, out: dict) -> list:
        """Send each group's messages once; fill ``out``; return (messages, keys, text) that failed to parse."""
        if not groups:
            return []
        results = self.client.chat_many([m for m, _ in groups], temperature=0.0, json_mode=True)
        self.n_calls += len(groups)
        bad = []
        for (msgs, keys), res in zip(groups, results, strict=True):
            if res.text is None:
                self.errors.append(f"judge call failed: {res.error}")
                continue
            try:
                parsed = {k: parse(k, res.text) for k in keys}
            except (ValueError, TypeError, AttributeError, KeyError):
                bad.append((msgs, keys, res.text))
                continue
            out.update(parsed)
        return bad

    def key_findings(self, texts: Sequence[str]) -> dict[str, list[dict]]:
        """Key findings of each unique non-empty text (empty text -> none, no call)."""
        reqs = {t: key_findings_request(t) for t in dict.fromkeys(texts) if t.strip()}
        got = self._run(reqs, lambda _k, text: parse_findings(text))
        return {**{t: [] for t in texts if not t.strip()}, **got}

    def fact_check(self, pairs, findings: dict[str, list[dict]]) -> dict:
        """``{(think, report): [correct? per finding of think]}``."""
        reqs = {
            (t, rep): fact_check_request(findings[t], rep)
            for t, rep in dict.fromkeys(pairs)
            if findings.get(t)
        }
        return self._run(
            reqs, lambda k, text: parse_flags(text, len(findings[k[0]]), "verdicts", "correct")
        )

    def recall(self, pairs, findings: dict[str, list[dict]]) -> dict:
        """``{(reference, think): [recalled? per finding of reference]}`` (no call when either
        side has no finding: nothing is recalled)."""
        reqs = {
            (ref, t): recall_request(findings[ref], findings[t])
            for ref, t in dict.fromkeys(pairs)
            if findings.get(ref) and findings.get(t)
        }
        got = self._run(
            reqs, lambda k, text: parse_flags(text, len(findings[k[0]]), "recalls", "recalled")
        )
        for ref, t in pairs:
            if (ref, t) not in reqs and ref in findings:
                got[(ref, t)] = [False] * len(findings[ref])
        return got

    def step_support(self, pairs) -> dict:
        """``{(think, ref_steps): [share of supported claims per step]}``."""
        reqs, sizes = {}, {}
        for think, refs in dict.fromkeys(pairs):
            steps = rr.reasoning_steps(think)
            if steps and refs:
                reqs[(think, refs)] = step_support_request(steps, refs)
                sizes[(think, refs)] = len(steps)
        got = self._run(reqs, lambda k, text: parse_step_support(text, sizes[k]))
        for p in pairs:
            if p not in reqs:
                got[p] = []
        return got

    # -- scoring --------------------------------------------------------------------------------
    def score(self, items: Sequence[BenchItem], outputs: Sequence[str | None]) -> list[dict]:
        """RadRScore parts per item (same keys as the offline backend); JudgeError on failures."""
        scored = _scored(items, outputs)
        findings = self.key_findings(
            [t for _, t in scored] + [rr.reference_text(it) for it, _ in scored]
        )
        facts = self.fact_check([(t, it.report) for it, t in scored], findings)
        recalls = self.recall([(rr.reference_text(it), t) for it, t in scored], findings)
        steps = self.step_support([(t, tuple(rr.reference_steps(it))) for it, t in scored])
        if self.errors:
            head = "; ".join(self.errors[:3])
            raise JudgeError(
                f"{len(self.errors)} judge call(s) failed ({head}); failed calls are retried on a rerun "
                "(successes are cached)"
            )
        rows = []
        for it, o in zip(items, outputs, strict=True):
            t = rr.extract_think(o)
            if not _has_ref(it):
                rows.append(rr.score_reasoning(t, it))  # no reference chain: no RadRScore
            elif not t:
                rows.append(rr.zero_parts(has_reasoning=False))
            else:
                ref = rr.reference_text(it)
                rows.append(
                    self._parts(
                        findings.get(t, []),
                        facts.get((t, it.report), []),
                        recalls.get((ref, t), []),
                        steps.get((t, tuple(rr.reference_steps(it))), []),
                    )
                )
        return rows

    @staticmethod
    def _parts(think_findings, correct, recalled, step_shares) -> dict:
        fact = sum(correct) / len(think_findings) if think_findings else 0.0
        comp = sum(recalled) / len(recalled) if recalled else 1.0
        eff = sum(step_shares) / len(step_shares) if step_shares else 0.0
        return {
            "factuality": fact,
            "completeness": comp,
            "effectiveness": eff,
            "radrscore": (fact + comp + eff) / 3.0,
            "has_reasoning": True,
            "n_entities": len(think_findings),
        }
