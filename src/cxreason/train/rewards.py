"""GRPO reward functions with TRL's signature ``f(completions, **columns) -> list[float | None]``.

Completions arrive as strings or as conversational lists (``[{"role": "assistant", "content":
...}]``, content a string or a list of ``{"type": "text", "text": ...}`` parts); both are read.
Dataset columns used (built by :mod:`cxreason.train.formatting`): ``task``, ``answer``,
``options`` (JSON string or dict; None for anomaly items), ``answer_labels``, ``report``,
``mode`` (``cot`` | ``direct``), ``reference`` and ``reference_steps`` (the mined chain).
TRL passes every dataset column as a keyword argument.

Rewards (SPEC "Rewards"); every one is in [0, 1], or None where it does not apply (TRL then
leaves it out of the weighted sum for that sample):

- ``format``: 1 when the completion has exactly the expected blocks and nothing outside them:
  CoT ``<think>non-empty</think><answer>non-empty</answer>`` (whitespace between/around allowed),
  direct ``<answer>non-empty</answer>``; else 0.
- ``accuracy``: closed tasks 1/0 on the option letter of the LAST ``<answer>`` block
  (:func:`cxreason.metrics.outcome.match_option`); anomaly: set F1 (or Jaccard) with a STRICT
  vocabulary: every out-of-vocabulary term is a false positive, and an answer naming
  ``No Finding`` together with anything else is contradictory and scores 0.
- ``factuality``: RadRScore factuality of the ``<think>`` block against the report; None when
  the sample has no report or is a direct-mode sample; 0 for a missing/empty ``<think>`` or one
  that asserts no clinical entity (as the metric scores it).
- ``completeness``: RadRScore completeness of ``<think>`` against the item's reference chain
  (column ``reference``): the share of the reference's entities the reasoning covers; None
  without a reference chain or in direct mode. Factuality alone rewards saying little (one safe
  negative scores 1.0); completeness is its counterweight.
- ``radrscore``: the whole offline RadRScore of ``<think>`` (mean of factuality vs ``report``,
  completeness vs ``reference`` and step effectiveness vs ``reference_steps``, with the metric's
  MiniLM step matcher): the process reward optimises exactly what ``cxreason score`` reports.
  None without a report or a reference chain, or in direct mode.
- ``length``: a soft band on the completion's word count: 1 inside ``[lo, hi]``, falling
  linearly to 0 at ``lo/2`` words below and ``2*hi`` words above.

Weights live in the recipe (``GRPOConfig.reward_weights``, in the order of ``reward_funcs``).

``format_gate=True`` (recipe key ``format_gate``) makes the format reward a *gate*: every other
reward is 0 for a completion whose layout is invalid (``None`` stays ``None``). Without it a
policy can collect accuracy from the last of many repeated ``<answer>`` blocks (observed on the
tiny model: ``<answer>A</answer>A</answer>A</answer>...``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from cxreason.vocab import NO_FINDING

RewardFunc = Callable[..., list[float | None]]

_TAG_RE = re.compile(r"</?(think|answer)>", re.IGNORECASE)
_COT_RE = re.compile(r"^\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*$", re.I | re.S)
_DIRECT_RE = re.compile(r"^\s*<answer>(.*?)</answer>\s*$", re.I | re.S)


def completion_text(completion: Any) -> str:
    """The generated text of one completion (string, message list or message dict)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    msgs = [m for m in completion if isinstance(m, dict)]
    assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"]
    return "".join(_content_text(m.get("content")) for m in (assistant or msgs))


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content if isinstance(p, dict))


def _column(values: Sequence[Any] | None, n: int, default: Any = None) -> list[Any]:
    """A per-sample column of length ``n`` (absent -> ``default`` for every sample)."""
    if values is None:
        return [default] * n
    if len(values) != n:
        raise ValueError(f"reward column has {len(values)} values for {n} completions")
    return list(values)


def check_format(text: str, mode: str = "cot") -> bool:
    """Whether ``text`` has exactly the blocks of ``mode`` in order, non-empty, nothing outside."""
    tags = [t.lower() for t in _TAG_RE.findall(text)]
    if mode == "direct":
        m = _DIRECT_RE.match(text)
        return bool(m and m.group(1).strip()) and tags == ["answer", "answer"]
    m = _COT_RE.match(text)
    if not m or tags != ["think", "think", "answer", "answer"]:
        return False
    return bool(m.group(1).strip() and m.group(2).strip())


def format_reward(completions: Sequence[Any], mode: Sequence[str] | None = None, **_: Any):
    """1.0 when the completion follows the expected CoT/direct layout exactly, else 0.0."""
    modes = _column(mode, len(completions), "cot")
    return [
        float(check_format(completion_text(c), m or "cot"))
        for c, m in zip(completions, modes, strict=True)
    ]


def _options(raw: Any) -> dict[str, str] | None:
    if raw is None or raw == "":
        return None
    d = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return {k: v for k, v in d.items() if v is not None} or None


def label_set_score(answer: str | None, gold: set[str], metric: str = "f1") -> float:
    """Strict set score of the labels named in ``answer`` vs ``gold`` (F1 or Jaccard).

    OOV terms count as false positives; ``No Finding`` together with anything else -> 0.
    """
    from cxreason.metrics.outcome import parse_label_set, set_prf

    if not answer:
        return 0.0
    labels, oov = parse_label_set(answer)
    if NO_FINDING in labels and (len(labels) > 1 or oov):
        return 0.0
    pred = labels | {f"oov:{i}:{t}" for i, t in enumerate(oov)}
    if not pred:
        return 0.0
    if metric == "jaccard":
        return len(pred & gold) / len(pred | gold)
    return set_prf(pred, gold)[2]


def accuracy_score(
    text: str,
    task: str,
    answer: str,
    options: Any = None,
    answer_labels: Sequence[str] | None = None,
    metric: str = "f1",
) -> float:
    """Outcome reward of one completion: option match (closed) or strict set score (anomaly)."""
    from cxreason.metrics.outcome import match_option, parse_answer

    pred = parse_answer(text)
    if task == "anomaly":
        gold = set(answer_labels or []) or {NO_FINDING}
        return label_set_score(pred, gold, metric)
    opts = _options(options)
    if pred is None:
        return 0.0
    if opts is None:
        return float(" ".join(pred.split()).casefold() == " ".join(answer.split()).casefold())
    return float(match_option(pred, opts) == answer)


def make_accuracy_reward(metric: str = "f1") -> RewardFunc:
    """An accuracy reward whose anomaly items use ``metric`` (``f1`` | ``jaccard``)."""
    if metric not in ("f1", "jaccard"):
        raise ValueError(f"set metric must be 'f1' or 'jaccard', got {metric!r}")

    def accuracy_reward(completions, task, answer, options=None, answer_labels=None, **_):
        n = len(completions)
        cols = (
            _column(task, n),
            _column(answer, n),
            _column(options, n),
            _column(answer_labels, n),
        )
        rows = zip(completions, *cols, strict=True)
        return [
            accuracy_score(completion_text(c), t, a, o, lab, metric) for c, t, a, o, lab in rows
        ]

    return accuracy_reward


accuracy_reward = make_accuracy_reward("f1")


def _think_block(text: str) -> str | None:
    """Content of the single ``<think>`` block (None if absent, repeated or empty)."""
    blocks = re.findall(r"<think>(.*?)</think>", text, re.I | re.S)
    if len(blocks) != 1 or not blocks[0].strip():
        return None
    return blocks[0].strip()


def factuality_reward(
    completions: Sequence[Any],
    report: Sequence[str | None] | None = None,
    mode: Sequence[str] | None = None,
    **_: Any,
) -> list[float | None]:
    """RadRScore factuality of ``<think>`` vs the report; None without a report or in direct mode."""
    from cxreason.metrics.radrscore import factuality

    return _process_reward(
        completions, {"report": report}, mode, lambda think, rep: factuality(think, rep) or 0.0
    )


def _process_reward(
    completions: Sequence[Any],
    columns: dict[str, Sequence[Any] | None],
    mode: Sequence[str] | None,
    score: Callable[..., float],
) -> list[float | None]:
    """``score(think, *column values)`` per sample, the process rewards' shared rules.

    None where the reward is undefined: direct mode, or any of ``columns`` blank for the sample.
    0.0 for a missing, repeated or empty ``<think>`` block (as the metric scores it).
    """
    n = len(completions)
    cols = [_column(v, n) for v in columns.values()]
    out: list[float | None] = []
    for i, (c, m) in enumerate(zip(completions, _column(mode, n, "cot"), strict=True)):
        values = [col[i] for col in cols]
        if m == "direct" or any(v is None or not str(v).strip() or v == [] for v in values):
            out.append(None)
            continue
        think = _think_block(completion_text(c))
        out.append(float(score(think, *values)) if think else 0.0)
    return out


def completeness_reward(
    completions: Sequence[Any],
    reference: Sequence[str | None] | None = None,
    mode: Sequence[str] | None = None,
    **_: Any,
) -> list[float | None]:
    """RadRScore completeness of ``<think>`` vs the reference chain; None without one."""
    from cxreason.metrics.radrscore import completeness

    return _process_reward(completions, {"reference": reference}, mode, completeness)


def radrscore_reward(
    completions: Sequence[Any],
    report: Sequence[str | None] | None = None,
    reference: Sequence[str | None] | None = None,
    reference_steps: Sequence[Sequence[str] | None] | None = None,
    mode: Sequence[str] | None = None,
    **_: Any,
) -> list[float | None]:
    """Offline RadRScore of ``<think>`` (mean of factuality, completeness, effectiveness)."""
    from cxreason.metrics.radrscore import reasoning_parts

    columns = {"report": report, "reference": reference, "steps": reference_steps}
    return _process_reward(
        completions, columns, mode, lambda *args: reasoning_parts(*args)["radrscore"]
    )


def band_score(n: float, lo: float, hi: float) -> float:
    """1 inside [lo, hi]; linear to 0 at lo/2 below and at 2*hi above."""
    if lo <= n <= hi:
        return 1.0
    if n < lo:
        return max(0.0, (n - lo / 2) / (lo / 2)) if lo > 0 else 1.0
    return max(0.0, (2 * hi - n) / hi)


def make_length_reward(lo: int = 20, hi: int = 200) -> RewardFunc:
    """A soft length band on the completion's word count (see :func:`band_score`)."""
    if not 0 <= lo <= hi or hi <= 0:
        raise ValueError(f"length band needs 0 <= lo <= hi and hi > 0, got [{lo}, {hi}]")

    def length_reward(completions, mode=None, **_):
        modes = _column(mode, len(completions), "cot")
        out: list[float | None] = []
        for c, m in zip(completions, modes, strict=True):
            words = len(completion_text(c).split())
            out.append(None if m == "direct" else band_score(words, lo, hi))
        return out

    return length_reward


length_reward = make_length_reward()

REWARD_NAMES = ("format", "accuracy", "factuality", "completeness", "radrscore", "length")


def gated(func: RewardFunc) -> RewardFunc:
    """``func`` with its value set to 0 where the completion fails the format check."""

    def wrapper(completions, mode=None, **kw):
        values = func(completions, mode=mode, **kw)
        ok = format_reward(completions, mode=mode)
        return [v if v is None or g else 0.0 for v, g in zip(values, ok, strict=True)]

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def build_reward_funcs(
    names: Sequence[str],
    *,
    set_metric: str = "f1",
    length_band: tuple[int, int] = (20, 200),
    format_gate: bool = False,
) -> list[RewardFunc]:
    """Reward functions by name, in order (the order of ``GRPOConfig.reward_weights``).

    ``format_gate``: every reward but ``format`` is 0 on completions with an invalid layout.
    """
    table: dict[str, Callable[[], RewardFunc]] = {
        "format": lambda: format_reward,
        "accuracy": lambda: make_accuracy_reward(set_metric),
        "factuality": lambda: factuality_reward,
        "completeness": lambda: completeness_reward,
        "radrscore": lambda: radrscore_reward,
        "length": lambda: make_length_reward(*length_band),
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; choose from {list(REWARD_NAMES)}")
    funcs = [table[n]() for n in names]
    if format_gate:
        funcs = [f if n == "format" else gated(f) for n, f in zip(names, funcs, strict=True)]
    return funcs
