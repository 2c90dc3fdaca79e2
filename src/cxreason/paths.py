"""Where cxreason keeps caches: one root, ``$CXREASON_CACHE``, or beside a run's outputs.

No path is hard-coded elsewhere: every input and output is an argument, and a cache defaults
to ``$CXREASON_CACHE/<name>`` when that variable is set (so several runs share one cache),
else to a folder inside the run's output directory.
"""

from __future__ import annotations

import json
import os
import re
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


#: A Hugging Face hub id: ``name`` or ``org/name`` of word characters, dots and dashes.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def looks_like_hub_id(ref: str) -> bool:
    """Whether ``ref`` can be a hub id (``org/name``) rather than only a local path.

    A path: starts with ``/ . ~``, has a backslash, more than one ``/``, a trailing ``/``, a
    character a hub id cannot hold, or a first component that exists here as a folder
    (``runs/my-model`` when ``runs/`` exists: a typo in a run folder is never a hub id).
    """
    if not ref or ref[0] in "./~" or "\\" in ref or ref.endswith("/"):
        return False
    if ref.count("/") > 1 or not _HUB_ID_RE.match(ref):
        return False
    return not ("/" in ref and Path(ref.split("/", 1)[0]).is_dir())


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


def check_model_folder(path: Path) -> None:
    """A model folder must hold a readable ``config.json`` (ModelNotFound naming it)."""
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ModelNotFound(f"{path}: not a model folder (no config.json)")
    try:
        json.loads(cfg.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelNotFound(f"{cfg}: not valid JSON ({e})") from None


def resolve_model_ref(ref: str, *, allow_download: bool = False) -> str:
    """Check a ``--model`` before anything is loaded: ``local`` or ``hub``.

    An existing file passes (a ``.gguf``); an existing folder must hold a readable
    ``config.json``. A hub id passes when the HF cache holds it or downloads are allowed
    (:func:`downloads_allowed`). Anything else raises :class:`ModelNotFound` at once, naming
    the path: a typo in a run folder never turns into minutes of hub retries. No network.
    """
    path = Path(ref).expanduser()
    if path.is_dir():
        check_model_folder(path)
        return "local"
    if path.exists():
        return "local"
    if not looks_like_hub_id(ref):
        raise ModelNotFound(f"model folder not found: {ref}")
    if cached_hub_model(ref) or downloads_allowed(allow_download):
        return "hub"
    raise ModelNotFound(
        f"{ref}: no such model folder, and not in the Hugging Face cache; a hub id is fetched "
        f"only when downloads are allowed (--allow-download, {ALLOW_DOWNLOAD_ENV}=1 or "
        "HF_HUB_OFFLINE=0)"
    )


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
