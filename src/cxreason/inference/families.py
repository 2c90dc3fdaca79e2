"""Model families: the one place that knows how each VLM architecture is prompted and decoded.

Every family is loaded through the transformers Auto classes (``AutoModelForImageTextToText``,
``AutoProcessor``; :func:`cxreason.train.model.load_model_and_processor`) and prompted through
its **own** processor and chat template: cxreason builds HF-format messages (images as
``{"type": "image"}`` parts, then text; :mod:`cxreason.prompts`) and the checkpoint's template
renders them (``[INST]`` for LLaVA-NeXT/Mistral, ``<start_of_turn>`` for Gemma 3, ``User:``
for Idefics3/SmolVLM, ``<|im_start|>`` for Qwen-VL). What differs between families and is
handled here, keyed by ``config.model_type``:

- **Stop tokens.** Generation ends at the family's end-of-turn token (Gemma 3 ends a turn with
  ``<end_of_turn>``, not its ``<eos>``; Idefics3 with ``<end_of_utterance>``); the engine stops
  on any of them and reports ``finish_reason="stop"``.
- **Images per prompt.** Images are passed to the processor nested per prompt
  (``[[img, img], [img]]``), the layout every family's processor accepts (Gemma 3 requires it).
- **A tiny random model** of the architecture, built offline from a config with the family's
  processor class, image processor (PIL backend) and chat template
  (:mod:`cxreason.inference.tiny_families`), so each path is tested on a CPU.

An architecture that is not registered still loads through the Auto classes and is prompted
through its own chat template (:data:`GENERIC`); a warning says it is untested. docs/inference.md
("Model families") says how to add one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """One VLM architecture (``config.model_type``) and what cxreason needs to know about it."""

    model_type: str
    name: str
    #: Hub checkpoints of this family (documentation; nothing is ever downloaded).
    examples: tuple[str, ...] = ()
    #: End-of-turn tokens generation stops at (besides the checkpoint's own eos ids).
    stop_tokens: tuple[str, ...] = ()
    #: Name of the tiny-model builder in :mod:`cxreason.inference.tiny_families` (tests, CPU runs).
    tiny: str | None = None
    notes: str = ""


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family(
            "qwen2_vl",
            "Qwen2-VL",
            ("Qwen/Qwen2-VL-7B-Instruct", "byrLLCC/ChestX-Reasoner (Qwen2-VL-7B)"),
            ("<|im_end|>",),
            tiny="qwen2_vl",
        ),
        Family(
            "qwen2_5_vl",
            "Qwen2.5-VL",
            ("Qwen/Qwen2.5-VL-3B-Instruct", "nvidia/NV-Reason-CXR-3B"),
            ("<|im_end|>",),
            tiny="qwen2_5_vl",
        ),
        Family(
            "idefics3",
            "Idefics3 / SmolVLM",
            ("HuggingFaceM4/Idefics3-8B-Llama3", "HuggingFaceTB/SmolVLM-Instruct"),
            ("<end_of_utterance>",),
            tiny="idefics3",
            notes="SmolVLM (v1) checkpoints are model_type idefics3; SmolVLM2 (smolvlm) needs "
            "torchvision for its video processor and is not registered.",
        ),
        Family(
            "llava_next",
            "LLaVA-NeXT",
            ("llava-hf/llava-v1.6-mistral-7b-hf", "llava-hf/llava-v1.6-vicuna-7b-hf"),
            ("</s>", "<|eot_id|>"),
            tiny="llava_next",
            notes="anyres tiling: an image becomes a base crop plus grid crops.",
        ),
        Family(
            "gemma3",
            "Gemma 3 / MedGemma",
            ("google/medgemma-4b-it", "google/gemma-3-4b-it"),
            ("<end_of_turn>",),
            tiny="gemma3",
            notes="the template folds a system turn into the first user turn.",
        ),
    )
}

#: Any other image-text-to-text architecture: its own processor and chat template, no extras.
GENERIC = Family("*", "other (untested: the checkpoint's own processor and chat template)")


def model_type_of(model_or_config: Any) -> str:
    """``config.model_type`` of a model (PEFT-wrapped too) or a config ('' when unknown)."""
    cfg = getattr(model_or_config, "config", model_or_config)
    return str(getattr(cfg, "model_type", "") or "")


def family_of(model_or_config: Any) -> Family:
    """The registered family of a model/config, or :data:`GENERIC` (with a one-time warning)."""
    mt = model_type_of(model_or_config)
    fam = FAMILIES.get(mt)
    if fam is None:
        _warn_untested(mt)
        return GENERIC
    return fam


@cache
def _warn_untested(model_type: str) -> None:
    logger.warning(
        "model type %r is not a tested family (%s): prompting it through its own processor and "
        "chat template as is",
        model_type,
        ", ".join(FAMILIES),
    )


def _token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` if the tokenizer knows it as one token, else None."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) == 1 and tokenizer.convert_ids_to_tokens(ids[0]) == token:
        return int(ids[0])
    return None


def _as_list(x: Any) -> list[int]:
    if x is None:
        return []
    return [int(v) for v in (x if isinstance(x, list | tuple) else [x])]


def stop_token_ids(model: Any, tokenizer: Any, family: Family) -> list[int]:
    """Token ids that end generation: the checkpoint's eos ids, the tokenizer's eos, and the
    family's end-of-turn tokens present in the vocabulary (sorted, no duplicates)."""
    gen = getattr(model, "generation_config", None)
    ids = set(_as_list(getattr(gen, "eos_token_id", None)))
    ids.update(_as_list(getattr(tokenizer, "eos_token_id", None)))
    for tok in family.stop_tokens:
        tid = _token_id(tokenizer, tok)
        if tid is not None:
            ids.add(tid)
    return sorted(ids)


def processor_inputs(processor: Any, texts: Sequence[str], images: Sequence[Sequence[Any]]):
    """Tokenised batch: rendered prompts ``texts`` and, per prompt, its images (PIL, in order).

    Images go nested per prompt (``[[a, b], [c]]``), the layout every registered family's
    processor accepts; a batch without any image passes ``images=None``.
    """
    nested = [[im.convert("RGB") for im in per] for per in images]
    has_images = any(nested)
    return processor(
        text=list(texts), images=nested if has_images else None, return_tensors="pt", padding=True
    )


def build_tiny(model_type: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build the tiny random model of a registered family into ``out_dir`` (offline)."""
    from cxreason.inference import tiny_families

    fam = FAMILIES.get(model_type)
    if fam is None or fam.tiny is None:
        raise ValueError(
            f"no tiny model for {model_type!r}; families with one: "
            + ", ".join(k for k, f in FAMILIES.items() if f.tiny)
        )
    builder: Callable[..., Path] = tiny_families.BUILDERS[fam.tiny]
    return builder(Path(out_dir), seed=seed)
