"""Question generators for the five task types (SPEC "Benchmark rules").

Two passes per task:

1. *Selection* (``select_*``): which (study, truth) pairs become items, balanced per label
   (binary: yes == no per label and split; single/temporal: per-label or per-class caps) so
   the most frequent label has at most ``max_ratio`` x the items of the least frequent one
   among labels with at least ``min_label_items`` candidates. Only confident labels define an
   answer: an uncertain label never gives a binary item, never is a distractor, never is part
   of a multiple-choice option, and a study with any uncertain label gives no anomaly item.
2. *Options* (``finalize_closed``): correct letters follow a balanced per-split schedule
   (exactly uniform up to the remainder); distractors are sampled symmetrically (multiple
   choice: all four options, truth included, are one-label swaps of a hidden centre set) and,
   among ``n_candidates`` samples, the one that keeps every blind rule's running hit count
   closest to chance is kept (adversarial filtering against :mod:`cxreason.bench.rules`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cxreason import prompts
from cxreason.bench.rules import RULES, RuleContext, label_pairs, option_labels, rule_hits
from cxreason.records import BenchItem, Mention, Study, bench_report, report_text
from cxreason.vocab import (
    ABSENT,
    CHEXPERT_LABELS,
    FINDING_LABELS,
    NO_FINDING,
    PRESENT,
    UNCERTAIN,
    canonical_order,
)

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGH"
YES, NO = "Yes", "No"


@dataclass
class StudyInfo:
    """A study with its labels (from the labeler) and its split."""

    study: Study
    labels: dict[str, str]
    mentions: list[Mention]
    split: str

    @property
    def sid(self) -> str:
        return self.study.study_id

    @property
    def text(self) -> str:
        return report_text(self.study.findings, self.study.impression)

    @property
    def report(self) -> str:
        return bench_report(self.study.findings, self.study.impression)

    def status(self, label: str) -> str | None:
        return self.labels.get(label)

    def present_findings(self) -> list[str]:
        return canonical_order(lb for lb in FINDING_LABELS if self.labels.get(lb) == PRESENT)

    def normal(self) -> bool:
        return self.labels.get(NO_FINDING) == PRESENT

    def has_uncertain(self) -> bool:
        return any(v == UNCERTAIN for v in self.labels.values())

    def certainly_not_present(self, label: str) -> bool:
        """Absent, or unmentioned (a finding not mentioned by the report is normal)."""
        return self.labels.get(label) in (None, ABSENT)

    def image_paths(self) -> list[str]:
        imgs = sorted(self.study.images, key=lambda i: (i.view != "frontal", i.path))
        return [i.path for i in imgs]


@dataclass
class Draft:
    """An item before its options are drawn."""

    id: str
    info: StudyInfo
    task: str
    question: str
    truth: str  # the correct option's text (anomaly: the answer string)
    answer_labels: list[str]
    images: list[str]
    #: (rng, letter, n) -> candidate option dicts with ``truth`` at ``letter``.
    candidates: Callable[[random.Random, str, int], list[dict[str, str]]] | None = None
    n_options: int = 0
    plan: list[str] = field(default_factory=list)  # labels a reasoning chain must examine

    @property
    def split(self) -> str:
        return self.info.split


#: Hedges that make a "present" mention too weak to define an answer (see confident_labels).
HEDGE = re.compile(
    r"\b(?:may|might|could|possibl\w*|probabl\w*|question(?:able)? of|questionable|suggest\w*|"
    r"consider\w*|cannot be (?:excluded|ruled out)|not (?:be )?excluded|versus|vs|suspect\w*|"
    r"concern\w*|equivocal|differential|or|if|would|ct|sensitiv\w*|history of|rule out|"
    r"evaluat\w* for|assess\w* for)\b",
    re.IGNORECASE,
)


def confident_labels(
    labels: dict[str, str], mentions: Sequence[Mention], text: str
) -> dict[str, str]:
    """The labeler's labels, with a ``present`` label downgraded to ``uncertain`` when

    - every present mention of it sits in a hedged sentence ("may represent", "X or Y",
      "cannot be excluded") or a hypothetical/external one ("if", "on CT", "history of"), or
    - the report contradicts itself: some present mention is also negated in the very same
      words ("focal airspace consolidation" ... "No focal airspace consolidation"); a change
      of side or size ("small right effusion", "no left effusion") is not a contradiction.

    Benchmark answers rest only on confident labels."""
    from cxreason.labeling import split_sentences

    spans = split_sentences(text)
    out = dict(labels)
    for lb, st in labels.items():
        if st != PRESENT or lb == NO_FINDING:
            continue
        present = [m for m in mentions if m.label == lb and m.status == PRESENT]
        sentences = [text[a:b] for m in present for a, b in spans if a <= m.start < b]
        if sentences and all(HEDGE.search(s) for s in sentences):
            out[lb] = UNCERTAIN
            continue
        negated = {_words(m.text) for m in mentions if m.label == lb and m.status == ABSENT}
        if any(_words(m.text) in negated for m in present):
            out[lb] = UNCERTAIN
    return out


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def item_id(dataset: str, study_id: str, task: str, slot: str = "") -> str:
    """Opaque stable item id: 16 hex digits of sha256(dataset, study, task, question slot).

    The slot names what the *question* asks (binary/temporal: the finding named in it), never
    the answer; single, multiple and anomaly items have one question per study and no slot.
    So the id is the same for every seed and nothing in it depends on the answer.
    """
    key = "\x1f".join((dataset or "", study_id, task, slot))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _by_split(drafts: Sequence[Draft]) -> dict[str, list[Draft]]:
    out: dict[str, list[Draft]] = defaultdict(list)
    for d in drafts:
        out[d.split].append(d)
    return out


# ---------------------------------------------------------------------------------------------
# balancing
@dataclass
class BalanceReport:
    """What the per-label balancing did for one task (goes into the manifest)."""

    available: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    cap: int | None = None
    too_rare: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: candidate items not used, by reason
    dropped: Counter = field(default_factory=Counter)

    def ratio(self, labels: Sequence[str] | None = None) -> float | None:
        vals = [v for k, v in self.kept.items() if v > 0 and (labels is None or k in labels)]
        return round(max(vals) / min(vals), 3) if vals else None


def label_cap(
    available: dict[str, int], max_ratio: float, min_label_items: int
) -> tuple[int | None, list[str]]:
    """Per-label item cap = max_ratio x the smallest count among labels with enough items."""
    rare = sorted(k for k, v in available.items() if 0 < v < min_label_items)
    enough = [v for v in available.values() if v >= min_label_items]
    if not enough:
        return None, rare
    return int(max_ratio * min(enough)), rare


def _finish_report(
    task: str, rep: BalanceReport, max_ratio: float, min_label_items: int
) -> BalanceReport:
    balanced = [k for k, v in rep.kept.items() if v >= min_label_items]
    r = rep.ratio(balanced)
    if rep.too_rare:
        rep.notes.append(
            f"{task}: labels with fewer than {min_label_items} candidate items kept whole, "
            f"outside the {max_ratio:g}x balance: {', '.join(rep.too_rare)}"
        )
    missing = [lb for lb, v in rep.available.items() if v == 0]
    if missing:
        rep.notes.append(f"{task}: no usable items for: {', '.join(missing)}")
    if r is not None and r > max_ratio + 1e-9:
        rep.notes.append(
            f"{task}: max/min per-label ratio {r} exceeds {max_ratio:g} (data too sparse)"
        )
    return rep


# ---------------------------------------------------------------------------------------------
# binary
def select_binary(
    infos: Sequence[StudyInfo], seed: int, max_ratio: float = 2.0, min_label_items: int = 20
) -> tuple[list[Draft], BalanceReport]:
    """Balanced yes/no items per label and split, with hard negatives.

    "Yes": the label is (confidently) present. "No": the label is explicitly absent, or, by the
    paper's rule, unmentioned (a finding the report does not mention is normal), in a normal or
    an abnormal report; never uncertain. Per label and split, "No" studies are drawn from each
    normality stratum (:func:`normality_stratum`) exactly as often as the "Yes" studies come
    from it, so knowing whether a study is abnormal says nothing about the answer. Within a
    stratum, explicit negations are used before unmentioned findings (the more confident "No").
    """
    pairs: dict[str, dict[str, dict[str, tuple[list[StudyInfo], list[StudyInfo]]]]] = {}
    for lb in FINDING_LABELS:
        per_split: dict[str, dict[str, tuple[list[StudyInfo], list[StudyInfo]]]] = defaultdict(
            lambda: defaultdict(lambda: ([], []))
        )
        for info in infos:
            st = info.status(lb)
            cell = per_split[info.split][normality_stratum(info)]
            if st == PRESENT:
                cell[0].append(info)
            elif st in (ABSENT, None):
                cell[1].append(info)
        for split, strata in per_split.items():
            for stratum, (yes, no) in strata.items():
                rng = _rng(seed, "binary", lb, split, stratum)
                rng.shuffle(yes)
                rng.shuffle(no)
                no.sort(key=lambda i, _lb=lb: i.status(_lb) != ABSENT)  # stable: keeps shuffle
        pairs[lb] = per_split
    avail = {
        lb: sum(2 * min(len(y), len(n)) for st in pairs[lb].values() for y, n in st.values())
        for lb in FINDING_LABELS
    }
    cap, rare = label_cap(avail, max_ratio, min_label_items)
    rep = BalanceReport(available=avail, cap=cap, too_rare=rare)
    drafts: list[Draft] = []
    for lb in FINDING_LABELS:
        scale = 1.0 if cap is None or avail[lb] <= cap else cap / avail[lb]
        kept = 0
        for split in sorted(pairs[lb]):
            for stratum in sorted(pairs[lb][split]):
                yes, no = pairs[lb][split][stratum]
                n = int(min(len(yes), len(no)) * scale)
                if len(yes) > len(no):
                    rep.dropped["yes without a matched hard negative"] += len(yes) - len(no)
                rep.dropped["over the per-label cap"] += 2 * (min(len(yes), len(no)) - n)
                for info, truth in [(i, YES) for i in yes[:n]] + [(i, NO) for i in no[:n]]:
                    drafts.append(_binary_draft(info, lb, truth))
                kept += 2 * n
        rep.kept[lb] = kept
    return drafts, _finish_report("binary", rep, max_ratio, min_label_items)


def normality_stratum(info: StudyInfo) -> str:
    """What a normality oracle knows of a study: ``normal`` (No Finding present) or
    ``abnormal`` (anything else, extended findings and uncertain ones included)."""
    return "normal" if info.normal() else "abnormal"


def _binary_draft(info: StudyInfo, label: str, truth: str) -> Draft:
    opts = {"A": YES, "B": NO}
    return Draft(
        id=item_id(info.study.dataset, info.sid, "binary", label),
        info=info,
        task="binary",
        question=prompts.BINARY_TEMPLATE.format(finding=label.lower()),
        truth=truth,
        answer_labels=[label] if truth == YES else [],
        images=info.image_paths(),
        candidates=lambda rng, letter, n: [dict(opts)],
        n_options=2,
        plan=[label],
    )


# ---------------------------------------------------------------------------------------------
# single choice
def _weighted_sample(
    rng: random.Random, pool: Sequence[str], weights: dict[str, float], k: int, floor: float = 1.0
) -> list[str]:
    """``k`` distinct draws from ``pool``, each with weight ``weights[x] + floor``."""
    pool = list(pool)
    out: list[str] = []
    for _ in range(k):
        w = [weights.get(x, 0.0) + floor for x in pool]
        pick = rng.choices(range(len(pool)), weights=w)[0]
        out.append(pool.pop(pick))
    return out


def _arrange(
    rng: random.Random, truth: str, others: Sequence[str], letter: str, n_options: int
) -> dict[str, str]:
    letters = LETTERS[:n_options]
    rest = list(others)
    rng.shuffle(rest)
    out = {}
    for ltr in letters:
        out[ltr] = truth if ltr == letter else rest.pop()
    return out


#: No answer may be the truth of more than this share of a 4-option task's items: a blind
#: "most frequent answer" rule wins every item whose truth is the most frequent answer.
MAX_ANSWER_SHARE = 0.2
#: The same for identical multiple-choice answer sets (rule ``most_frequent_text``).
MAX_SET_SHARE = 0.15


def share_caps(counts: dict[str, int], max_share: float) -> dict[str, int]:
    """Reduced counts for the answers whose share of the total exceeds ``max_share``.

    Iterates (capping one answer lowers the total); returns only the answers that change.
    With too few distinct answers to meet the share at all, nothing is capped (the audit then
    reports the leak).
    """
    if sum(1 for v in counts.values() if v > 0) * max_share <= 1.0:
        return {}
    cur = dict(counts)
    for _ in range(len(cur) + 1):
        total = sum(cur.values())
        over = {k: v for k, v in cur.items() if total and v > max_share * total}
        if not over:
            break
        top = max(over, key=lambda k: (over[k], k))
        others = total - cur[top]
        cur[top] = max(1, int(max_share * others / (1 - max_share)))
    return {k: v for k, v in cur.items() if v != counts[k]}


def select_single(
    infos: Sequence[StudyInfo], seed: int, max_ratio: float = 2.0, min_label_items: int = 20
) -> tuple[list[Draft], BalanceReport]:
    """One item per abnormal study: one present finding + 3 certainly-not-present findings.

    Normal studies give no single-choice item and ``No Finding`` is never an option: it is the
    answer exactly when the study is normal, so an oracle that knows only normality would pick
    it (or rule it out) without looking at the named findings. A study with several present
    findings asks about one of them, chosen to keep the per-label counts balanced (the label
    with the fewest items so far; ties broken by a seeded draw).
    """
    cands: list[tuple[StudyInfo, list[str], list[str]]] = []
    too_few = 0
    for info in infos:
        truths = info.present_findings()
        if not truths or info.normal():
            continue
        pool = [x for x in FINDING_LABELS if info.certainly_not_present(x)]
        if len(pool) >= 3:
            cands.append((info, truths, pool))
        else:
            too_few += 1
    cands.sort(key=lambda c: c[0].sid)
    _rng(seed, "single").shuffle(cands)
    avail: Counter = Counter(lb for _, truths, _ in cands for lb in truths)
    # the cap follows what each label can really get once every study serves one label
    reach = {lb: len(v) for lb, v in _fill_labels(cands, None).items()}
    _, rare = label_cap({lb: avail[lb] for lb in FINDING_LABELS}, max_ratio, min_label_items)
    enough = [reach[lb] for lb in FINDING_LABELS if avail[lb] >= min_label_items and reach[lb]]
    cap = int(max_ratio * min(enough)) if enough else None
    rep = BalanceReport(available={lb: avail[lb] for lb in FINDING_LABELS}, cap=cap, too_rare=rare)
    chosen = _fill_labels(cands, cap)
    rep.dropped["over the per-label cap"] += len(cands) - sum(len(v) for v in chosen.values())
    for lb, n in share_caps({k: len(v) for k, v in chosen.items()}, MAX_ANSWER_SHARE).items():
        rep.dropped["over the per-answer share cap"] += len(chosen[lb]) - n
        chosen[lb] = chosen[lb][:n]
    # a label that is never the answer would be a free elimination as a distractor
    answers = {lb for lb, picked in chosen.items() if picked}
    drafts = []
    for lb, picked in chosen.items():
        kept = 0
        for info, pool in picked:
            pool = [x for x in pool if x in answers]
            if len(pool) < 3:
                rep.dropped["fewer than 3 distractors among the task's answers"] += 1
                continue
            drafts.append(_single_draft(info, lb, pool))
            kept += 1
        rep.kept[lb] = kept
    if too_few:
        rep.dropped["fewer than 3 certainly-absent labels for distractors"] = too_few
    return drafts, _finish_report("single", rep, max_ratio, min_label_items)


def _fill_labels(
    cands: Sequence[tuple[StudyInfo, list[str], list[str]]], cap: int | None
) -> dict[str, list[tuple[StudyInfo, list[str]]]]:
    """Give each study (in ``cands`` order, already shuffled) to one of its present labels,
    water-filling: the label with the fewest studies so far takes next the study with the
    fewest alternatives, until no label under ``cap`` has a study left. This maximises the
    smallest per-label count, so a multi-finding study serves the label that needs it most."""
    by_label: dict[str, list[int]] = {lb: [] for lb in FINDING_LABELS}
    for i, (_, truths, _) in enumerate(cands):
        for lb in truths:
            by_label[lb].append(i)
    for lb in by_label:  # fewest alternatives first, then the shuffled order
        by_label[lb].sort(key=lambda i: (len(cands[i][1]), i))
    used: set[int] = set()
    chosen: dict[str, list[tuple[StudyInfo, list[str]]]] = {lb: [] for lb in FINDING_LABELS}
    pos = dict.fromkeys(FINDING_LABELS, 0)
    while True:
        open_ = []
        for lb in FINDING_LABELS:
            q = by_label[lb]
            while pos[lb] < len(q) and q[pos[lb]] in used:
                pos[lb] += 1
            if pos[lb] < len(q) and (cap is None or len(chosen[lb]) < cap):
                open_.append(lb)
        if not open_:
            return chosen
        lb = min(open_, key=lambda x: (len(chosen[x]), FINDING_LABELS.index(x)))
        i = by_label[lb][pos[lb]]
        used.add(i)
        chosen[lb].append((cands[i][0], cands[i][2]))


def _single_draft(info: StudyInfo, label: str, pool: list[str]) -> Draft:
    d = Draft(
        id=item_id(info.study.dataset, info.sid, "single"),
        info=info,
        task="single",
        question=prompts.SINGLE_QUESTION,
        truth=label,
        answer_labels=[label],
        images=info.image_paths(),
        n_options=4,
    )
    pool = canonical_order(pool)

    def cands(
        rng: random.Random, letter: str, n: int, weights: dict[str, float] | None = None
    ) -> list[dict[str, str]]:
        weights = weights or {}
        floor = 0.01 if QUOTA_FLOOR_KEY in weights else 1.0  # quotas: follow them closely
        return [
            _arrange(rng, label, _weighted_sample(rng, pool, weights, 3, floor), letter, 4)
            for _ in range(n)
        ]

    d.candidates = cands
    return d


# ---------------------------------------------------------------------------------------------
# multiple choice
def select_multiple(
    infos: Sequence[StudyInfo], seed: int, min_labels: int = 2
) -> tuple[list[Draft], BalanceReport]:
    """Studies with >= ``min_labels`` present findings; options are same-size label sets."""
    drafts = []
    avail: Counter = Counter()
    for info in infos:
        truth = info.present_findings()
        if len(truth) < min_labels:
            continue
        allowed = [lb for lb in FINDING_LABELS if info.status(lb) != UNCERTAIN]
        if len(allowed) - len(truth) < 2:
            continue
        avail.update(truth)
        drafts.append(_multiple_draft(info, truth, allowed))
    by_set: dict[str, list[Draft]] = defaultdict(list)
    for d in drafts:
        by_set[d.truth].append(d)
    dropped = 0
    for text, n in share_caps({k: len(v) for k, v in by_set.items()}, MAX_SET_SHARE).items():
        group = by_set[text]
        _rng(seed, "multiple", text).shuffle(group)
        dropped += len(group) - n
        by_set[text] = group[:n]
    drafts = sorted((d for g in by_set.values() for d in g), key=lambda d: d.id)
    kept: Counter = Counter(lb for d in drafts for lb in d.answer_labels)
    rep = BalanceReport(available=dict(avail), kept=dict(kept))
    if dropped:
        rep.dropped["over the per-answer share cap"] = dropped
    rep.notes.append(
        "multiple: items follow the data's label co-occurrence (sets cannot be balanced per label); "
        f"max/min per-label ratio {rep.ratio()}"
    )
    return drafts, rep


def _multiple_draft(info: StudyInfo, truth: list[str], allowed: list[str]) -> Draft:
    text = ", ".join(truth)
    d = Draft(
        id=item_id(info.study.dataset, info.sid, "multiple"),
        info=info,
        task="multiple",
        question=prompts.MULTIPLE_QUESTION,
        truth=text,
        answer_labels=list(truth),
        images=info.image_paths(),
        n_options=4,
    )

    present = set(truth)
    allowed_set = set(allowed)

    def realistic_ok(labels: Sequence[str]) -> bool:
        return set(labels) <= allowed_set and bool(set(labels) - present)

    def cands(
        rng: random.Random,
        letter: str,
        n: int,
        weights: dict[str, float] | None = None,
        answer_sets: Sequence[tuple[str, ...]] = (),
    ) -> list[dict[str, str]]:
        """Distractors are other studies' answer sets of the same size (valid here), drawn as
        often as each set is a truth, so that every option looks like a real answer (a reader
        with clinical priors cannot rule one out). Where fewer than three distinct such sets
        exist, candidates mix them into symmetric centre swaps (:func:`centre_swap_options`)."""
        real = [a for a in answer_sets if len(a) == len(truth) and realistic_ok(a)]
        distinct = {a for a in real if ", ".join(a) != text}
        out = []
        for i in range(n):
            if len(distinct) >= 3:
                texts = _distinct_draws(rng, [", ".join(a) for a in real], text, 3)
                if texts is not None:
                    out.append(_arrange(rng, text, texts, letter, 4))
                    continue
            sets = centre_swap_options(rng, truth, allowed, weights or {})
            if sets is None:
                continue
            texts = [", ".join(x) for x in sets]
            p_real = (i % 4) / 3  # 0, 1/3, 2/3, 1: from symmetric swaps to realistic sets
            if real and p_real > 0:
                for j in range(len(texts)):
                    if rng.random() < p_real:
                        pick = ", ".join(rng.choice(real))
                        if pick != text and pick not in texts:
                            texts[j] = pick
            out.append(_arrange(rng, text, texts, letter, 4))
        return out

    d.candidates = cands
    return d


def _distinct_draws(
    rng: random.Random, pool: Sequence[str], exclude: str, k: int, tries: int = 200
) -> list[str] | None:
    """``k`` distinct draws from ``pool`` (with its multiplicity), none equal to ``exclude``."""
    out: list[str] = []
    for _ in range(tries):
        x = rng.choice(pool)
        if x != exclude and x not in out:
            out.append(x)
            if len(out) == k:
                return out
    return None


def centre_swap_options(
    rng: random.Random,
    truth: Sequence[str],
    allowed: Sequence[str],
    weights: dict[str, float],
    n: int = 3,
) -> list[list[str]] | None:
    """``n`` distractor sets, each a one-label swap of a hidden centre C, where C is itself a
    one-label swap of ``truth``. All options (truth included) are then equally "central", so the
    most-overlap rule cannot find the truth. Every distractor contains a label outside ``truth``
    and only ``allowed`` (never uncertain) labels; sets are canonical-ordered and distinct.
    """
    t_set = set(truth)

    def add_w(lb: str) -> float:  # frequent labels are added more often
        return weights.get(lb, 0.0) + 1.0

    def rem_w(lb: str) -> float:  # ... and removed less often, so options keep them as truths do
        return 1.0 / (weights.get(lb, 0.0) + 1.0)

    # C -> T must look like one draw of the kernel: T's "added" label t ~ add_w, "removed" c ~ rem_w
    removed = _draw(rng, sorted(t_set), add_w)
    added = _draw(rng, [lb for lb in allowed if lb not in t_set], rem_w)
    centre = (t_set - {removed}) | {added}
    seen = {frozenset(t_set)}
    out: list[list[str]] = []
    for _ in range(50):
        x = _draw(rng, sorted(centre), rem_w)
        y = _draw(rng, [lb for lb in allowed if lb not in centre], add_w)
        cand = frozenset((centre - {x}) | {y})
        if cand in seen:
            continue
        seen.add(cand)
        out.append(canonical_order(cand))
        if len(out) == n:
            return out
    return None


def _draw(rng: random.Random, pool: Sequence[str], weight: Callable[[str], float]) -> str:
    return pool[rng.choices(range(len(pool)), weights=[weight(x) for x in pool])[0]]


# ---------------------------------------------------------------------------------------------
# anomaly detection
def select_anomaly(
    infos: Sequence[StudyInfo], seed: int, normal_ratio: float = 1.0
) -> tuple[list[Draft], BalanceReport]:
    """Answer = the present labels in canonical order, or ``No Finding``.

    Skipped: studies with an uncertain label, and abnormal studies whose abnormalities are all
    outside CheXpert-14 (no present label, yet not normal). Normal studies are capped at
    ``normal_ratio`` x the abnormal ones.
    """
    normal, abnormal = [], []
    skipped = Counter()
    for info in infos:
        if info.has_uncertain():
            skipped["uncertain label"] += 1
        elif info.normal():
            normal.append(info)
        elif info.present_findings():
            abnormal.append(info)
        else:
            skipped["abnormal outside CheXpert-14 or unlabeled"] += 1
    rng = _rng(seed, "anomaly")
    rng.shuffle(normal)
    cap = int(normal_ratio * len(abnormal)) if abnormal else len(normal)
    kept_normal = normal[:cap]
    counts: Counter = Counter()
    drafts = []
    for info in abnormal + kept_normal:
        labels = info.present_findings() or [NO_FINDING]
        counts.update(labels)
        drafts.append(
            Draft(
                id=item_id(info.study.dataset, info.sid, "anomaly"),
                info=info,
                task="anomaly",
                question=prompts.ANOMALY_QUESTION,
                truth=", ".join(labels),
                answer_labels=labels,
                images=info.image_paths(),
            )
        )
    rep = BalanceReport(available=dict(counts), kept=dict(counts), dropped=Counter(skipped))
    if len(normal) > len(kept_normal):
        rep.dropped["normal study over the normal:abnormal cap"] = len(normal) - len(kept_normal)
    rep.notes.append(
        f"anomaly: {len(normal) - len(kept_normal)} normal studies left out (cap {normal_ratio:g} x "
        f"{len(abnormal)} abnormal); skipped: {dict(skipped)}; per-label counts follow the data"
    )
    return drafts, rep


# ---------------------------------------------------------------------------------------------
# temporal comparison
def select_temporal(infos: Sequence[StudyInfo], seed: int) -> tuple[list[Draft], BalanceReport]:
    """Studies with a prior study in the input and a ``progression`` label; per label and split
    the three classes (worsening/stable/improving) are balanced to the smallest one."""
    by_id = {i.sid: i for i in infos}
    groups: dict[tuple[str, str], dict[str, list[tuple[StudyInfo, StudyInfo]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    skipped: Counter = Counter()
    for info in infos:
        prog = info.study.progression or {}
        if not prog:
            continue
        prior = by_id.get(info.study.prior_study_id or "")
        if prior is None:
            skipped["prior study not in input"] += len(prog)
            continue
        for lb, cls in sorted(prog.items()):
            if lb not in CHEXPERT_LABELS or cls not in prompts.TEMPORAL_OPTIONS:
                skipped[f"unknown label or class {lb!r}: {cls!r}"] += 1
                continue
            groups[(lb, info.split)][cls].append((info, prior))
    drafts, counts, notes = [], Counter(), []
    for (lb, split), by_cls in sorted(groups.items()):
        n = min(len(by_cls.get(c, [])) for c in prompts.TEMPORAL_OPTIONS)
        if n == 0:
            notes.append(
                f"temporal: {lb} in {split} lacks a class ({dict((c, len(v)) for c, v in by_cls.items())}); dropped"
            )
        for cls in prompts.TEMPORAL_OPTIONS:
            pairs = sorted(by_cls.get(cls, []), key=lambda p: p[0].sid)
            _rng(seed, "temporal", lb, split, cls).shuffle(pairs)
            for info, prior in pairs[:n]:
                counts[lb] += 1
                drafts.append(_temporal_draft(info, prior, lb, cls))
    rep = BalanceReport(
        available=dict(counts), kept=dict(counts), notes=notes, dropped=Counter(skipped)
    )
    n_all = sum(len(v) for g in groups.values() for v in g.values())
    if n_all > sum(counts.values()):
        rep.dropped["class surplus beyond balance per label and split"] = n_all - sum(
            counts.values()
        )
    if skipped:
        rep.notes.append(f"temporal: skipped {dict(skipped)}")
    return drafts, rep


def _temporal_draft(info: StudyInfo, prior: StudyInfo, label: str, cls: str) -> Draft:
    d = Draft(
        id=item_id(info.study.dataset, info.sid, "temporal", label),
        info=info,
        task="temporal",
        question=prompts.TEMPORAL_TEMPLATE.format(finding=label.lower()),
        truth=cls,
        answer_labels=[label] if cls != "improving" or info.status(label) == PRESENT else [],
        images=prior.image_paths()[:1] + info.image_paths()[:1],
        n_options=3,
        plan=[label],
    )
    others = [c for c in prompts.TEMPORAL_OPTIONS if c != cls]
    d.candidates = lambda rng, letter, n: [_arrange(rng, cls, others, letter, 3) for _ in range(n)]
    return d


# ---------------------------------------------------------------------------------------------
# options, letters and adversarial filtering
def balanced_letters(
    n: int, n_options: int, rng: random.Random, used: Counter | None = None
) -> list[str]:
    """``n`` letters, each used floor/ceil(n / n_options) times, in shuffled blocks.

    The remainder (n mod n_options) takes the letters least used so far in ``used`` (the other
    splits of the task), so the task as a whole is balanced too; ``used`` is updated.
    """
    letters = list(LETTERS[:n_options])
    out: list[str] = []
    for _ in range(n // n_options):
        block = letters[:]
        rng.shuffle(block)
        out.extend(block)
    rest = n - len(out)
    if rest:
        used_so_far = used if used is not None else Counter()
        order = sorted(letters, key=lambda x: (used_so_far[x], rng.random()))
        tail = order[:rest]
        rng.shuffle(tail)
        out.extend(tail)
    if used is not None:
        used.update(out)
    return out


def truth_tokens(d: Draft) -> tuple[str, ...]:
    return option_labels(d.task, d.question, d.truth)


def draft_prevalence(drafts: Sequence[Draft]) -> Counter:
    """``answer_labels`` counts over the drafts of every task (as rules.label_prevalence)."""
    c: Counter = Counter()
    for d in drafts:
        c.update(d.answer_labels)
    return c


#: Candidate option sets per task, spread over its items (see finalize_closed).
SMALL_TASK_CANDIDATES = 4800


def finalize_closed(
    drafts: Sequence[Draft], seed: int, n_candidates: int = 24, prevalence: Counter | None = None
) -> list[BenchItem]:
    """Draw options for the closed drafts of ONE task (see the module docstring).

    A small task gets more candidates per item (up to 4x): one item is a larger step of every
    rule's accuracy there, so keeping all of them within chance + 0.03 needs a wider choice.
    """
    if not drafts:
        return []
    task = drafts[0].task
    n_candidates = min(
        4 * n_candidates, max(n_candidates, -(-SMALL_TASK_CANDIDATES // len(drafts)))
    )
    train = [d for d in drafts if d.split == "train"] or list(drafts)
    freq: Counter = Counter()
    for d in train:
        freq.update(truth_tokens(d))
    freq_all: Counter = Counter()
    for d in drafts:
        freq_all.update(truth_tokens(d))
    texts = Counter(f"{d.question}|{d.truth}" for d in train)
    prev = prevalence if prevalence is not None else draft_prevalence(drafts)
    pairs: Counter = Counter()
    for d in train:
        pairs.update(label_pairs(truth_tokens(d)) if d.task in ("single", "multiple") else [])
    ctx = RuleContext(freq, freq_all, prev, texts, pairs)
    weights = {k.split("|")[-1]: float(v) for k, v in freq.items()}
    # with multiplicity: realistic distractors are drawn as often as each set is a truth, so a
    # frequently correct set (or label pair) is as frequent among the distractors
    answer_sets = sorted(tuple(d.answer_labels) for d in train)
    items = []
    whole = _Tally()  # the task over all splits, so that per-split remainders do not add up
    letters_used: Counter = Counter()
    for split, group in sorted(_by_split(drafts).items()):
        group = sorted(group, key=lambda d: d.id)
        rng = _rng(seed, "options", task, split)
        if task == "binary":
            letters = ["A" if d.truth == YES else "B" for d in group]
        else:
            letters = balanced_letters(len(group), group[0].n_options, rng, letters_used)
        part = _Tally()
        quota = _DistractorQuota(group) if task == "single" else None
        for d, letter in zip(group, letters, strict=True):
            w = quota.weights() if quota is not None else weights
            cands = _candidates(d, rng, letter, n_candidates, w, answer_sets)
            if not cands:
                log.warning("%s: no valid option set; item dropped", d.id)
                continue
            best, best_hits = _pick(d, cands, letter, ctx, (part, whole))
            for t in (part, whole):
                t.add(best_hits, 1.0 / d.n_options)
            if quota is not None:
                quota.take(best, letter)
            items.append(_item(d, best, letter))
    return items


QUOTA_FLOOR_KEY = "\x00quota"


class _DistractorQuota:
    """Single choice: each label should be offered as a distractor (n_options - 1) times as
    often as it is the answer, within a split, so that "how often is this label right when it
    is offered" is 1 / n_options for every label (a label-identity probe then learns nothing).
    Distractors are drawn with weight = the label's remaining quota (+1, see _weighted_sample)."""

    def __init__(self, group: Sequence[Draft]):
        n = group[0].n_options - 1 if group else 3
        self.left: Counter = Counter()
        for d in group:
            self.left[d.truth] += n

    def weights(self) -> dict[str, float]:
        """Remaining quota per label; a label with none left keeps a tiny weight (a study whose
        pool holds only such labels still gets distractors)."""
        return {lb: float(max(0, v)) for lb, v in self.left.items()} | {QUOTA_FLOOR_KEY: 1.0}

    def take(self, options: dict[str, str], letter: str) -> None:
        for k, t in options.items():
            if k != letter:
                self.left[t] -= 1


@dataclass
class _Tally:
    """Running blind-rule hits and the chance expectation over the items seen so far."""

    hits: Counter = field(default_factory=Counter)
    chance: float = 0.0

    def add(self, hits: dict[str, int], chance: float) -> None:
        self.hits.update(hits)
        self.chance += chance

    def cost(self, h: dict[str, int], chance: float) -> float:
        """Exceeding chance is leakage: it weighs 10x more than falling below."""
        exp = self.chance + chance
        return sum(
            10 * max(0.0, self.hits[r] + h[r] - exp) ** 2 + (self.hits[r] + h[r] - exp) ** 2
            for r in RULES
        )


def _candidates(
    d: Draft,
    rng: random.Random,
    letter: str,
    n: int,
    weights: dict[str, float],
    answer_sets: Sequence[tuple[str, ...]] = (),
) -> list[dict[str, str]]:
    assert d.candidates is not None
    if d.task == "multiple":
        cands = d.candidates(rng, letter, n, weights, answer_sets)  # type: ignore[call-arg]
        return plausible_only(cands, {p for a in answer_sets for p in label_pairs(a)})
    if d.task == "single":
        return d.candidates(rng, letter, n, weights)  # type: ignore[call-arg]
    return d.candidates(rng, letter, n)


def plausible_only(
    cands: list[dict[str, str]], seen_pairs: set[tuple[str, str]]
) -> list[dict[str, str]]:
    """The option sets whose every option pairs only findings seen together in some correct
    answer (train split); all of them when none qualifies. A reader with clinical priors but
    no image would otherwise rule out a distractor that pairs findings never seen together."""
    if not seen_pairs:
        return cands

    def plausible(opts: dict[str, str]) -> bool:
        return all(p in seen_pairs for t in opts.values() for p in label_pairs(t.split(", ")))

    return [c for c in cands if plausible(c)] or cands


def _pick(
    d: Draft, cands, letter, ctx, tallies: Sequence[_Tally]
) -> tuple[dict[str, str], dict[str, int]]:
    best, best_hits, best_cost = None, None, None
    for opts in cands:
        h = rule_hits(d.task, d.question, opts, letter, ctx)
        cost = sum(t.cost(h, 1.0 / d.n_options) for t in tallies)
        if best_cost is None or cost < best_cost - 1e-12:
            best, best_hits, best_cost = opts, h, cost
    return best, best_hits  # type: ignore[return-value]


def _item(d: Draft, options: dict[str, str] | None, answer: str) -> BenchItem:
    return BenchItem(
        id=d.id,
        study_id=d.info.sid,
        task=d.task,
        question=d.question,
        options=options,
        answer=answer,
        answer_labels=list(d.answer_labels),
        images=list(d.images),
        report=d.info.report,
        split=d.split,
    )


def finalize_anomaly(drafts: Sequence[Draft]) -> list[BenchItem]:
    return [_item(d, None, d.truth) for d in sorted(drafts, key=lambda d: d.id)]
