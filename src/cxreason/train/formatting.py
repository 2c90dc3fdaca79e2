"""BenchItems -> TRL datasets: SFT prompt-completion samples and GRPO prompts, images lazy.

Prompts come only from :func:`cxreason.prompts.chat_messages` (system + user turn with one
``{"type": "image"}`` placeholder per image, then the question). Targets:

- CoT (reasoning-augmented): ``<think>{reasoning}</think><answer>{answer}</answer>``
- direct (answer-only): ``<answer>{answer}</answer>``

SFT samples are in TRL's *prompt-completion* conversational format (``prompt``: messages up to
the user turn, ``completion``: the assistant turn, ``images``), so TRL's vision collator masks
the prompt and the loss covers the assistant turn only (``completion_only_loss``). GRPO samples
carry ``prompt`` + ``images`` and the reward columns ``task``, ``answer``, ``options`` (JSON
string; null for anomaly items), ``answer_labels``, ``report``, ``mode`` (per sample: ``cot`` or
``direct``, so one GRPO run can mix both, as the paper's RL does), ``reference`` (the mined chain
as one text) and ``reference_steps``.

Images are LAZY. Preparing a dataset never decodes a pixel: the ``images`` column holds one
*image reference* per image (a short JSON string: the resolved file path, or the spec of a
SYNTHETIC phantom), and :func:`to_dataset` attaches a ``datasets`` transform that decodes the
references of each batch when the trainer asks for it (:class:`ImageLoader`: load with
:func:`cxreason.data.images.load_image`, grey -> RGB, resize to the model's input size, keep at
most ``cache_size`` decoded images in an LRU cache). Preparation cost and memory therefore do not
grow with the number of images or their resolution; a batch holds only its own images.

Multi-image items keep every image, in order. A relative path is resolved against
``images_dir`` (else the bench file's folder). Missing images follow ``image_fallback``, checked
at preparation from the file system (no decoding):

- ``error`` (default): raise, naming the first missing file and how many are missing;
- ``skip``: drop the item (counted and logged);
- ``phantom``: a SYNTHETIC report-conditioned phantom (``cxreason.data.phantom``) drawn at batch
  time from the labels of the item's report - a test fixture for CPU runs, never a medical image.

A file that exists but cannot be decoded is found at batch time: ``phantom`` draws the phantom
instead, ``error`` and ``skip`` stop the run naming the item and the file (a batch cannot drop a
sample after the fact).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cxreason.metrics.radrscore import reference_steps, reference_text
from cxreason.prompts import chat_messages
from cxreason.records import BenchItem, read_records

logger = logging.getLogger(__name__)

IMAGE_FALLBACKS = ("error", "skip", "phantom")
PROMPT_MODES = ("cot", "direct", "mixed")


@dataclass
class ImageOptions:
    """How item images are found, what happens when one is missing, how many stay decoded."""

    images_dir: str | None = None
    image_fallback: str = "error"
    phantom_size: int = 128
    cache_size: int = 64

    def __post_init__(self) -> None:
        if self.image_fallback not in IMAGE_FALLBACKS:
            raise ValueError(
                f"image_fallback must be one of {IMAGE_FALLBACKS}, got {self.image_fallback!r}"
            )
        if self.cache_size < 0:
            raise ValueError(f"image_cache_size must be >= 0, got {self.cache_size}")


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
    """An item's image is missing or unreadable and ``image_fallback`` does not cover it."""


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


def verdict_sentence(item: BenchItem) -> str | None:
    """``"<Finding> is present."`` / ``"... is absent."`` for a binary item (from its answer key),
    else None. The labeler reads both as assertions about this image."""
    from cxreason.bench.miner import NAMES, question_label

    label = question_label(item) if item.task == "binary" else None
    text = (item.options or {}).get(item.answer)
    if label is None or text not in ("Yes", "No"):
        return None
    name = NAMES.get(label, label.lower())
    verb = "are" if name.endswith("devices") else "is"
    return f"{name[0].upper()}{name[1:]} {verb} {'present' if text == 'Yes' else 'absent'}."


def target_text(item: BenchItem, mode: str, verdict: bool = False) -> str:
    """The assistant turn for ``item`` in ``mode`` (``cot`` needs a non-empty reasoning).

    ``verdict``: binary CoT targets get :func:`verdict_sentence` after the chain's first step
    (the plan), so the status of the asked finding is decided at one fixed point of the chain.
    """
    if mode == "cot":
        if not item.reasoning.strip():
            raise ValueError(f"item {item.id}: no reasoning for a CoT target")
        reasoning = item.reasoning.strip()
        line = verdict_sentence(item) if verdict else None
        if line and item.reasoning_steps:
            steps = [s.strip() for s in item.reasoning_steps if s.strip()]
            reasoning = " ".join([*steps[:1], line, *steps[1:]])
        return f"<think>{reasoning}</think><answer>{item.answer}</answer>"
    return f"<answer>{item.answer}</answer>"


def _resolve(path: str, images_dir: str | None, base_dir: Path | None) -> Path:
    p = Path(path)
    if p.is_absolute():
        return p
    root = Path(images_dir) if images_dir else base_dir
    return (root / p) if root is not None else p


# --------------------------------------------------------------------------- image references


def image_refs(
    item: BenchItem, opts: ImageOptions, base_dir: Path | None, stats: FormatStats
) -> list[str] | None:
    """One reference per image of ``item`` (see module docstring); None if the item is skipped.

    Only the file system is consulted (``is_file``): nothing is decoded here.
    """
    refs = []
    for i, raw in enumerate(item.images):
        path = _resolve(raw, opts.images_dir, base_dir)
        ref: dict[str, Any] = {"item": item.id, "path": str(path)}
        if opts.image_fallback == "phantom":
            ref["phantom"] = phantom_spec(item, i, opts.phantom_size)
        if not path.is_file():
            if opts.image_fallback == "skip":
                stats.skipped.append(item.id)
                return None
            if opts.image_fallback == "phantom":
                ref["path"] = None
                stats.phantoms += 1
            else:
                raise MissingImageError(
                    f"item {item.id}: image {path} not found; set image_fallback to skip or phantom"
                )
        refs.append(json.dumps(ref, sort_keys=True))
    return refs


def phantom_spec(item: BenchItem, index: int, size: int) -> dict[str, Any]:
    """What a SYNTHETIC phantom of ``item``'s ``index``-th image is drawn from (seeded)."""
    seed = int(hashlib.sha256(f"{item.study_id}:{index}".encode()).hexdigest()[:8], 16)
    view = "lateral" if index % 2 else "frontal"
    return {"report": item.report, "seed": seed, "view": view, "size": size}


def render_phantom(spec: dict[str, Any]):
    """Draw the SYNTHETIC phantom of a spec from :func:`phantom_spec` (labels of its report)."""
    from cxreason.data.phantom import render_study
    from cxreason.labeling import label_report

    findings, _, impression = (spec.get("report") or "").partition("IMPRESSION:")
    findings = findings.replace("FINDINGS:", "", 1).strip()
    labels = label_report(findings, impression.strip()).labels
    return render_study(labels, seed=spec["seed"], size=spec["size"], view=spec["view"])


def phantom_image(item: BenchItem, index: int, size: int):
    """The SYNTHETIC phantom that stands in for ``item``'s missing ``index``-th image: the one
    training (``image_fallback: phantom``) and ``cxreason predict --image-fallback phantom``
    both use (same study and index, same picture)."""
    return render_phantom(phantom_spec(item, index, size))


class PixelBudget:
    """Target (width, height) of an image for a processor with a pixel budget.

    Qwen-VL style (``factor`` = patch x merge size): the processor's own ``smart_resize``, so
    the processor then leaves the image as it is and the visual tokens are exactly those of the
    full-resolution file. Otherwise (``factor`` None) only a cap at ``max_pixels``.
    """

    def __init__(self, max_pixels: int, min_pixels: int = 0, factor: int | None = None):
        self.max_pixels, self.min_pixels, self.factor = max_pixels, min_pixels, factor

    def __call__(self, width: int, height: int) -> tuple[int, int]:
        if self.factor:
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

            h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
            return w, h
        if width * height <= self.max_pixels:
            return width, height
        scale = math.sqrt(self.max_pixels / (width * height))
        return max(1, int(width * scale)), max(1, int(height * scale))

    def __repr__(self) -> str:
        return f"PixelBudget(max_pixels={self.max_pixels}, min_pixels={self.min_pixels}, factor={self.factor})"


def input_size_for(processor: Any, image_size: int | None = None) -> PixelBudget | None:
    """The model's input size rule from its processor (None: images are passed as decoded)."""
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None)
    longest = getattr(size, "longest_edge", None)
    if longest is None and isinstance(size, dict):
        longest = size.get("longest_edge")
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if longest and patch and merge:
        shortest = getattr(size, "shortest_edge", None)
        if shortest is None and isinstance(size, dict):
            shortest = size.get("shortest_edge")
        return PixelBudget(int(longest), int(shortest or 0), int(patch) * int(merge))
    if image_size:
        return PixelBudget(image_size * image_size)
    return None


class ImageLoader:
    """Decodes image references at batch time: load, RGB, resize to the model's input size.

    Keeps the last ``cache_size`` decoded images (LRU; GRPO asks for each prompt's images once
    per generation). Picklable, so DataLoader workers each get their own copy.
    """

    def __init__(
        self,
        fallback: str = "error",
        input_size: Callable[[int, int], tuple[int, int]] | None = None,
        cache_size: int = 64,
    ):
        self.fallback, self.input_size, self.cache_size = fallback, input_size, cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self.decoded = 0  # images decoded (cache misses), for tests and benchmarks

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": OrderedDict()}

    def __call__(self, ref: str):
        hit = self._cache.get(ref)
        if hit is not None:
            self._cache.move_to_end(ref)
            return hit
        img = self._decode(json.loads(ref))
        self.decoded += 1
        if self.cache_size:
            self._cache[ref] = img
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return img

    def _decode(self, ref: dict[str, Any]):
        from cxreason.data.images import ImageError, load_image

        if ref.get("path") is None:
            img = render_phantom(ref["phantom"])
        else:
            try:
                img = load_image(ref["path"])
            except (ImageError, OSError) as e:
                if ref.get("phantom") is None:
                    raise MissingImageError(
                        f"item {ref.get('item')}: image {ref['path']} unusable ({e}); with "
                        f"image_fallback {self.fallback} the run stops (phantom draws a phantom)"
                    ) from None
                img = render_phantom(ref["phantom"])
        if self.input_size is not None:
            size = self.input_size(*img.size)
            if size != img.size:
                from PIL import Image

                img = img.resize(size, Image.Resampling.BICUBIC)
        return img.convert("RGB")


def decode_images(batch: dict[str, list], loader: ImageLoader) -> dict[str, list]:
    """``datasets`` transform: the ``images`` column's references -> PIL images."""
    out = dict(batch)
    out["images"] = [[loader(r) for r in refs] for refs in batch["images"]]
    return out


# --------------------------------------------------------------------------- samples


def pick_modes(
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
    verdict: bool = False,
    seed: int = 0,
    base_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], FormatStats]:
    """SFT prompt-completion samples (``prompt``, ``completion``, ``images`` refs, ``id``, ``mode``).

    ``verdict``: see :func:`target_text`."""
    opts = opts or ImageOptions()
    stats = FormatStats(n_items=len(items))
    out = []
    for item, modes in zip(items, pick_modes(items, cot_fraction, both_modes, seed), strict=True):
        refs = image_refs(item, opts, base_dir, stats)
        if refs is None:
            continue
        for mode in modes:
            prompt = chat_messages(item.question, item.options, len(refs), mode)
            completion = [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": target_text(item, mode, verdict)}],
                }
            ]
            out.append(
                {
                    "id": item.id,
                    "mode": mode,
                    "prompt": prompt,
                    "completion": completion,
                    "images": refs,
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
    cot_fraction: float = 0.5,
    seed: int = 0,
    base_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], FormatStats]:
    """GRPO prompts with the reward columns (see module docstring).

    ``mode``: ``cot`` or ``direct`` for every prompt, or ``mixed``: per item, seeded, the CoT
    prompt with probability ``cot_fraction`` (items with a mined chain), else the direct prompt.
    """
    if mode not in PROMPT_MODES:
        raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {mode!r}")
    opts = opts or ImageOptions()
    stats = FormatStats(n_items=len(items))
    if mode == "mixed":
        modes = [m[0] for m in pick_modes(items, cot_fraction, False, seed)]
    else:
        modes = [mode] * len(items)
    out = []
    for item, m in zip(items, modes, strict=True):
        refs = image_refs(item, opts, base_dir, stats)
        if refs is None:
            continue
        out.append(
            {
                "id": item.id,
                "prompt": chat_messages(item.question, item.options, len(refs), m),
                "images": refs,
                "task": item.task,
                "answer": item.answer,
                "options": json.dumps(item.options) if item.options else None,
                "answer_labels": list(item.answer_labels),
                "report": item.report or None,
                "reference": reference_text(item) or None,
                "reference_steps": reference_steps(item),
                "mode": m,
            }
        )
    stats.n_samples = len(out)
    stats.n_cot = sum(s["mode"] == "cot" for s in out)
    stats.n_direct = len(out) - stats.n_cot
    return out, stats


def to_dataset(samples: list[dict[str, Any]], loader: ImageLoader | None = None):
    """A ``datasets.Dataset`` of samples whose ``images`` decode lazily through ``loader``.

    The table holds only the references; ``loader`` (default: no resize) turns them into RGB PIL
    images each time rows are read (``Dataset.with_transform``).
    """
    from datasets import Dataset

    if not samples:
        raise ValueError("no training samples (all items skipped or empty benchmark)")
    table = Dataset.from_list(samples)
    return table.with_transform(partial(decode_images, loader=loader or ImageLoader()))
