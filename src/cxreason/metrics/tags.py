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


def tag_blocks(text: str, tag: str) -> list[str]:
    """Contents of the ``<tag>...</tag>`` blocks of ``text``, left to right (case-insensitive
    tags; what ``re.findall`` with a lazy group would return, in linear time)."""
    out: list[str] = []
    open_end: int | None = None
    for m in _tag_re(tag).finditer(text):
        if m.group(1):
            if open_end is not None:
                out.append(text[open_end : m.start()])
                open_end = None
        elif open_end is None:
            open_end = m.end()
    return out


def last_block(text: str | None, tag: str) -> str | None:
    """The LAST non-empty ``<tag>`` block of ``text``, stripped; None if there is none."""
    if not text:
        return None
    for block in reversed(tag_blocks(text, tag)):
        if block.strip():
            return block.strip()
    return None
