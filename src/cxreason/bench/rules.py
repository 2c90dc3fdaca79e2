"""Blind answering rules: pick an option without seeing the image (leakage probes).

Each rule maps ``(task, question, options, ctx) -> letter``. Ties go to the earliest letter.
A benchmark leaks when a rule beats chance (1 / number of options) on a closed task. The same
functions are used by the generators (to choose among candidate option sets, adversarial
filtering) and by ``cxreason bench audit``.

Option *labels*: for ``single``/``multiple`` an option's text is a ``", "``-joined label list;
for ``binary``/``temporal`` the option is identified by ``question|text`` (so "most frequent"
means the majority answer to that very question in the frequency source).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from cxreason.vocab import LABEL_ORDER

LABEL_TASKS = ("single", "multiple")
CLOSED_TASKS = ("binary", "single", "multiple", "temporal")
_WORD = re.compile(r"[a-z]+")


@dataclass
class RuleContext:
    """Frequencies of correct-answer tokens.

    ``freq``: train split of the same task; ``freq_all``: all splits of the task;
    ``freq_global``: ``answer_labels`` of every item of every task (label prevalence).
    """

    freq: Counter = field(default_factory=Counter)
    freq_all: Counter = field(default_factory=Counter)
    freq_global: Counter = field(default_factory=Counter)
    #: whole correct-option texts (train split of the task)
    freq_text: Counter = field(default_factory=Counter)
    #: label pairs found together in correct options (train split of the task)
    freq_pairs: Counter = field(default_factory=Counter)


@lru_cache(maxsize=65536)
def option_labels(task: str, question: str, text: str) -> tuple[str, ...]:
    """The tokens an option asserts: its labels (label tasks) or ``question|text``."""
    if task in LABEL_TASKS:
        return tuple(t.strip() for t in text.split(",") if t.strip())
    return (f"{question}|{text}",)


@lru_cache(maxsize=65536)
def _overlap_tokens(task: str, text: str) -> frozenset[str]:
    if task in LABEL_TASKS:
        return frozenset(t.strip() for t in text.split(",") if t.strip())
    return frozenset(_WORD.findall(text.lower()))


def _argbest(
    options: Mapping[str, str], score: Callable[[str], float], lowest: bool = False
) -> str:
    best_letter, best = None, None
    for letter, text in options.items():
        s = score(text)
        s = -s if lowest else s
        if best is None or s > best:
            best_letter, best = letter, s
    return best_letter  # type: ignore[return-value]


@lru_cache(maxsize=65536)
def _canon_index(task: str, question: str, text: str) -> tuple[int, ...]:
    return tuple(
        LABEL_ORDER.get(lb, len(LABEL_ORDER)) for lb in option_labels(task, question, text)
    )


def always_a(task, question, options, ctx) -> str:
    return next(iter(options))


def longest(task, question, options, ctx) -> str:
    return _argbest(options, len)


def shortest(task, question, options, ctx) -> str:
    return _argbest(options, len, lowest=True)


def canonical_order(task, question, options, ctx) -> str:
    """The first option whose labels are listed in canonical CheXpert order."""
    if task not in LABEL_TASKS:
        return next(iter(options))
    for letter, text in options.items():
        idx = _canon_index(task, question, text)
        if list(idx) == sorted(idx):
            return letter
    return next(iter(options))


def canonical_rank(task, question, options, ctx) -> str:
    """The option that sorts first by its labels' canonical positions."""
    if task not in LABEL_TASKS:
        return next(iter(options))
    return min(options, key=lambda k: (_canon_index(task, question, options[k]), k))


def _freq_score(task, question, ctx, table: str = "freq", agg=sum):
    freq = getattr(ctx, table)
    return lambda text: agg(freq.get(t, 0) for t in option_labels(task, question, text))


def most_frequent(task, question, options, ctx) -> str:
    """The option whose labels were most often correct in the frequency source."""
    return _argbest(options, _freq_score(task, question, ctx))


def least_frequent(task, question, options, ctx) -> str:
    return _argbest(options, _freq_score(task, question, ctx), lowest=True)


def _overlap_score(task, options):
    toks = {k: _overlap_tokens(task, v) for k, v in options.items()}

    def score(text: str) -> float:
        mine = _overlap_tokens(task, text)
        return sum(len(mine & t) for t in toks.values()) - len(mine)  # minus itself

    return score


def most_frequent_all(task, question, options, ctx) -> str:
    """As most_frequent, with frequencies from every split of the task (the whole bench)."""
    return _argbest(options, _freq_score(task, question, ctx, "freq_all"))


def most_frequent_max(task, question, options, ctx) -> str:
    """The option holding the single most frequent label (train frequencies)."""
    return _argbest(options, _freq_score(task, question, ctx, "freq", max))


def most_prevalent(task, question, options, ctx) -> str:
    """The option whose labels are most prevalent over all items of all tasks."""
    return _argbest(options, _freq_score(task, question, ctx, "freq_global"))


def most_prevalent_max(task, question, options, ctx) -> str:
    return _argbest(options, _freq_score(task, question, ctx, "freq_global", max))


def most_frequent_text(task, question, options, ctx) -> str:
    """The option whose exact text was most often the correct answer (train split)."""
    return _argbest(options, lambda text: ctx.freq_text.get(f"{question}|{text}", 0))


def label_pairs(labels: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Unordered label pairs of one option (sorted inside each pair)."""
    return _pairs(tuple(labels))


@lru_cache(maxsize=65536)
def _pairs(labels: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    labs = sorted(labels)
    return tuple((a, b) for i, a in enumerate(labs) for b in labs[i + 1 :])


def _pair_score(task, question, ctx):
    return lambda text: sum(
        ctx.freq_pairs.get(p, 0) for p in label_pairs(option_labels(task, question, text))
    )


def most_frequent_pair(task, question, options, ctx) -> str:
    """The most *plausible* set: whose label pairs were most often correct together (train).

    A reader with clinical priors but no image picks findings that usually come together.
    """
    return _argbest(options, _pair_score(task, question, ctx))


def least_frequent_pair(task, question, options, ctx) -> str:
    return _argbest(options, _pair_score(task, question, ctx), lowest=True)


def no_implausible_pair(task, question, options, ctx) -> str:
    """Elimination by plausibility: the option whose *rarest* label pair was most often correct
    together (an option pairing findings never seen together is ruled out first)."""

    def score(text: str) -> float:
        pairs = label_pairs(option_labels(task, question, text))
        return min((ctx.freq_pairs.get(p, 0) for p in pairs), default=0)

    return _argbest(options, score)


def longest_words(task, question, options, ctx) -> str:
    return _argbest(options, lambda text: len(text.split()))


def most_word_overlap(task, question, options, ctx) -> str:
    """The option sharing the most words with the other options ("Lung Opacity" ~ "Lung Lesion")."""
    return _argbest(options, _overlap_score("words", options))


def most_overlap(task, question, options, ctx) -> str:
    """The option sharing the most labels (words) with the other options (the 'centroid')."""
    return _argbest(options, _overlap_score(task, options))


def least_overlap(task, question, options, ctx) -> str:
    return _argbest(options, _overlap_score(task, options), lowest=True)


def _nth(options: Mapping[str, str], key: Callable[[str], object], n: int) -> str:
    """The letter of the option ranked ``n``-th (0-based, ties by letter) by ``key``."""
    order = sorted(options, key=lambda k: (key(options[k]), k))
    return order[min(n, len(order) - 1)]


def second_shortest(task, question, options, ctx) -> str:
    """Middle length ranks: filtering against the longest/shortest rules alone would push the
    truth towards the middle ranks, which a learned probe then finds."""
    return _nth(options, len, 1)


def second_longest(task, question, options, ctx) -> str:
    return _nth(options, len, len(options) - 2)


def second_canonical(task, question, options, ctx) -> str:
    """The same for the canonical-order rank (canonical_rank is the first)."""
    return _nth(options, lambda t: _canon_index(task, question, t), 1)


def third_canonical(task, question, options, ctx) -> str:
    return _nth(options, lambda t: _canon_index(task, question, t), 2)


def second_most_overlap(task, question, options, ctx) -> str:
    """Middle overlap ranks (most_overlap/least_overlap are the extremes)."""
    score = _overlap_score(task, options)
    return _nth(options, lambda t: -score(t), 1)


def third_most_overlap(task, question, options, ctx) -> str:
    score = _overlap_score(task, options)
    return _nth(options, lambda t: -score(t), 2)


#: The audited rules, in report order (the first five are the paper-style probes).
RULES: dict[str, Callable[..., str]] = {
    "always_a": always_a,
    "longest": longest,
    "canonical_order": canonical_order,
    "most_frequent": most_frequent,
    "most_overlap": most_overlap,
    "shortest": shortest,
    "canonical_rank": canonical_rank,
    "least_frequent": least_frequent,
    "least_overlap": least_overlap,
    "most_frequent_all": most_frequent_all,
    "most_frequent_max": most_frequent_max,
    "most_prevalent": most_prevalent,
    "most_prevalent_max": most_prevalent_max,
    "longest_words": longest_words,
    "most_word_overlap": most_word_overlap,
    "most_frequent_text": most_frequent_text,
    "most_frequent_pair": most_frequent_pair,
    "least_frequent_pair": least_frequent_pair,
    "no_implausible_pair": no_implausible_pair,
    "second_shortest": second_shortest,
    "second_longest": second_longest,
    "second_canonical": second_canonical,
    "third_canonical": third_canonical,
    "second_most_overlap": second_most_overlap,
    "third_most_overlap": third_most_overlap,
}


def rule_hits(
    task: str, question: str, options: Mapping[str, str], answer: str, ctx: RuleContext
) -> dict[str, int]:
    """1/0 per rule: does the rule pick ``answer``?"""
    return {name: int(rule(task, question, options, ctx) == answer) for name, rule in RULES.items()}


def label_prevalence(items: Iterable) -> Counter:
    """Counts of ``answer_labels`` over items (every task): the bench's label prevalence."""
    c: Counter = Counter()
    for it in items:
        c.update(it.answer_labels)
    return c


def answer_texts(items: Iterable) -> Counter:
    """Counts of ``question|correct option text`` over items."""
    return Counter(
        f"{it.question}|{it.options[it.answer]}"
        for it in items
        if it.options and it.answer in it.options
    )


def pair_frequencies(items: Iterable) -> Counter:
    """Label-pair counts of the correct options of ``items`` (label tasks only)."""
    c: Counter = Counter()
    for it in items:
        if it.task in LABEL_TASKS and it.options and it.answer in it.options:
            c.update(label_pairs(option_labels(it.task, it.question, it.options[it.answer])))
    return c


def answer_frequencies(items: Iterable) -> Counter:
    """Token counts of the correct options of ``items`` (BenchItem-likes with options)."""
    freq: Counter = Counter()
    for it in items:
        if it.options and it.answer in it.options:
            freq.update(option_labels(it.task, it.question, it.options[it.answer]))
    return freq
