"""Resumable pipeline stages for the demo: each stage records a fingerprint when it finishes.

A stage is skipped on a re-run when its done-marker holds the same fingerprint (its config
and the fingerprints of the stages it depends on); otherwise it runs again. Markers are written
atomically and only after the stage's outputs are complete, so a run killed mid-stage redoes
that stage only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxreason.records import write_json

log = logging.getLogger(__name__)


def fingerprint(obj: Any) -> str:
    """A short stable hash of a JSON-serialisable object."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class StageRunner:
    """Runs named stages under ``out/.stages/``; skips those already done with the same inputs."""

    out: Path
    force: bool = False

    def __post_init__(self) -> None:
        self.marks = self.out / ".stages"
        self.marks.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}
        self.skipped: list[str] = []

    def _marker(self, name: str) -> Path:
        return self.marks / f"{name}.json"

    def done_fingerprint(self, name: str) -> str | None:
        p = self._marker(name)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())["fingerprint"]
        except (ValueError, KeyError):
            return None

    def run(
        self, name: str, config: Any, fn: Callable[[], Any], outputs: tuple[Path, ...] = ()
    ) -> str:
        """Run ``fn`` unless stage ``name`` is done with the same ``config``; returns its fingerprint.

        ``outputs``: paths the stage writes. They are kept when the stage was interrupted with
        the same config (so a trainer resumes from its checkpoints) and deleted when the config
        changed (stale checkpoints of another config must not be resumed).
        """
        fp = fingerprint(config)
        if not self.force and self.done_fingerprint(name) == fp:
            log.info("[dim]stage %s: done already, skipped[/dim]", name, extra={"markup": True})
            self.skipped.append(name)
            stored = json.loads(self._marker(name).read_text())
            self.timings[name] = float(stored.get("seconds", 0.0))
            return fp
        started = self.marks / f"{name}.started"
        previous = started.read_text().strip() if started.exists() else None
        if previous is not None and previous != fp:
            for p in outputs:
                if Path(p).is_dir():
                    shutil.rmtree(p)
                elif Path(p).exists():
                    Path(p).unlink()
            log.info("stage %s: config changed, previous outputs removed", name)
        elif previous == fp and any(Path(p).exists() for p in outputs):
            log.info("stage %s: resuming an interrupted run", name)
        self._marker(name).unlink(missing_ok=True)
        started.write_text(fp)
        t0 = time.perf_counter()
        log.info("[bold]stage %s[/bold] ...", name, extra={"markup": True})
        fn()
        secs = time.perf_counter() - t0
        self.timings[name] = secs
        write_json(
            self._marker(name), {"stage": name, "fingerprint": fp, "seconds": round(secs, 2)}
        )
        log.info("stage %s finished in %.1f s", name, secs)
        return fp
