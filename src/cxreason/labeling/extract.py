"""Concept mention extraction with negation / uncertainty context (NegEx-style, regex based).

Concept phrasings (:mod:`cxreason.labeling.ontology`) and context triggers
(:mod:`cxreason.labeling.triggers`) are found in one pass over the word starts of each
sentence (:mod:`cxreason.labeling.scan`), so the cost is linear in the text length. A
mention's status comes from (in order): a phrasing that fixes it ("normal heart size" ->
absent), else the nearest trigger governing it inside its sentence and clause, else
``present``. Context never crosses a sentence, so sentence results are memoised.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from cxreason.labeling.ontology import CONCEPTS, MULTI_NORMAL
from cxreason.labeling.scan import PairScanner, WordScanner
from cxreason.labeling.sentences import split_sentences
from cxreason.labeling.triggers import (
    HYP,
    NEG,
    PSEUDO,
    PUNCT_INFO,
    PUNCT_RE,
    TERM,
    TRIGGER_INFO,
    TRIGGER_SCANNER,
    UNC,
)
from cxreason.records import Mention
from cxreason.vocab import ABSENT, PRESENT, UNCERTAIN

#: Largest number of words between a trigger and the mention it governs.
PRE_WINDOW_WORDS = 14
POST_WINDOW_WORDS = 6

#: Words that may precede a mention as anatomical / severity qualifiers ("small left").
QUALIFIERS = frozenset(
    "left right bilateral bibasilar bibasal biapical basilar basal apical upper middle lower mid"
    " lobe lobar retrocardiac perihilar hilar lingular lingula base bases lung zone small moderate"
    " large mild minimal trace tiny focal patchy diffuse multifocal subsegmental segmental streaky"
    " linear plate-like platelike minor scattered stable chronic acute new old residual persistent"
    " moderate-sized small-to-moderate severe marked slight slightly mildly moderately markedly"
    " subtle right-sided left-sided".split()
)


@dataclass(frozen=True)
class _Entry:
    concepts: tuple[str, ...]
    status: str | None  # fixed status, or None: from context
    overlap: bool  # a gap pattern: keep scanning inside it for other mentions

    @property
    def labelled(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((n, CONCEPTS[n].label) for n in self.concepts)


def _compile() -> tuple[WordScanner, list[_Entry]]:
    frags: list[tuple[str, _Entry]] = []
    for c in CONCEPTS.values():  # phrasings that assert absence come first
        for f in c.normal:
            frags.append((f, _Entry((c.name,), ABSENT, "{0," in f)))
    for f, names in MULTI_NORMAL:
        frags.append((f, _Entry(tuple(names), ABSENT, False)))
    for c in CONCEPTS.values():
        for f in c.synonyms:
            frags.append((f, _Entry((c.name,), None, False)))
    for f, _ in frags:
        if re.compile(f).groups:
            raise ValueError(f"concept fragment must not capture: {f!r}")
    return WordScanner([f for f, _ in frags]), [e for _, e in frags]


_SCANNER, _ENTRIES = _compile()
_OVERLAP = frozenset(i for i, e in enumerate(_ENTRIES) if e.overlap)
_PAIR = PairScanner(_SCANNER, TRIGGER_SCANNER)
_WORD_RE = re.compile(r"[a-z0-9]+")


def extract_mentions(text: str) -> list[Mention]:
    """All concept mentions in ``text`` with status; spans index into ``text`` itself.

    ``Mention.concept`` is the ontology concept, ``Mention.label`` its CheXpert label or
    ``None``; ``text[m.start:m.end] == m.text``. Mentions come in text order. Context never
    crosses a sentence, so sentences are labeled independently (and memoised: reports repeat
    template sentences such as "No pneumothorax.").
    """
    if not text:
        return []
    lower = _lower(text)
    out: list[Mention] = []
    for a, b in split_sentences(text):
        sent = lower[a:b]
        hits = _sentence_mentions(sent) if b - a <= _CACHE_MAX_CHARS else _scan_sentence(sent)
        for qs, e, concepts, status in hits:
            for name, label in concepts:
                out.append(Mention(name, label, status, text[a + qs : a + e], a + qs, a + e))
    return out


_CACHE_MAX_CHARS = 2000
_Hit = tuple[int, int, tuple[tuple[str, "str | None"], ...], str]


def _lower(text: str) -> str:
    """Lower-case ``text`` keeping its length (so spans stay aligned)."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@lru_cache(maxsize=65536)
def _sentence_mentions(sent: str) -> tuple[_Hit, ...]:
    return _scan_sentence(sent)


def _scan_sentence(lower: str) -> tuple[_Hit, ...]:
    """Mentions of one lower-cased sentence: (qualified start, end, (concept, label)..., status)."""
    concept_hits, trigger_hits = _PAIR.scan(lower, _OVERLAP)
    if not concept_hits:
        return ()
    triggers = [(s, e, *TRIGGER_INFO[i]) for s, e, i in trigger_hits]
    if PUNCT_RE.search(lower):
        triggers.extend(
            (m.start(), m.end(), *PUNCT_INFO[m.group()]) for m in PUNCT_RE.finditer(lower)
        )
        triggers.sort()
    trig_starts = [t[0] for t in triggers]
    sentence = (0, len(lower))
    out = []
    for start, end, i in concept_hits:
        entry = _ENTRIES[i]
        status = entry.status or _context_status(lower, start, end, sentence, triggers, trig_starts)
        if status == HYP:
            continue  # hypothetical: not asserted either way
        qstart = _qualified_start(lower, start, 0)
        out.append((qstart, end, entry.labelled, status))
    return tuple(out)


def _context_status(lower, start, end, sentence, triggers, trig_starts) -> str:
    s_start, s_end = sentence
    pre = _scan_pre(lower, start, s_start, triggers, trig_starts)
    post = _scan_post(lower, end, s_end, triggers, trig_starts)
    if pre is None and post is None:
        return PRESENT
    if pre is not None and (post is None or pre[0] <= post[0]):
        kind = pre[1]
    else:
        kind = post[1]  # type: ignore[index]
    return {NEG: ABSENT, UNC: UNCERTAIN, HYP: HYP}.get(kind, PRESENT)


def _scan_pre(lower, start, s_start, triggers, trig_starts) -> tuple[int, str] | None:
    """Nearest pre-trigger governing a mention at ``start``: (distance in words, kind)."""
    nearest: tuple[int, str] | None = None
    i = bisect.bisect_left(trig_starts, start) - 1
    while i >= 0:
        t_start, t_end, kind, direction = triggers[i]
        i -= 1
        if t_start < s_start:
            break
        if t_end > start:
            continue
        words = _count_words(lower, t_end, start)
        if words > PRE_WINDOW_WORDS or kind == TERM:
            break
        if direction == "post" or (kind == PSEUDO and direction == "both"):
            continue  # transparent: "no opacity to suggest pneumonia"
        if kind == HYP:
            return words, HYP  # a hypothetical governs everything in its scope
        if nearest is None:
            nearest = (words, kind)
    return nearest


def _scan_post(lower, end, s_end, triggers, trig_starts) -> tuple[int, str] | None:
    i = bisect.bisect_left(trig_starts, end)
    while i < len(triggers):
        t_start, t_end, kind, direction = triggers[i]
        if t_start >= s_end:
            return None
        i += 1
        words = _count_words(lower, end, t_start)
        if words > POST_WINDOW_WORDS or kind == TERM or "," in lower[end:t_start]:
            return None  # a post-trigger does not reach back over a comma
        if direction == "pre" or kind == PSEUDO:
            continue
        return words, kind
    return None


def _count_words(lower: str, a: int, b: int) -> int:
    if b - a > 400:
        return 10**6
    return len(_WORD_RE.findall(lower, a, b))


def _qualified_start(lower: str, start: int, s_start: int) -> int:
    """Extend a mention leftwards over anatomical / severity qualifiers ("small left")."""
    q = start
    for _ in range(8):  # at most 8 qualifier words
        j = q
        while j > s_start and lower[j - 1] in " ,":
            j -= 1
        if j == q:
            break
        k = max(lower.rfind(" ", s_start, j), lower.rfind(",", s_start, j)) + 1
        if lower[max(k, s_start) : j] not in QUALIFIERS:
            break
        q = max(k, s_start)
    return q
