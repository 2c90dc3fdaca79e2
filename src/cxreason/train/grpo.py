"""Stage 2: GRPO with TRL's ``GRPOTrainer`` (imported, not forked) and cxreason's rewards.

Rewards (``reward_funcs`` in the recipe, weights in ``reward_weights``, same order) are the TRL
reward functions of :mod:`cxreason.train.rewards`; the prompts carry the columns they read.
``prompt_mode: mixed`` mixes answer-only (direct) and reasoning (CoT) prompts in one run, as
ChestX-Reasoner's RL does: direct samples get format + accuracy, CoT samples the process reward
too (it returns None for direct samples and TRL leaves it out).
The paper's entropy bonus maps to TRL's ``entropy_coef`` and its KL penalty to ``beta``.
At the end of a run, ``log_history.json`` and ``reward_curve.png`` are written to ``output_dir``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cxreason.train.config import RecipeError
from cxreason.train.formatting import grpo_samples
from cxreason.train.rewards import build_reward_funcs
from cxreason.train.sft import (
    _log_stats,
    apply_image_size,
    freeze_vision_tower,
    image_options,
    lazy_dataset,
    load_policy,
    select_items,
)

logger = logging.getLogger(__name__)


def reward_functions(script: Any, train_args: Any) -> list:
    """The recipe's reward functions; checks that ``reward_weights`` matches them."""
    funcs = build_reward_funcs(
        script.reward_funcs,
        set_metric=script.set_metric,
        length_band=(script.length_lo, script.length_hi),
        format_gate=script.format_gate,
        semantics=getattr(script, "reward_semantics", "strict"),
    )
    weights = getattr(train_args, "reward_weights", None)
    if weights is not None and len(weights) != len(funcs):
        raise RecipeError(
            f"reward_weights has {len(weights)} values for {len(funcs)} reward_funcs {script.reward_funcs}"
        )
    return funcs


def check_vllm(train_args: Any) -> None:
    """``use_vllm`` needs vllm installed (GPU only); fail early with the override to use."""
    import importlib.util

    if getattr(train_args, "use_vllm", False) and importlib.util.find_spec("vllm") is None:
        raise RecipeError(
            "use_vllm is set but vllm is not installed (GPU only): pass --use_vllm false "
            "or `pip install cxreason[gpu]`"
        )


#: Special tokens a rollout must never sample: a generated vision token makes the policy's
#: forward pass miscount image positions (Qwen-VL's 3-D RoPE index fails on the shapes). TRL
#: suppresses only the image token; a tiny model also sampled <|vision_start|> etc. and crashed.
VISION_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<image>",
    "<fake_token_around_image>",
    "<end_of_utterance>",
)


def suppress_vision_tokens(train_args: Any, processor: Any) -> list[int]:
    """Add the processor's vision special tokens to ``generation_kwargs["suppress_tokens"]``.

    Transformers-generate rollouts only (vLLM takes no such option); returns the ids added.
    """
    tok = getattr(processor, "tokenizer", None)
    if tok is None or getattr(train_args, "use_vllm", False):
        return []
    vocab = tok.get_vocab()
    names = set(VISION_TOKENS) | {getattr(processor, "image_token", None) or ""}
    ids = sorted(vocab[t] for t in names if t in vocab)
    if ids:
        kw = dict(train_args.generation_kwargs or {})
        kw["suppress_tokens"] = sorted(set(kw.get("suppress_tokens") or []) | set(ids))
        train_args.generation_kwargs = kw
    return ids


def build_grpo_trainer(script: Any, train_args: Any, model_args: Any):
    """A ``GRPOTrainer`` for the recipe, plus the formatting stats."""
    from trl import GRPOTrainer

    check_vllm(train_args)
    items, base_dir = select_items(script, train_args.seed)
    samples, stats = grpo_samples(
        items,
        image_options(script),
        mode=script.prompt_mode,
        cot_fraction=script.cot_fraction,
        seed=train_args.seed,
        base_dir=base_dir,
    )
    _log_stats("grpo", stats)
    funcs = reward_functions(script, train_args)
    model, processor, peft_config = load_policy(model_args, train_args)
    apply_image_size(processor, script.image_size, getattr(script, "image_min_size", None))
    if getattr(script, "freeze_vision_tower", False):
        freeze_vision_tower(model, merger=getattr(script, "freeze_merger", False))
    suppress_vision_tokens(train_args, processor)
    # TRL 1.16 left-pads prompt ids but builds the multimodal fields (Qwen's mm_token_type_ids)
    # with the tokenizer's default side; with right padding the image-token map is shifted
    # against the attention mask of shorter prompts and the 3-D RoPE index fails.
    processor.tokenizer.padding_side = "left"
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=train_args,
        train_dataset=lazy_dataset(samples, script, processor),
        processing_class=processor,
        peft_config=peft_config,
    )
    return trainer, stats


def run_grpo(script: Any, train_args: Any, model_args: Any) -> Path:
    """Train; save model + processor, ``log_history.json`` and ``reward_curve.png``."""
    from cxreason.train.callbacks import run_trainer

    return run_trainer("grpo", build_grpo_trainer, script, train_args, model_args)
