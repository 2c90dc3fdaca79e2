"""Reasoning-chain mining (ChestX-Reasoner §2, Suppl. 6.3): plan -> evidence -> refinement.

- *plan*: which findings the question requires examining (:func:`item_plan`).
- *evidence*: for each, the report sentence that settles it, found through the labeler's
  mention spans, or ``not_mentioned`` (a finding not mentioned by the report is normal)
  (:func:`gather_evidence`).
- *refinement*: one coherent chain phrased as image observations, ending in the answer.

This module holds the offline ``rules`` backend (deterministic, seeded phrasing). The ``llm``
backend (:mod:`cxreason.bench.llm_miner`) shares the plan and evidence helpers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from cxreason.bench.generators import HEDGE, StudyInfo
from cxreason.labeling import split_sentences
from cxreason.records import BenchItem
from cxreason.vocab import ABSENT, FINDING_LABELS, NO_FINDING, PRESENT, UNCERTAIN, canonical_order

NOT_MENTIONED = "not_mentioned"
#: Findings every anomaly chain looks at, mentioned or not.
CORE_FINDINGS = ("Cardiomegaly", "Lung Opacity", "Pleural Effusion", "Pneumothorax")
_LOWER = {lb.lower(): lb for lb in FINDING_LABELS}
_REPORTISH = re.compile(
    r"xxxx|prior|previous|compar|unchanged|again|interval|stable|recommend|follow|clinical|"
    r"correlat|histor|report|dictat|notif|called|discuss|exam\b|study|film|view|radiograph",
    re.IGNORECASE,
)

#: Change words: a sentence using them compares two studies, so it is not an observation of
#: one image (temporal chains state the change in their own comparison step).
_COMPARATIVE = re.compile(
    r"increas|decreas|worse|improv|progress|resolv|new\b|newly|larger|smaller|enlarging|"
    r"persist|redemonstrat|no longer|developed|development|since|slight(?:ly)? (?:more|less)",
    re.IGNORECASE,
)
#: Prefixes of the per-image evidence steps of temporal chains (the filter routes a step to the
#: report of the image it describes by these).
PRIOR_PREFIX = "Reference image:"
CURRENT_PREFIX = "New image:"

_ENUM = re.compile(r"^\s*\d+\s*[.)]\s*")

# Phrase of each label inside negative lists and answers.
NAMES = {lb: lb.lower() for lb in FINDING_LABELS}
NAMES["Pleural Other"] = "pleural thickening"

PRESENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": (
        "The cardiomediastinal silhouette is widened, consistent with an enlarged cardiomediastinum.",
        "The mediastinum appears widened.",
    ),
    "Cardiomegaly": (
        "The cardiac silhouette is enlarged, consistent with cardiomegaly.",
        "The heart is enlarged.",
        "There is cardiomegaly.",
    ),
    "Lung Opacity": ("There is an opacity in the lung.", "An airspace opacity is visible."),
    "Lung Lesion": ("There is a lung lesion.", "A pulmonary nodule is visible."),
    "Edema": ("There is pulmonary edema.", "The findings indicate pulmonary edema."),
    "Consolidation": ("There is airspace consolidation.", "A focal consolidation is visible."),
    "Pneumonia": ("The findings are consistent with pneumonia.", "There is pneumonia."),
    "Atelectasis": ("There is atelectasis.", "Atelectasis is visible."),
    "Pneumothorax": ("A pneumothorax is visible.", "There is a pneumothorax."),
    "Pleural Effusion": ("There is a pleural effusion.", "A pleural effusion is visible."),
    "Pleural Other": ("There is pleural thickening.",),
    "Fracture": ("There is a fracture.",),
    "Support Devices": ("Support devices are present.", "A medical device is visible."),
}
NEGATIVE_TEMPLATES = ("There is no visible {x}.", "No {x} is seen.", "I see no {x}.")
UNCERTAIN_TEMPLATE = "A {x} is possible but not certain."
SINGLE_NEGATIVE = {
    "Cardiomegaly": (
        "The heart size is normal, without cardiomegaly.",
        "There is no cardiomegaly.",
    ),
    "Enlarged Cardiomediastinum": ("The cardiomediastinal silhouette is within normal limits.",),
    "Pleural Effusion": ("The costophrenic angles are sharp, without pleural effusion.",),
}
NORMAL_STEP = (
    "No abnormality is seen in the heart, lungs, pleura or bones.",
    "The heart, lungs, pleura and bones show no abnormality.",
)
REGIONS = {
    "Enlarged Cardiomediastinum": "the cardiac silhouette and mediastinum",
    "Cardiomegaly": "the cardiac silhouette and mediastinum",
    "Pneumothorax": "the pleural spaces",
    "Pleural Effusion": "the pleural spaces",
    "Pleural Other": "the pleural spaces",
    "Fracture": "the bones",
    "Support Devices": "any indwelling material",
}
PLAN_TEMPLATES = (
    "To answer, I examine {r}.",
    "I systematically review {r}.",
    "I assess {r} on this image.",
)
TEMPORAL_PHRASE = {
    "worsening": "has worsened",
    "stable": "is unchanged",
    "improving": "has improved",
}


@dataclass
class Evidence:
    """One planned finding: its status in the report and the sentence that settles it."""

    label: str
    status: str  # present | absent | uncertain | not_mentioned
    sentence: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def question_label(item: BenchItem) -> str | None:
    """The finding named in a binary/temporal question."""
    q = item.question.lower()
    hits = [lb for low, lb in _LOWER.items() if low in q]
    return max(hits, key=len) if hits else None


def item_plan(item: BenchItem, info: StudyInfo) -> list[str]:
    """Findings the question requires examining, in canonical order."""
    if item.task in ("binary", "temporal"):
        lb = question_label(item)
        return [lb] if lb else []
    if item.task in ("single", "multiple"):
        labels = {x.strip() for text in (item.options or {}).values() for x in text.split(",")}
        return canonical_order(lb for lb in labels if lb in FINDING_LABELS or lb == NO_FINDING)
    mentioned = {m.label for m in info.mentions if m.label in FINDING_LABELS}
    return canonical_order(
        (mentioned | set(CORE_FINDINGS)) - {lb for lb, s in info.labels.items() if s == UNCERTAIN}
    )


def gather_evidence(plan: Sequence[str], info: StudyInfo) -> list[Evidence]:
    """Each planned finding's study-level status and the sentence of a mention with that status
    (the first one usable verbatim as an observation, else the first one)."""
    text = info.text
    spans = split_sentences(text)
    out = []
    for lb in plan:
        status = info.labels.get(lb) or NOT_MENTIONED
        sentences = [
            next((text[a:b].strip() for a, b in spans if a <= m.start < b), "")
            for m in info.mentions
            if m.label == lb and m.status == status
        ]
        clean = [x for x in sentences if _clean_sentence(x)]
        out.append(Evidence(lb, status, (clean or sentences or [""])[0]))
    return out


def _clean_sentence(s: str) -> str | None:
    """A report sentence usable verbatim as an image observation, or None."""
    s = _ENUM.sub("", " ".join(s.split()))
    words = s.split()
    if (
        not (2 <= len(words) <= 25)
        or _REPORTISH.search(s)
        or _COMPARATIVE.search(s)
        or HEDGE.search(s)
        or not s[:1].isalpha()
    ):
        return None
    s = s[0].upper() + s[1:]
    return s if s.endswith(".") else s + "."


def _join(names: Sequence[str], conj: str = "or") -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {conj} " + names[-1]


def final_step(item: BenchItem, rng: random.Random) -> str:
    """The last step: states the item's answer (``the answer is X) text`` for closed tasks)."""
    a = item.answer
    if item.task == "anomaly":
        if item.answer_labels == [NO_FINDING]:
            return f"In summary, no abnormality is seen, so the answer is {a}."
        return f"In summary, the answer is {a}."
    text = (item.options or {}).get(a, "")
    if item.task == "binary":
        lb = question_label(item) or ""
        verb = "does show" if text == "Yes" else "does not show"
        return f"So this chest X-ray {verb} {NAMES.get(lb, lb.lower())}: the answer is {a}) {text}."
    if item.task == "temporal":
        return f"So the progression is {text}: the answer is {a}) {text}."
    if item.answer_labels == [NO_FINDING]:
        return f"No abnormality is present, so the answer is {a}) {text}."
    lead = "The finding present is" if item.task == "single" else "The findings present are"
    return f"{lead} {_join(item.answer_labels, 'and')}, so the answer is {a}) {text}."


def observation(ev: Evidence, rng: random.Random, verbatim: bool = True) -> str:
    """One finding's observation on one image: the report sentence when usable, else a template."""
    if ev.status == PRESENT:
        clean = _clean_sentence(ev.sentence) if verbatim else None
        return clean or rng.choice(PRESENT_TEMPLATES[ev.label])
    if ev.status == UNCERTAIN:
        return UNCERTAIN_TEMPLATE.format(x=NAMES[ev.label])
    return rng.choice(NEGATIVE_TEMPLATES).format(x=NAMES[ev.label])


def comparison_step(item: BenchItem) -> str:
    """The temporal chain's comparison: the change of the named finding, one form per class."""
    lb = question_label(item) or ""
    cls = (item.options or {}).get(item.answer, "")
    change = TEMPORAL_PHRASE[cls]
    if cls == "improving" and not item.answer_labels:  # no longer present on the new image
        change = "has resolved"
    return f"Compared with the reference image, the {NAMES.get(lb, lb.lower())} {change} on the new image."


def temporal_chain(
    item: BenchItem,
    prior: Sequence[Evidence],
    current: Sequence[Evidence],
    rng: random.Random,
    verbatim: bool = True,
) -> list[str]:
    """The same five steps for every class: plan, reference-image evidence, new-image evidence,
    comparison, conclusion. Only the comparison and the conclusion name the class."""
    regions = _join(list(dict.fromkeys(REGIONS.get(e.label, "the lung fields") for e in current)))
    steps = [f"I compare {regions} on the reference image and on the new image."]
    steps += [f"{PRIOR_PREFIX} {observation(e, rng, verbatim)}" for e in prior]
    steps += [f"{CURRENT_PREFIX} {observation(e, rng, verbatim)}" for e in current]
    return [*steps, comparison_step(item), final_step(item, rng)]


def rules_chain(
    item: BenchItem, evidence: Sequence[Evidence], rng: random.Random, verbatim: bool = True
) -> list[str]:
    """Compose the chain: a plan step, observations (present first), the answer step."""
    steps = []
    regions = []
    for ev in evidence:
        r = REGIONS.get(ev.label, "the lung fields")
        if ev.label != NO_FINDING and r not in regions:
            regions.append(r)
    if regions:
        steps.append(rng.choice(PLAN_TEMPLATES).format(r=_join(regions, "and")))
    negatives = []
    for ev in evidence:
        if ev.label == NO_FINDING:
            if ev.status == PRESENT:
                steps.append(rng.choice(NORMAL_STEP))
            continue
        if ev.status == PRESENT:
            clean = _clean_sentence(ev.sentence) if verbatim else None
            if clean and clean not in steps:
                steps.append(clean)
            elif not clean:
                steps.append(rng.choice(PRESENT_TEMPLATES[ev.label]))
        elif ev.status in (ABSENT, NOT_MENTIONED):
            negatives.append(ev.label)
    if len(negatives) == 1 and negatives[0] in SINGLE_NEGATIVE and rng.random() < 0.5:
        steps.append(rng.choice(SINGLE_NEGATIVE[negatives[0]]))
    else:
        for i in range(0, len(negatives), 4):
            names = [NAMES[lb] for lb in negatives[i : i + 4]]
            steps.append(rng.choice(NEGATIVE_TEMPLATES).format(x=_join(names)))
    steps.append(final_step(item, rng))
    return steps
