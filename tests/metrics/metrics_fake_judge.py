"""A real OpenAI-compatible judge server for tests (FastAPI + uvicorn on loopback).

Its replies are valid judge JSON *computed from the request* with the labeler, so scores
through it are checkable: extraction -> the labeler's concepts and statuses; entity matching ->
same concept name (else same CheXpert label), statuses agree by polarity; step matching -> same text or a shared
(concept, polarity). ``state["bad_json_for"] = "TASK: X"`` makes it answer garbage to that
request kind (until a repair turn, or always with ``state["bad_json_always"] = True``).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request

from cxreason.labeling import extract_mentions
from cxreason.labeling.ontology import CONCEPTS


def _pol(status: str) -> str:
    return "neg" if status == "absent" else "pos"


def _label(concept: str) -> str | None:
    """The concept's CheXpert label: the fake judge's notion of "same clinical meaning"."""
    label = CONCEPTS[concept].label if concept in CONCEPTS else None
    return None if label == "No Finding" else label


def _after(marker: str, text: str, until: str | None = None) -> str:
    body = text.split(marker, 1)[1]
    return body.split(until, 1)[0] if until else body


def _reply(user: str) -> dict:
    if user.startswith("TASK: ENTITY_EXTRACTION"):
        text = re.search(r"<<<\n(.*)\n>>>", user, re.DOTALL).group(1)
        ents = [{"name": m.concept, "status": m.status} for m in extract_mentions(text)]
        return {"entities": ents}
    if user.startswith("TASK: ENTITY_MATCHING"):
        a = json.loads(_after("LIST A:\n", user, "\nLIST B:"))
        b = json.loads(_after("LIST B:\n", user))
        out = []
        for e in a:
            same = [f for f in b if f["name"] == e["name"]]
            same = same or [
                f for f in b if _label(f["name"]) and _label(f["name"]) == _label(e["name"])
            ]
            agree = [f for f in same if _pol(f["status"]) == _pol(e["status"])]
            best = (agree or same or [None])[0]
            out.append(
                {"a": e["id"], "b": None if best is None else best["id"], "agree": bool(agree)}
            )
        return {"matches": out}
    if user.startswith("TASK: STEP_MATCHING"):
        steps = json.loads(_after("STEPS:\n", user, "\nREFERENCE STEPS:"))
        refs = json.loads(_after("REFERENCE STEPS:\n", user))

        def key(t):
            return {(m.concept, _pol(m.status)) for m in extract_mentions(t)}

        out = []
        for s in steps:
            hit = [
                r["id"] for r in refs if r["text"] == s["text"] or key(r["text"]) & key(s["text"])
            ]
            out.append({"step": s["id"], "ref": hit[0] if hit else None})
        return {"matches": out}
    raise ValueError("unknown judge task")


def make_app(state: dict) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await request.json()
        user = next(m["content"] for m in body["messages"] if m["content"].startswith("TASK:"))
        repair = body["messages"][-1]["content"] != user
        state["requests"] += 1
        state["kinds"].append(user.split("\n", 1)[0] + (" (repair)" if repair else ""))
        bad = state.get("bad_json_for") and user.startswith(state["bad_json_for"])
        if bad and (state.get("bad_json_always") or not repair):
            content = "Sure! Here are the entities: cardiomegaly"
        else:
            content = json.dumps(_reply(user))
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}

    return app


class JudgeServer:
    """Context manager: serve the fake judge on 127.0.0.1:<free port>; ``.base_url``, ``.state``."""

    def __init__(self):
        self.state = {"requests": 0, "kinds": []}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            make_app(self.state), host="127.0.0.1", port=self.port, log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("judge server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
