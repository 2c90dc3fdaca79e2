"""Fixtures for the training tests: one tiny random model per session (built offline)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from cxreason.train.model import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def write_bench(root: Path, n: int = 8, with_images: bool = True, split: str = "train") -> Path:
    """A small bench.jsonl with real PNG files: binary Cardiomegaly items (half Yes) + anomaly items.

    Images are plain synthetic drawings (a wide or narrow bright ellipse): test fixtures only.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    from cxreason.records import BenchItem, bench_report, write_jsonl

    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        big = i % 2 == 0
        names = []
        for v in range(2 if i % 4 == 3 else 1):  # some multi-image items
            im = Image.fromarray(np.full((128, 128), 20, np.uint8))
            w = 40 if big else 16
            ImageDraw.Draw(im).ellipse((64 - w, 50, 64 + w, 100), fill=220 - 30 * v)
            name = f"s{i}_{v}.png"
            if with_images:
                im.save(img_dir / name)
            names.append(f"images/{name}")
        if big:
            rep = bench_report("The heart is enlarged. No pleural effusion.", "Cardiomegaly.")
            why = "The cardiac silhouette is enlarged. There is no pleural effusion."
        else:
            rep = bench_report(
                "The heart is normal in size. No pleural effusion.", "No acute disease."
            )
            why = "The heart size is normal. There is no pleural effusion."
        if i % 3 == 2:
            items.append(
                BenchItem(
                    id=f"a{i}",
                    study_id=f"s{i}",
                    task="anomaly",
                    question="Which findings are in this chest X-ray?",
                    options=None,
                    answer="Cardiomegaly" if big else "No Finding",
                    answer_labels=["Cardiomegaly"] if big else [],
                    images=names,
                    report=rep,
                    reasoning=why,
                    reasoning_steps=why.split(". "),
                    split=split,
                )
            )
        else:
            items.append(
                BenchItem(
                    id=f"b{i}",
                    study_id=f"s{i}",
                    task="binary",
                    question="Does this chest X-ray show Cardiomegaly?",
                    options={"A": "Yes", "B": "No"},
                    answer="A" if big else "B",
                    answer_labels=["Cardiomegaly"] if big else [],
                    images=names,
                    report=rep,
                    reasoning=why,
                    reasoning_steps=why.split(". "),
                    split=split,
                )
            )
    path = root / "bench.jsonl"
    write_jsonl(path, items)
    return path


@pytest.fixture
def tiny_bench(tmp_path) -> Path:
    return write_bench(tmp_path / "bench")


@pytest.fixture
def make_bench():
    """The :func:`write_bench` factory, for tests that need a variant."""
    return write_bench
