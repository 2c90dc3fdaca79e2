"""Stage 1: supervised fine-tuning with TRL's ``SFTTrainer`` (imported, not forked).

Samples are prompt-completion conversations (see :mod:`cxreason.train.formatting`) whose images
are decoded at batch time, so TRL's
vision collator sets the labels of every prompt token (system, user turn, image tokens, the
``<|im_start|>assistant`` header) and of padding to -100: the loss is on the assistant turn only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cxreason.train.config import RecipeError
from cxreason.train.formatting import (
    FormatStats,
    ImageLoader,
    ImageOptions,
    input_size_for,
    load_bench,
    sft_samples,
    to_dataset,
)

logger = logging.getLogger(__name__)


def select_items(script: Any, seed: int = 0) -> tuple[list, Path]:
    """Bench items for training per the script arguments, and the bench file's folder."""
    path = Path(script.bench)
    if not path.is_file():
        raise RecipeError(f"bench file not found: {path}")
    try:
        items = load_bench(path, script.train_split)
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not a UTF-8 JSON Lines file ({e.reason})") from None
    if script.tasks:
        items = [it for it in items if it.task in set(script.tasks)]
    if script.max_items and script.max_items < len(items):
        import random

        keep = sorted(random.Random(seed).sample(range(len(items)), script.max_items))
        items = [items[i] for i in keep]  # a seeded random subset (all tasks), in file order
    if not items:
        raise RecipeError(f"{path}: no items left after filtering (tasks={script.tasks})")
    return items, path.parent


def image_options(script: Any) -> ImageOptions:
    return ImageOptions(
        script.images_dir,
        script.image_fallback,
        script.phantom_size,
        getattr(script, "image_cache_size", 64),
    )


def lazy_dataset(samples: list, script: Any, processor: Any):
    """The samples as a dataset whose images decode at batch time at the model's input size."""
    opts = image_options(script)
    loader = ImageLoader(
        opts.image_fallback, input_size_for(processor, script.image_size), opts.cache_size
    )
    return to_dataset(samples, loader)


def apply_image_size(processor: Any, side: int | None, min_side: int | None = None) -> None:
    """Cap a Qwen-VL-style processor's pixel budget at ``side``^2 pixels per image (and raise its
    floor to ``min_side``^2 pixels when given).

    Transformers 5 keeps the budget in ``image_processor.size`` (``longest_edge`` = max pixels,
    ``shortest_edge`` = min pixels); processors without one are left as they are (warned).
    """
    ip = getattr(processor, "image_processor", None)
    if (side is None and min_side is None) or ip is None:
        return
    size = getattr(ip, "size", None)
    if getattr(size, "longest_edge", None) is None:
        logger.warning("image_size ignored: %s has no pixel budget", type(ip).__name__)
        return
    from transformers.image_utils import SizeDict

    hi = side * side if side is not None else size.longest_edge
    lo = min_side * min_side if min_side is not None else min(size.shortest_edge or hi, hi)
    if lo > hi:
        raise RecipeError(f"image_min_size {min_side} is larger than image_size {side}")
    ip.size = SizeDict(shortest_edge=lo, longest_edge=hi)
    for attr, value in (("max_pixels", hi), ("min_pixels", lo)):  # older transformers
        if getattr(ip, attr, None) is not None:
            setattr(ip, attr, value)


def load_policy(model_args: Any, train_args: Any) -> tuple[Any, Any, Any]:
    """(model, processor, peft_config) from TRL's ModelConfig."""
    from trl import get_peft_config

    from cxreason.train.model import load_model_and_processor

    dtype = model_args.dtype or "auto"
    if getattr(train_args, "use_cpu", False) and dtype == "auto":
        dtype = "float32"
    remote = bool(getattr(train_args, "trust_remote_code", False))
    name = model_args.model_name_or_path
    try:
        model, processor = load_model_and_processor(
            name,
            dtype=dtype,
            trust_remote_code=remote,
            attn_implementation=getattr(model_args, "attn_implementation", None),
        )
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RecipeError(f"cannot load model {name}: {first}") from None
    return model, processor, get_peft_config(model_args)


def freeze_vision_tower(model: Any, merger: bool = False) -> int:
    """Freeze a Qwen-VL-style vision encoder (and its merger if ``merger``); returns the frozen
    parameter count."""
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        raise ValueError("freeze_vision_tower: this model has no `visual` encoder")
    n = 0
    for name, p in visual.named_parameters():
        if merger or not name.startswith("merger."):
            p.requires_grad_(False)
            n += p.numel()
    logger.info(
        "vision tower frozen: %d parameters (merger %s)", n, "frozen" if merger else "trainable"
    )
    return n


def build_sft_trainer(script: Any, train_args: Any, model_args: Any):
    """An ``SFTTrainer`` for the recipe, plus the formatting stats."""
    from trl import SFTTrainer

    items, base_dir = select_items(script, train_args.seed)
    samples, stats = sft_samples(
        items,
        image_options(script),
        cot_fraction=script.cot_fraction,
        both_modes=script.both_modes,
        verdict=getattr(script, "verdict_step", False),
        seed=train_args.seed,
        base_dir=base_dir,
    )
    _log_stats("sft", stats)
    model, processor, peft_config = load_policy(model_args, train_args)
    apply_image_size(processor, script.image_size, getattr(script, "image_min_size", None))
    if getattr(script, "freeze_vision_tower", False):
        freeze_vision_tower(model, merger=getattr(script, "freeze_merger", False))
    trainer = SFTTrainer(
        model=model,
        args=train_args,
        train_dataset=lazy_dataset(samples, script, processor),
        processing_class=processor,
        peft_config=peft_config,
    )
    return trainer, stats


def _log_stats(stage: str, stats: FormatStats) -> None:
    logger.info(
        "%s data: %d items -> %d samples (%d CoT, %d direct); %d skipped, %d phantom images",
        stage,
        stats.n_items,
        stats.n_samples,
        stats.n_cot,
        stats.n_direct,
        len(stats.skipped),
        stats.phantoms,
    )


def run_sft(script: Any, train_args: Any, model_args: Any) -> Path:
    """Train, save the final model + processor in ``output_dir``; returns ``output_dir``."""
    from cxreason.train.callbacks import run_trainer

    return run_trainer("sft", build_sft_trainer, script, train_args, model_args)
