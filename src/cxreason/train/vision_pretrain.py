"""Warm-start a VLM's vision tower on labelled images (multi-label CheXpert classification).

Real VLMs start from a pretrained vision encoder; a tiny model built offline from a config
has a random one, and learning to see *and* to talk at once is slow on a CPU. This stage
trains the vision tower (and its patch merger) with a temporary linear head on a multi-label
binary cross-entropy over the CheXpert labels (uncertain labels masked out), then saves the
whole model with the head dropped. The language model is untouched; SFT follows.

Used by the CPU demo on SYNTHETIC phantoms; works the same on real images with labels (e.g.
MIMIC-CXR's CheXpert CSV). Written here rather than taken from a library because it is a
dozen lines around the model's own ``get_image_features``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cxreason.vocab import CHEXPERT_LABELS, PRESENT, UNCERTAIN

log = logging.getLogger(__name__)


@dataclass
class VisionPretrainConfig:
    """Steps, batch size (images) and learning rate of the warm-up; seed for order and init."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    log_every: int = 25
    #: How the head sees an image's tokens: "mean" over tokens, "max" (each token must carry
    #: its own finding: a small lesion is not averaged away), or "meanmax" (both, concatenated).
    pool: str = "mean"


def pool_tokens(feats, pool: str):
    """One vector per image from its ``(tokens, hidden)`` features: mean, max or both."""
    import torch

    if pool == "mean":
        return torch.stack([f.mean(0) for f in feats])
    if pool == "max":
        return torch.stack([f.amax(0) for f in feats])
    if pool == "meanmax":
        return torch.stack([torch.cat([f.mean(0), f.amax(0)]) for f in feats])
    raise ValueError(f"unknown pool {pool!r}: expected mean, max or meanmax")


def label_targets(labels: dict[str, str]) -> tuple[list[float], list[float]]:
    """(targets, mask) over CHEXPERT_LABELS: present -> 1, absent/unmentioned -> 0, uncertain masked."""
    y = [1.0 if labels.get(lb) == PRESENT else 0.0 for lb in CHEXPERT_LABELS]
    m = [0.0 if labels.get(lb) == UNCERTAIN else 1.0 for lb in CHEXPERT_LABELS]
    return y, m


def pretrain_vision(
    model_dir: str | Path,
    out_dir: str | Path,
    examples: Sequence[tuple[str | Path, dict[str, str]]],
    cfg: VisionPretrainConfig | None = None,
) -> dict[str, float]:
    """Train the vision tower of the model in ``model_dir`` on ``(image path, labels)`` pairs.

    Saves model + processor to ``out_dir``; returns ``{"loss_first", "loss_last", "acc_last"}``
    (mean BCE of the first/last logging window and the per-label accuracy of the last one).
    """
    import torch

    from cxreason.data.images import load_image
    from cxreason.train.model import load_model_and_processor

    cfg = cfg or VisionPretrainConfig()
    if not examples:
        raise ValueError("no (image, labels) examples to pretrain the vision tower on")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model, processor = load_model_and_processor(model_dir, dtype="float32")
    inner = model.model if hasattr(model, "model") else model
    visual = inner.visual
    hidden = model.config.text_config.hidden_size
    # the head's width, from pool_tokens itself (an unknown pool name fails before any work)
    width = pool_tokens([torch.zeros(1, hidden)], cfg.pool).shape[1]
    head = torch.nn.Linear(width, len(CHEXPERT_LABELS))
    params = list(visual.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps))
    cache: dict[str, object] = {}

    def image(path) -> object:
        key = str(path)
        if key not in cache:
            cache[key] = load_image(path).convert("RGB")
        return cache[key]

    model.train()
    window: list[tuple[float, float]] = []
    first = None
    order = list(range(len(examples)))
    pos = len(order)
    for step in range(cfg.steps):
        batch = []
        for _ in range(cfg.batch_size):
            if pos >= len(order):
                rng.shuffle(order)
                pos = 0
            batch.append(examples[order[pos]])
            pos += 1
        enc = processor.image_processor([image(p) for p, _ in batch], return_tensors="pt")
        feats = inner.get_image_features(enc["pixel_values"], enc["image_grid_thw"]).pooler_output
        pooled = pool_tokens(feats, cfg.pool)
        ys, ms = zip(*(label_targets(lb) for _, lb in batch), strict=True)
        y, m = torch.tensor(ys), torch.tensor(ms)
        logits = head(pooled)
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * m
        ).sum() / m.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        acc = (((logits > 0).float() == y).float() * m).sum().item() / m.sum().item()
        window.append((loss.item(), acc))
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            mean_loss = sum(w[0] for w in window) / len(window)
            mean_acc = sum(w[1] for w in window) / len(window)
            first = mean_loss if first is None else first
            log.info(
                "vision warm-up step %d/%d: bce %.4f, label acc %.3f",
                step + 1,
                cfg.steps,
                mean_loss,
                mean_acc,
            )
            last = (mean_loss, mean_acc)
            window = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return {"loss_first": float(first), "loss_last": float(last[0]), "acc_last": float(last[1])}
