"""The ``llm`` chain-mining backend: plan -> evidence -> refine through an OpenAI-compatible LLM.

- Prompts: :mod:`cxreason.bench.llm_prompts` (versioned). Each stage's JSON reply is validated;
  an invalid reply is retried once with a note, then the item is recorded as failed.
- Concurrency: items run on ``concurrency`` threads through one :class:`LLMClient` (which
  bounds in-flight requests and retries 429/5xx/timeouts with backoff).
- Resumable: each finished item is appended (fsync) to a progress log; a rerun after a kill
  skips the items already there (failed ones are tried again) and the client's disk cache
  answers the stages already done, so nothing finished is requested again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cxreason.bench import llm_prompts as P
from cxreason.bench.generators import StudyInfo
from cxreason.bench.llm_client import LLMClient, LLMError
from cxreason.bench.miner import Evidence, final_step, item_plan, temporal_chain
from cxreason.prompts import format_options
from cxreason.records import BenchItem, append_jsonl, read_appended_jsonl
from cxreason.vocab import FINDING_LABELS, UNCERTAIN, canonical_order

log = logging.getLogger(__name__)


class MiningError(RuntimeError):
    """One item's mining failed (the message names the stage)."""


@dataclass
class MineResult:
    id: str
    steps: list[str]
    error: str | None = None
    item_hash: str = ""


def item_hash(item: BenchItem, prior_report: str = "") -> str:
    """What a chain depends on: question, options, answer, report(s) (a changed item is redone)."""
    blob = json.dumps(
        [item.question, item.options, item.answer, item.report]
        + ([prior_report] if prior_report else []),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _stage(client: LLMClient, name: str, messages: list[dict], validate: Callable[[str], object]):
    try:
        text = client.chat(messages, json_mode=True)
        try:
            return validate(text)
        except P.SchemaError as e:
            retry = P.with_retry_note(messages, text, str(e))
            text2 = client.chat(retry, json_mode=True)
            try:
                return validate(text2)
            except P.SchemaError as e2:
                raise MiningError(f"{name}: invalid reply after one retry: {e2}") from None
    except LLMError as e:
        raise MiningError(f"{name}: {e}") from None


def plan_candidates(item: BenchItem, info: StudyInfo) -> list[str]:
    if item.task == "anomaly":
        return canonical_order(lb for lb in FINDING_LABELS if info.labels.get(lb) != UNCERTAIN)
    return item_plan(item, info)


def mine_temporal(client: LLMClient, item: BenchItem, prior: StudyInfo, seed: int = 0) -> list[str]:
    """A temporal item: the evidence stage on each image's report (reference, then new), then
    the rules miner's five-step structure (:func:`miner.temporal_chain`), the same for every
    class, so the LLM's phrasing cannot differ by class."""
    plan = item_plan(item, prior)
    found = []
    for name, report in (("evidence (reference)", prior.report), ("evidence (new)", item.report)):
        ev = _stage(
            client,
            name,
            P.evidence_messages(report, plan),
            lambda t, _r=report: P.validate_evidence(t, plan, _r),
        )
        found.append(
            [
                Evidence(e["finding"], e["status"], e["sentence"])
                for e in sorted(ev, key=lambda e: plan.index(e["finding"]))
            ]
        )
    return temporal_chain(item, found[0], found[1], random.Random(f"{seed}:{item.id}"))


def mine_item(
    client: LLMClient,
    item: BenchItem,
    info: StudyInfo,
    seed: int = 0,
    prior: StudyInfo | None = None,
) -> list[str]:
    """The three stages for one item (temporal items with ``prior``: :func:`mine_temporal`);
    raises :class:`MiningError`."""
    if item.task == "temporal" and prior is not None:
        return mine_temporal(client, item, prior, seed)
    opts = format_options(item.options)
    cands = plan_candidates(item, info)
    plan = _stage(
        client,
        "plan",
        P.plan_messages(item.question, opts, cands),
        lambda t: P.validate_plan(t, cands),
    )
    evidence = _stage(
        client,
        "evidence",
        P.evidence_messages(item.report, plan),
        lambda t: P.validate_evidence(t, plan, item.report),
    )
    final = final_step(item, random.Random(f"{seed}:{item.id}"))
    return _stage(
        client,
        "refine",
        P.refine_messages(item.question, opts, evidence, final),
        lambda t: P.validate_refine(t, final),
    )


class ProgressLog:
    """Append-only, fsynced log of finished items; records carry a run fingerprint."""

    def __init__(self, path: str | Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._lock = threading.Lock()

    def load(self) -> dict[str, MineResult]:
        """Last record per item id for this fingerprint (a torn last line is ignored)."""
        out: dict[str, MineResult] = {}
        for rec in read_appended_jsonl(self.path):
            if rec.get("fp") == self.fingerprint:
                out[rec["id"]] = MineResult(
                    rec["id"], list(rec.get("steps") or []), rec.get("error"), rec.get("h", "")
                )
        return out

    def append(self, res: MineResult) -> None:
        with self._lock:
            append_jsonl(
                self.path,
                {
                    "fp": self.fingerprint,
                    "id": res.id,
                    "h": res.item_hash,
                    "steps": res.steps,
                    "error": res.error,
                },
            )


def mine_llm(
    client: LLMClient,
    jobs: Sequence[tuple[BenchItem, StudyInfo] | tuple[BenchItem, StudyInfo, StudyInfo | None]],
    progress: ProgressLog,
    concurrency: int = 4,
    seed: int = 0,
) -> dict[str, MineResult]:
    """Mine every job not already finished in ``progress``; returns id -> result for all jobs.

    A job is (item, study info) or (item, study info, prior study info) for temporal items.
    """
    full = [(j[0], j[1], j[2] if len(j) > 2 else None) for j in jobs]
    hashes = {it.id: item_hash(it, prior.report if prior else "") for it, _, prior in full}
    done = {
        k: v for k, v in progress.load().items() if v.error is None and v.item_hash == hashes.get(k)
    }
    todo = [job for job in full if job[0].id not in done]
    log.info(
        "llm miner: %d items, %d already done, %d to mine",
        len(jobs),
        len(jobs) - len(todo),
        len(todo),
    )

    def work(job: tuple[BenchItem, StudyInfo, StudyInfo | None]) -> MineResult:
        item, info, prior = job
        try:
            steps = mine_item(client, item, info, seed, prior)
            res = MineResult(item.id, steps, None, hashes[item.id])
        except MiningError as e:
            res = MineResult(item.id, [], str(e), hashes[item.id])
            log.warning("%s: mining failed: %s", item.id, e)
        progress.append(res)
        return res

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for res in pool.map(work, todo):
            done[res.id] = res
    return {it.id: done[it.id] for it, _, _ in full}
