"""Which engine a command runs: a local model (transformers, vLLM) or an OpenAI-compatible server.

:class:`EngineOptions` holds the options ``cxreason predict`` and ``cxreason eval`` share; it
checks them before anything slow (a mistyped model folder, a malformed URL fail at once) and
loads the engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cxreason.inference.predict import BACKENDS as LOCAL_BACKENDS
from cxreason.inference.predict import SMOLLM2_ALIAS, EngineError

#: ``--backend`` choices: the local ones and ``openai`` (any OpenAI-compatible endpoint).
BACKENDS = (*LOCAL_BACKENDS, "openai")
#: Items per ``generate_batch`` call of the local engines (``--batch-size`` default).
LOCAL_BATCH = 4
#: Requests handed to the OpenAI engine at once, per unit of ``--concurrency``: enough to keep
#: every slot busy between progress-log appends.
REMOTE_BATCH_PER_SLOT = 4


@dataclass
class EngineOptions:
    """The engine of a run. ``backend`` ``auto`` means ``openai`` when ``base_url`` is given."""

    model: str
    backend: str = "auto"
    device: str | None = None
    threads: int | None = 1
    allow_download: bool = False
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = 4
    image_max_side: int = 1024
    image_format: str = "png"
    request_timeout: float = 300.0
    max_retries: int = 5
    cache: Path | None = None

    @property
    def remote(self) -> bool:
        """Whether the model is behind an OpenAI-compatible endpoint."""
        return self.backend == "openai" or (self.backend == "auto" and bool(self.base_url))

    def check(self) -> None:
        """Refuse inconsistent options and a local model path that does not exist (no loading)."""
        from cxreason.inference.openai_backend import IMAGE_FORMATS, check_base_url
        from cxreason.paths import ModelNotFound, resolve_model_ref

        if self.backend not in BACKENDS:
            raise EngineError(
                f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}"
            )
        if self.remote:
            if not self.base_url:
                raise EngineError(
                    "--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)"
                )
            check_base_url(self.base_url)
            if self.concurrency < 1:
                raise EngineError(f"--concurrency must be >= 1, got {self.concurrency}")
            if self.image_format not in IMAGE_FORMATS:
                raise EngineError(
                    f"--image-format must be one of {', '.join(IMAGE_FORMATS)}, got {self.image_format!r}"
                )
            if self.image_max_side < 1:
                raise EngineError(f"--image-max-side must be >= 1, got {self.image_max_side}")
            return
        if self.base_url:
            raise EngineError(
                f"--base-url is for --backend openai, not --backend {self.backend}: drop one"
            )
        if self.model != SMOLLM2_ALIAS:  # a mistyped path fails before anything slow
            try:
                resolve_model_ref(self.model, allow_download=self.allow_download)
            except ModelNotFound as e:
                raise EngineError(str(e)) from None

    def batch_size(self, given: int | None) -> int:
        """``--batch-size`` if given, else the backend's default."""
        if given:
            return given
        return self.concurrency * REMOTE_BATCH_PER_SLOT if self.remote else LOCAL_BATCH

    def cache_dir(self, out: str | os.PathLike) -> Path:
        """The response cache of a remote run writing ``out``: ``--cache``, else
        ``$CXREASON_CACHE/openai``, else the hidden folder ``.<out name>.cache`` beside it."""
        from cxreason.paths import cache_dir

        if self.cache is not None:
            return Path(self.cache)
        out = Path(out)
        return cache_dir("openai", out.with_name(f".{out.name}.cache"))

    def load(self, out: str | os.PathLike | None = None):
        """The engine (a remote one caches beside ``out``; None: no cache)."""
        if self.remote:
            from cxreason.inference.openai_backend import OpenAIEngine

            return OpenAIEngine(
                self.base_url,
                self.model,
                api_key_env=self.api_key_env,
                concurrency=self.concurrency,
                cache_dir=self.cache_dir(out) if out is not None else None,
                image_max_side=self.image_max_side,
                image_format=self.image_format,
                timeout_s=self.request_timeout,
                max_retries=self.max_retries,
            )
        from cxreason.inference.predict import load_engine

        return load_engine(
            self.model,
            backend=self.backend,
            device=self.device,
            threads=self.threads or None,
            allow_download=self.allow_download,
        )

    def describe(self) -> dict[str, object]:
        """What a report says about the engine (never the API key)."""
        if self.remote:
            return {
                "backend": "openai",
                "model": self.model,
                "base_url": self.base_url,
                "concurrency": self.concurrency,
                "image_max_side": self.image_max_side,
                "image_format": self.image_format,
            }
        from cxreason.inference.predict import _vllm_usable

        backend = self.backend
        if backend == "auto":  # the rule of load_engine (a .gguf file never goes to vLLM)
            backend = (
                "vllm" if _vllm_usable() and not self.model.endswith(".gguf") else "transformers"
            )
        return {"backend": backend, "model": self.model, "threads": self.threads}
