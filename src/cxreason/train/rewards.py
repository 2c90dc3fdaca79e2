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

Mixed runs: a direct-mode sample gets ``None`` from every process reward and from ``length``, so
TRL leaves those rewards out of its weighted sum and out of their logged mean: the process reward
is computed and logged for reasoning (CoT) samples only. Each reward that can return ``None``
also logs ``rewards/<name>/applies`` (the share of the batch it scored) and ``format`` logs
``samples/cot_share`` through TRL's ``log_metric`` hook.

``semantics="nv_reason_cxr"`` (recipe key ``reward_semantics``) selects NV-Reason-CXR's released
reward semantics (``train/vlm_rewards.py`` of NVIDIA-Medtech/NV-Reason-CXR, read, not copied)
instead of cxreason's strict ones, to reproduce that run:

- ``format``: ``^<think>.*?</think>\\s*<answer>.*?</answer>$`` (empty blocks allowed) and each of
  the four tags exactly once;
- ``accuracy``: 0 unless ``format`` holds; then the FIRST ``<answer>`` block, split on commas,
  lower-cased, kept only where it equals a CheXpert name exactly (anything else is silently
  dropped), Jaccard against the gold labels (the item's ``answer``), 1.0 when both sets are
  empty. Closed tasks (not in NV's data): the option letter of the first ``<answer>``;
- ``length``: NV's short-output penalty in TOKENS (``completion_ids``): 0 at ``length_lo``
  tokens or more, else ``max(-1, (n - length_lo) / length_lo)`` (NV: 400 and 400); ``None`` in
  direct mode. ``length_hi`` is unused.

The strict semantics stay the default everywhere else: they count an out-of-vocabulary label as
a false positive instead of dropping it (NV's reward pays an answer padded with junk labels in
full), read the LAST answer block as ``cxreason score`` does, and reward a length band in words.
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
REWARD_SEMANTICS = ("strict", "nv_reason_cxr")

# --------------------------------------------------------------------------- NV-Reason-CXR semantics

_NV_FORMAT_RE = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>$", re.S)
_NV_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_FIRST_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)


def nv_format_ok(text: str) -> bool:
    """NV-Reason-CXR's layout check: its format regex and every tag exactly once."""
    return bool(_NV_FORMAT_RE.match(text)) and all(text.count(t) == 1 for t in _NV_TAGS)


def nv_label_set(text: str) -> set[str]:
    """Comma-separated names, lower-cased, kept only where they equal a CheXpert name exactly."""
    from cxreason.vocab import CHEXPERT_LABELS

    names = {lb.lower() for lb in CHEXPERT_LABELS}
    return {t.strip().lower() for t in text.strip().split(",")} & names


def nv_accuracy_score(
    text: str,
    task: str,
    answer: str,
    options: Any = None,
    answer_labels: Sequence[str] | None = None,
) -> float:
    """NV-Reason-CXR's format-gated accuracy: Jaccard of the FIRST answer's known labels (see module doc)."""
    from cxreason.metrics.outcome import match_option

    if not nv_format_ok(text):
        return 0.0
    m = _FIRST_ANSWER_RE.search(text)
    if m is None:
        return 0.0
    if task != "anomaly":
        opts = _options(options)
        pred = m.group(1).strip()
        return float((match_option(pred, opts) if opts else pred) == answer)
    gold = nv_label_set(answer or ", ".join(answer_labels or []))
    pred = nv_label_set(m.group(1))
    union = gold | pred
    return len(gold & pred) / len(union) if union else 1.0


def nv_format_reward(completions: Sequence[Any], **_: Any) -> list[float | None]:
    """NV-Reason-CXR's format reward (1/0)."""
    return [float(nv_format_ok(completion_text(c))) for c in completions]


def nv_accuracy_reward(completions, task, answer, options=None, answer_labels=None, **_):
    """NV-Reason-CXR's ``accuracy_reward_hard`` semantics (format-gated Jaccard, first answer)."""
    n = len(completions)
    cols = (_column(task, n), _column(answer, n), _column(options, n), _column(answer_labels, n))
    rows = zip(completions, *cols, strict=True)
    return [nv_accuracy_score(completion_text(c), t, a, o, lab) for c, t, a, o, lab in rows]


def overshort_penalty(n_tokens: int, min_tokens: int) -> float:
    """NV-Reason-CXR's short-output penalty: 0 at ``min_tokens`` or more, down to -1 at 0."""
    if n_tokens >= min_tokens:
        return 0.0
    return max(-1.0, (n_tokens - min_tokens) / min_tokens)


def make_overshort_reward(min_tokens: int = 400) -> RewardFunc:
    """The token-count penalty of NV-Reason-CXR (``completion_ids`` from TRL); None in direct mode."""
    if min_tokens <= 0:
        raise ValueError(f"the short-output penalty needs length_lo > 0 tokens, got {min_tokens}")

    def length_reward(completions, completion_ids=None, mode=None, **_):
        if completion_ids is None:
            raise ValueError("the token length reward needs completion_ids (TRL passes them)")
        modes = _column(mode, len(completions), "cot")
        ids = _column(completion_ids, len(completions))
        return [
            None if m == "direct" else overshort_penalty(len(t), min_tokens)
            for t, m in zip(ids, modes, strict=True)
        ]

    return length_reward


# --------------------------------------------------------------------------- building


def gated(func: RewardFunc, check: Callable[[str, str], bool] | None = None) -> RewardFunc:
    """``func`` with its value set to 0 where the completion fails the format check."""

    def wrapper(completions, mode=None, **kw):
        values = func(completions, mode=mode, **kw)
        modes = _column(mode, len(completions), "cot")
        ok = [
            (check or check_format)(completion_text(c), m or "cot")
            for c, m in zip(completions, modes, strict=True)
        ]
        return [v if v is None or g else 0.0 for v, g in zip(values, ok, strict=True)]

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def logging_coverage(func: RewardFunc, name: str) -> RewardFunc:
    """``func`` that also logs ``rewards/<name>/applies``: the share of samples it scored."""

    def wrapper(completions, log_metric=None, **kw):
        values = func(completions, **kw)
        if log_metric is not None and values:
            log_metric(f"rewards/{name}/applies", sum(v is not None for v in values) / len(values))
        return values

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def logging_cot_share(func: RewardFunc) -> RewardFunc:
    """``func`` that also logs ``samples/cot_share`` (share of CoT-mode samples in the batch)."""

    def wrapper(completions, mode=None, log_metric=None, **kw):
        if log_metric is not None and completions:
            modes = _column(mode, len(completions), "cot")
            log_metric("samples/cot_share", sum(m != "direct" for m in modes) / len(modes))
        return func(completions, mode=mode, **kw)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def check_reward_names(names: Sequence[str], semantics: str = "strict") -> None:
    """Raise a one-line ``ValueError`` naming the valid choices for unknown names or semantics."""
    unknown = [n for n in names if n not in REWARD_NAMES]
    if unknown:
        raise ValueError(
            f"unknown reward(s) {', '.join(map(repr, unknown))}; choose from {', '.join(REWARD_NAMES)}"
        )
    if semantics not in REWARD_SEMANTICS:
        raise ValueError(
            f"unknown reward_semantics {semantics!r}; choose from {', '.join(REWARD_SEMANTICS)}"
        )


def build_reward_funcs(
    names: Sequence[str],
    *,
    set_metric: str = "f1",
    length_band: tuple[int, int] = (20, 200),
    format_gate: bool = False,
    semantics: str = "strict",
) -> list[RewardFunc]:
    """Reward functions by name, in order (the order of ``GRPOConfig.reward_weights``).

    ``format_gate``: every reward but ``format`` is 0 on completions with an invalid layout.
    ``semantics``: ``strict`` (cxreason) or ``nv_reason_cxr`` (see module docstring).
    """
    check_reward_names(names, semantics)
    nv = semantics == "nv_reason_cxr"
    table: dict[str, Callable[[], RewardFunc]] = {
        "format": lambda: nv_format_reward if nv else format_reward,
        "accuracy": lambda: nv_accuracy_reward if nv else make_accuracy_reward(set_metric),
        "factuality": lambda: factuality_reward,
        "completeness": lambda: completeness_reward,
        "radrscore": lambda: radrscore_reward,
        "length": lambda: (
            make_overshort_reward(length_band[0]) if nv else make_length_reward(*length_band)
        ),
    }
    funcs = [table[n]() for n in names]
    if format_gate:
        check = (lambda text, _mode: nv_format_ok(text)) if nv else None
        funcs = [f if n == "format" else gated(f, check) for n, f in zip(names, funcs, strict=True)]
    out = []
    for n, f in zip(names, funcs, strict=True):
        if n in ("factuality", "completeness", "radrscore", "length"):
            f = logging_coverage(f, f.__name__)
        if n == "format":
            f = logging_cot_share(f)
        out.append(f)
    return out


def weighted_rewards(
    funcs: Sequence[RewardFunc],
    weights: Sequence[float] | None,
    completions: Sequence[Any],
    **columns: Any,
) -> list[float]:
    """Each completion's total reward as TRL's GRPOTrainer sums it: ``nansum(weight * reward)``.

    ``None`` rewards are left out; a completion no reward applies to scores 0.
    """
    weights = list(weights) if weights is not None else [1.0] * len(funcs)
    if len(weights) != len(funcs):
        raise ValueError(f"{len(weights)} weights for {len(funcs)} reward functions")
    totals = [0.0] * len(completions)
    for f, w in zip(funcs, weights, strict=True):
        for i, v in enumerate(f(completions, **columns)):
            if v is not None:
                totals[i] += w * v
    return totals
