"""End-of-run artefacts: final weights + processor, log history JSON, reward curve PNG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cxreason.records import write_json

logger = logging.getLogger(__name__)

LOG_HISTORY = "log_history.json"
REWARD_CURVE = "reward_curve.png"


def save_final_model(trainer: Any, out_dir: str | Path) -> None:
    """``trainer.save_model`` that always writes weights ``from_pretrained`` can load.

    Why: under FSDP with ``SHARDED_STATE_DICT`` (the state-dict type of
    ``recipes/accelerate/fsdp.yaml``, which keeps checkpoints fast and resumable),
    ``Trainer.save_model`` saves nothing: it gathers the weights only when the plugin's type is
    ``FULL_STATE_DICT``, so the final model exists only inside sharded checkpoints and the GRPO
    stage launched from the SFT output finds no weights. For the final save the plugin's type is
    switched to ``FULL_STATE_DICT`` (accelerate gathers the full state dict, offloaded to CPU,
    on every rank; rank 0 writes it) and restored afterwards. Must run on every rank.
    """
    plugin = fsdp_plugin(trainer)
    if plugin is None or "FULL_STATE_DICT" in str(plugin.state_dict_type):
        trainer.save_model(str(out_dir))
        return
    from torch.distributed.fsdp import StateDictType

    before = plugin.state_dict_type
    plugin.state_dict_type = StateDictType.FULL_STATE_DICT
    try:
        logger.info("FSDP: gathering a full state dict for the final save (%s)", before)
        trainer.save_model(str(out_dir))
    finally:
        plugin.state_dict_type = before


def fsdp_plugin(trainer: Any) -> Any:
    """The accelerate FSDP plugin of ``trainer``'s run, or None when FSDP is not in use."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return None
    state = getattr(getattr(trainer, "accelerator", None), "state", None)
    return getattr(state, "fsdp_plugin", None)


def finish_run(trainer: Any, out_dir: str | Path, plot: bool) -> None:
    """Save model + processor to ``out_dir``; write ``log_history.json`` (and the reward curve)."""
    from cxreason.train.plots import plot_reward_curve

    out = Path(out_dir)
    save_final_model(trainer, out)
    proc = getattr(trainer, "processing_class", None)
    if proc is not None and trainer.is_world_process_zero():
        proc.save_pretrained(str(out))
    if not trainer.is_world_process_zero():
        return
    history = list(trainer.state.log_history)
    write_json(out / LOG_HISTORY, history)
    if plot:
        plot_reward_curve(history, out / REWARD_CURVE, title=f"GRPO reward - {out.name}")
        logger.info("reward curve: %s", out / REWARD_CURVE)


def run_trainer(stage: str, build: Any, script: Any, train_args: Any, model_args: Any) -> Path:
    """Build a trainer with ``build(script, train_args, model_args)``, train, save the run.

    Shared by SFT and GRPO: writes the resolved config (with the data stats), resumes from the
    last checkpoint when asked (restoring the weights strictly, see
    :func:`cxreason.train.config.restore_weights`), then saves the model, processor and
    ``log_history.json`` (plus ``reward_curve.png`` for GRPO). Returns ``output_dir``.
    """
    from dataclasses import asdict

    from cxreason.train.config import resolve_resume, restore_weights, save_resolved_config

    trainer, stats = build(script, train_args, model_args)
    out = Path(train_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_resolved_config(out, stage, script, train_args, model_args, {"data": asdict(stats)})
    ckpt = resolve_resume(train_args)
    if ckpt:
        restore_weights(trainer.model, ckpt)
    trainer.train(resume_from_checkpoint=ckpt)
    finish_run(trainer, out, plot=stage == "grpo")
    return out
