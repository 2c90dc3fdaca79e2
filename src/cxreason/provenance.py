"""Provenance: which benchmark build a prediction was made on, and which split a command uses.

A benchmark build is identified by its *content hash*: the SHA-256 of its items, each item's
JSON with sorted keys and no insignificant whitespace, one per line, in file order. Re-indenting
or re-serialising a ``bench.jsonl`` keeps the hash; any change to an id, question, option,
answer, image, report, chain or split changes it. ``cxreason bench build`` writes it to
``manifest.json`` (``content_sha256``), ``cxreason predict`` records it in its progress log and
in every output row (``bench_sha256``), and ``cxreason score`` refuses predictions made on
another build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from cxreason.records import SPLITS, iter_jsonl, to_dict

#: Field of a prediction row (and key of predict's progress-log meta) holding the bench hash.
PRED_HASH_FIELD = "bench_sha256"
#: ``--split`` choices: a split of :data:`cxreason.records.SPLITS`, or ``all``.
SPLIT_CHOICES = (*SPLITS, "all")

T = TypeVar("T")


def items_sha256(items: Iterable[Any]) -> str:
    """Content hash of benchmark items (dataclasses or dicts), in the given order."""
    h = hashlib.sha256()
    for it in items:
        obj = to_dict(it) if hasattr(it, "__dataclass_fields__") else it
        line = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def bench_sha256(path: str | os.PathLike) -> str:
    """Content hash of a benchmark JSONL file (see the module docstring)."""
    return items_sha256(obj for _, obj in iter_jsonl(path))


def short(digest: str | None) -> str:
    """The first 12 hex digits of a hash, for messages (``?`` when unknown)."""
    return digest[:12] if digest else "?"


class SplitError(ValueError):
    """A ``--split`` that is not one of :data:`SPLIT_CHOICES`."""


def check_split(split: str) -> str:
    """``split`` if it is one of :data:`SPLIT_CHOICES`, else :class:`SplitError`."""
    if split not in SPLIT_CHOICES:
        raise SplitError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got {split!r}")
    return split


def select_split(items: Sequence[T], split: str) -> list[T]:
    """Items of ``split`` (``all``: every item), in their order. Items carry ``split``."""
    check_split(split)
    if split == "all":
        return list(items)
    return [it for it in items if getattr(it, "split", None) == split]
