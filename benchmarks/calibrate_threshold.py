"""Calibrate RadRScore's step-similarity threshold on real report sentences.

Sentences of Open-I reports are labelled by the labeler with their entity set (concept,
polarity). Pairs of *different* sentences with the same non-empty entity set are "same
observation" (positives); pairs with disjoint entity sets are negatives, and pairs naming the
same concept with opposite polarity are hard negatives (reported separately). The threshold
maximising Youden's J (TPR - FPR) on positives vs all negatives is printed with AUC and rates,
and so is the precision-oriented choice (best J with FPR <= --max-fpr, default 0.05): a false
step match inflates effectiveness, so RadRScore uses the latter.

    .venv/bin/python benchmarks/calibrate_threshold.py ../shared/data/openi/indiana_reports.csv \
        [--max-pairs 3000] [--seed 0] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from cxreason.data.openi import read_openi
from cxreason.labeling import split_sentences
from cxreason.metrics import radrscore as rr
from cxreason.metrics.embed import Embedder


def report_sentences(csv_path: Path) -> dict[str, frozenset]:
    """Unique report sentences -> entity set (concept, polarity); sentences with entities only."""
    out: dict[str, frozenset] = {}
    for st in read_openi(csv_path):
        for text in (st.findings, st.impression):
            for a, b in split_sentences(text or ""):
                s = " ".join(text[a:b].split())
                ents = frozenset((e.concept, e.polarity) for e in rr.entities(s))
                if ents and len(s) > 8:
                    out.setdefault(s, ents)
    return out


def make_pairs(sents: dict[str, frozenset], max_pairs: int, seed: int):
    """(positives, negatives, hard negatives): lists of sentence pairs, sampled with ``seed``."""
    rng = random.Random(seed)
    by_set = defaultdict(list)
    for s, ents in sents.items():
        by_set[ents].append(s)
    pos = [(a, b) for group in by_set.values() for i, a in enumerate(group) for b in group[i + 1 :]]
    rng.shuffle(pos)
    names = list(sents)
    neg, hard = [], []
    tries = 0
    while (len(neg) < max_pairs or len(hard) < max_pairs // 3) and tries < 200 * max_pairs:
        tries += 1
        a, b = rng.sample(names, 2)
        ea, eb = sents[a], sents[b]
        if ea & eb:
            continue
        ca, cb = {c for c, _ in ea}, {c for c, _ in eb}
        if ca & cb and len(hard) < max_pairs // 3:
            hard.append((a, b))  # same concept, opposite polarity only
        elif not ca & cb and len(neg) < max_pairs:
            neg.append((a, b))
    return pos[:max_pairs], neg, hard


def cosines(emb: Embedder, pairs) -> np.ndarray:
    if not pairs:
        return np.zeros(0)
    a = emb.encode([p[0] for p in pairs])
    b = emb.encode([p[1] for p in pairs])
    return (a * b).sum(axis=1)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count 1/2)."""
    allv = np.concatenate([pos, neg])
    ranks = allv.argsort().argsort() + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)


def best_threshold(pos: np.ndarray, neg: np.ndarray, max_fpr: float = 1.0) -> dict:
    """Threshold maximising Youden's J among those with FPR <= ``max_fpr``."""
    tpr = np.array([(pos >= t).mean() for t in GRID])
    fpr = np.array([(neg >= t).mean() for t in GRID])
    j = np.where(fpr <= max_fpr, tpr - fpr, -np.inf)
    k = int(np.argmax(j))
    return {
        "threshold": float(GRID[k]),
        "tpr": float(tpr[k]),
        "fpr": float(fpr[k]),
        "youden_j": float(tpr[k] - fpr[k]),
    }


def curve(pos, neg, hard, points=(0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)) -> list[dict]:
    return [
        {
            "threshold": t,
            "tpr": float((pos >= t).mean()),
            "fpr": float((neg >= t).mean()),
            "hard_fpr": float((hard >= t).mean()) if len(hard) else None,
        }
        for t in points
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports_csv", type=Path)
    ap.add_argument("--max-pairs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--max-fpr", type=float, default=0.05, help="FPR cap of the precision-oriented choice"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sents = report_sentences(args.reports_csv)
    pos, neg, hard = make_pairs(sents, args.max_pairs, args.seed)
    emb = Embedder()
    _ = emb.model
    t1 = time.perf_counter()
    cp, cn, ch = cosines(emb, pos), cosines(emb, neg), cosines(emb, hard)
    allneg = np.concatenate([cn, ch])
    best = best_threshold(cp, allneg)
    strict = best_threshold(cp, allneg, max_fpr=args.max_fpr)
    res = {
        "n_sentences": len(sents),
        "n_pairs": {"positive": len(pos), "negative": len(neg), "hard_negative": len(hard)},
        "cosine_mean": {
            "positive": float(cp.mean()),
            "negative": float(cn.mean()),
            "hard_negative": float(ch.mean()) if len(ch) else None,
        },
        "auc": {
            "all_negatives": auc(cp, np.concatenate([cn, ch])),
            "hard_negatives": auc(cp, ch) if len(ch) else None,
        },
        "youden_optimal": {
            **best,
            "hard_fpr": float((ch >= best["threshold"]).mean()) if len(ch) else None,
        },
        f"youden_optimal_fpr_le_{args.max_fpr}": {
            **strict,
            "hard_fpr": float((ch >= strict["threshold"]).mean()) if len(ch) else None,
        },
        "curve": curve(cp, cn, ch),
        "current_default": rr.SIM_THRESHOLD,
        "seconds": {
            "embedding": round(time.perf_counter() - t1, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
        "sentences_encoded": emb.n_encoded,
    }
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
