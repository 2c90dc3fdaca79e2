"""Training configuration: cxreason's ScriptArguments + TRL's ModelConfig and SFT/GRPO configs.

Recipes are flat YAML files read by ``trl.TrlParser`` (one namespace for all three dataclasses);
``--key value`` on the command line overrides the recipe. The resolved configuration of every
run is written to ``output_dir/cxreason_config.yaml``.

``resume_from_checkpoint``: ``auto`` (resume from the newest ``checkpoint-*`` in ``output_dir``
if one exists, else start fresh), a checkpoint path, or unset (start fresh).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CONFIG_NAME = "cxreason_config.yaml"


@dataclass
class ScriptArguments:
    """cxreason's own options (data, images, SFT mix, rewards)."""

    bench: str | None = field(
        default=None, metadata={"help": "bench.jsonl (from `cxreason bench build`)."}
    )
    train_split: str = field(
        default="train", metadata={"help": "BenchItem.split to train on; 'all' = every item."}
    )
    max_items: int | None = field(
        default=None, metadata={"help": "Use at most this many items (seeded random subset)."}
    )
    tasks: list[str] | None = field(default=None, metadata={"help": "Keep only these tasks."})
    images_dir: str | None = field(
        default=None, metadata={"help": "Root for relative image paths."}
    )
    image_fallback: str = field(
        default="error", metadata={"help": "Missing image: error | skip | phantom."}
    )
    phantom_size: int = field(
        default=128, metadata={"help": "Side (px) of SYNTHETIC phantom images."}
    )
    cot_fraction: float = field(
        default=0.5, metadata={"help": "SFT: share of items given a CoT target."}
    )
    both_modes: bool = field(
        default=False, metadata={"help": "SFT: emit CoT and direct samples per item."}
    )
    prompt_mode: str = field(default="cot", metadata={"help": "GRPO prompt mode: cot | direct."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "accuracy", "factuality", "length"],
        metadata={"help": "GRPO rewards in the order of reward_weights."},
    )
    format_gate: bool = field(
        default=False, metadata={"help": "GRPO: other rewards are 0 when the layout is invalid."}
    )
    set_metric: str = field(default="f1", metadata={"help": "Anomaly set reward: f1 | jaccard."})
    length_lo: int = field(default=20, metadata={"help": "Length band lower bound (words)."})
    length_hi: int = field(default=200, metadata={"help": "Length band upper bound (words)."})
    image_size: int | None = field(
        default=None,
        metadata={"help": "Cap images at image_size^2 pixels in the processor (px side)."},
    )
    freeze_vision_tower: bool = field(
        default=False,
        metadata={
            "help": "Freeze the vision encoder (patch embedding + blocks); its merger/projector "
            "stays trainable. For a pretrained or warmed-up vision tower."
        },
    )


def parse_args(config_cls: type, argv: list[str]) -> tuple[ScriptArguments, Any, Any]:
    """(ScriptArguments, SFTConfig|GRPOConfig, ModelConfig) from ``--config YAML`` + overrides."""
    from trl import ModelConfig, TrlParser

    parser = TrlParser((ScriptArguments, config_cls, ModelConfig))
    script, train, model = parser.parse_args_and_config(args=argv)
    if script.bench is None:
        raise ValueError("no benchmark: set `bench:` in the recipe or pass --bench PATH")
    if model.model_name_or_path is None:
        raise ValueError(
            "no model: set `model_name_or_path:` in the recipe or pass --model_name_or_path"
        )
    return script, train, model


def resolve_resume(train_args: Any) -> str | None:
    """The checkpoint to resume from (see module docstring), or None to start fresh."""
    from transformers.trainer_utils import get_last_checkpoint

    want = train_args.resume_from_checkpoint
    if want in (None, "", "false", "False", "none"):
        return None
    if str(want).lower() in ("auto", "true"):
        out = Path(train_args.output_dir)
        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last:
            logger.info("resuming from %s", last)
        return last
    if not Path(want).is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {want} is not a checkpoint folder")
    return str(want)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def save_resolved_config(
    out_dir: str | Path, stage: str, script: Any, train: Any, model: Any, extra: dict | None = None
) -> Path:
    """Write the resolved configuration of a run to ``out_dir/cxreason_config.yaml``."""
    import yaml

    from cxreason import __version__
    from cxreason.prompts import PROMPTS_VERSION
    from cxreason.records import atomic_writer
    from cxreason.vocab import VOCAB_VERSION

    doc = {
        "stage": stage,
        "cxreason_version": __version__,
        "prompts_version": PROMPTS_VERSION,
        "vocab_version": VOCAB_VERSION,
        "script": _plain(script),
        "model": _plain(model),
        "training": _plain(train.to_dict() if hasattr(train, "to_dict") else train),
        **(extra or {}),
    }
    path = Path(out_dir) / CONFIG_NAME
    with atomic_writer(path) as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=True)
    return path


def restore_weights(model: Any, checkpoint: str | Path) -> None:
    """Load a checkpoint's full weights into ``model`` (before ``trainer.train(resume_...)``).

    Why: transformers 5 saves VLM checkpoints with the original (hub) parameter names
    (``model.layers.*``, ``visual.*``) while the module uses ``model.language_model.*`` /
    ``model.visual.*``; ``Trainer._load_from_checkpoint`` calls ``load_state_dict(strict=False)``
    on the raw file, so on resume no weight matches and training silently restarts from the
    initial weights. ``from_pretrained`` applies the key conversion; we copy its state in.
    PEFT adapters and sharded FSDP/DeepSpeed checkpoints load correctly and are left alone.
    """
    from transformers import AutoModelForImageTextToText

    ckpt = Path(checkpoint)
    if (
        not (ckpt / "model.safetensors").exists()
        and not (ckpt / "model.safetensors.index.json").exists()
    ):
        return
    if hasattr(model, "peft_config"):
        return
    loaded = AutoModelForImageTextToText.from_pretrained(str(ckpt), dtype=model.dtype)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or {})
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(
            f"{ckpt}: checkpoint does not match the model (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    logger.info("restored weights from %s", ckpt)
