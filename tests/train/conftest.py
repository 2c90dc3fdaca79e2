"""Fixtures for the training tests: one tiny random model per session (built offline)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from cxreason.train.model import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)
