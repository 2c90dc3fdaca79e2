"""Prompts and question templates: one versioned source of truth.

Prompts follow ChestX-Reasoner (Suppl. 6.2). Bump ``PROMPTS_VERSION`` whenever any text here
changes: benchmark manifests, caches and training runs record it.
"""

from __future__ import annotations

from cxreason.vocab import FINDING_LABELS, NO_FINDING

PROMPTS_VERSION = "2026-12-01.1"  # .1: the anomaly question lists the allowed labels

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
TEMPORAL_TEMPLATE = (
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
