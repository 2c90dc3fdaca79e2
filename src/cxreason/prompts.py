"""Prompts and question templates: one versioned source of truth.

Prompts follow ChestX-Reasoner (Suppl. 6.2). Bump ``PROMPTS_VERSION`` whenever any text here
changes: benchmark manifests, caches, training runs and predictions record it.

**Prompt profiles** word a benchmark item the way a released checkpoint was prompted by its
authors (:data:`PROFILES`); :func:`item_messages` turns a BenchItem + mode + profile into HF
chat messages for any backend. Every profile is scored by the same parser
(:mod:`cxreason.metrics.outcome`).
"""

from __future__ import annotations

from typing import Any

from cxreason.vocab import FINDING_LABELS, NO_FINDING

# .3 (one bump for three changes made in parallel): prompt profiles, the temporal question names
# the reference image, the anomaly question lists the allowed labels.
PROMPTS_VERSION = "2026-11-30.3"

SYSTEM_PROMPT = "You are a helpful AI assistant."

DIRECT_SUFFIX = "Please enclose the answer within <answer></answer>."
COT_SUFFIX = (
    "Please think step by step, and enclose the answer within <answer></answer> "
    "and the reasoning processes within <think></think>."
)

# Benchmark question templates (SPEC "Benchmark rules").
BINARY_TEMPLATE = "Does this chest X-ray show {finding}?"
SINGLE_QUESTION = "Which finding is in this chest X-ray?"
MULTIPLE_QUESTION = "Which findings are in this chest X-ray?"
#: The anomaly question names the allowed answers (the CheXpert findings in canonical order, or
#: No Finding), so a model knows the vocabulary its answer is scored against: an
#: out-of-vocabulary term is a false positive.
ANOMALY_QUESTION = (
    "Which findings are in this chest X-ray? Answer with one or more of: "
    + ", ".join(FINDING_LABELS)
    + f"; or {NO_FINDING}."
)
#: The SPEC wording, plus which image is which (images come in this order: reference first).
TEMPORAL_TEMPLATE = (
    "You are given two images: one reference image and one new image. "
    "The first image is the reference image (the earlier study) and the second image is the "
    "new image. Please identify the progression of {finding}."
)
#: The paper's wording (RadRBench-CXR's released items): recognised when importing them.
PAPER_TEMPORAL_TEMPLATE = (
    "You are given two images: one reference image and one new image. "
    "Please identify the progression of {finding}."
)
TEMPORAL_OPTIONS = ("worsening", "stable", "improving")

MODES = ("direct", "cot")


def format_options(options: dict[str, str] | None) -> str:
    """Render options as ``A) text B) text`` (empty string when there are none)."""
    if not options:
        return ""
    return " ".join(f"{letter}) {text}" for letter, text in options.items())


def user_prompt(question: str, options: dict[str, str] | None = None, mode: str = "cot") -> str:
    """The user turn's text (images come before it in the chat message)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    opts = format_options(options)
    body = f"{question} {opts}".strip() if opts else question
    suffix = COT_SUFFIX if mode == "cot" else DIRECT_SUFFIX
    return f"{body} {suffix}"


def chat_messages(
    question: str,
    options: dict[str, str] | None = None,
    n_images: int = 1,
    mode: str = "cot",
) -> list[dict]:
    """Chat messages (system + user with ``n_images`` image placeholders first), HF format."""
    content: list[dict] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": user_prompt(question, options, mode)})
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]


# ---------------------------------------------------------------------------------------
# Prompt profiles for released checkpoints

#: ``cxreason``: this toolkit's prompts (system turn, ChestX-Reasoner Suppl. 6.2 suffixes).
#: ``chestx-reasoner``: ChestX-Reasoner-7B as its authors ran it. ``nv-reason-cxr``:
#: NV-Reason-CXR-3B as its authors ran it.
PROFILES = ("cxreason", "chestx-reasoner", "nv-reason-cxr")
DEFAULT_PROFILE = "cxreason"

#: ChestX-Reasoner-7B's reasoning instruction, on its own line after the question and options.
#: Source: MAGIC-AI4Med/ChestX-Reasoner, ChestXReasoner/SFT/dataset/SFT_dataloader.py
#: (``final_prompt``, appended as ``question + "\n" + final_prompt``; user turn only, no system
#: message) and the questions of its released evaluation outputs
#: (eval/res/accuracy_res/ours_process_final_150/*_test_option.json): ``{question} Options:\nA)
#: yes...\nB) ...\n{instruction}``, CheXpert labels in lower case. Answer-only (direct) samples
#: were the bare question with options.
CHESTX_REASONER_COT = (
    "Let's think step by step. Enclose the reasoning within <think></think> "
    "and the answer within <answer></answer>."
)

#: NV-Reason-CXR-3B's only prompt (user turn, no system message), after the image; it answers
#: ``<think>...</think>\n<answer> Label, Label </answer>`` with CheXpert-14 names. Source:
#: NVIDIA-Medtech/NV-Reason-CXR, README.md (inference example) and datalists/sft.jsonl,
#: datalists/grpo.jsonl, train/vlm_grpo_train.py (``vlm_data_format_grpo``: user turn only).
NV_REASON_INSTRUCTION = "Find abnormalities and support devices."


def check_profile(mode: str, profile: str) -> None:
    """ValueError unless ``mode`` and ``profile`` exist and go together."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if profile not in PROFILES:
        raise ValueError(f"prompt profile must be one of {PROFILES}, got {profile!r}")
    if profile == "nv-reason-cxr" and mode != "cot":
        raise ValueError(
            "prompt profile 'nv-reason-cxr' has one prompt, with reasoning: use mode 'cot'"
        )


def _lower_labels(text: str) -> str:
    """CheXpert label names in lower case, as ChestX-Reasoner's questions spell them."""
    from cxreason.vocab import CHEXPERT_LABELS

    for label in sorted(CHEXPERT_LABELS, key=len, reverse=True):
        text = text.replace(label, label.lower())
    return text


def option_lines(options: dict[str, str] | None) -> str:
    """Options as ``Options:\nA) text\nB) text`` (the RadRBench-CXR layout), '' when none."""
    if not options:
        return ""
    return "Options:\n" + "\n".join(f"{letter}) {text}" for letter, text in options.items())


def profile_text(
    question: str, options: dict[str, str] | None, mode: str = "cot", profile: str = DEFAULT_PROFILE
) -> str:
    """The user turn's text of ``question`` (+ options) under a prompt profile.

    - ``cxreason``: :func:`user_prompt`.
    - ``chestx-reasoner``: ``{question} Options:\nA) ...`` (labels lower-cased), then the
      reasoning instruction on its own line in ``cot`` mode; the bare question in ``direct``.
    - ``nv-reason-cxr``: items without options (anomaly): the model's one prompt, ``Find
      abnormalities and support devices.``; closed items: ``{question} Options:\nA) ...``
      (its authors released no closed-question prompt; its answer goes through the same parser,
      where a label set equal to one option's labels counts as that option).
    """
    check_profile(mode, profile)
    if profile == "cxreason":
        return user_prompt(question, options, mode)
    if profile == "nv-reason-cxr":
        if not options:
            return NV_REASON_INSTRUCTION
        return f"{question} {option_lines(options)}"
    body = _lower_labels(question)
    if options:
        body += " " + option_lines({k: _lower_labels(v) for k, v in options.items()})
    return f"{body}\n{CHESTX_REASONER_COT}" if mode == "cot" else body


def profile_messages(
    question: str,
    options: dict[str, str] | None = None,
    n_images: int = 1,
    mode: str = "cot",
    profile: str = DEFAULT_PROFILE,
) -> list[dict[str, Any]]:
    """HF chat messages under a prompt profile: images first, then the text.

    ``cxreason`` has a system turn (:data:`SYSTEM_PROMPT`); the released-checkpoint profiles have
    none, as their authors ran them (the chat template may then insert its own default).
    """
    if profile == DEFAULT_PROFILE:
        check_profile(mode, profile)
        return chat_messages(question, options, n_images, mode)
    content: list[dict] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": profile_text(question, options, mode, profile)})
    return [{"role": "user", "content": content}]


def item_messages(
    item: Any, mode: str = "cot", profile: str = DEFAULT_PROFILE, n_images: int | None = None
) -> list[dict[str, Any]]:
    """Chat messages of a BenchItem (its question and options; one image placeholder per image,
    or ``n_images``, e.g. 0 for a text-only model) under ``mode`` and ``profile``. Every backend
    builds its prompts here."""
    n = len(item.images) if n_images is None else n_images
    return profile_messages(item.question, item.options, n, mode, profile)
