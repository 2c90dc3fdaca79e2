"""The project's one client for any OpenAI-compatible chat-completions endpoint.

Shared by the reasoning-chain miner (``cxreason.bench.miner``), the LLM judge of the metrics
and the OpenAI backend of ``cxreason predict`` (:mod:`cxreason.inference.openai_backend`).

- Transport: the official ``openai`` library (``chat.completions.create``; its own retries are
  off, the policy below is this module's). ``base_url`` includes the version prefix, e.g.
  ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``. Request body:
  ``{"model", "messages", "temperature"}`` plus ``response_format={"type": "json_object"}`` in
  JSON mode and any extra sampling ``params`` (``max_tokens``, ``seed``, ``top_p``); the reply
  text is ``choices[0].message.content``.
- The API key is read from the environment variable ``api_key_env``; when it is unset or empty
  no ``Authorization`` header is sent (a local server needs none).
- Bounded concurrency: at most ``max_concurrency`` requests in flight per client, whatever the
  number of calling threads.
- Retries: 429, 5xx, timeouts, transport errors and malformed bodies are retried up to
  ``max_retries`` times with exponential backoff and full jitter; a ``Retry-After`` header
  (seconds or HTTP date) is honoured. Other 4xx are not retried (:class:`LLMError` keeps the
  HTTP ``status``).
- Cache: on disk under ``cache_dir``, one JSON file per key = sha256 of (model, messages,
  temperature, json_mode, and the extra params when given); images inside the messages are
  ``data:`` URLs, so the key covers their bytes. Written atomically, so a killed run never
  leaves a torn entry; failures are never cached.
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

import openai

from cxreason.records import write_json

log = logging.getLogger(__name__)
# One INFO line per HTTP request from the transport would drown progress bars and this module's
# own retry logging; warnings and errors still show.
for _name in ("httpx", "httpx2"):
    logging.getLogger(_name).setLevel(logging.WARNING)

#: Bumped when the cache file layout or key recipe changes.
CACHE_FORMAT = "llmcache-v1"


class LLMError(RuntimeError):
    """A chat call that failed for good (after retries, or a non-retryable error).

    ``status``: the HTTP status of a non-retryable reply (401, 404, ...), else None.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class LLMResult:
    """The outcome of one chat call in :meth:`LLMClient.chat_many`."""

    text: str | None
    error: str | None = None
    cached: bool = False
    #: HTTP status of a non-retryable failure (see :class:`LLMError`).
    status: int | None = None


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def cache_key(
    model: str,
    messages: list[dict],
    temperature: float,
    json_mode: bool,
    params: dict[str, Any] | None = None,
) -> str:
    """The cache key (sha256 hex) of one request: model + prompt + sampling settings.

    ``params`` (extra request fields such as ``max_tokens``, ``seed``) join the key only when
    given, so keys of requests without them are unchanged.
    """
    obj: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "json_mode": json_mode,
    }
    if params:
        obj["params"] = params
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False)
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
        key = os.environ.get(api_key_env) if api_key_env else None
        # No key: the Authorization header is omitted per request (the library needs a value).
        self._auth_headers: dict[str, Any] = {} if key else {"Authorization": openai.Omit()}
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=key or "unused",
            timeout=timeout_s,
            max_retries=0,  # retries are this class's policy (counted, jittered, Retry-After)
        )

    # -- public API ---------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict],
        *,
        temperature: float = 0.0,
        json_mode: bool = False,
        **params: Any,
    ) -> str:
        """The assistant's reply text; cached; raises :class:`LLMError` when it fails for good.

        ``params``: extra request fields passed through (``max_tokens``, ``seed``, ``top_p``).
        """
        return self._chat(messages, temperature, json_mode, params)[0]

    def chat_many(
        self,
        list_of_messages: list[list[dict]],
        *,
        temperature: float = 0.0,
        json_mode: bool = False,
        **params: Any,
    ) -> list[LLMResult]:
        """Run many chats concurrently (at most ``max_concurrency`` in flight); input order kept.

        A failed call gives ``LLMResult(text=None, error=...)``; it never raises for one item.
        """

        def one(messages: list[dict]) -> LLMResult:
            try:
                text, cached = self._chat(messages, temperature, json_mode, params)
                return LLMResult(text=text, cached=cached)
            except LLMError as e:
                return LLMResult(text=None, error=str(e), status=e.status)

        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(one, list_of_messages))

    def close(self) -> None:
        self._client.close()

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

    def _chat(
        self, messages: list[dict], temperature: float, json_mode: bool, params: dict[str, Any]
    ) -> tuple[str, bool]:
        key = cache_key(self.model, messages, temperature, json_mode, params)
        payload: dict[str, Any] = {
            **params,
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
        }
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        if self.cache_dir is None:
            return self._request(key, payload)
        with self._lock:  # identical concurrent calls: the first asks, the others read its answer
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            return self._request(key, payload)

    def _request(self, key: str, payload: dict[str, Any]) -> tuple[str, bool]:
        hit = self._cache_get(key)
        if hit is not None:
            self._count("cache_hits")
            return hit, True
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
        create = self._client.chat.completions.with_raw_response.create
        try:
            raw = create(**payload, extra_headers=self._auth_headers)
        except openai.APITimeoutError:
            raise _Retryable(f"timeout after {self.timeout_s}s from {url}") from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise _Retryable(f"transport error: {type(cause).__name__}: {cause}") from None
        except openai.APIStatusError as e:
            status = e.status_code
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"HTTP {status} from {url}",
                    parse_retry_after(e.response.headers.get("Retry-After")),
                ) from None
            raise LLMError(f"HTTP {status} from {url}: {_error_text(e)}", status) from None
        try:
            content = raw.parse().choices[0].message.content
        except (AttributeError, IndexError, TypeError, ValueError, openai.APIError):
            raise _Retryable(f"malformed response body from {url}: {raw.text[:120]!r}") from None
        if not isinstance(content, str):
            raise _Retryable(f"response content is not a string from {url}")
        return content


def _error_text(e: openai.APIStatusError) -> str:
    """The server's error message (OpenAI's ``{"error": {"message"}}`` or plain), <= 200 chars."""
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message", inner) if isinstance(inner, dict) else inner
        return str(msg)[:200]
    try:
        return e.response.text[:200]
    except Exception:  # a streamed or closed response
        return str(e)[:200]
