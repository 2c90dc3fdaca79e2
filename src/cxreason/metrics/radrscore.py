"""RadRScore, offline deterministic backend: factuality, completeness, effectiveness.

Entities come from the labeler (``cxreason.labeling.extract_annotated``): only mentions
*asserted* about this image count (hypothetical, conditional, generic, historical and
answer-option statements are left out). An entity is (ontology concept, polarity, side, zone,
change). Polarity: ``present`` and ``uncertain`` are *positive* (a hedged finding does not
contradict a stated one), ``absent`` is *negative*. ``side`` (left | right | bilateral),
``zone`` (upper | middle | lower) and ``change`` (new | worsening | improving | stable |
resolved) are None when the text does not state them.

A **claim** is one asserted phrase: the entities of one mention span ("the lungs are clear"
is one claim about opacity, consolidation, pneumonia and edema). Claims are deduplicated per
text.

Two entities are *compatible* when their sides overlap (bilateral covers left and right) and
their zones and changes are equal, an unstated one matching any. Entities share a *key* when
they name the same concept or its CheXpert label (never ``No Finding``).

- factuality(reasoning, report): share of the reasoning's claims that are correct, i.e. every
  entity of the claim agrees with the report (:func:`agrees_with_report`): a positive entity
  needs a compatible positive statement in the report (covering both sides for "bilateral");
  a negative one is wrong only when the report states the finding compatibly and never rules
  it out; a finding the report does not mention is normal (a negative claim about it is
  correct, a positive one wrong); global statements ("no acute cardiopulmonary abnormality")
  are judged against the whole report. None if the reasoning asserts nothing.
- completeness(reasoning, reference): share of the reference's *topics* (its claims and the
  answer options it weighs) that the reasoning addresses too: it asserts something about the
  same finding or weighs it as an option (shared key, compatible), whatever it concludes (a
  wrong conclusion is factuality's part). Options count because chains conclude on them by
  letter ("for option A, which mentions a nodule, ... ruling out option A"), which an offline
  reader cannot map back to the finding. 1.0 when the reference has no topic.
- effectiveness(steps, reference_steps): mean over the reasoning's steps (its paragraphs and
  list items, or its sentences when it is one paragraph: :func:`reasoning_steps`) of the
  share of the step's claims that the reference steps support (:meth:`EntityIndex.supports`:
  the reference states the same entity; a negative claim is also supported where the
  reference discusses the finding or calls the study normal without ever stating it). "One
  matching claim + four fabricated findings" is worth 0.2. A step identical to a reference step
  (normalised text) is worth 1. A step asserting nothing (a plan, a generic or hypothetical
  sentence) is worth 1 when MiniLM cosine similarity to some reference step is >= threshold,
  else 0. Entities decide wherever they exist, so similar wording never rescues a contradicted
  or irrelevant finding. 0.0 when there are no steps.

An item's RadRScore is the mean of the three; 0 for all parts when the output has no
non-empty ``<think>`` block; factuality 0 when the reasoning asserts no entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from cxreason.records import BenchItem
from cxreason.vocab import NO_FINDING

#: Version of the offline metric's definition, recorded in scores.json (meta.metric_version)
#: and in the demo's evaluation fingerprints, so a changed definition rescores instead of
#: reusing stale scores. Bump it on any change to what a part counts, the labeler's reading
#: included. 2026-11-30: contractions of "not" negate (docs/labeling.md); .2: a side stated once
#: holds for the finding's unsided mentions (:func:`inherit_sides`); .3: in the index of
#: discussed mentions too (effectiveness), so the rule holds wherever sides are compared.
#: 2026-12-01: the labeler reads more chain phrasings as not asserted (a search's object, method
#: steps in the imperative, headings, "may show", "will be"; the result of a search is asserted),
#: a bold heading ends its sentence, and claim-less steps are compared with reference sentences.
#: .2: effectiveness reads a reasoning's steps from its layout (paragraphs and list items;
#: sentences for one paragraph: :func:`reasoning_steps`), not always sentence by sentence; the
#: labeler reads "e.g." as introducing examples (its trailing dot had kept it from matching),
#: a closed parenthetical aside is transparent to triggers outside it, and a few zero-shot
#: phrasings are read as what they are (docs/labeling.md).
METRIC_VERSION = "radrscore-offline-2026-12-01.2"

#: Cosine similarity at or above which two steps match semantically (docs/metrics.md, calibrated
#: by benchmarks/calibrate_threshold.py on Open-I report sentences).
SIM_THRESHOLD = 0.56

POSITIVE, NEGATIVE = "positive", "negative"
_DEFAULT = object()  # sentinel: use the shared MiniLM embedder
#: Sides as sets of lung sides: bilateral covers both.
_SIDES = {"left": frozenset("L"), "right": frozenset("R"), "bilateral": frozenset("LR")}


@dataclass(frozen=True)
class Entity:
    """A concept asserted in a text with a polarity (``positive`` | ``negative``), and the side
    and temporal change the text states for it (None: not stated)."""

    concept: str
    label: str | None
    polarity: str
    is_global: bool = False  # a whole-study normality statement ("no acute abnormality")
    side: str | None = None
    change: str | None = None
    zone: str | None = None

    def keys(self) -> tuple[str, ...]:
        """Matching keys: the concept, plus the CheXpert label (never for No Finding)."""
        if self.label and self.label != NO_FINDING:
            return ("c:" + self.concept, "l:" + self.label)
        return ("c:" + self.concept,)

    def compatible(self, other: Entity) -> bool:
        """Sides overlap, zones and changes are equal; an unstated one matches any."""
        if self.side and other.side and not (_SIDES[self.side] & _SIDES[other.side]):
            return False
        if self.zone and other.zone and self.zone != other.zone:
            return False
        return not (self.change and other.change and self.change != other.change)


Claim = tuple[Entity, ...]


def polarity(status: str) -> str:
    """``present``/``uncertain`` -> positive; ``absent`` -> negative."""
    return NEGATIVE if status == "absent" else POSITIVE


def entity_from_mention(m) -> Entity:
    """The :class:`Entity` a labeler mention asserts (global flag from the ontology group; side
    and change when ``m`` is an ``AnnotatedMention``)."""
    from cxreason.labeling.ontology import CONCEPTS

    concept = CONCEPTS.get(m.concept)
    is_global = concept is not None and concept.group == "normal-statement"
    return Entity(
        m.concept,
        m.label,
        polarity(m.status),
        is_global,
        getattr(m, "side", None),
        getattr(m, "change", None),
        getattr(m, "zone", None),
    )


@lru_cache(maxsize=200_000)
def claims(text: str) -> tuple[Claim, ...]:
    """Distinct asserted claims of ``text`` (cached per string), in order of first mention."""
    return _claims(text, ASSERTED_ONLY)


@lru_cache(maxsize=200_000)
def topics(text: str) -> tuple[Claim, ...]:
    """What ``text`` reasons about: its asserted claims and the answer options it weighs (an
    option under discussion names a finding the chain then rules in or out, often by the
    option's letter: "for option A, which mentions a nodule, ... ruling out option A")."""
    return _claims(text, ASSERTED_OR_OPTION)


ASSERTED_ONLY = frozenset({"asserted"})
ASSERTED_OR_OPTION = frozenset({"asserted", "option"})


def _claims(text: str, contexts: frozenset[str]) -> tuple[Claim, ...]:
    from cxreason.labeling.extract import extract_annotated

    spans: dict[tuple[int, int], list[Entity]] = {}
    for m in extract_annotated(text or ""):
        if m.context in contexts:
            spans.setdefault((m.start, m.end), []).append(entity_from_mention(m))
    return tuple(dict.fromkeys(tuple(dict.fromkeys(es)) for es in inherit_sides(spans.values())))


def inherit_sides(claims_: Iterable[Sequence[Entity]]) -> list[tuple[Entity, ...]]:
    """Give a finding's unsided mentions the side the same text states for it, when it states
    exactly one (per concept and polarity): "a device on the left chest wall ... confirming an
    implanted medical device" is one left-sided device, so "a right-sided device" disagrees
    with both mentions. A text that states two sides (or none) leaves its unsided mentions
    unstated (they match either side)."""
    cs = [tuple(c) for c in claims_]
    sides: dict[tuple[str, str], set[str]] = {}
    for c in cs:
        for e in c:
            if e.side:
                sides.setdefault((e.concept, e.polarity), set()).add(e.side)
    only = {k: next(iter(v)) for k, v in sides.items() if len(v) == 1}
    if not only:
        return cs
    return [
        tuple(
            replace(e, side=only[(e.concept, e.polarity)])
            if e.side is None and (e.concept, e.polarity) in only
            else e
            for e in c
        )
        for c in cs
    ]


@lru_cache(maxsize=200_000)
def entities(text: str) -> tuple[Entity, ...]:
    """Distinct asserted entities of ``text`` (cached per string), in order of first mention."""
    return tuple(dict.fromkeys(e for c in claims(text) for e in c))


class EntityIndex:
    """Entities seen per key in one text (a report or a reference)."""

    def __init__(self, ents: Iterable[Entity]):
        self.by_key: dict[str, list[Entity]] = {}
        self.any_positive = False  # some entity (finding or global) asserted positive
        self.states_normal = False  # a global normal statement ("no acute abnormality")
        for e in ents:
            for k in e.keys():
                self.by_key.setdefault(k, []).append(e)
            self.any_positive |= e.polarity == POSITIVE
            self.states_normal |= e.is_global and e.polarity == NEGATIVE

    def candidates(self, e: Entity) -> list[Entity] | None:
        """Entities under ``e``'s concept if mentioned, else under its label, else None."""
        for k in e.keys():  # concept first, then label
            if k in self.by_key:
                return self.by_key[k]
        return None

    def polarities(self, e: Entity) -> set[str] | None:
        """Polarities of the compatible entities under ``e``'s concept (else label), or None
        when the text does not mention the concept (nor its label) at all."""
        cands = self.candidates(e)
        if cands is None:
            return None
        return {c.polarity for c in cands if e.compatible(c)}

    def matches(self, e: Entity) -> bool:
        """True when a shared key carries a compatible entity of ``e``'s polarity."""
        return any(
            c.polarity == e.polarity and e.compatible(c)
            for k in e.keys()
            for c in self.by_key.get(k, ())
        )

    def covers(self, e: Entity) -> bool:
        """True when the text addresses ``e``'s finding (a shared key, compatible side and
        change), whatever it concludes about it."""
        return any(e.compatible(c) for k in e.keys() for c in self.by_key.get(k, ()))

    def supports(self, e: Entity, discussed: EntityIndex | None = None) -> bool:
        """:meth:`matches`, or a negative finding that the text never states (compatibly) as
        present while it says the study is normal ("no pneumothorax" under "no acute
        abnormality") or discusses the finding (``discussed``: an index of every mention,
        asserted or not: "a tortuous aorta would appear as ...; option D is unlikely")."""
        if self.matches(e):
            return True
        if e.polarity != NEGATIVE or e.is_global or self.conflicts(e):
            return False
        if self.candidates(e) is None and self.states_normal:
            return True
        return discussed is not None and discussed.covers(e)

    def conflicts(self, e: Entity) -> bool:
        """True when the text states ``e``'s finding (compatibly) only with the other polarity."""
        pols = self.polarities(e)
        return bool(pols) and e.polarity not in pols


@lru_cache(maxsize=50_000)
def _index(text: str) -> EntityIndex:
    return EntityIndex(entities(text))


def agrees_with_report(e: Entity, report: EntityIndex) -> bool:
    """Whether one reasoning entity agrees with the report (see module docstring)."""
    cands = report.candidates(e)
    if cands is None:
        if e.is_global:
            return (e.polarity == POSITIVE) == report.any_positive
        return e.polarity == NEGATIVE  # unmentioned in the report: normal
    same = [c for c in cands if e.compatible(c)]
    if e.polarity == NEGATIVE:  # wrong only when the report states it and never rules it out
        return not same or any(c.polarity == NEGATIVE for c in same)
    pos = [c for c in same if c.polarity == POSITIVE]
    if not pos or e.side is None or any(c.side is None for c in pos):
        return bool(pos)
    covered = frozenset().union(*(_SIDES[c.side] for c in pos))  # "bilateral" needs both sides
    return _SIDES[e.side] <= covered


def claim_agrees(claim: Claim, report: EntityIndex) -> bool:
    """A claim is correct when every entity it asserts agrees with the report."""
    return all(agrees_with_report(e, report) for e in claim)


def factuality(reasoning: str, report: str) -> float | None:
    """Share of the reasoning's claims that agree with the report; None if none asserted."""
    cs = claims(reasoning)
    if not cs:
        return None
    rep = _index(report)
    return sum(claim_agrees(c, rep) for c in cs) / len(cs)


def claim_matches(claim: Claim, index: EntityIndex) -> bool:
    """A claim is matched when the other text states one of its entities (same key, polarity,
    compatible side and change)."""
    return any(index.matches(e) for e in claim)


def completeness(reasoning: str, reference: str) -> float:
    """Share of the reference's topics (:func:`topics`: asserted claims and answer options
    weighed) that the reasoning addresses too (1.0 if none): it asserts something about the
    same finding, or weighs it as an option (same key, compatible side, zone and change),
    whatever it concludes; whether the conclusion is right is factuality's part."""
    ref = topics(reference)
    if not ref:
        return 1.0
    cand = _topic_index(reasoning)
    return sum(any(cand.covers(e) for e in c) for c in ref) / len(ref)


@lru_cache(maxsize=50_000)
def _topic_index(text: str) -> EntityIndex:
    return EntityIndex(e for c in topics(text) for e in c)


@lru_cache(maxsize=50_000)
def _discussed(text: str) -> EntityIndex:
    """Index of every mention of ``text``, asserted or not (what the text talks about)."""
    from cxreason.labeling.extract import extract_annotated

    mentions = ((entity_from_mention(m),) for m in extract_annotated(text or ""))
    return EntityIndex(e for c in inherit_sides(mentions) for e in c)


@lru_cache(maxsize=200_000)
def _norm_step(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.casefold()).split())


@lru_cache(maxsize=20_000)
def _steps_index(reference_steps: tuple[str, ...]) -> EntityIndex:
    """One index over the entities of all reference steps, read as one text (a side one step
    states holds for the finding's unsided mentions in the others: :func:`inherit_sides`)."""
    ref_claims = (c for r in reference_steps for c in claims(r))
    return EntityIndex(e for c in inherit_sides(ref_claims) for e in c)


@lru_cache(maxsize=100_000)
def step_scores(
    steps: tuple[str, ...], reference_steps: tuple[str, ...]
) -> tuple[float | None, ...]:
    """Per step: the share of its claims that match an entity of the reference steps (1.0 for a
    step identical to a reference step after normalisation); None for a step that asserts
    nothing (left to similarity matching). Cached per pair."""
    if not reference_steps:
        return (0.0,) * len(steps)
    same_text = {_norm_step(r) for r in reference_steps}
    index = _steps_index(reference_steps)
    discussed = _discussed("\n".join(reference_steps))
    out: list[float | None] = []
    for s in steps:
        cs = claims(s)
        if _norm_step(s) in same_text:
            out.append(1.0)
        elif not cs:
            out.append(None)
        else:
            out.append(sum(claim_supported(c, index, discussed) for c in cs) / len(cs))
    return tuple(out)


def claim_supported(claim: Claim, reference: EntityIndex, discussed: EntityIndex) -> bool:
    """A reasoning claim the reference supports: it states one of the claim's entities, or
    rules the finding out (see :meth:`EntityIndex.supports`)."""
    return any(reference.supports(e, discussed) for e in claim)


def effectiveness(
    steps: list[str],
    reference_steps: list[str],
    embedder=None,
    threshold: float = SIM_THRESHOLD,
) -> float:
    """Mean over ``steps`` of the share of each step's claims that the reference supports
    (0.0 without steps or references).

    A step with claims is scored by entity (or identical text) only; a step without claims
    ("I will review the lungs", a generic or hypothetical sentence) is worth 1 when identical to
    a reference step or, with an ``embedder``, when the cosine similarity of the step or one of
    its sentences to some reference step or one of its sentences (:func:`similarity_units`) is
    >= ``threshold``; else 0. ``embedder=None``: no similarity. ``steps``: the reasoning's own
    steps (:func:`reasoning_steps`).
    """
    steps = [s for s in steps if s.strip()]
    reference_steps = [r for r in reference_steps if r.strip()]
    if not steps or not reference_steps:
        return 0.0
    scores = list(step_scores(tuple(steps), tuple(reference_steps)))
    todo = [i for i, v in enumerate(scores) if v is None]
    if embedder is not None and todo:
        own = [similarity_units([steps[i]]) for i in todo]  # each step and its sentences
        flat = [u for us in own for u in us]
        hits = (embedder.similarity(flat, similarity_units(reference_steps)) >= threshold).any(1)
        at = 0
        for i, us in zip(todo, own, strict=True):
            scores[i] = float(hits[at : at + len(us)].any())
            at += len(us)
    return float(np.mean([0.0 if v is None else v for v in scores]))


def similarity_units(reference_steps: Sequence[str]) -> list[str]:
    """The reference steps and their sentences: what a claim-less step is compared with. The
    threshold was calibrated on sentence pairs (``benchmarks/calibrate_threshold.py``), and a
    reference step is often a paragraph of 2-3 sentences, against which a step that restates one
    of them scores lower than against that sentence."""
    units = dict.fromkeys(r for r in reference_steps if r.strip())
    for r in reference_steps:
        units.update(dict.fromkeys(split_steps(r)))
    return list(units)


def semantic_candidates(steps: Sequence[str], reference_steps: Sequence[str]) -> list[int]:
    """Indices of the steps left to similarity matching (they assert nothing and are not
    identical to a reference step)."""
    scores = step_scores(tuple(steps), tuple(reference_steps))
    return [i for i, v in enumerate(scores) if v is None]


def extract_think(output: str | None) -> str | None:
    """Content of the LAST non-empty ``<think>...</think>`` block (stripped), else None."""
    from cxreason.metrics.tags import last_block

    return last_block(output, "think")


#: A line that starts a step of a structured output: a numbered or lettered item ("1.", "2)",
#: "A)", "b."), a markdown heading or a bold lead ("**Option A:**"). Bullets ("-", "*") stay
#: inside the item they follow. Leading blanks are bounded so the scan stays linear.
_ITEM_START = re.compile(r"^[ \t]{0,3}(?:\d{1,2}[.)]|[A-Ea-e][.)]|#{1,6}[ \t]|\*\*)", re.M)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
#: A heading line: a one-line block ending with ":" (bold or not) or a markdown heading.
_HEADING_LINE = re.compile(r"(?:[:：]\W{0,4}|^#{1,6}[ \t].*)$")


def reasoning_steps(text: str) -> list[str]:
    """The steps of a reasoning text, as the text itself lays them out: its paragraphs and its
    numbered, lettered or headed items (with the bullets under them), a one-line heading
    ("A) Focal density in right clavicle:", "### Findings") joined to the step it heads. A text
    that is one paragraph (most model outputs) is split into its sentences.

    Why not always sentences: the paper's judge lets the LLM split the output into steps, and a
    zero-shot answer that weighs each option in a numbered item ("2. **Enlarged heart:** -
    Cardiomegaly appears as ... - The silhouette is enlarged.") makes one step per option; read
    sentence by sentence, its textbook sentences ("appears as ...") would count as steps of
    their own (docs/metrics.md, agreement with the judge)."""
    return list(_reasoning_steps(text or ""))


@lru_cache(maxsize=100_000)
def _reasoning_steps(text: str) -> tuple[str, ...]:
    blocks: list[str] = []
    for para in _PARAGRAPH_BREAK.split(text):
        cuts = sorted({0, len(para), *(m.start() for m in _ITEM_START.finditer(para))})
        blocks += [para[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False)]
    steps: list[str] = []
    heading = ""
    for b in (b for b in blocks if b):
        if "\n" not in b and len(b) < 200 and _HEADING_LINE.search(b):
            heading += b + "\n"
            continue
        steps.append(heading + b)
        heading = ""
    if heading:
        steps.append(heading.strip())
    if len(steps) <= 1:
        return _split_steps(text)
    return tuple(steps)


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
    eff = effectiveness(reasoning_steps(think), list(ref_steps), embedder, threshold)
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
