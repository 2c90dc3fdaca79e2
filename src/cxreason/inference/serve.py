"""HTTP serving: OpenAI-compatible chat completions, an analyze route, the audit viewer.

``create_app(engine, config, viewer)`` builds a FastAPI app around one generation engine
(:mod:`cxreason.inference.predict`). Routes:

- ``POST /v1/chat/completions`` — OpenAI chat format; images as ``data:`` URLs in
  ``image_url`` parts (VLMs); text-only chat for causal LMs. ``GET /v1/models``.
- ``POST /api/analyze`` — multipart upload (``image`` files, optional ``question``, ``mode``)
  -> ``think``, ``answer``, ``labels``, ``impression``.
- ``GET /healthz`` (never needs the API key): status, model, in-flight requests, batches and
  request counters (``requests``: every request but ``/healthz``, by route).
- Viewer: ``GET /`` (static page shipped in the package), ``GET /api/bench``,
  ``GET /api/items/{index}[?reader=NAME]``, ``GET /api/items/{index}/images/{k}`` (rendered to
  PNG), ``GET /api/image?path=...`` (only images the loaded benchmark references, resolved
  under the images root), ``POST /api/reader``, ``GET /api/reader/export?format=json|csv``
  (agreement and Cohen's kappa). With a blinded reader log, items show only question, options
  and images until the reader commits. The viewer never shows a local filesystem path: images
  are named by their bare file name and paths in error texts
  are shortened the same way.

Authentication (``ServeConfig.api_key``, as vLLM's ``--api-key``): every route except
``/healthz`` needs ``Authorization: Bearer <key>`` (401 otherwise). Browsers cannot send that
header for page loads and images, so ``GET /`` without it shows a log-in form that posts the
key to ``POST /login``, which sets an HttpOnly, SameSite=Strict session cookie (an HMAC of the
key, never the key itself) accepted in place of the header.

Every error is JSON ``{"error": reason, "code": code}`` (under ``/v1/``: OpenAI's
``{"error": {"message": reason, "code": code, ...}}`` so OpenAI clients show the reason) with a 4xx status (5xx only for a
server fault, logged with its traceback server-side, never sent). Limits: request body size
(413), bounded concurrency (``max_concurrency`` generating, ``max_queue`` waiting, 503 beyond),
per-request timeout (504; generation is also told to stop via ``max_time``). Access logs are
one JSON object per line on the ``cxreason.serve.access`` logger, without image bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxreason import prompts
from cxreason.inference.predict import ChatRequest, EngineError, GenConfig
from cxreason.inference.reader import ReaderConflict, ReaderError, ReaderLog
from cxreason.inference.safety import (
    ImageLimits,
    InputRefused,
    decode_data_url,
    load_safe_image,
    to_png_bytes,
)
from cxreason.records import BenchItem, read_records
from cxreason.vocab import CHEXPERT_LABELS

logger = logging.getLogger(__name__)
access_log = logging.getLogger("cxreason.serve.access")

VIEWER_DIR = "viewer"
MAX_IMAGES_PER_REQUEST = 4


@dataclass
class ServeConfig:
    """Server limits: bytes, counts, seconds; token caps per request."""

    max_body_bytes: int = 25 * 1024 * 1024
    #: Requests generating at once; concurrent ones are batched into one generate call.
    max_concurrency: int = 4
    #: Seconds the batcher waits for more requests to join a batch.
    batch_window_s: float = 0.01
    max_queue: int = 16
    timeout_s: float = 300.0
    default_max_tokens: int = 256
    max_tokens_cap: int = 2048
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    served_name: str | None = None
    #: Prompt profile of ``/api/analyze`` (a request may override it with a ``profile`` field).
    prompt_profile: str = prompts.DEFAULT_PROFILE
    #: Bearer token required on every route but /healthz (None: no authentication).
    api_key: str | None = field(default=None, repr=False)


class Saturated(Exception):
    """More requests waiting than the queue bound allows."""


class _AllSet:
    """Stop signal of a batch: set once every member request's stop event is set."""

    def __init__(self, events: list[threading.Event]):
        self.events = events

    def is_set(self) -> bool:
        return all(e.is_set() for e in self.events)


class Batcher:
    """Dynamic batching: requests arriving within ``window_s`` of each other (up to
    ``max_batch``, same decoding settings) run as one ``generate_batch`` call; one batch at a
    time per engine. A request whose client left before its batch starts is dropped."""

    def __init__(self, engine, max_batch: int = 8, window_s: float = 0.01):
        self.engine, self.max_batch, self.window_s = engine, max(1, max_batch), window_s
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.batches = 0
        self.batched_requests = 0

    async def submit(self, req: ChatRequest, gen: GenConfig):
        """Generate for one request (its GenOutput); raises what generate_batch raised."""
        if self.queue is None:
            self.queue = asyncio.Queue()
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._run())
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((req, gen, fut))
        return await fut

    @staticmethod
    def _key(gen: GenConfig) -> tuple:
        return (gen.max_new_tokens, gen.temperature, gen.top_p, gen.seed, gen.max_time)

    async def _collect(self) -> list:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self.queue.get_nowait()
                    if left <= 0
                    else await asyncio.wait_for(self.queue.get(), left)
                )
            except (asyncio.QueueEmpty, TimeoutError):
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            groups: dict[tuple, list] = {}
            for job in batch:
                groups.setdefault(self._key(job[1]), []).append(job)
            for jobs in groups.values():
                await self._generate([j for j in jobs if not j[2].done()])

    async def _generate(self, jobs: list) -> None:
        live = [j for j in jobs if not (j[1].stop is not None and j[1].stop.is_set())]
        for j in jobs:
            if j not in live and not j[2].done():
                j[2].set_exception(InputRefused("client closed the request", "client_closed", 499))
        if not live:
            return
        gen = GenConfig(
            **{**live[0][1].__dict__, "stop": _AllSet([j[1].stop for j in live if j[1].stop])}
        )
        self.batches += 1
        self.batched_requests += len(live)
        try:
            outs = await anyio.to_thread.run_sync(
                self.engine.generate_batch, [j[0] for j in live], gen
            )
        except Exception as e:  # delivered to every waiting request
            for j in live:
                if not j[2].done():
                    j[2].set_exception(e)
            return
        for j, out in zip(live, outs, strict=True):
            if not j[2].done():
                j[2].set_result([out])


class Gate:
    """At most ``concurrency`` requests generate at once and ``queue`` wait; more -> Saturated."""

    def __init__(self, concurrency: int, queue: int):
        self.sem = asyncio.Semaphore(max(1, concurrency))
        self.limit = max(1, concurrency) + max(0, queue)
        self.active = 0

    async def __aenter__(self):
        if self.active >= self.limit:
            raise Saturated()
        self.active += 1
        try:
            await self.sem.acquire()
        except BaseException:
            self.active -= 1
            raise
        return self

    async def __aexit__(self, *exc):
        self.sem.release()
        self.active -= 1
        return False


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 (header or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _send_json(send, 413, _too_large(self.max_bytes, scope.get("path", "")))
        if length is not None:
            return await self.app(scope, receive, send)
        # No content-length (chunked): buffer up to the limit, then replay to the app.
        chunks, seen = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # client went away
            seen += len(msg.get("body", b""))
            if seen > self.max_bytes:
                return await _send_json(
                    send, 413, _too_large(self.max_bytes, scope.get("path", ""))
                )
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive():
            return replay.pop() if replay else await receive()

        await self.app(scope, replay_receive, send)


class AccessLog:
    """ASGI middleware: one JSON line per request on ``cxreason.serve.access`` (no bodies).

    Endpoints add fields (token counts, image count) to ``request.state.extra``. A pure ASGI
    middleware (not ``BaseHTTPMiddleware``) so endpoints still see client disconnects.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:12]
        state = scope.setdefault("state", {})
        state["extra"] = {}
        status, t0 = 500, time.perf_counter()

        async def logged_send(msg):
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg = {
                    **msg,
                    "headers": [*msg.get("headers", []), (b"x-request-id", rid.encode("latin-1"))],
                }
            await send(msg)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            client = scope.get("client")
            rec = {
                "event": "request",
                "id": rid,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "ms": round((time.perf_counter() - t0) * 1000, 1),
                "client": client[0] if client else None,
                **state.get("extra", {}),
            }
            access_log.info(json.dumps(rec))


#: Routes that never need the API key.
OPEN_PATHS = ("/healthz",)
LOGIN_PATH = "/login"
SESSION_COOKIE = "cxreason_session"


class RequestCounter:
    """ASGI middleware: counts every HTTP request except ``/healthz``, by route group.

    ``counts``: ``total``, ``chat_completions`` (``/v1/chat/completions``), ``analyze``,
    ``other``; reported by ``/healthz`` so a client can check how many requests it sent.
    """

    def __init__(self, app, counts: dict[str, int]):
        self.app, self.counts = app, counts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") not in OPEN_PATHS:
            path = scope.get("path", "")
            group = {"/v1/chat/completions": "chat_completions", "/api/analyze": "analyze"}.get(
                path, "other"
            )
            self.counts["total"] += 1
            self.counts[group] += 1
        return await self.app(scope, receive, send)


def session_token(api_key: str) -> str:
    """The viewer's session cookie value: an HMAC of the key (the key itself never leaves)."""
    return hmac.new(api_key.encode(), b"cxreason-viewer-session", hashlib.sha256).hexdigest()


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>cxreason: log in</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}input{{font-size:1em}}
.err{{color:#b00}}</style></head><body><h1>cxreason</h1>
<p>This server requires its API key.</p>{error}
<form method="post" action="/login"><input type="password" name="key" autofocus
placeholder="API key" size="32"> <button type="submit">Log in</button></form></body></html>"""


class BearerAuth:
    """ASGI middleware: ``Authorization: Bearer <key>`` (or the viewer's session cookie) on every
    route except :data:`OPEN_PATHS`; ``POST /login`` exchanges the key for the cookie."""

    def __init__(self, app, api_key: str):
        self.app, self.key = app, api_key
        self.token = session_token(api_key)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), self.key):
            return True
        from http.cookies import CookieError, SimpleCookie

        try:
            jar = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:
            return False
        morsel = jar.get(SESSION_COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path == LOGIN_PATH and method == "POST":
            return await self._login(receive, send)
        if self._authorized(headers):
            return await self.app(scope, receive, send)
        if path == "/" and method == "GET":
            return await _send_html(send, 401, _LOGIN_PAGE.format(error=""))
        body = error_body(
            path, "missing or wrong API key: send 'Authorization: Bearer <key>'", "unauthorized"
        )
        await _send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])

    async def _login(self, receive, send):
        from urllib.parse import parse_qs

        data, more = b"", True
        while more and len(data) <= 4096:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            data += msg.get("body", b"")
            more = msg.get("more_body", False)
        given = parse_qs(data[:4096].decode("utf-8", "replace")).get("key", [""])[0]
        if not hmac.compare_digest(given, self.key):
            page = _LOGIN_PAGE.format(error='<p class="err">Wrong key.</p>')
            return await _send_html(send, 401, page)
        cookie = f"{SESSION_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _send_html(send, status: int, page: str) -> None:
    body = page.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(n: int, path: str) -> dict[str, Any]:
    return error_body(path, f"request body over the {n}-byte limit", "request_too_large")


async def _send_json(
    send, status: int, obj: dict[str, Any], extra_headers: list[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(obj).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def preview_data_url(img, max_side: int = 768) -> str:
    """A PNG data URL of a loaded image, downscaled to ``max_side`` pixels (for display only)."""
    import base64

    im = img.copy()
    im.thumbnail((max_side, max_side))
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(im)).decode("ascii")


def error_body(path: str, reason: str, code: str) -> dict[str, Any]:
    """The error JSON: ``{"error": reason, "code": code}``; under ``/v1/`` OpenAI's shape
    ``{"error": {"message": reason, "type": ..., "code": code}}`` so OpenAI clients show it."""
    if path.startswith("/v1/"):
        return {
            "error": {
                "message": reason,
                "type": "invalid_request_error",
                "code": code,
                "param": None,
            }
        }
    return {"error": reason, "code": code}


def error(status: int, reason: str, code: str, path: str = "") -> JSONResponse:
    """A JSON error response (see :func:`error_body`)."""
    return JSONResponse(error_body(path, reason, code), status_code=status)


#: An absolute file path inside a text (an error message): POSIX or Windows, with its folders.
_ABS_PATH = re.compile(r"(?<![\w:/\\])(?:[A-Za-z]:)?[\\/](?:[^\s\\/:'\"]+[\\/])+([^\s\\/:'\"]+)")


# ---------------------------------------------------------------------------------------
# Viewer data: benchmark + predictions + safe image files


class ViewerData:
    """A loaded benchmark (+ predictions) for the viewer, with an allow-list of image files.

    Image paths are resolved under ``images_root`` (default: the benchmark's folder); only
    paths referenced by an item are ever served, and only if they resolve inside the root.
    """

    def __init__(
        self,
        bench: str | Path,
        pred: str | Path | None = None,
        images_root: str | Path | None = None,
        embedder: Any = None,
    ):
        self.bench_path = Path(bench)
        self.items = read_records(bench, BenchItem)
        self.index = {it.id: i for i, it in enumerate(self.items)}
        self.by_id = {it.id: it for it in self.items}
        self.preds: dict[str, dict[str, Any]] = {}
        if pred:
            from cxreason.records import iter_jsonl

            self.preds = {str(o["id"]): o for _, o in iter_jsonl(pred) if "id" in o}
        self.allowed = {p for it in self.items for p in it.images}
        self.root = Path(images_root).resolve() if images_root else self._default_root()
        self.embedder = embedder
        self._views: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._png: OrderedDict[str, bytes] = OrderedDict()

    def _default_root(self) -> Path:
        """The bench folder, widened to the common folder of absolute image paths (if any)."""
        import os

        base = self.bench_path.resolve().parent
        dirs = [str(Path(p).resolve().parent) for p in self.allowed if Path(p).is_absolute()]
        root = Path(os.path.commonpath([str(base), *dirs])) if dirs else base
        if root == Path(root.anchor):
            logger.warning("images root is %s: pass --images to narrow it", root)
        return root

    def display_path(self, path: str) -> str:
        """How the viewer names an image: its bare file name. Folders are never shown: on real
        data they hold site, patient or study names, and a local path tells a client nothing
        it needs."""
        return Path(str(path).replace("\\", "/")).name or "image"

    def redact(self, text: str | None) -> str | None:
        """``text`` with every absolute filesystem path shortened by :meth:`display_path`."""
        if not text:
            return text
        return _ABS_PATH.sub(lambda m: self.display_path(m.group(0)), text)

    def resolve(self, path: str) -> Path:
        """The file of a referenced image path, or InputRefused (403 outside/unknown, 404 missing)."""
        if path not in self.allowed:
            raise InputRefused(
                f"{self.display_path(path)!r} is not an image of the loaded benchmark",
                "path_refused",
                403,
            )
        p = Path(path)
        full = (p if p.is_absolute() else self.root / p).resolve()
        shown = self.display_path(path)
        if not full.is_relative_to(self.root):  # the root is logged, never sent to a client
            logger.warning("image %r resolves outside the images root %s", path, self.root)
            raise InputRefused(f"{shown!r} resolves outside the images root", "path_refused", 403)
        if not full.is_file():
            logger.warning("image %r not found under %s", path, self.root)
            raise InputRefused(
                f"{shown}: image file not found under the images root", "not_found", 404
            )
        return full

    def item_image(self, idx: int, k: int) -> bytes:
        """PNG of the ``k``-th image of item ``idx`` (InputRefused 404 when there is none)."""
        if not 0 <= idx < len(self.items):
            raise InputRefused(
                f"item index {idx} out of range [0, {len(self.items)})", "not_found", 404
            )
        paths = self.items[idx].images
        if not 0 <= k < len(paths):
            raise InputRefused(f"item {idx} has no image {k}", "not_found", 404)
        return self.png(paths[k])

    def png(self, path: str) -> bytes:
        """PNG rendering of a referenced image (DICOM rendered, MONOCHROME1 bone bright)."""
        if path not in self._png:
            img = load_safe_image(
                self.resolve(path),
                name=self.display_path(path),
                limits=ImageLimits(check_chest=False),
            )
            self._png[path] = to_png_bytes(img)
            while len(self._png) > 64:
                self._png.popitem(last=False)
        return self._png[path]

    def summary(self) -> list[dict[str, Any]]:
        from cxreason.metrics.outcome import outcome_score

        rows = []
        for it in self.items:
            p = self.preds.get(it.id)
            rows.append(
                {
                    "id": it.id,
                    "task": it.task,
                    "has_prediction": p is not None,
                    "outcome": outcome_score(it, p.get("output") or "") if p else None,
                }
            )
        return rows

    def view(self, idx: int) -> dict[str, Any]:
        """The full audit view of item ``idx`` (images by index: no file paths)."""
        from cxreason.inference.audit import item_view

        if idx not in self._views:
            it = self.items[idx]
            v = item_view(it, self.preds.get(it.id), embedder=self.embedder)
            v["index"], v["n"] = idx, len(self.items)
            v["images"] = self.image_refs(idx)
            if v.get("error"):
                v["error"] = self.redact(str(v["error"]))
            self._views[idx] = v
            while len(self._views) > 256:
                self._views.popitem(last=False)
        return self._views[idx]

    def image_refs(self, idx: int) -> list[dict[str, str]]:
        """``{name, url}`` per image of item ``idx``: named by :meth:`display_path`, never by a
        local absolute path."""
        return [
            {"name": self.display_path(p), "url": f"/api/items/{idx}/images/{k}"}
            for k, p in enumerate(self.items[idx].images)
        ]

    def blinded_view(self, idx: int) -> dict[str, Any]:
        """What a blinded reader sees before committing: the question, options and images only
        (no model output, gold, scores, report or reference reasoning)."""
        it = self.items[idx]
        return {
            "id": it.id,
            "index": idx,
            "n": len(self.items),
            "study_id": it.study_id,
            "task": it.task,
            "question": it.question,
            "options": it.options,
            "images": self.image_refs(idx),
            "blinded": True,
        }


# ---------------------------------------------------------------------------------------
# OpenAI messages -> engine request


def openai_request(messages: Any, limits: ImageLimits, vlm: bool) -> ChatRequest:
    """Convert OpenAI chat messages (images as data URLs) into an engine request, or refuse."""
    if not isinstance(messages, list) or not messages:
        raise InputRefused("messages: a non-empty list is required", "invalid_request")
    out, images = [], []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise InputRefused(
                f"messages[{i}]: needs role system|user|assistant", "invalid_request"
            )
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": [{"type": "text", "text": content}]})
            continue
        if not isinstance(content, list):
            raise InputRefused(f"messages[{i}].content: string or list of parts", "invalid_request")
        parts = []
        for j, p in enumerate(content):
            kind = p.get("type") if isinstance(p, dict) else None
            if kind == "text":
                parts.append({"type": "text", "text": str(p.get("text", ""))})
            elif kind == "image_url":
                if not vlm:
                    raise InputRefused(
                        "this model is text-only: image parts are not accepted", "text_only_model"
                    )
                if len(images) >= MAX_IMAGES_PER_REQUEST:
                    raise InputRefused(
                        f"at most {MAX_IMAGES_PER_REQUEST} images per request", "too_many_images"
                    )
                url = (
                    (p.get("image_url") or {}).get("url")
                    if isinstance(p.get("image_url"), dict)
                    else p.get("image_url")
                )
                data = decode_data_url(url, max_bytes=limits.max_bytes)
                images.append(
                    load_safe_image(data, name=f"messages[{i}].content[{j}]", limits=limits)
                )
                parts.append({"type": "image"})
            else:
                raise InputRefused(
                    f"messages[{i}].content[{j}]: unsupported part type {kind!r}", "invalid_request"
                )
        out.append({"role": m["role"], "content": parts})
    return ChatRequest(out, images)


def _int_param(body: dict, names: tuple[str, ...], default: int, cap: int) -> int:
    for n in names:
        v = body.get(n)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputRefused(f"{n}: must be a positive integer", "invalid_request")
            return min(v, cap)
    return default


def _float_param(body: dict, name: str, default: float, lo: float, hi: float) -> float:
    v = body.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise InputRefused(f"{name}: must be a number in [{lo}, {hi}]", "invalid_request")
    return float(v)


# ---------------------------------------------------------------------------------------


def create_app(
    engine,
    config: ServeConfig | None = None,
    viewer: ViewerData | None = None,
    reader_log: ReaderLog | None = None,
) -> FastAPI:
    """The FastAPI app serving ``engine`` (and the viewer over ``viewer``'s benchmark)."""
    cfg = config or ServeConfig()
    name = cfg.served_name or engine.name
    gate = Gate(cfg.max_concurrency, cfg.max_queue)
    batcher = Batcher(engine, max_batch=cfg.max_concurrency, window_s=cfg.batch_window_s)
    counts = {"total": 0, "chat_completions": 0, "analyze": 0, "other": 0}
    app = FastAPI(title="cxreason", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine, app.state.config, app.state.viewer, app.state.gate = engine, cfg, viewer, gate
    static = files("cxreason.inference").joinpath(VIEWER_DIR)

    async def run_generation(request: Request, req: ChatRequest, gen: GenConfig):
        """Generate under the gate and the timeout; stop early if the client disconnects."""
        gen.max_time, gen.stop = cfg.timeout_s, threading.Event()

        async def watch_disconnect():
            while not gen.stop.is_set():
                if await request.is_disconnected():
                    gen.stop.set()
                    request.state.extra["disconnected"] = True
                    return
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch_disconnect())
        try:
            async with gate:
                if gen.stop.is_set():  # the client left while queued: skip the work
                    raise InputRefused("client closed the request", "client_closed", 499)
                outs = await asyncio.wait_for(batcher.submit(req, gen), cfg.timeout_s + 5)
            if outs[0].finish_reason == "interrupted":  # max_time cut it short
                raise TimeoutError
            return outs
        except Saturated:
            raise InputRefused(
                f"server busy: more than {gate.limit} requests in flight; retry later",
                "overloaded",
                503,
            ) from None
        except TimeoutError:
            raise InputRefused(
                f"generation timed out after {cfg.timeout_s:g} s", "timeout", 504
            ) from None
        finally:
            gen.stop.set()
            watcher.cancel()

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, e: Exception):
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=e)
        return error(
            500, "internal server error (see the server log)", "internal", request.url.path
        )

    @app.exception_handler(InputRefused)
    async def _refused(request: Request, e: InputRefused):
        request.state.extra["error"] = e.code
        return error(e.status, e.reason, e.code, request.url.path)

    @app.exception_handler(EngineError)
    async def _engine(request: Request, e: EngineError):
        return error(400, str(e), "engine_error", request.url.path)

    @app.exception_handler(ReaderError)
    async def _reader(request: Request, e: ReaderError):
        if isinstance(e, ReaderConflict):
            return error(409, str(e), "reader_conflict", request.url.path)
        return error(400, str(e), "invalid_decision", request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        errs = e.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        reason = f"{where}: {first.get('msg', 'invalid request')}"
        return error(422, reason, "invalid_request", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return error(e.status_code, str(e.detail), code, request.url.path)

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputRefused(f"request body is not valid JSON: {e}", "invalid_json") from None
        if not isinstance(body, dict):
            raise InputRefused("request body must be a JSON object", "invalid_json")
        return body

    @app.get("/healthz")
    async def healthz():
        return {
            "status": "ok",
            "model": name,
            "vlm": engine.is_vlm,
            "in_flight": gate.active,
            "batches": batcher.batches,
            "batched_requests": batcher.batched_requests,
            "bench_items": len(viewer.items) if viewer else 0,
            "requests": dict(counts),
            "auth": cfg.api_key is not None,
        }

    @app.get("/v1/models")
    async def models():
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "cxreason"}],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await json_body(request)
        model = body.get("model")
        if model not in (None, "", name, engine.name):
            raise InputRefused(
                f"model {model!r} is not served here (this server serves {name!r})",
                "model_not_found",
                404,
            )
        if body.get("stream"):
            raise InputRefused("stream=true is not supported; send stream=false", "unsupported")
        if body.get("n", 1) != 1:
            raise InputRefused("n: only n=1 is supported", "unsupported")
        req = openai_request(body.get("messages"), cfg.image_limits, engine.is_vlm)
        gen = GenConfig(
            max_new_tokens=_int_param(
                body,
                ("max_completion_tokens", "max_tokens"),
                cfg.default_max_tokens,
                cfg.max_tokens_cap,
            ),
            temperature=_float_param(body, "temperature", 0.0, 0.0, 2.0),
            top_p=_float_param(body, "top_p", 1.0, 0.0, 1.0),
            seed=int(body["seed"]) if isinstance(body.get("seed"), int) else 0,
        )
        request.state.extra.update(n_images=len(req.images), max_tokens=gen.max_new_tokens)
        out = (await run_generation(request, req, gen))[0]
        request.state.extra.update(
            prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.text},
                    "finish_reason": out.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": out.prompt_tokens,
                "completion_tokens": out.completion_tokens,
                "total_tokens": out.prompt_tokens + out.completion_tokens,
            },
        }

    @app.post("/api/analyze")
    async def analyze(request: Request):
        from cxreason.inference.audit import annotate_steps
        from cxreason.inference.impression import structure_output

        if not engine.is_vlm:
            raise InputRefused(
                f"model {name!r} is text-only: it cannot analyze images", "text_only_model"
            )
        try:
            form = await request.form(max_files=MAX_IMAGES_PER_REQUEST, max_fields=16)
        except Exception as e:  # malformed multipart, too many files
            raise InputRefused(f"bad multipart upload: {e}", "invalid_request") from None
        uploads = [f for f in form.getlist("image") if hasattr(f, "read")]
        if not uploads:
            raise InputRefused("upload at least one file in the 'image' field", "invalid_request")
        images = []
        for f in uploads:
            data = await f.read()
            images.append(
                load_safe_image(data, name=f.filename or "upload", limits=cfg.image_limits)
            )
        mode = str(form.get("mode") or "cot")
        profile = str(form.get("profile") or cfg.prompt_profile)
        question = str(form.get("question") or prompts.ANOMALY_QUESTION).strip()[:2000]
        try:
            msgs = prompts.profile_messages(question, None, len(images), mode, profile)
        except ValueError as e:
            raise InputRefused(str(e), "invalid_request") from None
        request.state.extra.update(n_images=len(images), mode=mode, profile=profile)
        t0 = time.perf_counter()
        out = (
            await run_generation(
                request, ChatRequest(msgs, images), GenConfig(max_new_tokens=cfg.default_max_tokens)
            )
        )[0]
        parsed = structure_output(out.text)
        return {
            "model": name,
            "mode": mode,
            "prompt_profile": profile,
            "question": question,
            "output": out.text,
            **parsed,
            "steps": annotate_steps(parsed["think"], None),
            "previews": [preview_data_url(im) for im in images],
            "seconds": round(time.perf_counter() - t0, 3),
        }

    # ----------------------------------------------------------------- viewer

    def need_viewer() -> ViewerData:
        if viewer is None:
            raise InputRefused(
                "no benchmark loaded: start with `cxreason serve --bench B --pred P`",
                "no_bench",
                404,
            )
        return viewer

    @app.get("/")
    async def index():
        return Response(static.joinpath("index.html").read_bytes(), media_type="text/html")

    @app.get("/static/{name}")
    async def static_file(name: str):
        types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
        if "/" in name or "\\" in name or name.startswith(".") or Path(name).suffix not in types:
            raise InputRefused(f"no static file {name!r}", "not_found", 404)
        f = static.joinpath(name)
        if not f.is_file():
            raise InputRefused(f"no static file {name!r}", "not_found", 404)
        return Response(f.read_bytes(), media_type=types[Path(name).suffix])

    blinded = bool(reader_log is not None and reader_log.blinded)

    @app.get("/api/bench")
    async def bench():
        info = {
            "model": name,
            "vlm": engine.is_vlm,
            "reader_study": reader_log is not None,
            "blinded": blinded,
        }
        if viewer is None:
            return {**info, "loaded": False, "items": []}
        rows = await anyio.to_thread.run_sync(viewer.summary)
        if blinded:  # no correct/wrong marks before the reader has answered
            rows = [{"id": r["id"], "task": r["task"]} for r in rows]
        return {
            **info,
            "loaded": True,
            "bench": viewer.bench_path.name,
            "n": len(rows),
            "items": rows,
            "labels": list(CHEXPERT_LABELS),
        }

    def checked_index(idx: int) -> ViewerData:
        v = need_viewer()
        if not 0 <= idx < len(v.items):
            raise InputRefused(
                f"item index {idx} out of range [0, {len(v.items)})", "not_found", 404
            )
        return v

    @app.get("/api/items/{idx}")
    async def item(idx: int, reader: str = ""):
        """One item's audit view; in a blinded study only question, options and images until
        ``reader`` has committed an answer (then the full view and ``committed``)."""
        v = checked_index(idx)
        committed = reader_log.answer_of(reader, v.items[idx].id) if reader_log else None
        if blinded and committed is None:
            return v.blinded_view(idx)
        view = await anyio.to_thread.run_sync(v.view, idx)
        return {**view, "committed": committed}

    @app.get("/api/items/{idx}/images/{k}")
    async def item_image(idx: int, k: int):
        v = need_viewer()
        png = await anyio.to_thread.run_sync(v.item_image, idx, k)
        return Response(
            png, media_type="image/png", headers={"cache-control": "private, max-age=3600"}
        )

    @app.get("/api/image")
    async def image(path: str = ""):
        v = need_viewer()
        png = await anyio.to_thread.run_sync(v.png, path)
        return Response(
            png, media_type="image/png", headers={"cache-control": "private, max-age=3600"}
        )

    def need_reader_log() -> ReaderLog:
        if reader_log is None:
            raise InputRefused(
                "reader study not enabled: start the server with --reader-log FILE",
                "reader_disabled",
                409,
            )
        return reader_log

    @app.post("/api/reader")
    async def reader(request: Request):
        log = need_reader_log()
        body = await json_body(request)
        known = viewer.by_id if viewer else None
        rec = await anyio.to_thread.run_sync(log.record, body, known)
        out: dict[str, Any] = {"ok": True, "record": rec}
        if rec["decision"] == "answer" and viewer is not None:  # reveal after the commit
            idx = viewer.index[rec["item_id"]]
            view = await anyio.to_thread.run_sync(viewer.view, idx)
            out["view"] = {**view, "committed": log.answer_of(rec["reader"], rec["item_id"])}
        return out

    @app.get("/api/reader/export")
    async def reader_export(format: str = "json"):
        """Per-item agreement (reader vs gold, reader vs model) and Cohen's kappa."""
        from cxreason.inference.agreement import agreement_rows, agreement_summary, rows_csv

        log, v = need_reader_log(), need_viewer()
        if format not in ("json", "csv"):
            raise InputRefused("format: json or csv", "invalid_request")
        decisions = await anyio.to_thread.run_sync(log.read)
        rows = agreement_rows(decisions, v.by_id, v.preds if v.preds else None)
        if format == "csv":
            return Response(
                rows_csv(rows),
                media_type="text/csv",
                headers={"content-disposition": 'attachment; filename="reader_agreement.csv"'},
            )
        summary = await anyio.to_thread.run_sync(agreement_summary, rows, v.by_id)
        return {"summary": summary, "rows": rows}

    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    if cfg.api_key:
        app.add_middleware(BearerAuth, api_key=cfg.api_key)
    app.add_middleware(RequestCounter, counts=counts)  # counts refused requests too
    app.add_middleware(AccessLog)  # added last = outermost: logs the 401s and 413s too
    return app


def json_log_handler() -> logging.Handler:
    """A stderr handler printing access-log records as bare JSON lines."""
    h = logging.StreamHandler()
    h.setFormatter(logging.Formatter("%(message)s"))
    return h


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BackgroundServer:
    """Context manager: uvicorn serving ``app`` on ``host:port`` in a daemon thread.

    ``port=None`` picks a free port; ``url`` is the base URL. For tests, benchmarks, notebooks.
    """

    def __init__(
        self, app, host: str = "127.0.0.1", port: int | None = None, start_timeout_s: float = 30
    ):
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.start_timeout_s = start_timeout_s
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
