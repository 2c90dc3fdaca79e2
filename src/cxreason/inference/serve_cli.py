"""``cxreason serve``: serve a model over HTTP (OpenAI chat API, analyze route, audit viewer)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cxreason.inference.safety import MAX_PIXELS, ImageLimits

err_console = Console(stderr=True)


def build_app(
    model: str,
    *,
    backend: str = "auto",
    device: str | None = None,
    bench: Path | None = None,
    pred: Path | None = None,
    images: Path | None = None,
    reader_log: Path | None = None,
    served_name: str | None = None,
    max_body_mb: float = 25.0,
    max_concurrency: int = 4,
    threads: int | None = 1,
    max_queue: int = 16,
    timeout_s: float = 300.0,
    max_tokens: int = 256,
    max_pixels: int = MAX_PIXELS,
    check_chest: bool = True,
    embedder: bool = True,
    allow_download: bool = False,
    prompt_profile: str = "cxreason",
    blinded: bool = False,
    api_key: str | None = None,
):
    """Load the model (and benchmark) and return the FastAPI app (raises on bad inputs).

    ``api_key``: bearer token required on every route but ``/healthz`` (None: open server).
    """
    from cxreason import prompts
    from cxreason.inference.predict import load_engine
    from cxreason.inference.reader import ReaderLog
    from cxreason.inference.serve import ServeConfig, ViewerData, create_app

    if pred is not None and bench is None:
        raise typer.BadParameter("--pred needs --bench")
    if blinded and (reader_log is None or bench is None):
        raise ValueError("--blinded needs --reader-log FILE and --bench B (a reader study)")
    if prompt_profile not in prompts.PROFILES:
        raise ValueError(
            f"--prompt-profile must be one of {', '.join(prompts.PROFILES)}, got {prompt_profile!r}"
        )
    viewer = None
    if bench is not None:
        emb = None
        if embedder:
            from cxreason.metrics.embed import default_embedder

            emb = default_embedder()
        viewer = ViewerData(bench, pred, images, embedder=emb)
    engine = load_engine(
        model,
        backend=backend,
        device=device,
        threads=threads or None,
        allow_download=allow_download,
    )
    cfg = ServeConfig(
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        timeout_s=timeout_s,
        default_max_tokens=max_tokens,
        image_limits=ImageLimits(max_pixels=max_pixels, check_chest=check_chest),
        served_name=served_name,
        prompt_profile=prompt_profile,
        api_key=api_key,
    )
    log = (
        ReaderLog(reader_log, model=served_name or engine.name, blinded=blinded)
        if reader_log
        else None
    )
    return create_app(engine, cfg, viewer, log)


def serve(
    model: str = typer.Option(..., "--model", "-m", help="Model folder, .gguf file, or 'smollm2'."),
    host: str = typer.Option("127.0.0.1", help="Bind address (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port."),
    bench: Path = typer.Option(None, help="Benchmark JSONL to browse in the viewer."),
    pred: Path = typer.Option(None, help="Predictions JSONL for --bench."),
    images: Path = typer.Option(None, help="Images root for --bench paths (default: its folder)."),
    reader_log: Path = typer.Option(
        None, "--reader-log", help="Enable reader-study mode; JSONL file to append to."
    ),
    blinded: bool = typer.Option(
        False,
        "--blinded",
        help="Blinded reader study: hide the model's answer, the gold and the scores until "
        "the reader commits an answer (answers are final).",
    ),
    served_name: str = typer.Option(
        None, "--served-name", help="Model name clients send (default: folder name)."
    ),
    backend: str = typer.Option("auto", help="auto | transformers | vllm."),
    device: str = typer.Option(None, help="torch device (cpu, cuda, ...)."),
    threads: int = typer.Option(
        1,
        help="torch CPU threads while generating (1 avoids oversubscribing shared CPUs; 0 = torch default).",
    ),
    max_body_mb: float = typer.Option(25.0, "--max-body-mb", help="Largest request body, MiB."),
    max_concurrency: int = typer.Option(
        4, help="Requests generating at once (batched together into one generate call)."
    ),
    max_queue: int = typer.Option(16, help="Requests allowed to wait; more get 503."),
    timeout_s: float = typer.Option(
        300.0, "--timeout-s", help="Per-request generation limit, seconds."
    ),
    max_tokens: int = typer.Option(256, help="Default max new tokens per request."),
    max_pixels: int = typer.Option(MAX_PIXELS, help="Largest image accepted, pixels."),
    chest_check: bool = typer.Option(
        True,
        "--chest-check/--no-chest-check",
        help="Refuse images that do not look like radiographs.",
    ),
    embedder: bool = typer.Option(
        True, "--embedder/--no-embedder", help="Semantic step matching in the viewer's RadRScore."
    ),
    allow_download: bool = typer.Option(
        False,
        "--allow-download",
        help="Let --model name a Hugging Face Hub id that is not cached (off: no network).",
    ),
    prompt_profile: str = typer.Option(
        "cxreason",
        "--prompt-profile",
        help="Prompt wording of /api/analyze: cxreason | chestx-reasoner | nv-reason-cxr.",
    ),
    api_key_env: str = typer.Option(
        None,
        "--api-key-env",
        help="Env var holding an API key: every route but /healthz then needs 'Authorization: Bearer KEY'.",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow a non-loopback --host without --api-key-env (anyone who can reach it can use it).",
    ),
) -> None:
    """Serve a model: OpenAI /v1/chat/completions, /api/analyze, /healthz and the audit viewer at /."""
    import uvicorn

    from cxreason.inference.predict import EngineError
    from cxreason.inference.safety import InputRefused
    from cxreason.records import RecordError

    try:
        api_key = read_api_key(api_key_env)
        check_exposure(host, api_key is not None, insecure)
    except ValueError as e:
        err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    try:  # the port first: a taken port must not cost a model load
        sock = bind_socket(host, port)
    except OSError as e:
        err_console.print(
            f"[red]error:[/red] cannot listen on {escape(host)}:{port}: {escape(e.strerror or str(e))}"
            " (is another server running there? choose another --port)",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(2) from None
    port = sock.getsockname()[1]
    try:
        app = build_app(
            model,
            backend=backend,
            device=device,
            threads=threads,
            bench=bench,
            pred=pred,
            images=images,
            reader_log=reader_log,
            served_name=served_name,
            max_body_mb=max_body_mb,
            max_concurrency=max_concurrency,
            max_queue=max_queue,
            timeout_s=timeout_s,
            max_tokens=max_tokens,
            max_pixels=max_pixels,
            check_chest=chest_check,
            embedder=embedder,
            allow_download=allow_download,
            prompt_profile=prompt_profile,
            blinded=blinded,
            api_key=api_key,
        )
    except (EngineError, InputRefused, RecordError, OSError, ValueError) as e:
        sock.close()
        err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    from cxreason.inference.serve import json_log_handler

    access = logging.getLogger("cxreason.serve.access")
    access.handlers[:] = [json_log_handler()]
    access.propagate = False
    access.setLevel(logging.INFO)
    err_console.print(
        f"serving on http://{host}:{port}/ (viewer) and http://{host}:{port}/v1 (OpenAI API)"
    )
    if api_key is not None:
        err_console.print(
            f"API key from ${api_key_env} required on every route but /healthz "
            "('Authorization: Bearer KEY'; browsers log in at /)",
            highlight=False,
        )
    elif not is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/bold yellow] --insecure: {host} is reachable from other "
            "machines and nothing asks for a key",
            highlight=False,
        )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def read_api_key(env_var: str | None) -> str | None:
    """The API key held by ``env_var`` (None when no variable is named); ValueError when the
    variable is unset or empty (a server meant to be protected must not start open)."""
    import os

    if not env_var:
        return None
    key = os.environ.get(env_var, "").strip()
    if not key:
        raise ValueError(f"--api-key-env {env_var}: the variable is unset or empty")
    return key


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reachable only from this machine."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(host: str, has_key: bool, insecure: bool) -> None:
    """Refuse (ValueError) to serve a non-loopback address without an API key, unless insecure."""
    if has_key or insecure or is_loopback(host):
        return
    raise ValueError(
        f"--host {host} exposes the model and the viewer (benchmark images and reports) beyond "
        "this machine without authentication: set --api-key-env VAR (a variable holding a key), "
        "or pass --insecure to serve it open anyway"
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port), ready for uvicorn.

    Bound before the model loads, so a port in use fails in a second with a clear message
    instead of after the load; uvicorn then serves on this very socket (no race).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only, not a listener
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    """Run ``serve`` with ``argv``; returns the exit code."""
    from cxreason.cli import command_app, run_app

    return run_app(command_app(serve), argv)


if __name__ == "__main__":
    raise SystemExit(main())
