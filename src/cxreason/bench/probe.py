"""Learned leakage probes: a small conditional-logit (softmax) logistic regression in numpy.

A *probe* sees some text of an item that a model would see (question and options, the id, the
image file names, or part of a chain) and learns, cross-validated, to pick the correct option.
If it beats chance, that text gives the answer away. Each option of an item is one row of
hashed sparse binary features; an item's options compete in a softmax (a conditional logit,
i.e. multinomial logistic regression when every item has the same options), trained by
full-batch Adam on the L2-regularised negative log-likelihood. Folds are grouped by study, so a
study's items are never on both sides. Everything is deterministic: features are hashed with
CRC-32 (not Python's salted ``hash``), folds come from a SHA-256 of the group key.

scikit-learn is not a dependency; this is the few dozen lines of it the audit needs.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: Hashed feature space size (collisions are negligible at benchmark scale).
N_FEATURES = 1 << 18


def feature_ids(tokens: Iterable[str]) -> np.ndarray:
    """Distinct hashed feature indices of ``tokens`` (stable across processes)."""
    return np.unique(
        np.fromiter((zlib.crc32(t.encode()) % N_FEATURES for t in tokens), dtype=np.int64)
    )


@dataclass
class Example:
    """One item for a probe: its options' feature token lists, the correct option, its fold.

    ``group`` names the fold: the item's split when the benchmark has several (the generators
    balance answers per split, so folds that cut across splits would see the training folds
    tilted against the held-out one and score *below* chance), else its study.
    """

    options: list[list[str]]
    answer: int
    group: str
    _ids: list[np.ndarray] | None = None

    def feature_arrays(self) -> list[np.ndarray]:
        """Hashed features of each option (computed once)."""
        if self._ids is None:
            self._ids = [feature_ids(t) for t in self.options]
        return self._ids


@dataclass
class _Design:
    """Sparse option rows: ``idx[ptr[r]:ptr[r+1]]`` are row r's features; items own row ranges."""

    idx: np.ndarray
    row_of_nnz: np.ndarray
    item_start: np.ndarray  # first row of each item
    item_of_row: np.ndarray
    answer_row: np.ndarray  # absolute row index of each item's correct option

    @property
    def n_rows(self) -> int:
        return len(self.item_of_row)


def _design(examples: Sequence[Example]) -> _Design:
    idx, rows, starts, item_of_row, answer_row = [], [], [], [], []
    r = 0
    for i, ex in enumerate(examples):
        starts.append(r)
        answer_row.append(r + ex.answer)
        for f in ex.feature_arrays():
            idx.append(f)
            rows.append(np.full(len(f), r, dtype=np.int64))
            item_of_row.append(i)
            r += 1
    return _Design(
        np.concatenate(idx) if idx else np.zeros(0, np.int64),
        np.concatenate(rows) if rows else np.zeros(0, np.int64),
        np.asarray(starts, dtype=np.int64),
        np.asarray(item_of_row, dtype=np.int64),
        np.asarray(answer_row, dtype=np.int64),
    )


def _scores(w: np.ndarray, d: _Design) -> np.ndarray:
    s = np.bincount(d.row_of_nnz, weights=w[d.idx], minlength=d.n_rows)
    return s.astype(np.float64, copy=False)  # an empty design gives int64


def _softmax_by_item(s: np.ndarray, d: _Design) -> np.ndarray:
    m = np.maximum.reduceat(s, d.item_start)
    e = np.exp(s - m[d.item_of_row])
    z = np.add.reduceat(e, d.item_start)
    return e / z[d.item_of_row]


#: A feature seen in fewer training items than this keeps weight 0: it cannot be a systematic
#: cue, and fitted to a handful of items it only adds noise (e.g. 3-grams of hashed ids).
MIN_DF = 5


def fit(
    examples: Sequence[Example],
    l2: float = 1.0,
    steps: int = 150,
    lr: float = 0.1,
    min_df: int = MIN_DF,
) -> np.ndarray:
    """Weights minimising sum(-log p(answer)) + l2/2 * |w|^2 (full-batch Adam), over the
    features found in at least ``min_df`` of ``examples``."""
    d = _design(examples)
    w = np.zeros(N_FEATURES)
    m = np.zeros(N_FEATURES)
    v = np.zeros(N_FEATURES)
    per_item = np.unique(d.item_of_row[d.row_of_nnz] * N_FEATURES + d.idx) % N_FEATURES
    df = np.bincount(per_item, minlength=N_FEATURES)
    used = np.flatnonzero(df >= min_df)
    y = np.zeros(d.n_rows)
    y[d.answer_row] = 1.0
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        p = _softmax_by_item(_scores(w, d), d)
        g_row = p - y
        g = np.bincount(d.idx, weights=g_row[d.row_of_nnz], minlength=N_FEATURES).astype(
            np.float64, copy=False
        )
        g[used] += l2 * w[used]
        m[used] = b1 * m[used] + (1 - b1) * g[used]
        v[used] = b2 * v[used] + (1 - b2) * g[used] ** 2
        w[used] -= lr * (m[used] / (1 - b1**t)) / (np.sqrt(v[used] / (1 - b2**t)) + eps)
    return w


def predict(w: np.ndarray, examples: Sequence[Example]) -> np.ndarray:
    """The chosen option index per example (ties go to the earliest option)."""
    d = _design(examples)
    s = _scores(w, d)
    out = np.empty(len(examples), dtype=np.int64)
    ends = list(d.item_start[1:]) + [d.n_rows]
    for i, (a, b) in enumerate(zip(d.item_start, ends, strict=True)):
        out[i] = int(np.argmax(s[a:b]))
    return out


def fold_of(group: str, n_folds: int) -> int:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % n_folds


@dataclass
class ProbeResult:
    n: int
    accuracy: float
    chance: float
    ci95: tuple[float, float]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "chance": round(self.chance, 4),
            "ci95": [round(self.ci95[0], 4), round(self.ci95[1], 4)],
        }


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, float(c - h)), min(1.0, float(c + h)))


def cross_validated(
    examples: Sequence[Example],
    n_folds: int = 5,
    l2: float = 3.0,
    steps: int = 150,
    repeats: int = 3,
    subsample: float = 0.8,
) -> ProbeResult:
    """Accuracy of the probe on held-out folds, pooled, averaged over ``repeats`` fits.

    With at most ``n_folds`` distinct groups each group is a fold (the benchmark's splits);
    otherwise groups are hashed into ``n_folds`` folds (a group never spans two folds). Each
    fold is predicted by ``repeats`` probes trained on seeded ``subsample`` shares of the other
    folds: with nothing to learn a probe guesses, and the mean of several guessers varies much
    less around chance than one (a false alarm on a small task costs a rebuild), while a real
    cue is found by every one of them.
    """
    n = len(examples)
    chance = sum(1.0 / len(ex.options) for ex in examples) / n if n else 0.0
    groups = sorted({ex.group for ex in examples})
    if 2 <= len(groups) <= n_folds:
        folds = np.array([groups.index(ex.group) for ex in examples])
    else:
        folds = np.array([fold_of(ex.group, n_folds) for ex in examples])
    hits = 0.0
    for f in range(n_folds):
        train = [ex for ex, k in zip(examples, folds, strict=True) if k != f]
        test = [ex for ex, k in zip(examples, folds, strict=True) if k == f]
        if not train or not test:
            continue
        for r in range(repeats):
            if repeats > 1:
                keep = np.random.default_rng(1000 * f + r).random(len(train)) < subsample
                part = [ex for ex, k in zip(train, keep, strict=True) if k] or train
            else:
                part = train
            pred = predict(fit(part, l2=l2, steps=steps), test)
            hits += sum(int(p == ex.answer) for p, ex in zip(pred, test, strict=True)) / repeats
    return ProbeResult(n, hits / n if n else 0.0, chance, wilson(hits, n))


def item_group(items: Sequence) -> Callable[[object], str]:
    """The fold key of an item: its split when ``items`` span several splits, else its study."""
    if len({it.split for it in items}) >= 2:
        return lambda it: it.split
    return lambda it: it.study_id


def examples_from(
    items: Sequence, featurize: Callable[[object, str], list[str]], group=None
) -> list[Example]:
    """Probe examples of closed items: one option row per letter, featurized by ``featurize``."""
    group = group or item_group(items)
    out = []
    for it in items:
        letters = list(it.options or {})
        if it.answer not in letters:
            continue
        out.append(
            Example([featurize(it, ltr) for ltr in letters], letters.index(it.answer), group(it))
        )
    return out


# ---------------------------------------------------------------------------------------------
# featurizers: what each probe may look at
_WORDS = __import__("re").compile(r"[a-z0-9]+")


def _labels_of(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def text_tokens(item, letter: str) -> list[str]:
    """Features of one option from the question and option texts only (no image, no report).

    The option's words and labels, its letter, its length and length rank, how many other
    options share each of its labels (the "centroid" cue), whether its labels are in canonical
    order and their canonical rank among the options, and the question crossed with the option
    (so per-question answer priors, e.g. "Yes" for one finding, are learnable).
    """
    from cxreason.vocab import LABEL_ORDER

    opts = item.options or {}
    text = opts[letter]
    q = item.question
    words = _WORDS.findall(text.lower())
    labels = _labels_of(text)
    others = [set(_labels_of(t)) for k, t in opts.items() if k != letter]
    lens = sorted((len(t), k) for k, t in opts.items())
    canon = [LABEL_ORDER.get(lb, 99) for lb in labels]
    ranks = sorted(
        (tuple(LABEL_ORDER.get(lb, 99) for lb in _labels_of(t)), k) for k, t in opts.items()
    )
    toks = [
        f"pos:{letter}",
        f"len:{min(len(text) // 6, 20)}",
        f"lenrank:{[k for _, k in lens].index(letter)}",
        f"nwords:{len(words)}",
        f"nlab:{len(labels)}",
        f"sorted:{canon == sorted(canon)}",
        f"canonrank:{[k for _, k in ranks].index(letter)}",
        f"text:{text}",
        f"qtext:{q}|{text}",
    ]
    toks += [f"w:{x}" for x in words]
    toks += [f"q:{qw}|o:{text}" for qw in set(_WORDS.findall(q.lower()))]
    for lb in labels:
        shared = sum(lb in o for o in others)
        toks += [f"lab:{lb}", f"lab:{lb}|sh:{shared}"]
    toks.append(f"shared:{sum(len(set(labels) & o) for o in others)}")
    toks += [f"pair:{a}+{b}" for i, a in enumerate(labels) for b in labels[i + 1 :]]
    return toks


def _field_pieces(item, field: str) -> set[str]:
    value = getattr(item, field)
    low = (" ".join(value) if isinstance(value, list) else str(value)).lower()
    return {"g:" + low[i : i + 3] for i in range(max(0, len(low) - 2))} | {
        "p:" + p for p in _WORDS.findall(low)
    }


def field_tokens(
    field: str, items: Sequence | None = None, max_df: float = 0.1
) -> Callable[[object, str], list[str]]:
    """Features crossing an item field (``id``, ``study_id`` or ``images``) with each option.

    Character 3-grams and word pieces of the field, each paired with the option text: a probe
    on these learns any link between the field's spelling and the answer (an id that names the
    answer, a file name that encodes it). Pieces found in more than ``max_df`` of ``items``
    (".png", "IM-") are left out: paired with the option text they would only relearn the
    text probe's answer priors.
    """
    common: set[str] = set()
    if items:
        df = Counter(p for it in items for p in _field_pieces(it, field))
        common = {p for p, n in df.items() if n > max_df * len(items)}

    def tokens(item, letter: str) -> list[str]:
        text = (item.options or {})[letter]
        return [f"{p}|{text}" for p in sorted(_field_pieces(item, field) - common)]

    return tokens
