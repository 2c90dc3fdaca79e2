"""Concept mention extraction with negation / uncertainty context (NegEx-style, regex based).

One compiled regex finds every concept phrasing, one finds every context trigger; both scan
the lower-cased text once, so the cost is linear in the text length. A mention's status comes
from (in order): a phrasing that fixes it ("normal heart size" -> absent), else the nearest
trigger governing it inside its sentence and clause (see :mod:`cxreason.labeling.triggers`),
else ``present``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from cxreason.labeling.ontology import CONCEPTS, MULTI_NORMAL
from cxreason.labeling.sentences import split_sentences
from cxreason.labeling.triggers import NEG, PSEUDO, TERM, TRIGGER_INFO, TRIGGER_RE, UNC
from cxreason.records import Mention
from cxreason.vocab import ABSENT, PRESENT, UNCERTAIN

#: Largest number of words between a trigger and the mention it governs.
PRE_WINDOW_WORDS = 14
POST_WINDOW_WORDS = 6

_QUALIFIER_RE = re.compile(
    r"(?:(?<![a-z0-9])(?:left|right|bilateral|bibasilar|bibasal|biapical|basilar|basal|apical"
    r"|upper|middle|lower|mid|lobe|lobar|retrocardiac|perihilar|hilar|lingular|lingula|base|bases"
    r"|lung|zone|small|moderate|large|mild|minimal|trace|tiny|focal|patchy|diffuse|multifocal"
    r"|subsegmental|segmental|streaky|linear|plate-like|platelike|minor|scattered|stable"
    r"|chronic|acute|new|old|residual|persistent|moderate-sized|small-to-moderate|severe"
    r"|marked|slight|slightly|mildly|moderately|markedly|subtle|and|of the|the)[\s,-]+)+$"
)


@dataclass(frozen=True)
class _Entry:
    concepts: tuple[str, ...]
    status: str | None  # fixed status, or None: from context
    overlap: bool  # a gap pattern: keep scanning inside it for other mentions


def _compile() -> tuple[re.Pattern[str], list[_Entry]]:
    frags: list[tuple[str, _Entry]] = []
    for c in CONCEPTS.values():  # phrasings that assert absence come first
        for f in c.normal:
            frags.append((f, _Entry((c.name,), ABSENT, "{0," in f)))
    for f, names in MULTI_NORMAL:
        frags.append((f, _Entry(tuple(names), ABSENT, False)))
    for c in CONCEPTS.values():
        for f in c.synonyms:
            frags.append((f, _Entry((c.name,), None, False)))
    parts = [f"(?P<m{i}>{f})" for i, (f, _) in enumerate(frags)]
    pattern = re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")
    return pattern, [e for _, e in frags]


MENTION_RE, _ENTRIES = _compile()
_GROUP_INDEX = {f"m{i}": i for i in range(len(_ENTRIES))}
_TRIGGER_INDEX = {f"t{i}": i for i in range(len(TRIGGER_INFO))}
_WORD_RE = re.compile(r"[a-z0-9]+")


def extract_mentions(text: str) -> list[Mention]:
    """All concept mentions in ``text`` with status; spans index into ``text`` itself.

    ``Mention.concept`` is the ontology concept, ``Mention.label`` its CheXpert label or
    ``None``; ``text[m.start:m.end] == m.text``. Mentions come in text order.
    """
    if not text:
        return []
    lower = text.lower()
    sentences = split_sentences(text)
    sent_starts = [s for s, _ in sentences]
    triggers = _find_triggers(lower)
    trig_starts = [t[0] for t in triggers]
    out: list[Mention] = []
    for start, end, entry in _find_concepts(lower):
        status = entry.status or _context_status(
            lower, start, end, sentences, sent_starts, triggers, trig_starts
        )
        qstart = _qualified_start(lower, start, sentences, sent_starts)
        for name in entry.concepts:
            concept = CONCEPTS[name]
            out.append(Mention(name, concept.label, status, text[qstart:end], qstart, end))
    return out


def _find_concepts(lower: str) -> list[tuple[int, int, _Entry]]:
    found: list[tuple[int, int, _Entry]] = []
    pos, n = 0, len(lower)
    while pos < n:
        m = MENTION_RE.search(lower, pos)
        if m is None:
            break
        entry = _ENTRIES[_GROUP_INDEX[m.lastgroup]]
        found.append((m.start(), m.end(), entry))
        if entry.overlap:  # "heart size and mediastinum are normal": rescan after the head word
            w = _WORD_RE.match(lower, m.start())
            pos = w.end() if w else m.start() + 1
        else:
            pos = max(m.end(), m.start() + 1)
    return found


def _find_triggers(lower: str) -> list[tuple[int, int, str, str]]:
    out = []
    for m in TRIGGER_RE.finditer(lower):
        kind, direction = TRIGGER_INFO[_TRIGGER_INDEX[m.lastgroup]]
        out.append((m.start(), m.end(), kind, direction))
    return out


def _sentence_of(pos: int, sentences, sent_starts) -> tuple[int, int]:
    i = bisect.bisect_right(sent_starts, pos) - 1
    if i < 0:
        return (0, sentences[0][0] if sentences else 0)
    return sentences[i]


def _context_status(lower, start, end, sentences, sent_starts, triggers, trig_starts) -> str:
    s_start, s_end = _sentence_of(start, sentences, sent_starts)
    pre = _scan_pre(lower, start, s_start, triggers, trig_starts)
    post = _scan_post(lower, end, s_end, triggers, trig_starts)
    if pre is None and post is None:
        return PRESENT
    if pre is not None and (post is None or pre[0] <= post[0]):
        kind = pre[1]
    else:
        kind = post[1]  # type: ignore[index]
    return {NEG: ABSENT, UNC: UNCERTAIN}.get(kind, PRESENT)


def _scan_pre(lower, start, s_start, triggers, trig_starts) -> tuple[int, str] | None:
    """Nearest pre-trigger governing a mention at ``start``: (distance in words, kind)."""
    i = bisect.bisect_left(trig_starts, start) - 1
    while i >= 0:
        t_start, t_end, kind, direction = triggers[i]
        if t_start < s_start:
            return None
        i -= 1
        if t_end > start:
            continue
        words = _count_words(lower, t_end, start)
        if words > PRE_WINDOW_WORDS:
            return None
        if kind == TERM:
            return None
        if direction == "post":
            continue
        if kind == PSEUDO and direction == "both":
            continue  # transparent: "no opacity to suggest pneumonia"
        return words, kind
    return None


def _scan_post(lower, end, s_end, triggers, trig_starts) -> tuple[int, str] | None:
    i = bisect.bisect_left(trig_starts, end)
    while i < len(triggers):
        t_start, t_end, kind, direction = triggers[i]
        if t_start >= s_end:
            return None
        i += 1
        words = _count_words(lower, end, t_start)
        if words > POST_WINDOW_WORDS or kind == TERM:
            return None
        if direction == "pre" or kind == PSEUDO:
            continue
        return words, kind
    return None


def _count_words(lower: str, a: int, b: int) -> int:
    if b - a > 400:
        return 10**6
    return len(_WORD_RE.findall(lower, a, b))


def _qualified_start(lower: str, start: int, sentences, sent_starts) -> int:
    """Extend a mention leftwards over anatomical / severity qualifiers ("small left")."""
    s_start, _ = _sentence_of(start, sentences, sent_starts)
    lo = max(s_start, start - 60)
    m = _QUALIFIER_RE.search(lower, lo, start)
    if m is None:
        return start
    q = m.start()
    # do not start on a joiner word
    while True:
        w = re.match(r"(?:and|of the|the)[\s,-]+", lower[q:start])
        if not w:
            break
        q += w.end()
    return q if q < start else start
