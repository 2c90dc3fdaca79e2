"""The benchmark manifest (``manifest.json``): provenance, counts, balance, drops, leakage audit.

Deterministic: keys and lists are in a fixed order; no timestamps, no absolute output paths.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cxreason import __version__
from cxreason.bench.audit import audit_items
from cxreason.bench.llm_prompts import LLM_PROMPTS_VERSION
from cxreason.bench.validity import validity_checks
from cxreason.prompts import PROMPTS_VERSION
from cxreason.records import BENCH_TASKS, SPLITS, BenchItem
from cxreason.vocab import VOCAB_VERSION, canonical_order

if TYPE_CHECKING:
    from cxreason.bench.build import BuildConfig, BuildState

BENCH_FORMAT = "cxreason-bench-v2"
SPLIT_ORDER = SPLITS


def _ordered(counter: Counter, order: Sequence[str]) -> dict[str, int]:
    keys = [k for k in order if k in counter] + sorted(k for k in counter if k not in order)
    return {k: counter[k] for k in keys}


def _by_label(d: dict[str, int]) -> dict[str, int]:
    return {lb: d[lb] for lb in canonical_order(d)}


def build_manifest(
    items: Sequence[BenchItem],
    cfg: BuildConfig,
    state: BuildState,
    source_hash: str,
    gold: dict[str, str] | None = None,
) -> dict:
    per_task = Counter(it.task for it in items)
    per_split = Counter(it.split for it in items)
    per_task_split = {
        t: _ordered(Counter(it.split for it in items if it.task == t), SPLIT_ORDER)
        for t in BENCH_TASKS
        if per_task[t]
    }
    per_label = {}
    letters = {}
    for t in BENCH_TASKS:
        ts = [it for it in items if it.task == t]
        if not ts:
            continue
        c = Counter(lb for it in ts for lb in it.answer_labels)
        per_label[t] = {lb: c[lb] for lb in canonical_order(c)}
        if t != "anomaly":
            lc = Counter(it.answer for it in ts)
            letters[t] = {k: lc[k] for k in sorted(lc)}
    kept = sum(1 for it in items if it.reasoning_steps)
    notes = [n for t in cfg.tasks if t in state.balance for n in state.balance[t].notes]
    audit = audit_items(items)
    for task, rep in audit.items():
        for r in rep.get("flagged", []):
            notes.append(
                f"{task}: blind rule {r} scores {rep['rules'][r]} > chance {rep['chance']} + 0.03 "
                "(the data has too few distinct answers to hide it)"
            )
    return {
        "format": BENCH_FORMAT,
        "version": __version__,
        "prompts_version": PROMPTS_VERSION,
        "llm_prompts_version": LLM_PROMPTS_VERSION if cfg.miner == "llm" else None,
        "vocab_version": VOCAB_VERSION,
        "seed": cfg.seed,
        "source": {
            "input": Path(cfg.input).name,
            "projections": Path(cfg.projections).name if cfg.projections else None,
            "sha256": source_hash,
            "n_studies": state.n_studies,
        },
        "options": {
            "tasks": list(cfg.tasks),
            "split_ratios": list(cfg.ratios),
            "miner": cfg.miner,
            "llm_model": cfg.llm_model if cfg.miner == "llm" else None,
            "check_labels": cfg.check_labels
            if cfg.check_labels in ("auto", "none")
            else Path(cfg.check_labels).name,
            "judge_model": cfg.judge_model,
            "max_label_ratio": cfg.max_ratio,
            "min_label_items": cfg.min_label_items,
            "multiple_min_labels": cfg.multiple_min_labels,
            "normal_ratio": cfg.normal_ratio,
            "n_candidates": cfg.n_candidates,
        },
        "splits": {
            "group_by": state.group_by,
            "studies": _ordered(Counter(state.split_studies), SPLIT_ORDER),
        },
        "counts": {
            "total": len(items),
            "per_task": _ordered(per_task, BENCH_TASKS),
            "per_split": _ordered(per_split, SPLIT_ORDER),
            "per_task_split": per_task_split,
            "per_label": per_label,
        },
        "letters": letters,
        "chains": {
            "kept": kept,
            "answer_only": len(items) - kept,
            "dropped_by_reason": dict(sorted(state.chain_drops.items())),
            "rules_fallback_used": state.chain_retried,
            "independent_checks": state.chain_checks,
            "mining_failures": sorted(state.mining_failures, key=lambda f: f["id"]),
        },
        "dropped": {
            "studies": state.dropped_studies,
            "items": {
                t: dict(sorted(state.balance[t].dropped.items()))
                for t in cfg.tasks
                if t in state.balance and state.balance[t].dropped
            },
            "chains": dict(sorted(state.chain_drops.items())),
            "policy": "items whose chain fails the quality filter are kept answer-only (empty reasoning)",
        },
        "balance": {
            t: {
                "available": _by_label(state.balance[t].available),
                "kept": _by_label(state.balance[t].kept),
                "cap": state.balance[t].cap,
                "too_rare": state.balance[t].too_rare,
                "max_min_ratio": state.balance[t].ratio(),
            }
            for t in cfg.tasks
            if t in state.balance
        },
        "balance_notes": notes,
        "images": {
            "checked": cfg.images is not None,
            "total": state.n_images,
            "missing": len(state.missing_images),
            "missing_list": sorted(state.missing_images),
        },
        "audit": audit,
        # the cheap validity checks (no learned probe: `cxreason bench audit` runs those);
        # with Open-I MeSH, "chains" is 0 by construction (the build dropped those chains)
        "validity": validity_checks(items, gold, probes=False),
    }
