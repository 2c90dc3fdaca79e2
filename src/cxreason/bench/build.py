"""Build the benchmark: studies -> labels -> splits -> items -> chains -> filter -> files.

Outputs ``DIR/bench.jsonl`` (items sorted by task, then id) and ``DIR/manifest.json``; both are
byte-identical for the same inputs, options and seed (no timestamps, no absolute output paths).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cxreason.bench import generators as G
from cxreason.bench.filter import chain_rejection
from cxreason.bench.manifest import build_manifest
from cxreason.bench.miner import gather_evidence, item_plan, rules_chain, temporal_chain
from cxreason.bench.splits import DEFAULT_RATIOS, assign_splits
from cxreason.paths import cache_dir
from cxreason.provenance import items_sha256
from cxreason.records import (
    BENCH_TASKS,
    BenchItem,
    RecordError,
    Study,
    report_text,
    write_json,
    write_jsonl,
)

log = logging.getLogger(__name__)

MINERS = ("rules", "llm")


@dataclass
class BuildConfig:
    """Options of one build (all paths are arguments; nothing is hard-coded)."""

    input: Path
    out: Path
    projections: Path | None = None
    images: Path | None = None
    seed: int = 0
    tasks: tuple[str, ...] = BENCH_TASKS
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    miner: str = "rules"
    max_ratio: float = 2.0
    min_label_items: int = 20
    multiple_min_labels: int = 2
    normal_ratio: float = 1.0
    n_candidates: int = 24
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_concurrency: int = 4
    llm_cache: Path | None = None
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 5
    #: Independent labels for the chain check: "auto" (the MeSH column of an Open-I CSV),
    #: "none", or a label file (CheXpert-style CSV or Labels JSONL).
    check_labels: str = "auto"
    #: LLM judge of chains (OpenAI-compatible; base URL defaults to ``llm_base_url``).
    judge_model: str | None = None
    judge_base_url: str | None = None

    def __post_init__(self) -> None:
        bad = [t for t in self.tasks if t not in BENCH_TASKS]
        if bad:
            raise ValueError(f"unknown task(s) {bad}; choose from {BENCH_TASKS}")
        if self.miner not in MINERS:
            raise ValueError(f"miner must be one of {MINERS}, got {self.miner!r}")
        if self.miner == "llm" and not (self.llm_base_url and self.llm_model):
            raise ValueError("--miner llm needs --llm-base-url and --llm-model")
        if self.judge_model and not (self.judge_base_url or self.llm_base_url):
            raise ValueError("--judge-model needs --judge-base-url (or --llm-base-url)")


@dataclass
class BuildState:
    """Everything the manifest reports."""

    n_studies: int = 0
    dropped_studies: dict[str, int] = field(default_factory=dict)
    balance: dict[str, G.BalanceReport] = field(default_factory=dict)
    chain_drops: dict[str, int] = field(default_factory=dict)
    chain_retried: int = 0
    chain_checks: dict = field(default_factory=dict)
    #: Open-I MeSH cells of the input (for the manifest's agreement figures), when present
    mesh_gold: dict[str, str] | None = None
    mining_failures: list[dict] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    n_images: int = 0
    split_studies: dict[str, int] = field(default_factory=dict)
    group_by: str = "study"


def file_sha256(path: str | os.PathLike | None) -> str | None:
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_inputs(cfg: BuildConfig, state: BuildState) -> list[Study]:
    """Studies from the input; image paths resolved under ``cfg.images`` and checked."""
    from cxreason.data.load import load_studies

    studies = load_studies(cfg.input, cfg.projections, cfg.images)
    for s in studies:
        for im in s.images:
            if (
                cfg.images is not None
                and not Path(im.path).is_absolute()
                and not str(im.path).startswith(str(cfg.images))
            ):
                im.path = str(Path(cfg.images) / im.path)
            state.n_images += 1
            if cfg.images is not None and not Path(im.path).is_file():
                state.missing_images.append(im.path)
    if cfg.images is not None:
        log.info(
            "images: %d of %d missing under %s",
            len(state.missing_images),
            state.n_images,
            cfg.images,
        )
    state.n_studies = len(studies)
    return studies


def label_studies(
    studies: Sequence[Study], cfg: BuildConfig, state: BuildState
) -> list[G.StudyInfo]:
    from cxreason.labeling import label_report

    splits = assign_splits(studies, cfg.seed, cfg.ratios)
    state.group_by = "patient" if any(s.patient_id for s in studies) else "study"
    infos, dropped = [], {}
    for s in studies:
        r = label_report(s.findings, s.impression)
        if not r.labels:
            key = (
                "no labels ("
                + (r.warnings[0].split(":")[0] if r.warnings else "nothing recognised")
                + ")"
            )
            dropped[key] = dropped.get(key, 0) + 1
        text = report_text(s.findings, s.impression)
        infos.append(
            G.StudyInfo(
                s, G.confident_labels(r.labels, r.mentions, text), r.mentions, splits[s.study_id]
            )
        )
    for info in infos:
        state.split_studies[info.split] = state.split_studies.get(info.split, 0) + 1
    state.dropped_studies = dict(sorted(dropped.items()))
    return [i for i in infos if i.labels]


def generate_items(
    infos: Sequence[G.StudyInfo], cfg: BuildConfig, state: BuildState
) -> list[BenchItem]:
    """Select every task's items first (answers fixed), then draw options with the label
    prevalence of the whole bench known (the blind rules may use it)."""
    selected: dict[str, list[G.Draft]] = {}
    for task in cfg.tasks:
        if task == "binary":
            drafts, rep = G.select_binary(infos, cfg.seed, cfg.max_ratio, cfg.min_label_items)
        elif task == "single":
            drafts, rep = G.select_single(infos, cfg.seed, cfg.max_ratio, cfg.min_label_items)
        elif task == "multiple":
            drafts, rep = G.select_multiple(infos, cfg.seed, cfg.multiple_min_labels)
        elif task == "anomaly":
            drafts, rep = G.select_anomaly(infos, cfg.seed, cfg.normal_ratio)
        else:
            drafts, rep = G.select_temporal(infos, cfg.seed)
        state.balance[task] = rep
        selected[task] = drafts
    prevalence = G.draft_prevalence([d for ds in selected.values() for d in ds])
    items: list[BenchItem] = []
    for task, drafts in selected.items():
        if task == "anomaly":
            items.extend(G.finalize_anomaly(drafts))
            continue
        done = G.finalize_closed(drafts, cfg.seed, cfg.n_candidates, prevalence)
        if len(done) < len(drafts):
            state.balance[task].dropped["no valid option set"] += len(drafts) - len(done)
        items.extend(done)
    return items


def mine_rules(
    items: Sequence[BenchItem], infos: dict[str, G.StudyInfo], cfg: BuildConfig, state: BuildState
) -> None:
    """Offline miner: report-grounded variant first, template-only variant as fallback."""
    for it in items:
        info = infos[it.study_id]
        plan = item_plan(it, info)
        evidence = gather_evidence(plan, info)
        prior = prior_info(it, infos)
        prior_ev = gather_evidence(plan, prior) if prior is not None else None
        reason = None
        for attempt, verbatim in enumerate((True, False)):
            rng = random.Random(f"{cfg.seed}:{it.id}:{attempt}")
            if prior_ev is not None:
                steps = temporal_chain(it, prior_ev, evidence, rng, verbatim)
            else:
                steps = rules_chain(it, evidence, rng, verbatim)
            reason = chain_rejection(it, steps, prior.report if prior is not None else None)
            if reason is None:
                _set_chain(it, steps)
                break
            state.chain_retried += attempt == 0
        if reason is not None:
            state.chain_drops[reason] = state.chain_drops.get(reason, 0) + 1


def prior_info(item: BenchItem, infos: dict[str, G.StudyInfo]) -> G.StudyInfo | None:
    """The prior study of a temporal item (its reference image), when it is in the input."""
    if item.task != "temporal":
        return None
    return infos.get(infos[item.study_id].study.prior_study_id or "")


def mine_with_llm(
    items: Sequence[BenchItem],
    infos: dict[str, G.StudyInfo],
    cfg: BuildConfig,
    state: BuildState,
    source_hash: str,
) -> None:
    from cxreason.bench.llm_client import LLMClient
    from cxreason.bench.llm_miner import ProgressLog, mine_llm
    from cxreason.bench.llm_prompts import LLM_PROMPTS_VERSION

    cache = cfg.llm_cache or cache_dir("llm", cfg.out / ".llm_cache")
    fp = hashlib.sha256(
        f"{source_hash}:{cfg.seed}:{cfg.llm_model}:{LLM_PROMPTS_VERSION}".encode()
    ).hexdigest()[:16]
    progress = ProgressLog(cfg.out / ".mining" / "progress.jsonl", fp)
    with LLMClient(
        cfg.llm_base_url or "",
        cfg.llm_model or "",
        api_key_env=cfg.llm_api_key_env,
        cache_dir=cache,
        max_concurrency=cfg.llm_concurrency,
        max_retries=cfg.llm_max_retries,
        timeout_s=cfg.llm_timeout_s,
    ) as client:
        results = mine_llm(
            client,
            [(it, infos[it.study_id], prior_info(it, infos)) for it in items],
            progress,
            cfg.llm_concurrency,
            cfg.seed,
        )
        log.info("llm client stats: %s", client.stats)
    for it in items:
        res = results[it.id]
        if res.error is not None:
            state.mining_failures.append({"id": it.id, "error": res.error})
            state.chain_drops["mining failed"] = state.chain_drops.get("mining failed", 0) + 1
            continue
        prior = prior_info(it, infos)
        reason = chain_rejection(it, res.steps, prior.report if prior is not None else None)
        if reason is None:
            _set_chain(it, res.steps)
        else:
            state.chain_drops[reason] = state.chain_drops.get(reason, 0) + 1


def independent_labels(cfg: BuildConfig, state: BuildState | None = None):
    """The chain check's independent label source (None when there is none or it is off).
    An Open-I input's MeSH cells are kept on ``state.mesh_gold`` for the manifest."""
    from cxreason.bench.chaincheck import IndependentLabels, load_label_file

    if cfg.check_labels == "none":
        return None
    if cfg.check_labels != "auto":
        return load_label_file(cfg.check_labels)
    from cxreason.data.load import detect_format

    if detect_format(cfg.input) != "openi-csv":
        return None
    from cxreason.data.openi import read_openi_gold

    try:
        gold = read_openi_gold(cfg.input)
    except RecordError:  # no MeSH column: nothing to check against
        return None
    labels = IndependentLabels.from_mesh(gold)
    if state is not None and len(labels):
        state.mesh_gold = gold
    return labels if len(labels) else None


def check_chains(
    items: Sequence[BenchItem], infos: dict[str, G.StudyInfo], cfg: BuildConfig, state: BuildState
) -> None:
    """Drop kept chains that the independent labels or the LLM judge contradict (item kept
    answer-only); counts go to ``state.chain_drops`` and ``state.chain_checks``."""
    from cxreason.bench.chaincheck import REASON_LABELS, gold_conflicts
    from cxreason.bench.filter import by_image

    labels = independent_labels(cfg, state)
    rep: dict = {"labels_source": labels.source if labels is not None else None}
    if labels is not None:
        checked = dropped = 0
        for it in items:
            if not it.reasoning_steps:
                continue
            prior = prior_info(it, infos)
            sources = [it.study_id, prior.sid if prior is not None else it.study_id]
            bad: list[str] = []
            for (group, _), sid in zip(by_image(it.reasoning_steps, None), sources, strict=False):
                gold = labels.studies.get(sid)
                if gold is not None:
                    bad += gold_conflicts(group, gold)
            if it.study_id in labels.studies:
                checked += 1
            if bad:
                dropped += 1
                _clear_chain(it)
                state.chain_drops[REASON_LABELS] = state.chain_drops.get(REASON_LABELS, 0) + 1
        rep.update({"labels_checked": checked, "labels_dropped": dropped})
    if cfg.judge_model:
        rep["judge"] = judge_kept_chains(items, infos, cfg, state)
    state.chain_checks = rep


def judge_kept_chains(
    items: Sequence[BenchItem], infos: dict[str, G.StudyInfo], cfg: BuildConfig, state: BuildState
) -> dict:
    from cxreason.bench.chaincheck import REASON_JUDGE, judge_chains, judge_summary
    from cxreason.bench.llm_client import LLMClient

    jobs = []
    for it in items:
        if not it.reasoning_steps:
            continue
        prior = prior_info(it, infos)
        report = (
            it.report
            if prior is None
            else f"REFERENCE STUDY: {prior.report} NEW STUDY: {it.report}"
        )
        jobs.append((it.id, report, list(it.reasoning_steps)))
    with LLMClient(
        cfg.judge_base_url or cfg.llm_base_url or "",
        cfg.judge_model or "",
        api_key_env=cfg.llm_api_key_env,
        cache_dir=cfg.llm_cache or cache_dir("llm", cfg.out / ".llm_cache"),
        max_concurrency=cfg.llm_concurrency,
        max_retries=cfg.llm_max_retries,
        timeout_s=cfg.llm_timeout_s,
    ) as client:
        verdicts = judge_chains(client, jobs)
        log.info("llm judge client stats: %s", client.stats)
    by_id = {it.id: it for it in items}
    for iid, v in verdicts.items():
        if v.supported is False:
            _clear_chain(by_id[iid])
            state.chain_drops[REASON_JUDGE] = state.chain_drops.get(REASON_JUDGE, 0) + 1
    return judge_summary(verdicts)


def _clear_chain(item: BenchItem) -> None:
    item.reasoning_steps = []
    item.reasoning = ""


def _set_chain(item: BenchItem, steps: list[str]) -> None:
    item.reasoning_steps = list(steps)
    item.reasoning = " ".join(steps)


def sort_items(items: Sequence[BenchItem]) -> list[BenchItem]:
    order = {t: i for i, t in enumerate(BENCH_TASKS)}
    return sorted(items, key=lambda it: (order[it.task], it.id))


def build_bench(cfg: BuildConfig) -> dict:
    """Build ``cfg.out/bench.jsonl`` + ``manifest.json``; returns the manifest."""
    state = BuildState()
    source_hash = hashlib.sha256(
        f"{file_sha256(cfg.input)}:{file_sha256(cfg.projections)}".encode()
    ).hexdigest()
    studies = load_inputs(cfg, state)
    infos = label_studies(studies, cfg, state)
    items = sort_items(generate_items(infos, cfg, state))
    by_id = {i.sid: i for i in infos}
    if cfg.miner == "rules":
        mine_rules(items, by_id, cfg, state)
    else:
        mine_with_llm(items, by_id, cfg, state, source_hash)
    check_chains(items, by_id, cfg, state)
    manifest = build_manifest(items, cfg, state, source_hash, state.mesh_gold)
    manifest["content_sha256"] = items_sha256(items)  # what predictions record (provenance)
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(cfg.out / "bench.jsonl", items)
    write_json(cfg.out / "manifest.json", manifest)
    return manifest
