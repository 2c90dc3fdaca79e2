"""How learnable is each finding on the SYNTHETIC phantoms? A linear probe per finding.

Present vs absent, the other findings mixed in at random (p = 0.15), alternating labels; a
ridge classifier (dual form, standardised features) on 32x32 down-sampled pixels plus their
left-right asymmetry |p - mirror(p)|. Used by the phantom tests (a floor per finding) and by
``benchmarks/phantom_learnability.py`` (the table for every finding). numpy only: a probe this
small needs no sklearn dependency.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cxreason.data.phantom import render_study
from cxreason.vocab import FINDING_LABELS


def probe_features(img: Image.Image, k: int = 32) -> np.ndarray:
    """k x k down-sampled pixels (in [0, 1]) plus their left-right asymmetry."""
    p = np.asarray(img.resize((k, k), Image.BILINEAR), dtype=np.float64) / 255.0
    return np.concatenate([p.ravel(), np.abs(p - p[:, ::-1]).ravel()])


def probe_dataset(target: str, n: int, seed0: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` phantoms, even indices with ``target`` present (y = +1), odd without (y = -1)."""
    rng = np.random.default_rng(seed0)
    xs, ys = [], []
    for i in range(n):
        labels = {lb: "present" for lb in FINDING_LABELS if lb != target and rng.random() < 0.15}
        if i % 2 == 0:
            labels[target] = "present"
        xs.append(probe_features(render_study(labels, seed0 * 10_000 + i)))
        ys.append(1.0 if i % 2 == 0 else -1.0)
    return np.stack(xs), np.array(ys)


def ridge_accuracy(x: np.ndarray, y: np.ndarray, n_train: int, lam: float = 1.0) -> float:
    """Held-out accuracy of a ridge classifier trained on the first ``n_train`` rows."""
    mu, sd = x[:n_train].mean(0), x[:n_train].std(0) + 1e-3
    a, b = (x[:n_train] - mu) / sd, (x[n_train:] - mu) / sd
    alpha = np.linalg.solve(a @ a.T + lam * n_train * np.eye(n_train), y[:n_train])
    return float((np.sign(b @ (a.T @ alpha)) == y[n_train:]).mean())


def linear_probe(label: str, n: int = 300, n_train: int = 220, seed0: int = 1) -> float:
    """Held-out accuracy (chance 0.5) of the linear probe for ``label`` on ``n`` phantoms."""
    x, y = probe_dataset(label, n, seed0)
    return ridge_accuracy(x, y, n_train)
