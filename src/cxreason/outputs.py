"""Output locations that a command may write: never silently over somebody else's files.

A writer names what it owns (file and folder name patterns, e.g. ``bench.jsonl``,
``manifest.json``). An ``--out`` folder may be written when it does not exist, is empty, or holds
only the writer's own previous output (a rerun replaces it, and says so); anything else is
refused unless the user passes ``--overwrite``. Hidden entries (temp files of an interrupted
atomic write, ``.DS_Store``) are ignored. A single output *file* may be replaced when it is one
of the writer's own files (recognised by its content), else refused the same way.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputRefused(ValueError):
    """An ``--out`` that holds other files than the command's own output (message says which)."""


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _is_own(entry: Path, patterns: tuple[str, ...], depth: int) -> bool:
    if any(fnmatch.fnmatch(entry.name, pat) for pat in patterns):
        return True
    # A sub-folder of own files (e.g. one folder per compared system).
    if depth > 0 and entry.is_dir() and not entry.is_symlink():
        return all(_is_own(p, patterns, depth - 1) for p in _visible(entry))
    return False


def guard_output_dir(
    out: str | os.PathLike,
    own: Iterable[str],
    *,
    overwrite: bool = False,
    command: str = "this command",
    subdirs: bool = False,
) -> list[str]:
    """Check that ``out`` may be written; return the names of own outputs it will replace.

    ``own``: file/folder name patterns (``fnmatch``) that the command writes. ``subdirs``: a
    folder whose entries are all own outputs is own too. Raises :class:`OutputRefused` when
    ``out`` is a file, or a folder with other entries and ``overwrite`` is False.
    """
    out = Path(out)
    if not out.exists():
        return []
    if not out.is_dir():
        raise OutputRefused(f"{out}: --out must be a folder, but a file is there")
    patterns = tuple(own)
    entries = _visible(out)
    foreign = [p.name for p in entries if not _is_own(p, patterns, 1 if subdirs else 0)]
    if foreign and not overwrite:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise OutputRefused(
            f"{out} holds files that {command} did not write ({shown}): choose an empty or new "
            "folder, or pass --overwrite to write there anyway"
        )
    return [p.name for p in entries if p.name not in foreign]


def guard_output_file(
    path: str | os.PathLike,
    is_own: Callable[[Path], bool],
    *,
    overwrite: bool = False,
    what: str = "output",
) -> bool:
    """Check that the file ``path`` may be (re)written; True when an own file is replaced.

    ``is_own(path)`` tells whether an existing file is this writer's kind of output.
    """
    path = Path(path)
    if not path.exists():
        return False
    if path.is_dir():
        raise OutputRefused(f"{path}: --out must be a file, but a folder is there")
    if overwrite or is_own(path):
        return True
    raise OutputRefused(
        f"{path} exists and is not a {what} file: choose another --out, or pass --overwrite to "
        "replace it"
    )


def jsonl_has_keys(*keys: str) -> Callable[[Path], bool]:
    """``is_own`` for JSONL outputs: an empty file, or a first record with all of ``keys``."""

    def check(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        obj = json.loads(line)
                        return isinstance(obj, dict) and all(k in obj for k in keys)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return True

    return check
