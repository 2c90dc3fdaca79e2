"""The OpenAI-compatible backend: any model behind ``/v1/chat/completions`` as a predict engine.

:class:`OpenAIEngine` has the engine interface of :mod:`cxreason.inference.predict`
(``name``, ``is_vlm``, ``generate_batch``), so ``predict_bench`` runs it exactly as it runs the
local engines: same requests (:func:`cxreason.inference.predict.item_request`, the versioned
prompts of :mod:`cxreason.prompts`), same resumable fsync'd progress log, same output rows.
Requests go through the project's one LLM client (:class:`cxreason.bench.llm_client.LLMClient`,
the official ``openai`` library underneath): bounded concurrency, retries with backoff on
429/5xx/timeouts, and an on-disk cache keyed by model, messages (the images are ``data:`` URLs,
so their bytes are in the key) and settings (temperature, ``max_tokens``, ``seed``, ``top_p``).

Images: every image of an item, in order, as a ``data:image/png`` (or ``jpeg``) URL, downscaled
so that its longest side is at most ``image_max_side`` pixels (never upscaled); grey images stay
grey. A request that fails after the retries gives ``GenOutput.error`` (the item keeps the error
and is retried on the next run); 401/403/404 (bad key, unknown model or route) and a run of
consecutive failures stop the run at once with :class:`~cxreason.inference.predict.EngineError`.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from collections.abc import Sequence
from typing import Any

from PIL import Image

from cxreason.inference.predict import ChatRequest, EngineError, GenConfig, GenOutput

logger = logging.getLogger(__name__)

IMAGE_FORMATS = ("png", "jpeg")
#: Default longest image side sent, pixels (larger images are downscaled before encoding).
DEFAULT_IMAGE_MAX_SIDE = 1024
JPEG_QUALITY = 90
#: HTTP statuses that no retry or other item can fix: the run stops at once.
FATAL_STATUSES = (401, 403, 404)


def image_data_url(
    img: Image.Image, max_side: int = DEFAULT_IMAGE_MAX_SIDE, fmt: str = "png"
) -> str:
    """A ``data:image/<fmt>;base64,...`` URL of ``img``, longest side at most ``max_side`` px.

    Grey (``L``) images stay grey, others are sent as RGB; the encoding is deterministic, so
    the same image always gives the same URL (and the same cache key).
    """
    if fmt not in IMAGE_FORMATS:
        raise EngineError(f"image format must be one of {IMAGE_FORMATS}, got {fmt!r}")
    if max_side < 1:
        raise EngineError(f"image max side must be >= 1 pixel, got {max_side}")
    im = img if img.mode in ("L", "RGB") else img.convert("RGB")
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        im.save(buf, format="PNG")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def openai_messages(
    req: ChatRequest, max_side: int = DEFAULT_IMAGE_MAX_SIDE, fmt: str = "png"
) -> list[dict[str, Any]]:
    """OpenAI chat messages of an engine request: each ``{"type": "image"}`` placeholder becomes
    an ``image_url`` part with the next image (in order); a text-only turn becomes a string."""
    images = iter(req.images)
    out = []
    for i, m in enumerate(req.messages):
        content = m["content"]
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for p in content:
            if p.get("type") == "image":
                img = next(images, None)
                if img is None:
                    raise EngineError(f"messages[{i}]: more image placeholders than images")
                url = image_data_url(img, max_side, fmt)
                parts.append({"type": "image_url", "image_url": {"url": url}})
            elif p.get("type") == "text":
                parts.append({"type": "text", "text": p.get("text", "")})
            else:
                raise EngineError(f"messages[{i}]: unsupported part type {p.get('type')!r}")
        if all(p["type"] == "text" for p in parts):
            out.append({"role": m["role"], "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": m["role"], "content": parts})
    if next(images, None) is not None:
        raise EngineError("more images than image placeholders in the request")
    return out


class OpenAIEngine:
    """A model behind an OpenAI-compatible endpoint (vLLM, SGLang, TGI, a vendor API,
    ``cxreason serve``), with the engine interface of :mod:`cxreason.inference.predict`.

    ``concurrency``: requests in flight at once. ``cache_dir``: the on-disk response cache
    (None: no cache). ``run_meta`` joins predict's progress-log settings, so a resumed run with
    another image encoding is refused instead of mixing outputs.
    """

    is_vlm = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 4,
        cache_dir: str | os.PathLike | None = None,
        image_max_side: int = DEFAULT_IMAGE_MAX_SIDE,
        image_format: str = "png",
        timeout_s: float = 300.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
    ):
        from cxreason.bench.llm_client import LLMClient

        check_base_url(base_url)
        if image_format not in IMAGE_FORMATS:
            raise EngineError(f"image format must be one of {IMAGE_FORMATS}, got {image_format!r}")
        if image_max_side < 1:
            raise EngineError(f"image max side must be >= 1 pixel, got {image_max_side}")
        if concurrency < 1:
            raise EngineError(f"concurrency must be >= 1, got {concurrency}")
        self.name = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.image_max_side, self.image_format = image_max_side, image_format
        self.client = LLMClient(
            base_url,
            model,
            api_key_env=api_key_env or "",
            cache_dir=cache_dir,
            max_concurrency=concurrency,
            max_retries=max_retries,
            timeout_s=timeout_s,
            backoff_base_s=backoff_base_s,
        )
        self.run_meta = {
            "backend": "openai",
            "image_max_side": image_max_side,
            "image_format": image_format,
        }
        #: Consecutive failed requests after which the run stops (a systematic problem).
        self.abort_after = max(8, 2 * concurrency)
        self._failures_in_a_row = 0

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent (retries included), cache hits, retries and failed calls so far."""
        return dict(self.client.stats)

    def request_params(self, cfg: GenConfig) -> dict[str, Any]:
        """Sampling fields sent with every request (besides ``temperature``)."""
        params: dict[str, Any] = {"max_tokens": cfg.max_new_tokens, "seed": cfg.seed}
        if cfg.top_p != 1.0:
            params["top_p"] = cfg.top_p
        return params

    def generate_batch(self, reqs: Sequence[ChatRequest], cfg: GenConfig) -> list[GenOutput]:
        """Send the requests concurrently; one GenOutput per request, in order (failed ones carry
        ``error``). Raises EngineError on a fatal status or a run of failures (see module doc)."""
        messages = [openai_messages(r, self.image_max_side, self.image_format) for r in reqs]
        results = self.client.chat_many(
            messages, temperature=cfg.temperature, **self.request_params(cfg)
        )
        outs = []
        for res in results:
            if res.text is not None:
                self._failures_in_a_row = 0
                outs.append(GenOutput(res.text, 0, 0, "stop"))
                continue
            if res.status in FATAL_STATUSES:
                raise EngineError(f"{self.base_url} refused the request: {res.error}")
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.abort_after:
                raise EngineError(
                    f"{self._failures_in_a_row} requests in a row failed (last: {res.error}); "
                    "finished items are kept: fix the cause and rerun to resume"
                )
            outs.append(GenOutput("", 0, 0, "error", error=res.error))
        return outs

    def close(self) -> None:
        self.client.close()


def check_base_url(url: str | None) -> str:
    """``url`` if it is an http(s) URL, else EngineError (e.g. ``http://127.0.0.1:8000/v1``)."""
    from urllib.parse import urlparse

    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise EngineError(
            f"--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {url!r}"
        )
    return url
