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


class ModelNotFound(FileNotFoundError):
    """A ``--model`` that is neither an existing path nor a hub id the user allowed to fetch."""


#: Env var that, set to 1, allows fetching models from the Hugging Face Hub (= --allow-download).
ALLOW_DOWNLOAD_ENV = "CXREASON_ALLOW_DOWNLOAD"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def downloads_allowed(flag: bool = False) -> bool:
    """Whether a hub lookup is allowed: ``--allow-download``, ``CXREASON_ALLOW_DOWNLOAD=1``, or
    the user's own ``HF_HUB_OFFLINE=0`` (an explicit request to go online)."""
    offline = os.environ.get("HF_HUB_OFFLINE")
    return flag or _truthy(os.environ.get(ALLOW_DOWNLOAD_ENV)) or offline in ("0", "false", "False")


def looks_like_hub_id(ref: str) -> bool:
    """``org/name`` or ``name``: no leading ``.``, ``/`` or ``~``, at most one ``/``, no
    backslash, and not under an existing local folder (``runs/x`` with ``runs/`` present is a
    path)."""
    if not ref or ref[0] in "./~" or "\\" in ref or ref.count("/") > 1:
        return False
    head = ref.split("/", 1)[0]
    return not ("/" in ref and Path(head).is_dir())


def cached_hub_model(ref: str) -> bool:
    """Whether the Hugging Face cache already holds ``ref``'s config (no network)."""
    if not looks_like_hub_id(ref):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(ref, "config.json")
    except Exception:  # a malformed id, an unreadable cache: not cached
        return False
    return isinstance(hit, str)


def resolve_model_ref(ref: str, *, allow_download: bool = False) -> str:
    """Check a ``--model`` before anything is loaded; returns ``ref`` unchanged.

    An existing path passes. A hub id passes when the HF cache holds it or downloads are
    allowed (:func:`downloads_allowed`). Anything else raises :class:`ModelNotFound` at once,
    naming the path: a typo in a run folder never turns into minutes of hub retries.
    """
    if Path(ref).expanduser().exists():
        return ref
    if looks_like_hub_id(ref) and (cached_hub_model(ref) or downloads_allowed(allow_download)):
        return ref
    hint = (
        " (a Hugging Face Hub id is fetched only with --allow-download)"
        if looks_like_hub_id(ref)
        else ""
    )
    raise ModelNotFound(f"{ref}: no such model folder or file{hint}")


def set_hub_access(allow_download: bool = False) -> bool:
    """Put the Hugging Face libraries offline unless downloads are allowed; returns whether
    they are. Call it before loading a model: with it, even a cached hub id costs no request."""
    allowed = downloads_allowed(allow_download)
    os.environ["HF_HUB_OFFLINE"] = "0" if allowed else "1"
    try:
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = not allowed
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        pass
    return allowed
