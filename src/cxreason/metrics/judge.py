"""RadRScore with an LLM judge (ChestX-Reasoner style), through any OpenAI-compatible endpoint.

The judge (temperature 0, JSON mode, cached on disk by :class:`cxreason.bench.llm_client.LLMClient`)
does the two jobs the offline backend does with the labeler and MiniLM:

1. entity extraction: text -> ``[{name, status}]`` (status present | absent | uncertain);
2. matching: entities of A vs entities of B (same clinical meaning, statuses agree?), and
   reasoning steps vs reference steps (same observation?).

Scores then follow the offline definitions (radrscore.py): factuality = share of reasoning
entities agreeing with the report (an entity the report does not mention is correct iff it is
absent/normal); completeness = share of reference entities matched with agreeing status;
effectiveness = share of steps matched to a reference step. Requests are deduplicated
(a report or reference is extracted once, whatever the number of its items). A judge call that
fails, or returns invalid JSON twice (the second time after a repair turn), raises
:class:`JudgeError` after the run; successful calls are cached, so rerunning resumes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cxreason.metrics import radrscore as rr
from cxreason.metrics.prompts import (
    ENTITY_EXTRACTION,
    ENTITY_MATCHING,
    JUDGE_PROMPTS_VERSION,
    JUDGE_SYSTEM,
    STEP_MATCHING,
)
from cxreason.records import BenchItem

log = logging.getLogger(__name__)
STATUSES = ("present", "absent", "uncertain")
#: Status spellings judges use besides the three canonical ones.
_STATUS_ALIASES = {
    "positive": "present",
    "negative": "absent",
    "normal": "absent",
    "possible": "uncertain",
    "hedged": "uncertain",
    "indeterminate": "uncertain",
}
_FENCE_RE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


#: Sent after a reply that is not the JSON asked for.
REPAIR_TURN = {
    "role": "user",
    "content": "Your reply was not the JSON object asked for. Reply again with that JSON object only.",
}


class JudgeError(RuntimeError):
    """Judge calls failed or answered invalid JSON (the message lists the first few)."""


@dataclass
class _Plan:
    """The deduplicated requests needed to score a batch of items."""

    texts: list[str]  # texts whose entities are extracted
    thinks: list[str | None]


def messages(user: str) -> list[dict]:
    """Chat messages for one judge request (system + user, plain-text content)."""
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def extraction_request(text: str) -> list[dict]:
    return messages(ENTITY_EXTRACTION.format(text=text))


def entity_matching_request(a: list[dict], b: list[dict]) -> list[dict]:
    la = json.dumps([{"id": i, **e} for i, e in enumerate(a)], ensure_ascii=False)
    lb = json.dumps([{"id": i, **e} for i, e in enumerate(b)], ensure_ascii=False)
    return messages(ENTITY_MATCHING.format(list_a=la, list_b=lb))


def step_matching_request(steps: list[str], refs: list[str]) -> list[dict]:
    ls = json.dumps([{"id": i, "text": s} for i, s in enumerate(steps)], ensure_ascii=False)
    lr = json.dumps([{"id": i, "text": s} for i, s in enumerate(refs)], ensure_ascii=False)
    return messages(STEP_MATCHING.format(steps=ls, refs=lr))


def parse_json(text: str) -> dict:
    """The JSON object of a judge reply (code fences tolerated); ValueError otherwise."""
    obj = json.loads(_FENCE_RE.sub("", text.strip()))
    if not isinstance(obj, dict):
        raise ValueError("judge reply is not a JSON object")
    return obj


def parse_entities(text: str) -> list[dict]:
    """``[{name, status}]`` from an extraction reply; names case-folded, statuses validated."""
    ents = parse_json(text).get("entities")
    if not isinstance(ents, list):
        raise ValueError("'entities' must be a list")
    out = []
    for e in ents:
        name, status = str(e.get("name", "")).strip().casefold(), str(e.get("status", "")).lower()
        status = _STATUS_ALIASES.get(status, status)
        if not name or status not in STATUSES:
            raise ValueError(f"bad entity {e!r}")
        if {"name": name, "status": status} not in out:
            out.append({"name": name, "status": status})
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


def parse_matches(text: str, n: int, key: str, ref_key: str) -> list[dict]:
    """One match record per id 0..n-1 (``{key: i, ref_key: j|None, ...}``); missing ids unmatched."""
    raw = parse_json(text).get("matches")
    if not isinstance(raw, list):
        raise ValueError("'matches' must be a list")
    by_id: dict[int, dict] = {}
    for m in raw:
        i = _as_id(m.get(key))
        if i is not None and 0 <= i < n:
            by_id[i] = {**m, key: i, ref_key: _as_id(m.get(ref_key))}
    return [by_id.get(i, {key: i, ref_key: None}) for i in range(n)]


def _has_ref(item: BenchItem) -> bool:
    return bool(rr.reference_text(item).strip())


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
        matching calls are skipped where one side turns out to have no entity)."""
        thinks = [rr.extract_think(o) for o in outputs]
        scored = [(it, t) for it, t in zip(items, thinks, strict=True) if t and _has_ref(it)]
        texts = {x for it, t in scored for x in (t, it.report, rr.reference_text(it)) if x.strip()}
        ent_pairs = {(t, it.report) for it, t in scored} | {
            (rr.reference_text(it), t) for it, t in scored
        }
        step_pairs = {(t, tuple(rr.reference_steps(it))) for it, t in scored}
        return {
            "extraction": len(texts),
            "entity_matching": len(ent_pairs),
            "step_matching": len(step_pairs),
            "total": len(texts) + len(ent_pairs) + len(step_pairs),
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

    def extract(self, texts: Sequence[str]) -> dict[str, list[dict]]:
        """Entities of each unique non-empty text (empty text -> no entity, no call)."""
        reqs = {t: extraction_request(t) for t in dict.fromkeys(texts) if t.strip()}
        got = self._run(reqs, lambda _k, text: parse_entities(text))
        return {**{t: [] for t in texts if not t.strip()}, **got}

    def match_entities(self, pairs, ents: dict[str, list[dict]]) -> dict:
        """``{(a_text, b_text): [agree-or-None per entity of a]}`` (None: b has no such entity)."""
        reqs, sizes = {}, {}
        for a, b in dict.fromkeys(pairs):
            if a in ents and b in ents and ents[a] and ents[b]:
                reqs[(a, b)] = entity_matching_request(ents[a], ents[b])
                sizes[(a, b)] = len(ents[a])

        def parse(k, text):
            ms = parse_matches(text, sizes[k], "a", "b")
            return [None if m.get("b") is None else bool(m.get("agree")) for m in ms]

        got = self._run(reqs, parse)
        for a, b in pairs:  # no entities on one side: nothing matches, no call needed
            if (a, b) not in reqs and a in ents and b in ents:
                got[(a, b)] = [None] * len(ents[a])
        return got

    def match_steps(self, pairs) -> dict:
        """``{(think, ref_steps): [matched? per step]}``."""
        reqs, sizes = {}, {}
        for think, refs in dict.fromkeys(pairs):
            steps = rr.split_steps(think)
            if steps and refs:
                reqs[(think, refs)] = step_matching_request(steps, list(refs))
                sizes[(think, refs)] = len(steps)

        def parse(k, text):
            return [m.get("ref") is not None for m in parse_matches(text, sizes[k], "step", "ref")]

        got = self._run(reqs, parse)
        for p in pairs:
            if p not in reqs:
                got[p] = []
        return got

    # -- scoring --------------------------------------------------------------------------------
    def score(self, items: Sequence[BenchItem], outputs: Sequence[str | None]) -> list[dict]:
        """RadRScore parts per item (same keys as the offline backend); JudgeError on failures."""
        thinks = [rr.extract_think(o) for o in outputs]
        scored = [(it, t) for it, t in zip(items, thinks, strict=True) if t and _has_ref(it)]
        texts = [t for _, t in scored] + [
            x for it, _ in scored for x in (it.report, rr.reference_text(it))
        ]
        ents = self.extract(texts)
        fact_pairs = [(t, it.report) for it, t in scored]
        comp_pairs = [(rr.reference_text(it), t) for it, t in scored]
        matches = self.match_entities(fact_pairs + comp_pairs, ents)
        steps = self.match_steps([(t, tuple(rr.reference_steps(it))) for it, t in scored])
        if self.errors:
            head = "; ".join(self.errors[:3])
            raise JudgeError(
                f"{len(self.errors)} judge call(s) failed ({head}); failed calls are retried on a rerun "
                "(successes are cached)"
            )
        rows = []
        for it, t in zip(items, thinks, strict=True):
            if not _has_ref(it):
                rows.append(rr.score_reasoning(t, it))  # no reference chain: no RadRScore
                continue
            if not t:
                rows.append(rr.zero_parts(has_reasoning=False))
                continue
            rows.append(
                self._parts(
                    ents[t],
                    matches[(t, it.report)],
                    matches[(rr.reference_text(it), t)],
                    steps[(t, tuple(rr.reference_steps(it)))],
                )
            )
        return rows

    @staticmethod
    def _parts(think_ents, fact_m, comp_m, step_m) -> dict:
        if think_ents:
            ok = [
                (e["status"] == "absent") if m is None else m
                for e, m in zip(think_ents, fact_m, strict=True)
            ]
            fact = sum(ok) / len(ok)
        else:
            fact = 0.0
        comp = sum(bool(m) for m in comp_m) / len(comp_m) if comp_m else 1.0
        eff = sum(step_m) / len(step_m) if step_m else 0.0
        return {
            "factuality": fact,
            "completeness": comp,
            "effectiveness": eff,
            "radrscore": (fact + comp + eff) / 3.0,
            "has_reasoning": True,
            "n_entities": len(think_ents),
        }
