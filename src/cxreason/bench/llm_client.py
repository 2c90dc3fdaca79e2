"""A small client for any OpenAI-compatible chat-completions endpoint.

Shared by the reasoning-chain miner (``cxreason.bench.miner``) and the LLM judge of the metrics.

- Protocol: ``POST {base_url}/chat/completions`` with ``{"model", "messages", "temperature"}``
  (plus ``response_format={"type": "json_object"}`` in JSON mode); the reply text is
  ``choices[0].message.content``. ``base_url`` includes the version prefix, e.g.
  ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
- The API key is read from the environment variable ``api_key_env`` (a local server needs none).
- Bounded concurrency: at most ``max_concurrency`` requests in flight per client, whatever the
  number of calling threads.
- Retries: 429, 5xx, timeouts, transport errors and malformed bodies are retried up to
  ``max_retries`` times with exponential backoff and full jitter; a ``Retry-After`` header
  (seconds or HTTP date) is honoured. Other 4xx are not retried.
- Cache: on disk under ``cache_dir``, one JSON file per key = sha256 of (model, messages,
  temperature, json_mode); written atomically, so a killed run never leaves a torn entry.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cxreason.records import write_json

log = logging.getLogger(__name__)

#: Bumped when the cache file layout or key recipe changes.
CACHE_FORMAT = "llmcache-v1"


class LLMError(RuntimeError):
    """A chat call that failed for good (after retries, or a non-retryable error)."""


@dataclass
class LLMResult:
    """The outcome of one chat call in :meth:`LLMClient.chat_many`."""

    text: str | None
    error: str | None = None
    cached: bool = False


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def cache_key(model: str, messages: list[dict], temperature: float, json_mode: bool) -> str:
    """The cache key (sha256 hex) of one request: model + prompt + sampling settings."""
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "json_mode": json_mode,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class LLMClient:
    """Chat with an OpenAI-compatible endpoint: cached, bounded-concurrency, retrying.

    Thread-safe: ``chat`` may be called from many threads at once.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        cache_dir: str | os.PathLike | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        timeout_s: float = 60.0,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
    ):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._rng = random.Random()
        self.stats = {"requests": 0, "cache_hits": 0, "retries": 0, "failures": 0}
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
        )

    # -- public API ---------------------------------------------------------------------------
    def chat(
        self, messages: list[dict], *, temperature: float = 0.0, json_mode: bool = False
    ) -> str:
        """The assistant's reply text; cached; raises :class:`LLMError` when it fails for good."""
        return self._chat(messages, temperature, json_mode)[0]

    def chat_many(self, list_of_messages: list[list[dict]], **kw: Any) -> list[LLMResult]:
        """Run many chats concurrently (at most ``max_concurrency`` in flight); input order kept.

        A failed call gives ``LLMResult(text=None, error=...)``; it never raises for one item.
        """

        def one(messages: list[dict]) -> LLMResult:
            try:
                text, cached = self._chat(
                    messages, kw.get("temperature", 0.0), kw.get("json_mode", False)
                )
                return LLMResult(text=text, cached=cached)
            except LLMError as e:
                return LLMResult(text=None, error=str(e))

        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(one, list_of_messages))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _cache_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.json"

    def _cache_get(self, key: str) -> str | None:
        path = self._cache_path(key)
        if path is None or not path.exists():
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            return obj["text"] if obj.get("model") == self.model else None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable cache entry %s", path)
            return None

    def _cache_put(self, key: str, text: str) -> None:
        path = self._cache_path(key)
        if path is not None:
            write_json(path, {"model": self.model, "key": key, "text": text})

    def _chat(self, messages: list[dict], temperature: float, json_mode: bool) -> tuple[str, bool]:
        key = cache_key(self.model, messages, temperature, json_mode)
        if self.cache_dir is None:
            return self._request(key, messages, temperature, json_mode)
        with self._lock:  # identical concurrent calls: the first asks, the others read its answer
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            return self._request(key, messages, temperature, json_mode)

    def _request(
        self, key: str, messages: list[dict], temperature: float, json_mode: bool
    ) -> tuple[str, bool]:
        hit = self._cache_get(key)
        if hit is not None:
            self._count("cache_hits")
            return hit, True
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
        }
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        text = self._post_with_retries(payload)
        self._cache_put(key, text)
        return text, False

    def _post_with_retries(self, payload: dict[str, Any]) -> str:
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            try:
                with self._slots:
                    return self._post_once(payload)
            except _Retryable as e:
                last = str(e)
                if attempt == self.max_retries:
                    break
                self._count("retries")
                delay = self._backoff(attempt, e.retry_after)
                log.debug("LLM call failed (%s); retry %d in %.2fs", last, attempt + 1, delay)
                time.sleep(delay)
        self._count("failures")
        raise LLMError(f"{last} (gave up after {self.max_retries + 1} attempts)")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        with self._lock:
            return self._rng.uniform(0.0, cap)

    def _post_once(self, payload: dict[str, Any]) -> str:
        self._count("requests")
        url = f"{self.base_url}/chat/completions"
        try:
            resp = self._http.post(url, json=payload)
        except httpx.TimeoutException as e:
            raise _Retryable(f"timeout after {self.timeout_s}s: {type(e).__name__}") from None
        except httpx.TransportError as e:
            raise _Retryable(f"transport error: {type(e).__name__}: {e}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retryable(
                f"HTTP {resp.status_code} from {url}",
                parse_retry_after(resp.headers.get("Retry-After")),
            )
        if resp.status_code >= 400:
            raise LLMError(f"HTTP {resp.status_code} from {url}: {resp.text[:200]}")
        try:
            body = resp.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(f"malformed response body from {url}: {resp.text[:120]!r}") from None
        if not isinstance(content, str):
            raise _Retryable(f"response content is not a string from {url}")
        return content
