"""Shared test fixtures. Tests never reach the network: hubs are forced offline."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CXREASON_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
OPENI_REPORTS = SHARED_DATA / "openi" / "indiana_reports.csv"
OPENI_PROJECTIONS = SHARED_DATA / "openi" / "indiana_projections.csv"
OPENI_IMAGES = SHARED_DATA / "openi" / "images"
SAMPLES = SHARED_DATA / "samples"
BENCHMARKS = REPO_ROOT / "benchmarks"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"shared data not found at {path} (set CXREASON_SHARED_DATA or place ../shared)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder; skips the test with a clear reason if absent."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def openi_reports() -> Path:
    return _require(OPENI_REPORTS)


@pytest.fixture(scope="session")
def openi_projections() -> Path:
    return _require(OPENI_PROJECTIONS)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return _require(SAMPLES)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` imported as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def benchmark_script():
    """``benchmark_script("demo_variants")``: a script under ``benchmarks/`` as a module."""
    return load_benchmark
