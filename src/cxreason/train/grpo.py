"""Stage 2: GRPO with TRL's ``GRPOTrainer`` (imported, not forked) and cxreason's rewards.

Rewards (``reward_funcs`` in the recipe, weights in ``reward_weights``, same order) are the TRL
reward functions of :mod:`cxreason.train.rewards`; the prompts carry the columns they read.
The paper's entropy bonus maps to TRL's ``entropy_coef`` and its KL penalty to ``beta``.
At the end of a run, ``log_history.json`` and ``reward_curve.png`` are written to ``output_dir``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cxreason.train.config import resolve_resume, restore_weights, save_resolved_config
from cxreason.train.formatting import grpo_samples, to_dataset
from cxreason.train.rewards import build_reward_funcs
from cxreason.train.sft import (
    _log_stats,
    apply_image_size,
    image_options,
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
    )
    weights = getattr(train_args, "reward_weights", None)
    if weights is not None and len(weights) != len(funcs):
        raise ValueError(
            f"reward_weights has {len(weights)} values for {len(funcs)} reward_funcs {script.reward_funcs}"
        )
    return funcs


def check_vllm(train_args: Any) -> None:
    """``use_vllm`` needs vllm installed (GPU only); fail early with the override to use."""
    import importlib.util

    if getattr(train_args, "use_vllm", False) and importlib.util.find_spec("vllm") is None:
        raise ValueError(
            "use_vllm is set but vllm is not installed (GPU only): pass --use_vllm false "
            "or `pip install cxreason[gpu]`"
        )


def build_grpo_trainer(script: Any, train_args: Any, model_args: Any):
    """A ``GRPOTrainer`` for the recipe, plus the formatting stats."""
    from trl import GRPOTrainer

    check_vllm(train_args)
    items, base_dir = select_items(script, train_args.seed)
    samples, stats = grpo_samples(
        items, image_options(script), mode=script.prompt_mode, base_dir=base_dir
    )
    _log_stats("grpo", stats)
    funcs = reward_functions(script, train_args)
    model, processor, peft_config = load_policy(model_args, train_args)
    apply_image_size(processor, script.image_size)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=train_args,
        train_dataset=to_dataset(samples),
        processing_class=processor,
        peft_config=peft_config,
    )
    return trainer, stats


def run_grpo(script: Any, train_args: Any, model_args: Any) -> Path:
    """Train; save model + processor, ``log_history.json`` and ``reward_curve.png``."""
    from cxreason.train.callbacks import finish_run

    trainer, stats = build_grpo_trainer(script, train_args, model_args)
    out = Path(train_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_resolved_config(out, "grpo", script, train_args, model_args, {"data": asdict(stats)})
    ckpt = resolve_resume(train_args)
    if ckpt:
        restore_weights(trainer.model, ckpt)
    trainer.train(resume_from_checkpoint=ckpt)
    finish_run(trainer, out, plot=True)
    return out
