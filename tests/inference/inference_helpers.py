"""Helpers shared by the inference tests (synthetic images, a tiny benchmark, a live server)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cxreason.inference.serve import BackgroundServer
from cxreason.records import BenchItem

REPORT = "FINDINGS: The heart is enlarged. Small right pleural effusion. IMPRESSION: Cardiomegaly."


def grey_image(seed: int, size: int = 128) -> Image.Image:
    """A smooth random grey field (plausible grey-scale statistics; NOT a medical image)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (8, 8)).astype(np.uint8)
    img = Image.fromarray(small, mode="L").resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 6, (size, size))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")


def bench_items() -> list[BenchItem]:
    single = {"A": "Edema", "B": "Cardiomegaly", "C": "Fracture", "D": "Pneumothorax"}
    return [
        BenchItem(
            "it-0",
            "s1",
            "single",
            "Which finding is in this chest X-ray?",
            single,
            "B",
            ["Cardiomegaly"],
            ["img/s1.png"],
            REPORT,
            "The heart is enlarged. There is a small right pleural effusion.",
            ["The heart is enlarged.", "There is a small right pleural effusion."],
        ),
        BenchItem(
            "it-1",
            "s1",
            "binary",
            "Does this chest X-ray show Pleural Effusion?",
            {"A": "Yes", "B": "No"},
            "A",
            ["Pleural Effusion"],
            ["img/s1.png"],
            REPORT,
            "There is a small right pleural effusion.",
            ["There is a small right pleural effusion."],
        ),
        BenchItem(
            "it-2",
            "s2",
            "anomaly",
            "Which findings are in this chest X-ray?",
            None,
            "Cardiomegaly, Pleural Effusion",
            ["Cardiomegaly", "Pleural Effusion"],
            ["img/s2.png", "img/s2b.png"],
            REPORT,
            "The heart is enlarged.",
            ["The heart is enlarged."],
        ),
    ]


PREDS = [
    {
        "id": "it-0",
        "output": "<think>The heart is enlarged. There is no pleural effusion. "
        "No pneumothorax is seen.</think><answer>B</answer>",
    },
    {"id": "it-1", "output": "<think>There is no pleural effusion.</think><answer>B</answer>"},
    {
        "id": "it-2",
        "output": "<think>The heart is enlarged. A small pleural effusion is present."
        "</think><answer>Cardiomegaly, Pleural Effusion</answer>",
    },
]


class LiveServer(BackgroundServer):
    """The library's background uvicorn server (a free loopback port)."""
