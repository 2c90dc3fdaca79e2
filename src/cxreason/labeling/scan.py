"""Fast multi-pattern scanning: regex fragments dispatched by the first letters of a word.

A single alternation of a few hundred fragments makes Python's ``re`` try every fragment at
every character. Instead, the possible 2-letter prefixes of each fragment are derived from its
parsed regex; at each word start only the fragments that can begin with that word's first two
letters are tried, as one pre-compiled alternation (in the original fragment order, so the
first listed fragment wins at a position). Cost: one dict lookup and one ``match`` per word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

try:  # Python >= 3.11
    from re import _constants as _sc
    from re import _parser as _sp
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sc  # type: ignore[no-redef]
    import sre_parse as _sp  # type: ignore[no-redef]

K = 3  # prefix length used for dispatch
_WORD = re.compile(r"[a-z0-9]+")


def _prefixes(items, prefixes: set[str]) -> set[str]:
    """Extend each unfinished prefix (shorter than K) through the parsed items."""
    for op, av in items:
        if all(len(p) >= K for p in prefixes if p is not None):
            return prefixes
        prefixes = _step(op, av, prefixes)
    return prefixes


def _extend(prefixes: set[str], chars: list[str] | None) -> set[str]:
    out: set[str] = set()
    for p in prefixes:
        if len(p) >= K or p.endswith("\0"):
            out.add(p)
        elif chars is None:
            out.add(p + "\0")  # unknown continuation: stop here (wildcard)
        else:
            out.update(p + c for c in chars)
    return out


def _step(op, av, prefixes: set[str]) -> set[str]:
    if op is _sc.LITERAL:
        return _extend(prefixes, [chr(av)])
    if op is _sc.IN:
        chars: list[str] = []
        for iop, iav in av:
            if iop is _sc.LITERAL:
                chars.append(chr(iav))
            elif iop is _sc.RANGE and iav[1] - iav[0] < 64:
                chars.extend(chr(c) for c in range(iav[0], iav[1] + 1))
            else:
                return _extend(prefixes, None)
        return _extend(prefixes, chars)
    if op is _sc.SUBPATTERN:
        return _prefixes(av[-1], prefixes)
    if op is _sc.BRANCH:
        out: set[str] = set()
        for alt in av[1]:
            out |= _prefixes(alt, set(prefixes))
        return out
    if op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT, getattr(_sc, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        once = _prefixes(sub, set(prefixes))
        if hi > 1:  # a further repetition may follow: stop there
            once = {p if len(p) >= K else p + "\0" for p in once}
        return once if lo > 0 else once | prefixes
    if op in (_sc.AT, _sc.ASSERT, _sc.ASSERT_NOT):
        return prefixes  # zero-width
    return _extend(prefixes, None)


def fragment_prefixes(fragment: str) -> set[str]:
    """Possible first letters (up to K) of a match; a prefix shorter than K is a wildcard."""
    return {p.rstrip("\0") for p in _prefixes(_sp.parse(fragment), {""})}


class WordScanner:
    """Find fragment matches starting at word starts; ``group`` index = fragment index."""

    def __init__(self, fragments: list[str]):
        self.fragments = fragments
        self._by_prefix: dict[str, list[int]] = {}
        for i, f in enumerate(fragments):
            for p in fragment_prefixes(f):
                self._by_prefix.setdefault(p, []).append(i)
        self._cache: dict[str, tuple[re.Pattern[str], list[int]] | None] = {}
        self._wild = "" in self._by_prefix
        self.prefixes = {p for p in self._by_prefix if p}
        self._candidates = _candidate_regex(self.prefixes)

    def _pattern_for(self, word: str) -> tuple[re.Pattern[str], list[int]] | None:
        key = word[:K]
        if key in self._cache:
            return self._cache[key]
        idx: set[int] = set()
        for n in range(0, K + 1):
            idx.update(self._by_prefix.get(key[:n], ()))
        if not idx:
            self._cache[key] = None
            return None
        order = sorted(idx)
        body = "|".join(f"(?P<g{j}>{self.fragments[i]})" for j, i in enumerate(order))
        compiled = re.compile(f"(?:{body})(?![a-z0-9])")
        self._cache[key] = (compiled, order)
        return self._cache[key]

    def scan(
        self, lower: str, overlap: frozenset[int] = frozenset()
    ) -> Iterator[tuple[int, int, int]]:
        """Yield ``(start, end, fragment_index)`` left to right.

        After a match the scan resumes at its end, except for fragments in ``overlap``
        (resumes after the match's first word, so mentions inside it are found too).
        """
        resume = 0
        cache = self._cache
        words = _WORD.finditer(lower) if self._wild else self._candidates.finditer(lower)
        for w in words:
            s = w.start()
            if s < resume:
                continue
            key = lower[s : s + K]
            entry = cache[key] if key in cache else self._pattern_for(key)
            if entry is None:
                continue
            pattern, order = entry
            m = pattern.match(lower, s)
            if m is None:
                continue
            i = order[m.lastindex - 1]  # type: ignore[operator]
            yield s, m.end(), i
            resume = _WORD.match(lower, s).end() if i in overlap else m.end()  # type: ignore[union-attr]


def _candidate_regex(prefixes: set[str]) -> re.Pattern[str]:
    """Word starts whose first letters some fragment can begin with (a one-level trie)."""
    by_first: dict[str, set[str]] = {}
    for p in prefixes:
        by_first.setdefault(p[0], set()).add(p[1:])
    parts = []
    for first, rests in sorted(by_first.items()):
        if "" in rests:
            parts.append(re.escape(first))
        else:
            alts = "|".join(re.escape(r) for r in sorted(rests, key=lambda r: (-len(r), r)))
            parts.append(f"{re.escape(first)}(?:{alts})")
    return re.compile(r"(?<![a-z0-9])(?=" + "|".join(parts) + ")")


class PairScanner:
    """Two WordScanners run in one pass over the word starts (concepts and triggers).

    Equivalent to ``list(a.scan(lower, overlap_a))`` and ``list(b.scan(lower))``.
    """

    def __init__(self, a: WordScanner, b: WordScanner):
        self.a, self.b = a, b
        self._wild = a._wild or b._wild
        self._candidates = _candidate_regex(a.prefixes | b.prefixes)

    def scan(
        self, lower: str, overlap_a: frozenset[int] = frozenset()
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        a, b = self.a, self.b
        ca, cb = a._cache, b._cache
        out_a: list[tuple[int, int, int]] = []
        out_b: list[tuple[int, int, int]] = []
        ra = rb = 0
        words = _WORD.finditer(lower) if self._wild else self._candidates.finditer(lower)
        for w in words:
            s = w.start()
            if s < ra and s < rb:
                continue
            key = lower[s : s + K]
            if s >= ra:
                e = ca[key] if key in ca else a._pattern_for(key)
                if e is not None:
                    m = e[0].match(lower, s)
                    if m is not None:
                        i = e[1][m.lastindex - 1]  # type: ignore[operator]
                        out_a.append((s, m.end(), i))
                        ra = _WORD.match(lower, s).end() if i in overlap_a else m.end()  # type: ignore[union-attr]
            if s >= rb:
                e = cb[key] if key in cb else b._pattern_for(key)
                if e is not None:
                    m = e[0].match(lower, s)
                    if m is not None:
                        out_b.append((s, m.end(), e[1][m.lastindex - 1]))  # type: ignore[operator]
                        rb = m.end()
        return out_a, out_b
