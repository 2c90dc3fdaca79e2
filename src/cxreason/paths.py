"""Where cxreason keeps caches: one root, ``$CXREASON_CACHE``, or beside a run's outputs.

No path is hard-coded elsewhere: every input and output is an argument, and a cache defaults
to ``$CXREASON_CACHE/<name>`` when that variable is set (so several runs share one cache),
else to a folder inside the run's output directory.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CXREASON_CACHE"


def cache_dir(name: str, fallback: str | os.PathLike) -> Path:
    """``$CXREASON_CACHE/name`` if the variable is set, else ``fallback``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) / name if root else Path(fallback)
