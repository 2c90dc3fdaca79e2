"""Phantom speed and learnability (SYNTHETIC TEST DATA): which findings can a small model learn?

    .venv/bin/python benchmarks/phantom_learnability.py                 # speed + linear probe
    .venv/bin/python benchmarks/phantom_learnability.py --cnn --n 2400  # + tiny CNN (~10 min)

Linear probe: ridge classifier on 32x32 pixels + their left-right asymmetry, per finding,
present vs absent with the other findings mixed in at p=0.15 (train 220 / test 80).
CNN: 5 conv blocks + global max pool, multi-label (each finding present with p=0.3), AdamW
with a one-cycle LR, per-label held-out accuracy (chance = 0.70 for always "absent").
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cxreason.data.phantom import render_study
from cxreason.data.phantom_probe import linear_probe
from cxreason.vocab import FINDING_LABELS


def speed(size: int, n: int = 200) -> float:
    rng = np.random.default_rng(0)
    labels = [{lb: "present" for lb in FINDING_LABELS if rng.random() < 0.2} for _ in range(n)]
    t0 = time.process_time()
    for i, lb in enumerate(labels):
        render_study(lb, i, size=size)
    return n / (time.process_time() - t0)


def cnn(n: int, n_test: int, epochs: int, size: int = 128) -> np.ndarray:
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = (rng.random((n, len(FINDING_LABELS))) < 0.3).astype(np.float32)
    imgs = []
    for i in range(n):
        labels = {lb: "present" for lb, v in zip(FINDING_LABELS, y[i], strict=True) if v}
        imgs.append(np.asarray(render_study(labels, 10_000 + i, size=size)))
    x = torch.from_numpy(np.stack(imgs).astype(np.float32)[:, None] / 255.0)
    yt = torch.from_numpy(y)

    def block(i: int, o: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)
        )

    net = nn.Sequential(
        block(1, 16), block(16, 32), block(32, 48), block(48, 64), block(64, 64),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, len(FINDING_LABELS)),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    tr = n - n_test
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * -(-tr // 32))
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(tr)
        for s in range(0, tr, 32):
            idx = perm[s : s + 32]
            opt.zero_grad()
            loss_fn(net(x[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        p = torch.cat([net(x[tr + s : tr + s + 100]) for s in range(0, n_test, 100)]).sigmoid()
    return ((p.numpy() > 0.5) == (y[tr:] > 0.5)).mean(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", action="store_true", help="also train the tiny CNN (minutes)")
    ap.add_argument("--n", type=int, default=2400, help="CNN renders (last 400 held out)")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    for size in (128, 224):
        print(f"render speed at {size}px: {speed(size):.0f} images per CPU second")
    acc = cnn(args.n, 400, args.epochs) if args.cnn else None
    print(f"{'finding':28s} linear" + ("  cnn" if acc is not None else ""))
    for i, lb in enumerate(FINDING_LABELS):
        line = f"{lb:28s} {linear_probe(lb, seed0=1 + i):.2f}"
        print(line + (f"  {acc[i]:.2f}" if acc is not None else ""))


if __name__ == "__main__":
    main()
