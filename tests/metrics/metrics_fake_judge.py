"""A real OpenAI-compatible judge server for tests (FastAPI + uvicorn on loopback).

Its replies are valid judge JSON *computed from the request* with the offline backend's own
rules (:mod:`cxreason.metrics.radrscore`), so scores through it are checkable: key findings ->
the offline claims (each encoded as JSON in ``observation`` so later requests can read it
back); fact check -> ``claim_agrees`` with the report; recall -> ``covers``; step support ->
the offline per-claim support (no similarity: a step without claims is supported only when it
equals a reference step). ``state["bad_json_for"] = "TASK: X"`` makes it answer garbage to that
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

from cxreason.labeling.ontology import CONCEPTS
from cxreason.metrics import radrscore as rr


def _after(marker: str, text: str, until: str | None = None) -> str:
    body = text.split(marker, 1)[1]
    return body.split(until, 1)[0] if until else body


def _encode(claim: rr.Claim) -> dict:
    ents = [[e.concept, e.side, e.zone, e.change, e.is_global] for e in claim]
    status = "absent" if claim[0].polarity == rr.NEGATIVE else "present"
    return {"observation": json.dumps(ents), "status": status}


def _decode(finding: dict) -> rr.Claim:
    pol = rr.NEGATIVE if finding["status"] == "absent" else rr.POSITIVE
    return tuple(
        rr.Entity(c, CONCEPTS[c].label, pol, g, side, change, zone)
        for c, side, zone, change, g in json.loads(finding["observation"])
    )


def _reply(user: str) -> dict:
    if user.startswith("TASK: KEY_FINDINGS"):
        text = re.search(r"<<<\n(.*)\n>>>", user, re.DOTALL).group(1)
        return {"findings": [_encode(c) for c in rr.claims(text)]}
    if user.startswith("TASK: FACT_CHECK"):
        report = re.search(r"<<<\n(.*)\n>>>", user, re.DOTALL).group(1)
        findings = json.loads(_after("FINDINGS:\n", user))
        index = rr._index(report)
        return {
            "verdicts": [
                {"id": f["id"], "correct": rr.claim_agrees(_decode(f), index)} for f in findings
            ]
        }
    if user.startswith("TASK: RECALL"):
        ref = json.loads(_after("R (reference findings):\n", user, "\nM (model findings):"))
        found = json.loads(_after("M (model findings):\n", user))
        index = rr.EntityIndex(e for f in found for e in _decode(f))
        return {
            "recalls": [
                {"id": f["id"], "recalled": any(index.covers(e) for e in _decode(f))} for f in ref
            ]
        }
    if user.startswith("TASK: STEP_SUPPORT"):
        steps = json.loads(_after("MODEL STEPS:\n", user, "\nREFERENCE STEPS:"))
        refs = tuple(r["text"] for r in json.loads(_after("REFERENCE STEPS:\n", user)))
        scores = rr.step_scores(tuple(s["text"] for s in steps), refs)
        out = []
        for s, v in zip(steps, scores, strict=True):
            claims = rr.claims(s["text"]) or (s["text"],)
            n_ok = round((v or 0.0) * len(claims))
            verdicts = ["supported"] * n_ok + ["not_in_reference"] * (len(claims) - n_ok)
            out.append(
                {"step": s["id"], "claims": [{"claim": "c", "verdict": v} for v in verdicts]}
            )
        return {"steps": out}
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
