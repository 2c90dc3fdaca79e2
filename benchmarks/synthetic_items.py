"""Synthetic binary benchmark items shared by the training benchmarks (SYNTHETIC TEST DATA).

Imported by ``grpo_learns.py``, ``train_overhead.py`` and ``sft_image_memory.py`` (each puts
this folder on ``sys.path``, as ``python benchmarks/<script>.py`` does).
"""

from __future__ import annotations


def binary_item(i: int, finding: str, present: bool, image: str, report: str, chain: str = ""):
    """A binary "Does this chest X-ray show {finding}?" BenchItem on one image (train split)."""
    from cxreason.records import BenchItem

    return BenchItem(
        id=f"{finding[:4].lower()}{i}",
        study_id=f"p{i}",
        task="binary",
        question=f"Does this chest X-ray show {finding}?",
        options={"A": "Yes", "B": "No"},
        answer="A" if present else "B",
        answer_labels=[finding] if present else [],
        images=[image],
        report=report,
        reasoning=chain,
        reasoning_steps=[chain] if chain else [],
        split="train",
    )


def cardiomegaly_item(i: int, image: str) -> object:
    """Item ``i`` of a half-positive Cardiomegaly set (even ``i`` enlarged), with a one-line chain."""
    from cxreason.records import bench_report

    big = i % 2 == 0
    why = "The cardiac silhouette is enlarged." if big else "The heart size is normal."
    report = bench_report(why, "Cardiomegaly." if big else "Normal.")
    return binary_item(i, "Cardiomegaly", big, image, report, why)
