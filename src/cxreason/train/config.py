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


class RecipeError(ValueError):
    """A recipe, command-line or input problem the user must fix: shown in one line, exit 2."""


@dataclass
class ScriptArguments:
    """cxreason's own options (data, images, SFT mix, GRPO prompt mix, rewards)."""

    _argument_group_name = "cxreason: data, images, prompt mix and rewards"

    bench: str | None = field(
        default=None, metadata={"help": "bench.jsonl (from `cxreason bench build`)."}
    )
    train_split: str = field(
        default="train", metadata={"help": "BenchItem.split to train on; 'all' = every item."}
    )
    max_items: int | None = field(
        default=None, metadata={"help": "Use at most this many items (seeded random subset)."}
    )
    tasks: list[str] | None = field(
        default=None,
        metadata={"help": "Keep only these tasks (binary single multiple anomaly temporal)."},
    )
    images_dir: str | None = field(
        default=None,
        metadata={"help": "Root for relative image paths; unset = the bench file's folder."},
    )
    image_fallback: str = field(
        default="error", metadata={"help": "Missing image: error | skip | phantom."}
    )
    phantom_size: int = field(
        default=128, metadata={"help": "Side (px) of SYNTHETIC phantom images."}
    )
    image_cache_size: int = field(
        default=64,
        metadata={
            "help": "Images are decoded at batch time; keep at most this many decoded images "
            "(LRU, per data-loader worker). 0 = no cache."
        },
    )
    cot_fraction: float = field(
        default=0.5,
        metadata={
            "help": "Share of items given the CoT prompt (items with a mined chain): the SFT "
            "target, and the GRPO prompt when prompt_mode is mixed."
        },
    )
    both_modes: bool = field(
        default=False, metadata={"help": "SFT: emit CoT and direct samples per item."}
    )
    prompt_mode: str = field(
        default="cot",
        metadata={
            "help": "GRPO prompt mode: cot | direct | mixed (per item, seeded: CoT with "
            "probability cot_fraction, else direct; the process rewards score CoT samples only)."
        },
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "accuracy", "factuality", "completeness", "length"],
        metadata={
            "help": "GRPO rewards in the order of reward_weights: format accuracy factuality "
            "completeness radrscore length."
        },
    )
    reward_semantics: str = field(
        default="strict",
        metadata={
            "help": "strict (cxreason) | nv_reason_cxr (NV-Reason-CXR's released rewards: "
            "first <answer>, exact lower-case CheXpert names, unknown names dropped, Jaccard, "
            "format-gated; length = short-output penalty in tokens)."
        },
    )
    format_gate: bool = field(
        default=False, metadata={"help": "GRPO: other rewards are 0 when the layout is invalid."}
    )
    set_metric: str = field(default="f1", metadata={"help": "Anomaly set reward: f1 | jaccard."})
    length_lo: int = field(
        default=20,
        metadata={
            "help": "Length band lower bound in words (nv_reason_cxr semantics: the minimum "
            "length in tokens below which the penalty starts)."
        },
    )
    length_hi: int = field(
        default=200,
        metadata={"help": "Length band upper bound in words (unused by nv_reason_cxr)."},
    )
    image_size: int | None = field(
        default=None,
        metadata={"help": "Cap images at image_size^2 pixels in the processor (px side)."},
    )
    image_min_size: int | None = field(
        default=None,
        metadata={
            "help": "Enlarge images below image_min_size^2 pixels (px side; None keeps the "
            "processor's floor)."
        },
    )
    freeze_vision_tower: bool = field(
        default=False,
        metadata={
            "help": "Freeze the vision encoder (patch embedding + blocks); its merger/projector "
            "stays trainable. For a pretrained or warmed-up vision tower."
        },
    )
    freeze_merger: bool = field(
        default=False,
        metadata={
            "help": "With freeze_vision_tower: freeze the merger/projector too, so the image "
            "tokens the language model reads stay exactly the warmed-up features."
        },
    )
    verdict_step: bool = field(
        default=False,
        metadata={
            "help": "SFT, binary items: insert '<Finding> is present.' / '... is absent.' after "
            "the chain's first step, so the chain commits to the finding's status at one "
            "fixed position (the report's wording of the evidence follows)."
        },
    )


HELP_DESCRIPTION = (
    "Keys come from a flat YAML recipe (--config RECIPE.yaml) and are overridden by --key value "
    "on the command line. Option names must be spelled in full."
)


def make_parser(config_cls: type):
    """TRL's parser for (ScriptArguments, ``config_cls``, ModelConfig): no prefix matching, and
    argparse errors raised as :class:`RecipeError` instead of printing the whole usage."""
    from trl import ModelConfig, TrlParser

    class _Parser(TrlParser):
        def error(self, message: str):  # argparse calls this on a bad value or a missing one
            raise RecipeError(message)

    return _Parser(
        (ScriptArguments, config_cls, ModelConfig),
        allow_abbrev=False,
        prog=f"cxreason train {'grpo' if 'GRPO' in config_cls.__name__ else 'sft'}",
        description=HELP_DESCRIPTION,
    )


def parse_args(config_cls: type, argv: list[str]) -> tuple[ScriptArguments, Any, Any]:
    """(ScriptArguments, SFTConfig|GRPOConfig, ModelConfig) from ``--config YAML`` + overrides.

    Every problem with the recipe or the command line is a one-line :class:`RecipeError`.
    """
    import yaml

    parser = make_parser(config_cls)
    try:
        script, train, model = parser.parse_args_and_config(args=argv)
    except RecipeError:
        raise
    except FileNotFoundError as e:
        raise RecipeError(f"recipe not found: {e.filename}") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe is not valid YAML: {' '.join(str(e).split())}") from None
    except (ValueError, TypeError) as e:
        raise RecipeError(_explain_parse_error(str(e), parser)) from None
    validate(script, train, model)
    return script, train, model


def _explain_parse_error(msg: str, parser: Any) -> str:
    """A parse error in one line; unknown options get the nearest valid name."""
    import difflib
    import re

    msg = " ".join(msg.split())
    unknown = re.findall(r"'--?([\w.-]+)'", msg) if "not used" in msg or "Unknown" in msg else []
    if not unknown:
        return msg
    valid = [o.lstrip("-") for a in parser._actions for o in a.option_strings]
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name.split("=")[0], valid, n=1)
        hints.append(f"--{name}" + (f" (did you mean --{close[0]}?)" if close else ""))
    where = "in the recipe" if "config file" in msg else "on the command line"
    return f"unknown option(s) {where}: {', '.join(hints)}; see --help"


def validate(script: ScriptArguments, train: Any, model: Any) -> None:
    """Static checks of a parsed configuration (no file is opened); raises :class:`RecipeError`."""
    from cxreason.train.formatting import IMAGE_FALLBACKS, PROMPT_MODES
    from cxreason.train.rewards import check_reward_names

    if script.bench is None:
        raise RecipeError("no benchmark: set `bench:` in the recipe or pass --bench PATH")
    if model.model_name_or_path is None:
        raise RecipeError(
            "no model: set `model_name_or_path:` in the recipe or pass --model_name_or_path"
        )
    choices = {
        "image_fallback": (script.image_fallback, IMAGE_FALLBACKS),
        "prompt_mode": (script.prompt_mode, PROMPT_MODES),
        "set_metric": (script.set_metric, ("f1", "jaccard")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise RecipeError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
    if not 0.0 <= script.cot_fraction <= 1.0:
        raise RecipeError(f"cot_fraction must be in [0, 1]; got {script.cot_fraction}")
    if script.freeze_merger and not script.freeze_vision_tower:
        raise RecipeError("freeze_merger needs freeze_vision_tower: true (the merger sits on it)")
    if script.image_cache_size < 0:
        raise RecipeError(f"image_cache_size must be >= 0; got {script.image_cache_size}")
    if script.tasks:
        from cxreason.records import BENCH_TASKS as TASKS

        bad = [t for t in script.tasks if t not in TASKS]
        if bad:
            raise RecipeError(f"unknown task(s) {bad}; choose from {', '.join(TASKS)}")
    if hasattr(train, "reward_weights"):  # GRPO
        try:
            check_reward_names(script.reward_funcs, script.reward_semantics)
        except ValueError as e:
            raise RecipeError(str(e)) from None
        weights = train.reward_weights
        if weights is not None and len(weights) != len(script.reward_funcs):
            raise RecipeError(
                f"reward_weights has {len(weights)} values for {len(script.reward_funcs)} "
                f"reward_funcs ({' '.join(script.reward_funcs)})"
            )
        if script.reward_semantics == "strict" and not 0 <= script.length_lo <= script.length_hi:
            raise RecipeError(
                f"length band needs 0 <= length_lo <= length_hi; got [{script.length_lo}, {script.length_hi}]"
            )


def precheck_inputs(argv: list[str]) -> None:
    """Fast checks of the recipe file, the bench and the model before TRL/torch are imported.

    Reads ``--config`` (YAML) and the last ``--bench`` / ``--model_name_or_path`` on the
    command line (else the recipe's). A missing file or a model path that does not exist is a
    :class:`RecipeError` naming it, raised in well under a second (no hub lookup).
    """
    import yaml

    from cxreason.paths import set_hub_access
    from cxreason.train.model import check_model_source

    recipe: dict[str, Any] = {}
    cfg = _last_value(argv, "--config")
    if cfg is not None:
        path = Path(cfg)
        if not path.is_file():
            raise RecipeError(f"recipe not found: {cfg}")
        try:
            recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise RecipeError(f"{cfg}: not valid YAML: {' '.join(str(e).split())}") from None
        except UnicodeDecodeError as e:
            raise RecipeError(f"{cfg}: not a text file ({e.reason})") from None
        if not isinstance(recipe, dict):
            raise RecipeError(f"{cfg}: a recipe must be a YAML mapping of key: value")
    bench = _last_value(argv, "--bench") or recipe.get("bench")
    if bench is not None:
        if not Path(str(bench)).is_file():
            raise RecipeError(f"bench file not found: {bench}")
    model = _last_value(argv, "--model_name_or_path") or recipe.get("model_name_or_path")
    if model is not None:
        try:
            check_model_source(str(model))
        except ValueError as e:
            raise RecipeError(str(e)) from None
    set_hub_access()  # offline unless the user allowed downloads: a cached id costs no request


def _last_value(argv: list[str], flag: str) -> str | None:
    """The value of the last ``flag VALUE`` or ``flag=VALUE`` in ``argv`` (None if absent)."""
    value = None
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


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
        raise RecipeError(f"resume_from_checkpoint: {want} is not a checkpoint folder")
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
