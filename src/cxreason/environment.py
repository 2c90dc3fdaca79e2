"""What a run ran on: package versions, CPU and threads (recorded beside training results).

Training on a CPU is deterministic for one install on one machine, but not across them: a
newer transformers/TRL release or another CPU's kernels (AVX-512, AMX) change the floating
point sums, and a small model's training can then end elsewhere. A figure is only reproducible
together with this record.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

#: Packages whose version can change a training run's numbers.
PACKAGES = ("torch", "transformers", "trl", "accelerate", "peft", "numpy", "tokenizers", "pillow")
_ISA = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model name and the vector instruction sets that select BLAS kernels (Linux only;
    elsewhere the platform's processor string and no flags)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"model": platform.processor() or platform.machine(), "isa": []}
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    have = set(flags.group(1).split()) if flags else set()
    return {
        "model": model.group(1).strip() if model else platform.machine(),
        "isa": [f for f in _ISA if f in have],
    }


def environment() -> dict[str, Any]:
    """Python, the training packages' versions, torch's thread count and the CPU."""
    try:
        import torch

        threads: int | None = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        threads = None
    return {
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "torch_threads": threads,
        "cpu": cpu_info(),
    }


def summary(env: dict[str, Any]) -> str:
    """One line for a report: "python 3.11.7; torch 2.13.0+cpu, ...; 2 torch threads; CPU ..."."""
    pkgs = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    cpu = env.get("cpu", {})
    isa = "/".join(cpu.get("isa", [])) or "no AVX2"
    return (
        f"python {env.get('python')}; {pkgs}; {env.get('torch_threads')} torch threads; "
        f"CPU {cpu.get('model')} ({isa})"
    )
