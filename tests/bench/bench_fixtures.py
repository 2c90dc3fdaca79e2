"""Synthetic MS-CXR-T-style studies (patients, prior links, progression labels) for the tests.

Reports are written from plain sentences the labeler reads unambiguously, so the expected
labels are known. These are test fixtures, not clinical data.
"""

from __future__ import annotations

import random
from pathlib import Path

from cxreason.records import ImageRef, Study, write_jsonl

PHRASE = {
    "Pleural Effusion": ("There is a small right pleural effusion.", "No pleural effusion."),
    "Edema": ("There is mild pulmonary edema.", "No pulmonary edema."),
    "Pneumothorax": ("There is a small left apical pneumothorax.", "No pneumothorax."),
    "Cardiomegaly": ("The heart is enlarged.", "Heart size is normal."),
    "Consolidation": ("There is right lower lobe consolidation.", "No focal consolidation."),
}
PROGRESSION_WORD = {"worsening": "increased", "stable": "unchanged", "improving": "decreased"}
LABELS = ("Pleural Effusion", "Edema", "Pneumothorax")


def temporal_studies(n_patients: int = 90, seed: int = 0) -> list[Study]:
    """Each patient: a prior and a current study; the current one carries ``progression``.

    Classes cycle so every (label, class) is well represented; some patients get a third study.
    """
    rng = random.Random(seed)
    classes = ("worsening", "stable", "improving")
    studies = []
    for p in range(n_patients):
        label = LABELS[p % len(LABELS)]
        cls = classes[(p // len(LABELS)) % 3]
        other = rng.choice([x for x in PHRASE if x != label])
        pid = f"P{p:03d}"
        prior = Study(
            study_id=f"{pid}-s1",
            dataset="synthetic-mscxrt",
            patient_id=pid,
            findings=f"{PHRASE[label][0]} {PHRASE[other][1]}",
            impression=f"{label.split()[-1].capitalize()} present.",
            images=[ImageRef(f"{pid}/s1_frontal.png", "frontal")],
        )
        resolved = cls == "improving" and p % 2 == 0  # some improvements resolve completely
        now = PHRASE[label][1] if resolved else PHRASE[label][0]
        cur = Study(
            study_id=f"{pid}-s2",
            dataset="synthetic-mscxrt",
            patient_id=pid,
            findings=f"{now} {PHRASE[other][1]} No fracture.",
            impression="Resolved."
            if resolved
            else f"The {label.lower()} is {PROGRESSION_WORD[cls]}.",
            images=[
                ImageRef(f"{pid}/s2_frontal.png", "frontal"),
                ImageRef(f"{pid}/s2_lateral.png", "lateral"),
            ],
            prior_study_id=prior.study_id,
            progression={label: cls},
        )
        studies += [prior, cur]
        if p % 7 == 0:  # a third, unlinked study of the same patient
            studies.append(
                Study(
                    study_id=f"{pid}-s0",
                    dataset="synthetic-mscxrt",
                    patient_id=pid,
                    findings="The lungs are clear. Heart size is normal. No pleural effusion or pneumothorax.",
                    impression="No acute cardiopulmonary abnormality.",
                    images=[ImageRef(f"{pid}/s0_frontal.png", "frontal")],
                )
            )
    return studies


def write_temporal_fixture(path: Path, **kw) -> Path:
    write_jsonl(path, temporal_studies(**kw))
    return path


def openi_subset(src: Path, dst: Path, n: int) -> Path:
    """The header and first ``n`` reports of an Open-I CSV (kept inside the test's tmp dir)."""
    import csv

    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows[: n + 1])
    return dst


SIZES = ("small", "moderate", "large", "trace")
SIDES = ("right", "left", "bilateral")
CHANGE_WORD = {"worsening": "increased", "stable": "unchanged", "improving": "decreased"}
FINDING_SENTENCE = {
    "Pleural Effusion": "There is a {size} {side} pleural effusion.",
    "Edema": "There is {size} pulmonary edema.",
    "Pneumothorax": "There is a {size} {side} pneumothorax.",
}


def temporal_parity_studies(n_patients: int = 180, seed: int = 0) -> list[Study]:
    """Prior/current pairs whose per-image sentences are drawn independently of the class.

    Only the current impression's comparison sentence ("The edema is increased.") carries the
    class, so a chain whose per-image steps recover the class would do so from its *form*.
    Each block of 9 patients (3 findings x 3 classes) shares the same sizes and sides, so the
    content is exactly balanced across classes (random draws would leave chance imbalances a
    probe could learn). No finding resolves here (a resolved finding legitimately shows the
    class in the image).
    """
    rng = random.Random(seed)
    classes = ("worsening", "stable", "improving")
    labels = tuple(FINDING_SENTENCE)
    blocks = [(rng.choice(SIZES), rng.choice(SIDES), rng.choice(SIZES), rng.choice(SIDES))
              for _ in range(n_patients // 9 + 1)]  # fmt: skip
    out = []
    for p in range(n_patients):
        label, cls = labels[p % 3], classes[(p // 3) % 3]
        pid = f"Q{p:03d}"
        draws = iter(blocks[p // 9])

        def sentence(_label=label, _d=draws) -> str:
            return FINDING_SENTENCE[_label].format(size=next(_d), side=next(_d))

        prior = Study(
            study_id=f"{pid}-a",
            dataset="synthetic-parity",
            patient_id=pid,
            findings=f"{sentence()} No fracture.",
            impression="Findings as described.",
            images=[ImageRef(f"{pid}/a_frontal.png", "frontal")],
        )
        cur = Study(
            study_id=f"{pid}-b",
            dataset="synthetic-parity",
            patient_id=pid,
            findings=f"{sentence()} No fracture.",
            impression=f"The {label.lower()} is {CHANGE_WORD[cls]}.",
            images=[ImageRef(f"{pid}/b_frontal.png", "frontal")],
            prior_study_id=prior.study_id,
            progression={label: cls},
        )
        out += [prior, cur]
    return out
