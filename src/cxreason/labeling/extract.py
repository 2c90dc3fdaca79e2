"""Concept mention extraction with negation / uncertainty context (NegEx-style, regex based).

Concept phrasings (:mod:`cxreason.labeling.ontology`) and context triggers
(:mod:`cxreason.labeling.triggers`) are found in one pass over the word starts of each
sentence (:mod:`cxreason.labeling.scan`), so the cost is linear in the text length. A
mention's status comes from (in order): a phrasing that fixes it ("normal heart size" ->
absent), else the nearest trigger governing it inside its sentence and clause, else
``present``. Context never crosses a sentence, so sentence results are memoised.

A mention that is not asserted about this image (hypothetical, generic, historical, an answer
option under discussion, quoted text: :mod:`cxreason.labeling.triggers`) is dropped by
:func:`extract_mentions` and kept with its ``context`` by :func:`extract_annotated`, which also
reads the mention's laterality (``side``: left, right, bilateral), lung zone (``zone``: upper,
middle, lower) and temporal direction (``change``: new, worsening, improving, stable,
resolved) where the text states them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cxreason.labeling.ontology import CONCEPTS, MULTI_NORMAL
from cxreason.labeling.scan import PairScanner, WordScanner
from cxreason.labeling.sentences import split_sentences
from cxreason.labeling.triggers import (
    CONTEXT_NAMES,
    GEN,
    HYP,
    NEG,
    NOT_ASSERTED,
    NOT_ASSERTED_WINDOW_WORDS,
    OPT,
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
    " subtle right-sided left-sided increasing decreasing worsening improving enlarging"
    " unchanged resolving both".split()
)

#: Sides: left, right, bilateral (stated by a qualifier or a following "in the left lung").
#: Zones: upper, middle, lower.
LEFT, RIGHT, BILATERAL = "left", "right", "bilateral"
#: Temporal directions, in the order a clause is searched for them.
CHANGES = ("resolved", "new", "worsening", "improving", "stable")
#: Assertion context of an asserted mention (the not-asserted ones: ``triggers.CONTEXT_NAMES``).
ASSERTED = "asserted"


@dataclass(frozen=True)
class AnnotatedMention:
    """A mention with its assertion ``context``, laterality and temporal direction.

    ``context``: ``asserted`` or a not-asserted kind (``hypothetical``, ``generic``,
    ``historical``, ``option``); ``side``: ``left`` | ``right`` | ``bilateral`` | None (not
    stated); ``zone``: ``upper`` | ``middle`` | ``lower`` | None (not stated, or several);
    ``change``: one of :data:`CHANGES` or None. Spans index the text as for
    :class:`~cxreason.records.Mention`.
    """

    concept: str
    label: str | None
    status: str
    text: str
    start: int
    end: int
    context: str = ASSERTED
    side: str | None = None
    zone: str | None = None
    change: str | None = None

    def mention(self) -> Mention:
        return Mention(self.concept, self.label, self.status, self.text, self.start, self.end)


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
#: A comma that opens a new clause: not-asserted scopes stop there ("assessing for X, there is").
_CLAUSE_BREAK = re.compile(
    r",\s*(?:and\s+|but\s+|so\s+|thus\s+|then\s+)?(?:we|i|there|it|this|these|that|no|none"
    r"|which|upon|however|noting|showing|revealing|demonstrating|confirming|the\s+(?:images?"
    r"|x-?rays?|radiographs?|films?|findings|examination|exam|analysis|study|lungs?|heart"
    r"|cardiac|chest|observations?))\b|,\s*(?:a|an|the)\s+(?:[a-z-]+\s+){0,3}?(?:is|are|was|were"
    r"|appears?|shows?|reveals?|demonstrates?)\b|\b(?:we|i|and)\s+(?:see|observe|note|find|notice"
    r"|identify|confirm|can see|found|noted|observed|saw)\b"
)
_COMMA_END = re.compile(r",\s*$")
#: The result of a search, its main verb: "Reviewing the X-ray for infiltrates revealed no
#: opacities", "investigation of a density showed absence of nodules" (what follows is asserted).
_RESULT_VERB = re.compile(
    r"\b(?:showed|shows|revealed|reveals|demonstrated|demonstrates|displayed|displays|disclosed"
    r"|discloses|yielded|yields|found|confirmed|confirms)\b"
)
#: ... unless the verb is part of the search itself: "to determine whether the image shows".
_SEARCH_CLAUSE = re.compile(r"\b(?:whether|if|would|should|could|might|may)\b")
#: An option named after its text: "**Cicatrix in lingula (Option A)**".
_OPTION_AFTER = re.compile(r"[^,;:.]{0,60}?\(\s*options?\s+[a-e]\s*\)")
#: A parenthetical list of examples between a mention and its post-trigger: "conditions such as
#: bronchitis or edema, were ruled out" (a post-trigger may reach back over its commas).
_EXAMPLES = re.compile(r"\b(?:(?:such as|including|like|for example)\b|e\.g\.)")
#: ... or examples that follow the mention: "nodular densities, such as nodules or granulomas,
#: were excluded".
_EXAMPLES_AFTER = re.compile(r",\s*" + _EXAMPLES.pattern.removeprefix(r"\b"))
_LIST_CLOSE = re.compile(r",\s*(?:(?:is|are|was|were|has been|have been|can be|could be)\s*)?")
#: Quoted text (an answer option under discussion): 'bilateral infiltrates at lung bases'.
_QUOTE = re.compile(
    r"(?<![a-z0-9])['\"\u2018\u201c]([^'\"\u2018\u2019\u201c\u201d\n]{2,200}?)"
    r"['\"\u2019\u201d](?![a-z0-9])"
)


def extract_mentions(text: str) -> list[Mention]:
    """All asserted concept mentions in ``text`` with status; spans index into ``text`` itself.

    ``Mention.concept`` is the ontology concept, ``Mention.label`` its CheXpert label or
    ``None``; ``text[m.start:m.end] == m.text``. Mentions come in text order. Context never
    crosses a sentence, so sentences are labeled independently (and memoised: reports repeat
    template sentences such as "No pneumothorax."). Not-asserted mentions (hypothetical,
    generic, historical, option discussion) are left out.
    """
    return [
        Mention(name, label, status, text[a + qs : a + e], a + qs, a + e)
        for a, qs, e, concepts, status, context, *_ in _hits(text)
        if context == ASSERTED
        for name, label in concepts
    ]


def _hits(text: str):
    """(sentence start, *hit) for every mention of every sentence of ``text``."""
    if not text:
        return
    lower = _lower(text)
    for a, b in split_sentences(text):
        sent = lower[a:b]
        hits = _sentence_mentions(sent) if b - a <= _CACHE_MAX_CHARS else _scan_sentence(sent)
        for h in hits:
            yield (a, *h)


def extract_annotated(text: str) -> list[AnnotatedMention]:
    """Every concept mention of ``text`` with status, assertion context, side and change."""
    out: list[AnnotatedMention] = []
    if text:
        for a, qs, e, concepts, status, context, side, zone, change in _hits(text):
            for name, label in concepts:
                out.append(
                    AnnotatedMention(
                        name,
                        label,
                        status,
                        text[a + qs : a + e],
                        a + qs,
                        a + e,
                        context,
                        side,
                        zone,
                        change,
                    )
                )
    return out


_CACHE_MAX_CHARS = 2000
_Hit = tuple[
    int,
    int,
    tuple[tuple[str, "str | None"], ...],
    str,
    str,
    "str | None",
    "str | None",
    "str | None",
]


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
    """Mentions of one lower-cased sentence:
    (qualified start, end, (concept, label)..., status, context, side, zone, change)."""
    concept_hits, trigger_hits = _PAIR.scan(lower, _OVERLAP)
    if not concept_hits:
        return ()
    triggers = [(s, e, *TRIGGER_INFO[i]) for s, e, i in trigger_hits]
    if PUNCT_RE.search(lower):
        inside = _covered(trigger_hits)
        triggers.extend(
            (m.start(), m.end(), *PUNCT_INFO[m.group()])
            for m in PUNCT_RE.finditer(lower)
            if not inside(m.start())  # "issues:" is part of a trigger
        )
        triggers.sort()
    trig_starts = [t[0] for t in triggers]
    generic = _is_generic_sentence(lower)
    method = _is_method_sentence(lower)
    heading = _HEADING.match(lower) is not None
    has_option = "option" in lower
    topic = _TOPIC_START.match(lower) or _LABEL_START.match(lower)
    topic_end = topic.end(1) if topic else -1
    in_quote = _covered(
        [(*m.span(1), 0) for m in _QUOTE.finditer(lower)] if _has_quote(lower) else []
    )
    asides = _closed_asides(lower) if "(" in lower else ([], [])
    out = []
    for k, (start, end, i) in enumerate(concept_hits):
        entry = _ENTRIES[i]
        ctx = _context(lower, start, end, triggers, trig_starts, entry.status is None, asides)
        if ctx[1] is None and generic:
            ctx = (None, GEN)
        if ctx[1] is None and method:
            ctx = (None, HYP)
        if ctx[1] is None and heading:
            ctx = (None, OPT)
        if ctx[1] is None and (
            end <= topic_end
            or (in_quote(start) and in_quote(end - 1))
            or (has_option and _OPTION_AFTER.match(lower, end))
        ):
            ctx = (None, OPT)
        status, kind = ctx
        status = entry.status or status or PRESENT
        context = CONTEXT_NAMES[kind] if kind is not None else ASSERTED
        qstart = _qualified_start(lower, start, 0)
        next_start = concept_hits[k + 1][0] if k + 1 < len(concept_hits) else len(lower)
        side, zone = _location(lower, qstart, end, next_start)
        change = _change(lower, qstart, start, end, status)
        out.append((qstart, end, entry.labelled, status, context, side, zone, change))
    return tuple(out)


#: A sentence about a finding in general: it opens with a bare noun phrase (no "the", "this",
#: "there"), describes how the finding looks or what it means, and never points at this image.
_GENERIC_VERB = re.compile(
    r"\b(?:appears?|presents?|shows? up|manifests?|looks?|(?:is|are) (?:visible|apparent|seen"
    r"|evident)) (?:as|like)\b|\b(?:are|is) (?:areas?"
    r"|regions?|structures?|spots?|collections?|conditions?|signs?) (?:of|where|that|which)\b"
)
_IMAGE_REF = re.compile(
    r"\b(?:the|this|these|provided|given|current)\s+(?:[a-z]+\s+)?(?:images?|x-?rays?"
    r"|radiographs?|films?|views?|study|examination)\b|\b(?:here|we|i|observed|noted"
    r"|identified|shows(?! up)|reveals?|demonstrates?)\b|\bthere (?:is|are)\b"
)
_SPECIFIC_START = re.compile(r"^[\s\-*\u2022\d.)]*(?:the|this|these|that|there|it|its)\b")
#: A heading that names a topic and asserts nothing: "2. **Bilateral interstitial opacity in lung
#: bases:**", "Pneumonia in the right middle lobe:" (the whole sentence ends with its colon).
_HEADING = re.compile(r"^[\s\-*\u2022#\d.)]*[^:;.!?]{1,120}:[\s*_]*$")
#: A step of the method, in the imperative: "Look for focal areas of increased density which
#: could indicate an infiltrate" (every mention is what to look for) ...
_METHOD_START = re.compile(
    r"^[\s\-*\u2022\d.)]*(?:(?:first|then|next|finally|also|now)\s*,?\s*)?(?:look (?:for|at)"
    r"|check(?: for)?|search for|examine|assess|evaluate|inspect|review|identify|ensure|observe)\b"
)
#: ... unless it also states what was seen: "Examine the bases: there is no effusion."
_RESULT_MARK = re.compile(
    r"\b(?:there (?:is|are|was|were)|(?:is|are|was|were) (?:seen|noted|observed|identified"
    r"|present|visible|evident|absent)|shows?|showed|reveals?|revealed|demonstrat\w*|no|not|none"
    r"|without|appears?|appeared)\b|n[\u2019']t\b"
)


#: A sentence that opens on its topic: "Firstly, for pulmonary infiltrates, the absence of ...",
#: "Regarding the cardiac silhouette: ..." (the topic phrase asserts nothing).
_TOPIC_START = re.compile(
    r"^[\s\-*\u2022\d.)]*(?:(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|next|then|finally"
    r"|lastly|also|now|specifically|in particular|additionally|moreover|furthermore)\s*,?\s*)?"
    r"(?:for|regarding|concerning|as for|as to|with regard to|in regard to|considering|about)"
    r"\s([^,:;]{0,120}?)[,:]"
)


#: A list item that opens on a short label and a colon, then goes on: "- Atelectasis: lung volume
#: loss usually leads to ...", "2. Hyperlucent lungs: reduced vascular markings" (the label, at
#: most four words, is a topic). Only list items: "so this chest x-ray does show edema: the
#: answer is a) yes" asserts the edema.
_LABEL_START = re.compile(
    r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s*((?:[a-z'/-]+ ){0,3}[a-z'/-]+)\s*:\s+\S"
)


def _is_method_sentence(lower: str) -> bool:
    return bool(_METHOD_START.match(lower) and not _RESULT_MARK.search(lower))


def _is_generic_sentence(lower: str) -> bool:
    return bool(
        _GENERIC_VERB.search(lower)
        and not _IMAGE_REF.search(lower)
        and not _SPECIFIC_START.match(lower)
    )


def _covered(spans) -> Callable[[int], bool]:
    """A test ``pos -> bool``: is ``pos`` inside one of ``spans`` (``(start, end, ...)``, sorted
    by start)? Binary search over the merged spans: linear-time scanning stays linear."""
    merged: list[list[int]] = []
    for s, e, *_ in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    starts = [s for s, _ in merged]

    def inside(pos: int) -> bool:
        i = bisect.bisect_right(starts, pos) - 1
        return i >= 0 and pos < merged[i][1]

    return inside


def _has_quote(lower: str) -> bool:
    return "'" in lower or '"' in lower or "\u2018" in lower or "\u201c" in lower


def _closed_asides(lower: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Spans ``(open, close + 1)`` of the closed, non-nested parentheses of a sentence, and
    their starts (for binary search)."""
    out, open_at = [], -1
    for m in _PAREN.finditer(lower):
        if m.group() == "(":
            open_at = m.start()
        elif open_at >= 0:
            out.append((open_at, m.end()))
            open_at = -1
    return out, [a for a, _ in out]


_PAREN = re.compile(r"[()]")


def _aside_outside(asides, start: int, end: int) -> Callable[[int], bool]:
    """A test ``pos -> bool``: is ``pos`` inside a closed parenthetical aside that does not hold
    the mention ``start:end``? (``asides``: the sorted, disjoint spans of :func:`_closed_asides`
    and their starts.) Such an aside is transparent to the scope of a trigger outside it ("would
    show up as thickened pleura (potentially denser) ... and areas of collapse"), and its own
    triggers do not reach out of it ("normal heart size (no cardiomegaly) and small effusion").
    Binary search: linear-time scanning stays linear."""
    spans, starts = asides
    if not spans:
        return lambda pos: False
    i = bisect.bisect_left(starts, start) - 1
    own = i if i >= 0 and end <= spans[i][1] else -1

    def inside(pos: int) -> bool:
        j = bisect.bisect_right(starts, pos) - 1
        return j >= 0 and j != own and pos < spans[j][1]

    return inside


def _context(lower, start, end, triggers, trig_starts, need_status: bool, asides):
    """(status or None, not-asserted kind or None) of a mention from the triggers around it."""
    aside = _aside_outside(asides, start, end)
    pre, pre_na = _scan_pre(lower, start, end, triggers, trig_starts, aside)
    post = _scan_post(lower, end, len(lower), triggers, trig_starts, aside)
    if pre_na is not None:
        return None, pre_na
    if post is not None and post[1] in NOT_ASSERTED:
        return None, post[1]
    if not need_status or (pre is None and post is None):
        return None, None
    if pre is not None and (post is None or pre[0] <= post[0]):
        kind = pre[1]
    else:
        kind = post[1]  # type: ignore[index]
    return {NEG: ABSENT, UNC: UNCERTAIN}.get(kind, PRESENT), None


def _scan_pre(
    lower, start, end, triggers, trig_starts, aside: Callable[[int], bool]
) -> tuple[tuple[int, str] | None, str | None]:
    """Nearest negation/uncertainty pre-trigger ((words, kind) or None) and the not-asserted kind
    governing the mention at ``start`` (or None)."""
    nearest: tuple[int, str] | None = None
    near_start = start
    i = bisect.bisect_left(trig_starts, end) - 1
    while i >= 0:
        t_start, t_end, kind, direction = triggers[i]
        i -= 1
        if t_end > start:  # overlaps the mention: only a not-asserted span around it governs it
            if kind in NOT_ASSERTED and direction != "post" and t_start < start and t_end >= end:
                return nearest, kind
            continue
        if aside(t_start):
            continue  # inside a closed aside, or the aside's own "(" (transparent)
        words = _count_words(lower, t_end, start)
        if kind == TERM or words > NOT_ASSERTED_WINDOW_WORDS:
            break
        if direction == "post" or (kind == PSEUDO and direction == "both"):
            continue  # transparent: "no opacity to suggest pneumonia"
        if kind in NOT_ASSERTED:
            if _clause_break(lower, t_end, start, end):
                break  # "assessing for infiltrates, there are no opacities"
            if kind == HYP and _search_result(lower, t_start, t_end, start):
                break  # "reviewing the film for infiltrates revealed no opacities"
            if (
                nearest is not None
                and nearest[1] == NEG
                and _COMMA_END.search(lower, t_end, near_start)
            ):
                break  # "history of lobectomy, without consolidation": the negation governs
            return nearest, kind
        if nearest is None and words <= PRE_WINDOW_WORDS:
            nearest, near_start = (words, kind), t_start
    return nearest, None


def _clause_break(lower: str, a: int, start: int, end: int) -> bool:
    """A new clause opens between ``a`` and the mention at ``start`` (the opening may run on
    past the mention: ", a right-sided catheter is visible")."""
    for m in _CLAUSE_BREAK.finditer(lower, a, min(len(lower), end + 40)):
        if m.start() >= start:
            return False
        return True
    return False


def _search_result(lower: str, t_start: int, t_end: int, start: int) -> bool:
    """A search's result verb stands between the search trigger (``t_start:t_end``) and the
    mention at ``start``, and is not inside a whether/if or modal clause."""
    m = _RESULT_VERB.search(lower, t_end, start)
    return m is not None and not _SEARCH_CLAUSE.search(lower, t_start, m.start())


def _scan_post(
    lower, end, s_end, triggers, trig_starts, aside: Callable[[int], bool]
) -> tuple[int, str] | None:
    i = bisect.bisect_left(trig_starts, end)
    examples = _EXAMPLES_AFTER.match(lower, end)
    while i < len(triggers):
        t_start, t_end, kind, direction = triggers[i]
        if t_start >= s_end:
            return None
        i += 1
        if aside(t_start):
            continue
        words = _count_words(lower, end, t_start)
        if examples is not None and words > POST_WINDOW_WORDS:
            # the list's closing comma, right before the trigger ("..., were excluded")
            close = lower.rfind(",", max(examples.end(), t_start - 80), t_start)
            if close >= 0 and _LIST_CLOSE.fullmatch(lower, close, t_start):
                words = _count_words(lower, close, t_start)
        if words > POST_WINDOW_WORDS or kind == TERM:
            return None
        if direction == "pre" or kind == PSEUDO:
            continue
        if "," in lower[end:t_start]:  # a post-trigger does not reach back over a comma, except
            # within one clause for a hypothetical or generic ("catheters, such as a line, would")
            # and over a list of examples ("conditions such as edema, were ruled out")
            if _CLAUSE_BREAK.search(lower, end, t_start):
                return None
            if (
                kind in NOT_ASSERTED
                or _EXAMPLES.search(lower, max(0, end - 60), end)
                or examples is not None
            ):
                return words, kind
            return None
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
        lo = max(s_start, j - 40)  # a qualifier is a short word: bounded look-back
        k = max(lower.rfind(" ", lo, j), lower.rfind(",", lo, j)) + 1
        if k == 0 and lo > s_start:
            break
        if lower[max(k, s_start) : j] not in QUALIFIERS:
            break
        q = max(k, s_start)
    return q


# -- laterality, lung zone and temporal direction -------------------------------------------------
#: Side and zone words. Sides: left, right, bilateral (both). Zones: upper (apex), middle
#: (mid lung, lingula), lower (base, retrocardiac).
_LOCATION_WORD = re.compile(
    r"\b(left|right|bilateral(?:ly)?|both|bibasilar|bibasal|biapical|bihilar|upper|apex|apical"
    r"|apices|lower|bases?|basal|basilar|middle|mid|midlung|lingula|lingular|retrocardiac)\b"
)
_SIDE_OF = {"left": "L", "right": "R"}
_BILATERAL = frozenset("bilateral bilaterally both bibasilar bibasal biapical bihilar".split())
_ZONE_OF = {
    **dict.fromkeys(("upper", "apex", "apical", "apices", "biapical"), "upper"),
    **dict.fromkeys(("middle", "mid", "midlung", "lingula", "lingular"), "middle"),
    **dict.fromkeys(
        ("lower", "base", "bases", "basal", "basilar", "bibasilar", "bibasal", "retrocardiac"),
        "lower",
    ),
}
#: A phrase after a mention that places it: "in the right lower lobe", "at the base of the
#: lungs bilaterally", "on the left".
_LOCATIVE = re.compile(
    r"\s*(?:(?:is|are|was|were|seen|noted|present|identified|visible|projecting|projects"
    r"|located|again|also|predominantly|mainly|mostly|most|more|greater|noted)\s+)*"
    r"(?:in|at|on|of|within|involving|over|along|overlying|to|from|projecting over|throughout"
    r"|bilaterally)\b"
)
_BOTH_AS_SIDE = re.compile(r"both (?:lungs?|bases|sides|hemithora(?:x|ces)|apices|lower|upper|mid)")


def _location(lower: str, qstart: int, end: int, next_start: int) -> tuple[str | None, str | None]:
    """(side, zone) stated by the mention's qualifiers and words, else by a locative phrase right
    after it (up to a comma, a conjunction or the next mention at ``next_start``)."""
    words = [m for m in _LOCATION_WORD.finditer(lower, qstart, end) if _is_location(lower, m)]
    stop = max(end, min(next_start, end + 80, len(lower)))
    for cut in (",", ";", ":", "(", " and ", " but ", " with ", " which ", " or "):
        k = lower.find(cut, end, stop)
        if k != -1:
            stop = k
    if _LOCATIVE.match(lower, end, stop):
        words += [m for m in _LOCATION_WORD.finditer(lower, end, stop) if _is_location(lower, m)]
    sides = set()
    zones = set()
    for m in words:
        w = m.group(1)
        if w in _SIDE_OF:
            sides.add(_SIDE_OF[w])
        elif w in _BILATERAL:
            sides.update("LR")
        if w in _ZONE_OF:
            zones.add(_ZONE_OF[w])
    side = BILATERAL if len(sides) == 2 else LEFT if sides == {"L"} else RIGHT if sides else None
    zone = next(iter(zones)) if len(zones) == 1 else None  # several zones: not one stated zone
    return side, zone


def _is_location(lower: str, m: re.Match) -> bool:
    """ "both" is a side only before lungs / bases / sides; other location words always are."""
    return m.group(1) != "both" or bool(_BOTH_AS_SIDE.match(lower, m.start(1)))


_CHANGE_PATTERNS: dict[str, re.Pattern[str]] = {
    "resolved": re.compile(
        r"\b(?:resolved|resolution|cleared|clearing|no longer (?:seen|visible|present|evident))\b"
    ),
    "new": re.compile(
        r"\b(?:new|newly|interval (?:development|appearance)|(?:has|have) developed|developing)\b"
    ),
    "worsening": re.compile(
        r"\b(?:worsen(?:ing|ed|s)?|increasing|interval increase|(?:has|have) increased"
        r"|progress(?:ed|ing|ion)|enlarging|deteriorat\w+|(?:has|have) grown|growing)\b"
    ),
    "improving": re.compile(
        r"\b(?:improv(?:ing|ed|ement|es)|decreasing|interval decrease|(?:has|have) decreased"
        r"|resolving|partial(?:ly)? resol\w+|diminishing)\b"
    ),
    "stable": re.compile(
        r"\b(?:stable|stably|unchanged|no (?:significant |interval |appreciable )?change"
        r"|persist(?:ent|s|ing)?|again (?:seen|noted|demonstrated)|redemonstrated"
        r"|not (?:significantly )?changed|without (?:significant |interval )?change)\b"
    ),
}


def _change(lower: str, qstart: int, start: int, end: int, status: str) -> str | None:
    """Temporal direction stated in the mention's clause: qualifiers and up to 4 words before,
    and up to 8 words after it (not across a comma or a clause end)."""
    lo = qstart
    for _ in range(4):
        j = lower.rfind(" ", max(0, lo - 30), max(0, lo - 1))
        if j == -1 or _CLAUSE_PUNCT.search(lower, j, lo):
            break
        lo = j + 1
    hi = end
    for n, m in enumerate(_WORD_RE.finditer(lower, end, min(len(lower), end + 60)), 1):
        if _CLAUSE_PUNCT.search(lower, hi, m.start()):
            break
        hi = m.end()
        if n >= 8:
            break
    window = lower[lo:hi]
    if not _ANY_CHANGE.search(window):
        return None
    for change in CHANGES:
        if _CHANGE_PATTERNS[change].search(window):
            return change
    return None


_CLAUSE_PUNCT = re.compile(r"[,;:(]")
_ANY_CHANGE = re.compile("|".join(f"(?:{p.pattern})" for p in _CHANGE_PATTERNS.values()))
