"""BenchItems -> TRL datasets: SFT prompt-completion samples and GRPO prompts.

Prompts come only from :func:`cxreason.prompts.chat_messages` (system + user turn with one
``{"type": "image"}`` placeholder per image, then the question). Targets:

- CoT (reasoning-augmented): ``<think>{reasoning}</think><answer>{answer}</answer>``
- direct (answer-only): ``<answer>{answer}</answer>``

SFT samples are in TRL's *prompt-completion* conversational format (``prompt``: messages up to
the user turn, ``completion``: the assistant turn, ``images``: PIL images), so TRL's vision
collator masks the prompt and the loss covers the assistant turn only
(``completion_only_loss``). GRPO samples carry ``prompt`` + ``images`` and the reward columns
``task``, ``answer``, ``options`` (JSON string; null for anomaly items), ``answer_labels``,
``report``, ``mode``, ``reference`` (the mined chain as one text) and ``reference_steps``.

Images: every path of an item is kept (multi-image items keep all, in order) and loaded with
:func:`cxreason.data.images.load_image` (grey, bone bright), then converted to RGB. A relative
path is resolved against ``images_dir`` (else the bench file's folder). Missing or unreadable
images follow ``image_fallback``:

- ``error`` (default): raise, naming the item and the file;
- ``skip``: drop the item (counted and logged);
- ``phantom``: render a SYNTHETIC report-conditioned phantom (``cxreason.data.phantom``) from the
  labels of the item's report - a test fixture for CPU runs, never a medical image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxreason.metrics.radrscore import reference_steps, reference_text
from cxreason.prompts import chat_messages
from cxreason.records import BenchItem, read_records

logger = logging.getLogger(__name__)

IMAGE_FALLBACKS = ("error", "skip", "phantom")


@dataclass
class ImageOptions:
    """How item images are found and what happens when one is missing."""

    images_dir: str | None = None
    image_fallback: str = "error"
    phantom_size: int = 128

    def __post_init__(self) -> None:
        if self.image_fallback not in IMAGE_FALLBACKS:
            raise ValueError(
                f"image_fallback must be one of {IMAGE_FALLBACKS}, got {self.image_fallback!r}"
            )


@dataclass
class FormatStats:
    """Counts of a formatting pass (logged and saved with the run)."""

    n_items: int = 0
    n_samples: int = 0
    n_cot: int = 0
    n_direct: int = 0
    skipped: list[str] = field(default_factory=list)
    phantoms: int = 0


class MissingImageError(FileNotFoundError):
    """An item's image is missing or unreadable and ``image_fallback`` is ``error``."""


def load_bench(path: str | Path, split: str | None = "train") -> list[BenchItem]:
    """BenchItems of ``path`` in file order; ``split=None`` or ``"all"`` keeps every split."""
    items = read_records(path, BenchItem)
    if split in (None, "all"):
        return items
    kept = [it for it in items if it.split == split]
    if not kept:
        found = sorted({it.split for it in items})
        raise ValueError(
            f"{path}: no items with split {split!r} (splits present: {found}); "
            "pass train_split: all to use every item"
        )
    return kept


def target_text(item: BenchItem, mode: str) -> str:
    """The assistant turn for ``item`` in ``mode`` (``cot`` needs a non-empty reasoning)."""
    if mode == "cot":
        if not item.reasoning.strip():
            raise ValueError(f"item {item.id}: no reasoning for a CoT target")
        return f"<think>{item.reasoning.strip()}</think><answer>{item.answer}</answer>"
    return f"<answer>{item.answer}</answer>"


def _resolve(path: str, images_dir: str | None, base_dir: Path | None) -> Path:
    p = Path(path)
    if p.is_absolute():
        return p
    root = Path(images_dir) if images_dir else base_dir
    return (root / p) if root is not None else p


def _phantom(item: BenchItem, index: int, size: int):
    """A SYNTHETIC phantom for ``item``'s ``index``-th image, conditioned on its report."""
    from cxreason.data.phantom import render_study
    from cxreason.labeling import label_report

    findings, _, impression = item.report.partition("IMPRESSION:")
    findings = findings.replace("FINDINGS:", "", 1).strip()
    labels = label_report(findings, impression.strip()).labels
    seed = int(hashlib.sha256(f"{item.study_id}:{index}".encode()).hexdigest()[:8], 16)
    view = "lateral" if index % 2 else "frontal"
    return render_study(labels, seed=seed, size=size, view=view)


def load_item_images(
    item: BenchItem, opts: ImageOptions, base_dir: Path | None, stats: FormatStats
):
    """RGB PIL images of ``item`` (all of them, in order); None if the item is to be skipped."""
    from cxreason.data.images import ImageError, load_image

    out = []
    for i, raw in enumerate(item.images):
        path = _resolve(raw, opts.images_dir, base_dir)
        try:
            img = load_image(path)
        except (ImageError, OSError) as e:
            if opts.image_fallback == "error":
                raise MissingImageError(
                    f"item {item.id}: image {path} unusable ({e}); set image_fallback to skip or phantom"
                ) from None
            if opts.image_fallback == "skip":
                stats.skipped.append(item.id)
                return None
            img = _phantom(item, i, opts.phantom_size)
            stats.phantoms += 1
        out.append(img.convert("RGB"))
    return out


def _pick_modes(
    items: Sequence[BenchItem], cot_fraction: float, both: bool, seed: int
) -> list[list[str]]:
    """Per item, the modes to emit: CoT with probability ``cot_fraction`` (items with reasoning)."""
    if not 0.0 <= cot_fraction <= 1.0:
        raise ValueError(f"cot_fraction must be in [0, 1], got {cot_fraction}")
    rng = random.Random(seed)
    modes = []
    for it in items:
        u = rng.random()  # drawn for every item so the choice does not depend on neighbours
        has_cot = bool(it.reasoning.strip())
        if both:
            modes.append(["cot", "direct"] if has_cot else ["direct"])
        else:
            modes.append(["cot"] if has_cot and u < cot_fraction else ["direct"])
    return modes


def sft_samples(
    items: Sequence[BenchItem],
    opts: ImageOptions | None = None,
    *,
    cot_fraction: float = 0.5,
    both_modes: bool = False,
    seed: int = 0,
    base_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], FormatStats]:
    """SFT prompt-completion samples (``prompt``, ``completion``, ``images``, ``id``, ``mode``)."""
    opts = opts or ImageOptions()
    stats = FormatStats(n_items=len(items))
    out = []
    for item, modes in zip(items, _pick_modes(items, cot_fraction, both_modes, seed), strict=True):
        images = load_item_images(item, opts, base_dir, stats)
        if images is None:
            continue
        for mode in modes:
            prompt = chat_messages(item.question, item.options, len(images), mode)
            completion = [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": target_text(item, mode)}],
                }
            ]
            out.append(
                {
                    "id": item.id,
                    "mode": mode,
                    "prompt": prompt,
                    "completion": completion,
                    "images": images,
                }
            )
            stats.n_cot += mode == "cot"
            stats.n_direct += mode == "direct"
    stats.n_samples = len(out)
    return out, stats


def grpo_samples(
    items: Sequence[BenchItem],
    opts: ImageOptions | None = None,
    *,
    mode: str = "cot",
    base_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], FormatStats]:
    """GRPO prompts with the reward columns (see module docstring)."""
    opts = opts or ImageOptions()
    stats = FormatStats(n_items=len(items))
    out = []
    for item in items:
        images = load_item_images(item, opts, base_dir, stats)
        if images is None:
            continue
        out.append(
            {
                "id": item.id,
                "prompt": chat_messages(item.question, item.options, len(images), mode),
                "images": images,
                "task": item.task,
                "answer": item.answer,
                "options": json.dumps(item.options) if item.options else None,
                "answer_labels": list(item.answer_labels),
                "report": item.report or None,
                "reference": reference_text(item) or None,
                "reference_steps": reference_steps(item),
                "mode": mode,
            }
        )
    stats.n_samples = len(out)
    stats.n_cot = len(out) if mode == "cot" else 0
    stats.n_direct = len(out) - stats.n_cot
    return out, stats


def to_dataset(samples: list[dict[str, Any]]):
    """A ``datasets.Dataset`` of samples (images stored as an image sequence column)."""
    from datasets import Dataset

    if not samples:
        raise ValueError("no training samples (all items skipped or empty benchmark)")
    return Dataset.from_list(samples)
