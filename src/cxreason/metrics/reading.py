"""How an output is read: the strict format (the headline) and a labelled lenient reading.

- **strict** (SPEC "Format readings"): the reasoning is the last non-empty ``<think>`` block,
  the answer the last non-empty ``<answer>`` block; without ``<think>`` there is no reasoning
  score, without ``<answer>`` the item is wrong.
- **lenient**, for free-text models (zero-shot baselines): a tag that is there is still used;
  otherwise the answer is read from the output's ending ("the answer is B", "Answer: B",
  "Option B", a last line "B) Normal", "the findings are Edema, Cardiomegaly" for anomaly
  items) and the reasoning is the output without its ``<answer>`` blocks and tags, minus its
  final answer sentence.

:func:`lenient_output` rewrites an output as ``<think>reasoning</think><answer>answer</answer>``
so the lenient reading is scored by exactly the strict code path, with either backend.
Everything here is linear in the output length.
"""

from __future__ import annotations

import re

from cxreason.metrics.tags import last_block, remove_blocks, tag_blocks

READINGS = ("strict", "lenient")
#: The tail of an output searched for a final answer (characters).
TAIL_CHARS = 600

_TAGS = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
_MARK = r"[\s*_`\"'(\[]*"
#: "the (final|correct) answer is B", "Answer: (B)", "I choose option B", "correct choice: B)".
_ANSWER_IS = re.compile(
    rf"(?:\b(?:final|correct|best|right)\s+)?\b(?:answer|option|choice)\s*(?:is|would be|:|-)?"
    rf"{_MARK}(?:option\s+)?([A-H])(?![A-Za-z0-9])[)\].:*_`\"']*\s*([^\n]*)",
    re.IGNORECASE,
)
#: A last line that starts with an option letter: "**B) Right thoracic scoliosis**".
_LETTER_LINE = re.compile(rf"^{_MARK}([A-H])[).:]\s*(.*)$")
#: An option named with its letter near the end: "most consistent with **B) opacity**",
#: "is (A) severely obscured cardiac shadow".
_LETTER_PAREN = re.compile(r"(?<![A-Za-z0-9])[(\[]?([A-H])\)\s*([^\n]*)")
#: Anomaly items: "the findings are Edema and Cardiomegaly", "Answer: No Finding".
_FINDINGS_ARE = re.compile(
    r"\b(?:answer|findings?|diagnos[ie]s|impression)\s*(?:is|are|include|:)\s*:?\s*"
    r"([^\n]+?)\s*(?=\.(?!\d)|$)",
    re.IGNORECASE | re.MULTILINE,
)


def _plain(output: str) -> str:
    """The output without ``<answer>`` blocks and without any think/answer tag."""
    return _TAGS.sub(" ", remove_blocks(output, "answer"))


def _clean(text: str) -> str:
    return text.strip().strip("*_`\"' ").rstrip(".").strip("*_`\"' ").strip()


def lenient_answer(output: str | None, task: str = "single") -> str | None:
    """The answer under the lenient reading (``<answer>`` block first, else the ending)."""
    if not output:
        return None
    strict = last_block(output, "answer")
    if strict is not None:
        return strict
    text = _TAGS.sub(" ", output)
    tail = text[-TAIL_CHARS:]
    if task == "anomaly":
        last = tail[_start_of_last_lines(tail, 3) :]
        said = [_clean(m.group(1)) for m in _FINDINGS_ARE.finditer(last)]
        said = [a for a in said if a]
        return said[-1] if said else None
    found: tuple[int, str, str] | None = None  # (end position, letter, text after it)
    for m in _ANSWER_IS.finditer(tail):
        found = (m.end(), m.group(1), _clean(m.group(2)))
    last_lines = tail[_start_of_last_lines(tail, 3) :]
    offset = len(tail) - len(last_lines)
    for m in _LETTER_PAREN.finditer(last_lines):
        if found is None or offset + m.end() > found[0]:
            found = (offset + m.end(), m.group(1), _clean(m.group(2)))
    if found is None:
        return None
    _, letter, rest = found
    return f"{letter.upper()}) {rest}" if rest else letter.upper()


def _start_of_last_lines(text: str, n: int) -> int:
    """Index where the last ``n`` non-empty lines of ``text`` begin."""
    end = len(text)
    for _ in range(n):
        stripped = text[:end].rstrip()
        k = stripped.rfind("\n")
        if k == -1:
            return 0
        end = k
    return end + 1


def lenient_reasoning(output: str | None) -> str | None:
    """The reasoning under the lenient reading: the ``<think>`` block if any, else the output
    without answer blocks and tags, minus its final answer sentence (None if nothing is left)."""
    if not output:
        return None
    think = last_block(output, "think")
    if think is not None:
        return think
    if tag_blocks(output, "think"):  # only empty think blocks: nothing to score
        return None
    from cxreason.labeling.sentences import split_sentences

    text = _plain(output)
    spans = split_sentences(text)
    if spans and _is_answer_sentence(text[spans[-1][0] : spans[-1][1]]):
        spans = spans[:-1]
    body = text[spans[0][0] : spans[-1][1]].strip() if spans else ""
    return body or None


def _is_answer_sentence(sentence: str) -> bool:
    s = sentence.strip()
    return bool(
        _ANSWER_IS.search(s) or _LETTER_LINE.match(s) or _FINDINGS_ARE.search(s.splitlines()[-1])
    )


def lenient_output(output: str | None, task: str = "single") -> str | None:
    """``output`` rewritten for the lenient reading as ``<think>..</think><answer>..</answer>``
    (None stays None: a missing prediction is missing in both readings)."""
    if output is None:
        return None
    think = lenient_reasoning(output)
    answer = lenient_answer(output, task)
    parts = []
    if think:
        parts.append(f"<think>{think}</think>")
    if answer:
        parts.append(f"<answer>{answer}</answer>")
    return "".join(parts)
