"""``<think>`` / ``<answer>`` blocks of a model output, read in linear time.

``re.findall(r"<answer>(.*?)</answer>", text, re.I | re.S)`` restarts its lazy scan at every
opening tag, so an output of many unclosed ``<answer>`` tags takes quadratic time (a 360 KB
output took 55 s). :func:`tag_blocks` returns the same blocks from one pass over the tags:
a block opens at a tag, ends at the first closing tag after it (an opening tag inside an open
block is content), and a closing tag with no open block is ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=8)
def _tag_re(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<(/?){re.escape(tag)}>", re.IGNORECASE)


def block_spans(text: str, tag: str) -> list[tuple[int, int, int, int]]:
    """``(open_start, content_start, content_end, close_end)`` of each ``<tag>...</tag>`` block,
    left to right (case-insensitive tags; the blocks ``re.finditer`` with a lazy group would
    find, in linear time)."""
    out: list[tuple[int, int, int, int]] = []
    opened: re.Match[str] | None = None
    for m in _tag_re(tag).finditer(text):
        if m.group(1):
            if opened is not None:
                out.append((opened.start(), opened.end(), m.start(), m.end()))
                opened = None
        elif opened is None:
            opened = m
    return out


def tag_blocks(text: str, tag: str) -> list[str]:
    """Contents of the ``<tag>...</tag>`` blocks of ``text``, left to right."""
    return [text[a:b] for _, a, b, _ in block_spans(text, tag)]


def remove_blocks(text: str, tag: str) -> str:
    """``text`` without its ``<tag>...</tag>`` blocks (each replaced by a space)."""
    parts, pos = [], 0
    for start, _, _, end in block_spans(text, tag):
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return " ".join(parts)


def last_block(text: str | None, tag: str) -> str | None:
    """The LAST non-empty ``<tag>`` block of ``text``, stripped; None if there is none."""
    if not text:
        return None
    for block in reversed(tag_blocks(text, tag)):
        if block.strip():
            return block.strip()
    return None
