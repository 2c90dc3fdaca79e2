"""RadRScore, offline deterministic backend: factuality, completeness, effectiveness.

Entities come from the labeler (``cxreason.labeling.extract_mentions``): one entity per
distinct (ontology concept, polarity) in a text. Polarity: ``present`` and ``uncertain`` are
*positive* (a hedged finding does not contradict a stated one), ``absent`` is *negative*.

Two entities match when they share a key with the same polarity and conflict when they share a
key with opposite polarities. Keys: the concept, plus its CheXpert label (so the concepts
"fracture" and "acute bone abnormality", both Fracture, match at label level); ``No Finding``
is never a label-level key.

- factuality(reasoning, report): share of the reasoning's entities that agree with the report.
  An entity the report does not mention (by concept or label) is correct when negative (the
  paper's normal rule: unmentioned = normal) and wrong when positive. Global statements (the
  ontology's ``normal-statement`` concepts: "no acute cardiopulmonary abnormality") that the
  report does not make are judged against the whole report: "no abnormality" is correct only
  when the report asserts no positive entity at all, "an abnormality" only when it asserts one.
  None if no entity.
- completeness(reasoning, reference): share of the reference reasoning's entities that the
  reasoning matches (same key and polarity). 1.0 when the reference has no entity.
- effectiveness(steps, reference_steps): share of steps that match some reference step: equal
  normalised text or a matching entity; a step asserting no entity at all ("I will review the
  lungs") may instead match a reference step that asserts none either (a plan step) by MiniLM
  cosine similarity >= threshold. Entities decide wherever they exist, so similar wording
  never rescues a contradicted or irrelevant finding.
  0.0 when there are no steps.

An item's RadRScore is the mean of the three; 0 for all parts when the output has no
non-empty ``<think>`` block; factuality 0 when the reasoning asserts no entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cxreason.records import BenchItem
from cxreason.vocab import NO_FINDING

#: Cosine similarity at or above which two steps match semantically (docs/metrics.md, calibrated
#: by benchmarks/calibrate_threshold.py on Open-I report sentences).
SIM_THRESHOLD = 0.56

POSITIVE, NEGATIVE = "positive", "negative"
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.IGNORECASE | re.DOTALL)
_DEFAULT = object()  # sentinel: use the shared MiniLM embedder


@dataclass(frozen=True)
class Entity:
    """A concept asserted in a text with a polarity (``positive`` | ``negative``)."""

    concept: str
    label: str | None
    polarity: str
    is_global: bool = False  # a whole-study normality statement ("no acute abnormality")

    def keys(self) -> tuple[str, ...]:
        """Matching keys: the concept, plus the CheXpert label (never for No Finding)."""
        if self.label and self.label != NO_FINDING:
            return ("c:" + self.concept, "l:" + self.label)
        return ("c:" + self.concept,)


def polarity(status: str) -> str:
    """``present``/``uncertain`` -> positive; ``absent`` -> negative."""
    return NEGATIVE if status == "absent" else POSITIVE


def entity_from_mention(m) -> Entity:
    """The :class:`Entity` a labeler ``Mention`` asserts (global flag from the ontology group)."""
    from cxreason.labeling.ontology import CONCEPTS

    concept = CONCEPTS.get(m.concept)
    is_global = concept is not None and concept.group == "normal-statement"
    return Entity(m.concept, m.label, polarity(m.status), is_global)


@lru_cache(maxsize=200_000)
def entities(text: str) -> tuple[Entity, ...]:
    """Distinct entities of ``text`` (cached per string), in order of first mention."""
    from cxreason.labeling import extract_mentions

    return tuple(dict.fromkeys(entity_from_mention(m) for m in extract_mentions(text or "")))


class EntityIndex:
    """Polarities seen per key in one text (a report or a reference)."""

    def __init__(self, ents: Iterable[Entity]):
        self.by_key: dict[str, set[str]] = {}
        self.any_positive = False  # some entity (finding or global) asserted positive
        for e in ents:
            for k in e.keys():
                self.by_key.setdefault(k, set()).add(e.polarity)
            self.any_positive |= e.polarity == POSITIVE

    def polarities(self, e: Entity) -> set[str] | None:
        """Polarities of ``e``'s concept if mentioned, else of its label, else None."""
        for k in e.keys():  # concept first, then label
            if k in self.by_key:
                return self.by_key[k]
        return None

    def matches(self, e: Entity) -> bool:
        """True when a shared key carries ``e``'s polarity."""
        return any(e.polarity in self.by_key.get(k, ()) for k in e.keys())

    def conflicts(self, e: Entity) -> bool:
        """True when a shared key carries only the opposite polarity."""
        pols = self.polarities(e)
        return pols is not None and e.polarity not in pols


@lru_cache(maxsize=50_000)
def _index(text: str) -> EntityIndex:
    return EntityIndex(entities(text))


def agrees_with_report(e: Entity, report: EntityIndex) -> bool:
    """Whether one reasoning entity agrees with the report (see module docstring)."""
    pols = report.polarities(e)
    if pols is None and e.is_global:
        return (e.polarity == POSITIVE) == report.any_positive
    if pols is None:
        return e.polarity == NEGATIVE  # unmentioned in the report: normal
    return e.polarity in pols


def factuality(reasoning: str, report: str) -> float | None:
    """Share of the reasoning's entities that agree with the report; None if none asserted."""
    ents = entities(reasoning)
    if not ents:
        return None
    rep = _index(report)
    return sum(agrees_with_report(e, rep) for e in ents) / len(ents)


def completeness(reasoning: str, reference: str) -> float:
    """Share of the reference's entities that the reasoning matches (1.0 if none)."""
    ref = entities(reference)
    if not ref:
        return 1.0
    cand = _index(reasoning)
    return sum(cand.matches(e) for e in ref) / len(ref)


@lru_cache(maxsize=200_000)
def _norm_step(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.casefold()).split())


@lru_cache(maxsize=200_000)
def _keyset(text: str) -> frozenset[tuple[str, str]]:
    """(key, polarity) pairs of a text's entities: two texts share an entity iff these intersect."""
    return frozenset((k, e.polarity) for e in entities(text) for k in e.keys())


def step_entity_matches(steps: Sequence[str], reference_steps: Sequence[str]) -> np.ndarray:
    """Boolean matrix (steps x reference steps): same normalised text or a matching entity."""
    out = np.zeros((len(steps), len(reference_steps)), dtype=bool)
    refs = [(_norm_step(r), _keyset(r)) for r in reference_steps]
    for i, s in enumerate(steps):
        ns, ks = _norm_step(s), _keyset(s)
        for j, (nr, kr) in enumerate(refs):
            out[i, j] = ns == nr or not ks.isdisjoint(kr)
    return out


@lru_cache(maxsize=100_000)
def matched_steps(steps: tuple[str, ...], reference_steps: tuple[str, ...]) -> tuple[bool, ...]:
    """Per step: does it match some reference step by text or entity (cached per pair)."""
    if not steps or not reference_steps:
        return (False,) * len(steps)
    return tuple(bool(x) for x in step_entity_matches(steps, reference_steps).any(axis=1))


def effectiveness(
    steps: list[str],
    reference_steps: list[str],
    embedder=None,
    threshold: float = SIM_THRESHOLD,
) -> float:
    """Share of ``steps`` matching a reference step (0.0 without steps or references).

    A step with entities matches by entity (or identical text) only; a step without entities
    ("I will review the lungs") matches by identical text or, with an ``embedder``, by cosine
    similarity >= ``threshold`` to a reference step without entities (a plan or method step).
    ``embedder=None``: no similarity.
    """
    steps = [s for s in steps if s.strip()]
    reference_steps = [r for r in reference_steps if r.strip()]
    if not steps or not reference_steps:
        return 0.0
    matched = np.array(matched_steps(tuple(steps), tuple(reference_steps)), dtype=bool)
    todo = semantic_candidates(steps, matched) if embedder is not None else []
    plain_refs = entityless(reference_steps)
    if todo and plain_refs:
        sims = embedder.similarity([steps[i] for i in todo], plain_refs)
        matched[todo] = (sims >= threshold).any(axis=1)
    return float(matched.mean())


def entityless(steps: Sequence[str]) -> list[str]:
    """The steps that assert no entity (plan / method statements)."""
    return [s for s in steps if not entities(s)]


def semantic_candidates(steps: Sequence[str], matched) -> list[int]:
    """Indices of unmatched steps that assert no entity (the only ones judged by similarity)."""
    return [i for i, s in enumerate(steps) if not matched[i] and not entities(s)]


def extract_think(output: str | None) -> str | None:
    """Content of the LAST non-empty ``<think>...</think>`` block (stripped), else None."""
    if not output:
        return None
    for block in reversed(_THINK_RE.findall(output)):
        if block.strip():
            return block.strip()
    return None


def split_steps(text: str) -> list[str]:
    """Reasoning steps of a text: its sentences (labeler's splitter), stripped, non-empty."""
    return list(_split_steps(text or ""))


@lru_cache(maxsize=100_000)
def _split_steps(text: str) -> tuple[str, ...]:
    from cxreason.labeling import split_sentences

    return tuple(text[a:b].strip() for a, b in split_sentences(text) if text[a:b].strip())


def reference_text(item: BenchItem) -> str:
    """The item's reference chain as one text (``reasoning``, else its steps joined)."""
    return (item.reasoning or "").strip() or " ".join(item.reasoning_steps)


def reference_steps(item: BenchItem) -> list[str]:
    """The item's reference steps (non-blank ``reasoning_steps``, else sentences of ``reasoning``)."""
    return [s for s in item.reasoning_steps if s.strip()] or split_steps(item.reasoning or "")


def score_reasoning(
    think: str | None,
    item: BenchItem,
    embedder=_DEFAULT,
    threshold: float = SIM_THRESHOLD,
) -> dict:
    """RadRScore parts for a reasoning text (None/blank -> all 0); see module docstring.

    An item without a reference chain (answer-only item) has no RadRScore: parts are None.
    """
    if not reference_text(item).strip():
        return {
            **dict.fromkeys(("factuality", "completeness", "effectiveness", "radrscore")),
            "has_reasoning": bool(think),
            "n_entities": len(entities(think)) if think else 0,
        }
    if not think:
        return zero_parts(has_reasoning=False)
    parts = reasoning_parts(
        think, item.report, reference_text(item), reference_steps(item), embedder, threshold
    )
    return {**parts, "has_reasoning": True, "n_entities": len(entities(think))}


def reasoning_parts(
    think: str,
    report: str,
    reference: str,
    ref_steps: Sequence[str],
    embedder=_DEFAULT,
    threshold: float = SIM_THRESHOLD,
) -> dict[str, float]:
    """factuality (vs ``report``; 0 without entities), completeness (vs ``reference``),
    effectiveness (steps vs ``ref_steps``) and their mean ``radrscore``, for a non-empty
    reasoning text. ``embedder``: default the shared MiniLM; None disables similarity."""
    if embedder is _DEFAULT:
        from cxreason.metrics.embed import default_embedder

        embedder = default_embedder()
    fact = factuality(think, report) or 0.0
    comp = completeness(think, reference)
    eff = effectiveness(split_steps(think), list(ref_steps), embedder, threshold)
    return {
        "factuality": fact,
        "completeness": comp,
        "effectiveness": eff,
        "radrscore": (fact + comp + eff) / 3.0,
    }


def zero_parts(has_reasoning: bool) -> dict:
    return {
        "factuality": 0.0,
        "completeness": 0.0,
        "effectiveness": 0.0,
        "radrscore": 0.0,
        "has_reasoning": has_reasoning,
        "n_entities": 0,
    }


def score_item(
    item: BenchItem,
    output: str | None,
    embedder=_DEFAULT,
    threshold: float = SIM_THRESHOLD,
) -> dict:
    """factuality, completeness, effectiveness, radrscore (+ has_reasoning, n_entities).

    ``embedder``: default the shared MiniLM; ``None`` disables semantic step matching.
    """
    return score_reasoning(extract_think(output), item, embedder, threshold)
