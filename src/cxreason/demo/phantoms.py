"""Render report-conditioned SYNTHETIC phantoms for a set of studies (demo and tests only).

The images are synthetic test data, never medical images: they exist so that the pipeline can
be shown to learn on a world whose truth is known. Each study's phantom follows the labels the
labeler assigns to its report; the side of a lateralised finding comes from the words around
its mention ("left", "right", "bilateral").
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from cxreason.labeling import label_report, split_sentences
from cxreason.records import BenchItem, Study, report_text

log = logging.getLogger(__name__)

_LATERALISED = ("Pleural Effusion", "Pneumothorax", "Consolidation", "Pneumonia", "Atelectasis")
_SIDE = re.compile(r"\b(bilateral|bibasilar|both|left|right)\b", re.IGNORECASE)


def laterality_from_report(findings: str, impression: str) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, laterality) of a report; laterality maps a lateralised label to left|right|bilateral."""
    text = report_text(findings, impression)
    result = label_report(findings, impression)
    sentences = split_sentences(text)
    side: dict[str, str] = {}
    for m in result.mentions:
        if m.label not in _LATERALISED or m.status != "present" or m.label in side:
            continue
        sent = next((text[s:e] for s, e in sentences if s <= m.start < e), text[m.start : m.end])
        found = {w.lower() for w in _SIDE.findall(sent)}
        if found & {"bilateral", "bibasilar", "both"} or {"left", "right"} <= found:
            side[m.label] = "bilateral"
        elif "left" in found:
            side[m.label] = "left"
        elif "right" in found:
            side[m.label] = "right"
    return result.labels, side


def render_phantoms(
    studies: Iterable[Study],
    images_dir: Path,
    size: int = 128,
    seed: int = 0,
    progress=None,
) -> dict[str, int]:
    """Render one phantom per image reference of each study into ``images_dir``.

    Frontal references get a frontal phantom, lateral ones a lateral phantom; a study without
    image references gets ``<study_id>.png``. Returns counts (studies, images).
    """
    from cxreason.data.phantom import render_study

    images_dir.mkdir(parents=True, exist_ok=True)
    studies = list(studies)
    n_images = 0
    for i, st in enumerate(studies):
        labels, side = laterality_from_report(st.findings, st.impression)
        refs = st.images or []
        targets = [(Path(r.path).name, r.view) for r in refs] or [(f"{st.study_id}.png", "frontal")]
        study_seed = seed * 1_000_003 + _stable_int(st.study_id)
        for name, view in targets:
            img = render_study(
                labels,
                seed=study_seed,
                size=size,
                view="lateral" if view == "lateral" else "frontal",
                laterality=side,
            )
            img.save(images_dir / name, format="PNG", optimize=False)
            n_images += 1
        if progress is not None:
            progress(i + 1, len(studies))
    return {"studies": len(studies), "images": n_images}


def _stable_int(s: str) -> int:
    """A process-independent integer for a string (``hash`` is salted per process)."""
    return int(hashlib.sha256(s.encode()).hexdigest()[:8], 16) % 1_000_003


def random_phantom_labels(
    n: int, seed: int = 0, p: float = 0.2
) -> list[tuple[dict[str, str], dict[str, str]]]:
    """``n`` random (labels, laterality): each finding present with probability ``p``.

    A study with no finding is labelled ``No Finding``. Deterministic in ``(n, seed, p)``.
    """
    import random

    from cxreason.vocab import FINDING_LABELS, NO_FINDING, PRESENT

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        labels = {lb: PRESENT for lb in FINDING_LABELS if rng.random() < p}
        side = {
            lb: rng.choice(("left", "right", "bilateral")) for lb in labels if lb in _LATERALISED
        }
        out.append((labels or {NO_FINDING: PRESENT}, side))
    return out


def render_random_phantoms(
    dest: Path, n: int, size: int = 128, seed: int = 0, p: float = 0.2
) -> list[tuple[str, dict[str, str]]]:
    """Render ``n`` frontal phantoms with random labels into ``dest``; returns (path, labels).

    They come from no report, so they hold nothing of any benchmark study: a synthetic
    pretraining corpus for a vision tower (real VLMs start from an encoder pretrained on
    other images). Files already in ``dest`` are kept (the demo's stage marks the folder done
    only when all are written). Render seeds are offset from the report phantoms' seeds.
    """
    from cxreason.data.phantom import render_study

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (labels, side) in enumerate(random_phantom_labels(n, seed, p)):
        path = dest / f"random_{i:05d}.png"
        if not path.exists():
            img = render_study(labels, seed=10_000_019 + seed * 100_003 + i, size=size,
                               laterality=side)  # fmt: skip
            tmp = path.with_suffix(".tmp")
            img.save(tmp, format="PNG", optimize=False)
            tmp.replace(path)
        out.append((str(path), labels))
    return out


def reading_items(corpus: Sequence[tuple[str, dict[str, str]]], seed: int = 0) -> list[BenchItem]:
    """Answer-only binary items on random-label phantoms: per image, one "Yes" question about
    a finding it shows (when it shows any) and one "No" question about a finding it does not.

    A reading corpus for the SFT: the train split asks about some findings only a few times
    (2 consolidation and 4 pneumothorax items in the demo), too few to learn to read them from;
    here every finding is asked about with both answers, on images whose findings are drawn
    independently of each other. No reasoning chain (no report to mine one from), so the SFT
    uses the direct prompt for them. Deterministic in ``(corpus, seed)``.
    """
    import random

    from cxreason import prompts
    from cxreason.vocab import FINDING_LABELS, PRESENT

    rng = random.Random(f"reading:{seed}")
    items: list[BenchItem] = []
    for path, labels in corpus:
        stem = Path(path).stem
        shown = [lb for lb in FINDING_LABELS if labels.get(lb) == PRESENT]
        absent = [lb for lb in FINDING_LABELS if lb not in shown]
        picks = ([(rng.choice(shown), "A")] if shown else []) + [(rng.choice(absent), "B")]
        for label, answer in picks:
            items.append(
                BenchItem(
                    id=f"synthetic-read-{stem}-{label.lower().replace(' ', '-')}",
                    study_id=stem,
                    task="binary",
                    question=prompts.BINARY_TEMPLATE.format(finding=label.lower()),
                    options={"A": "Yes", "B": "No"},
                    answer=answer,
                    answer_labels=[label] if answer == "A" else [],
                    images=[str(path)],
                    report="",
                    split="train",
                )
            )
    return items
