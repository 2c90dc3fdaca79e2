"""A real OpenAI-compatible chat-completions server for the tests (FastAPI + uvicorn on loopback).

It answers ``POST /v1/chat/completions`` with a deterministic responder and can inject faults
into the next requests (429 with Retry-After, 5xx, malformed bodies, slow replies). It counts
every hit and every successful answer per prompt, so tests can assert what was (not) re-requested.
Control endpoints: ``POST /_control/faults`` (JSON list), ``GET /_control/stats``.

Run standalone: ``python bench_llm_server.py PORT [--delay S]`` (used by the kill/resume test).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse


def prompt_hash(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def echo_responder(messages: list[dict]) -> str:
    return "echo: " + str(messages[-1]["content"])


def _json_block(text: str, tag: str):
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return json.loads(m.group(1)) if m else None


def miner_responder(messages: list[dict]) -> str:
    """Answers the three chain-mining stages of cxreason.bench.llm_prompts like a careful LLM.

    plan: all candidate findings; evidence: each finding's status read from the report in
    <report> (by the project's labeler, standing in for the LLM's reading); refine: one
    observation per finding, then the final sentence given in <final>.
    """
    from cxreason.labeling import label_report

    system = messages[0]["content"]
    user = messages[-1]["content"] if len(messages) == 2 else messages[1]["content"]
    if "STAGE: plan" in system:
        return json.dumps({"findings": _json_block(user, "findings")})
    if "STAGE: evidence" in system:
        report = re.search(r"<report>(.*?)</report>", user, re.S).group(1)
        m = re.match(r"FINDINGS: (.*) IMPRESSION: (.*)", report, re.S)
        labels = label_report(m.group(1), m.group(2)).labels
        ev = [
            {"finding": f, "status": labels.get(f, "not_mentioned"), "sentence": ""}
            for f in _json_block(user, "plan")
        ]
        return json.dumps({"evidence": ev})
    if "STAGE: refine" in system:
        evidence = _json_block(user, "evidence") or []
        final = re.search(r"<final>(.*?)</final>", user, re.S).group(1)
        steps = []
        for e in evidence:
            if e["finding"] == "No Finding":
                continue
            if e["status"] == "present":
                steps.append(f"There is {e['finding'].lower()}.")
            elif e["status"] in ("absent", "not_mentioned"):
                steps.append(f"There is no {e['finding'].lower()}.")
        return json.dumps({"steps": [*steps, final]})
    return "{}"


class FakeLLMServer:
    """The app plus its fault queue and counters."""

    def __init__(
        self, responder: Callable[[list[dict]], str] = echo_responder, delay_s: float = 0.0
    ):
        self.responder = responder
        self.delay_s = delay_s
        self.faults: deque[str] = deque()
        self.hits = 0
        self.ok_by_prompt: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.auth_headers: list[str | None] = []
        #: messages -> True to answer with content that is not the JSON asked for (every time)
        self.corrupt: Callable[[list[dict]], bool] | None = None
        self.app = self._make_app()

    def _make_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            with self.lock:
                self.hits += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                fault = self.faults.popleft() if self.faults else None
                self.auth_headers.append(request.headers.get("authorization"))
            try:
                return await self._answer(body, fault)
            finally:
                with self.lock:
                    self.in_flight -= 1

        @app.post("/_control/faults")
        async def set_faults(request: Request):
            self.faults.extend(await request.json())
            return {"queued": len(self.faults)}

        @app.get("/_control/stats")
        async def stats():
            return {"hits": self.hits, "ok_by_prompt": dict(self.ok_by_prompt)}

        return app

    async def _answer(self, body: dict, fault: str | None):
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if fault == "429":
            return JSONResponse(
                {"error": "rate limited"}, status_code=429, headers={"Retry-After": "0.2"}
            )
        if fault == "500":
            return JSONResponse({"error": "boom"}, status_code=500)
        if fault == "503":
            return JSONResponse({"error": "unavailable"}, status_code=503)
        if fault == "400":
            return JSONResponse({"error": "bad request"}, status_code=400)
        if fault == "malformed":
            return PlainTextResponse('{"choices": [{"message": {"content": "trunc', status_code=200)
        if fault == "slow":
            await asyncio.sleep(2.0)
        if fault == "badjson" or (
            self.corrupt is not None and self.corrupt(body["messages"])
        ):  # a well-formed HTTP reply whose content is not the JSON asked for
            content = "Sure! Here is my answer: not json"
        else:
            content = self.responder(body["messages"])
        with self.lock:
            self.ok_by_prompt[prompt_hash(body["messages"])] += 1
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }


class ServerThread:
    """Run a FakeLLMServer with uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, fake: FakeLLMServer, port: int = 0):
        self.fake = fake
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("test LLM server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


if __name__ == "__main__":
    port = int(sys.argv[1])
    delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
    with ServerThread(FakeLLMServer(miner_responder, delay_s=delay), port=port):
        while True:
            time.sleep(1)
