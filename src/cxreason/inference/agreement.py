"""Reader-study agreement: per item, reader vs gold and reader vs model; Cohen's kappa.

Inputs: the reader log (:mod:`cxreason.inference.reader`; each reader's **first** answer per
item counts), the benchmark and (optionally) the model's predictions, parsed by the same parser
as ``cxreason score`` (:func:`cxreason.metrics.outcome.outcome_detail`).

Per item and reader (:func:`agreement_rows`): closed items agree (1/0) when the two answers are
the same option; anomaly items score the set F1 of the two label sets. A model answer that names
no option is the category ``(no answer)`` (it disagrees with every reader answer).

Cohen's kappa (:func:`cohen_kappa`, nominal, unweighted) per reader and task
(:func:`agreement_summary`): closed tasks rate each item by its answer **text** (``Yes``/``No``,
the finding named, the label set, ``worsening``/...), so categories mean the same across items;
anomaly items rate every (item, CheXpert label) pair as present/absent (a pooled per-label
kappa). Kappa is undefined (``None``) when both raters used a single category. Each kappa has a
percentile bootstrap 95% CI over items (1,000 resamples, seed 0, as every CI in cxreason).
Model vs gold is reported beside each reader as the reference point, and pairs of readers on
their common items give inter-reader kappa.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cxreason.metrics.bootstrap import N_RESAMPLES, SEED
from cxreason.records import BenchItem
from cxreason.vocab import CHEXPERT_LABELS, NO_FINDING

NO_ANSWER = "(no answer)"
#: CSV columns of the per-item export, in order.
ROW_FIELDS = (
    "reader",
    "item_id",
    "task",
    "reader_answer",
    "gold",
    "model_answer",
    "reader_vs_gold",
    "reader_vs_model",
    "model_vs_gold",
    "seconds",
    "blinded",
    "time",
)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> dict[str, Any]:
    """Cohen's kappa of two raters over the same items: ``{kappa, p_o, p_e, n}``.

    ``kappa = (p_o - p_e) / (1 - p_e)``; ``None`` when ``p_e == 1`` (both raters used one and the
    same category: agreement is perfect but carries no information) or there are no items.
    """
    if len(a) != len(b):
        raise ValueError(f"raters rated {len(a)} and {len(b)} items")
    n = len(a)
    if n == 0:
        return {"kappa": None, "p_o": None, "p_e": None, "n": 0}
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / (n * n)
    kappa = None if p_e >= 1.0 else (p_o - p_e) / (1.0 - p_e)
    return {"kappa": kappa, "p_o": p_o, "p_e": p_e, "n": n}


def kappa_ci(
    groups_a: Sequence[Sequence[Hashable]],
    groups_b: Sequence[Sequence[Hashable]],
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> list[float | None]:
    """Percentile bootstrap 95% CI of the pooled kappa, resampling **items** (a group is one
    item's ratings: one for a closed item, one per label for an anomaly item). ``[None, None]``
    when fewer than half of the resamples have a defined kappa."""
    n = len(groups_a)
    if n < 2:
        return [None, None]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        a = [r for i in idx for r in groups_a[i]]
        b = [r for i in idx for r in groups_b[i]]
        k = cohen_kappa(a, b)["kappa"]
        if k is not None:
            values.append(k)
    if len(values) < n_resamples / 2:
        return [None, None]
    lo, hi = np.quantile(values, [0.025, 0.975])
    return [float(lo), float(hi)]


def _option_text(item: BenchItem, letter: str | None) -> str:
    if letter is None or not item.options or letter not in item.options:
        return NO_ANSWER
    return " ".join(item.options[letter].split()).lower()


def _labels(answer: str | None) -> set[str]:
    if not answer:
        return set()
    return {t.strip() for t in answer.split(",") if t.strip()}


def _model_answer(item: BenchItem, pred: Mapping[str, Any] | None) -> str | None:
    """The model's answer in the benchmark's answer form (letter, or label list), parsed by the
    scorer's parser; ``NO_ANSWER`` when it names none; None without a prediction."""
    if pred is None:
        return None
    from cxreason.metrics.outcome import outcome_detail

    out = outcome_detail(item, pred.get("output") or "")
    if item.task == "anomaly":
        return ", ".join(out.pred_labels) if out.status == "ok" and out.pred_labels else NO_ANSWER
    return out.letter or NO_ANSWER


def _agree(item: BenchItem, x: str | None, y: str | None) -> float | None:
    """1/0 for closed items, set F1 for anomaly items; None when either answer is absent."""
    if x is None or y is None:
        return None
    if item.task == "anomaly":
        from cxreason.metrics.outcome import set_prf

        return set_prf(_labels(x) - {NO_ANSWER}, _labels(y) - {NO_ANSWER})[2]
    return float(x == y)


def first_answers(decisions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each reader's first ``answer`` decision per item, in log order."""
    seen, out = set(), []
    for d in decisions:
        if d.get("decision") != "answer":
            continue
        key = (d.get("reader"), d.get("item_id"))
        if key not in seen:
            seen.add(key)
            out.append(dict(d))
    return out


def agreement_rows(
    decisions: Iterable[Mapping[str, Any]],
    items: Mapping[str, BenchItem],
    preds: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per (reader, item) agreement rows (:data:`ROW_FIELDS`); answers to unknown items skipped."""
    rows = []
    for d in first_answers(decisions):
        item = items.get(str(d.get("item_id")))
        if item is None:
            continue
        model = _model_answer(item, (preds or {}).get(item.id)) if preds is not None else None
        reader = str(d.get("answer"))
        rows.append(
            {
                "reader": d.get("reader"),
                "item_id": item.id,
                "task": item.task,
                "reader_answer": reader,
                "gold": item.answer,
                "model_answer": model,
                "reader_vs_gold": _agree(item, reader, item.answer),
                "reader_vs_model": _agree(item, reader, model),
                "model_vs_gold": _agree(item, model, item.answer),
                "seconds": d.get("seconds"),
                "blinded": bool(d.get("blinded")),
                "time": d.get("time"),
            }
        )
    return rows


def _ratings(item: BenchItem, answer: str | None) -> list[str]:
    """One item's ratings for kappa: the answer text (closed) or present/absent per label."""
    if item.task == "anomaly":
        got = _labels(answer)
        return ["present" if lb in got else "absent" for lb in CHEXPERT_LABELS]
    return [_option_text(item, answer)]


def _pair_stats(
    pairs: Sequence[tuple[BenchItem, str | None, str | None]], n_resamples: int, seed: int
) -> dict[str, Any]:
    """Agreement rate and kappa (+CI) of two raters over ``(item, answer_x, answer_y)``."""
    pairs = [(it, x, y) for it, x, y in pairs if x is not None and y is not None]
    ga = [_ratings(it, x) for it, x, _ in pairs]
    gb = [_ratings(it, y) for it, _, y in pairs]
    k = cohen_kappa([r for g in ga for r in g], [r for g in gb for r in g])
    scores = [_agree(it, x, y) for it, x, y in pairs]
    return {
        "n": len(pairs),
        "agreement": float(np.mean(scores)) if scores else None,
        "kappa": k["kappa"],
        "kappa_ci95": kappa_ci(ga, gb, n_resamples, seed),
        "p_o": k["p_o"],
        "p_e": k["p_e"],
    }


def agreement_summary(
    rows: Sequence[Mapping[str, Any]],
    items: Mapping[str, BenchItem],
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """Per reader and task: reader vs gold, reader vs model, model vs gold (same items), each
    ``{n, agreement, kappa, kappa_ci95, p_o, p_e}``; plus reader pairs on common items.

    ``agreement`` is the mean per-item agreement (1/0; set F1 for anomaly items).
    """
    by_reader: dict[str, dict[str, list]] = {}
    for r in rows:
        by_reader.setdefault(str(r["reader"]), {}).setdefault(str(r["task"]), []).append(r)
    readers: dict[str, Any] = {}
    for reader, tasks in sorted(by_reader.items()):
        readers[reader] = {}
        for task, rs in tasks.items():
            its = [items[r["item_id"]] for r in rs]
            ans = [r["reader_answer"] for r in rs]
            gold = [it.answer for it in its]
            model = [r["model_answer"] for r in rs]

            def stats(x, y, its=its):
                return _pair_stats(list(zip(its, x, y, strict=True)), n_resamples, seed)

            readers[reader][task] = {
                "reader_vs_gold": stats(ans, gold),
                "reader_vs_model": stats(ans, model),
                "model_vs_gold": stats(model, gold),
                "seconds_median": float(np.median([r["seconds"] or 0 for r in rs])),
            }
    return {
        "n_answers": len(rows),
        "readers": readers,
        "reader_pairs": _reader_pairs(rows, items, n_resamples, seed),
        "categories": {
            "closed": "answer text of the chosen option; a model answer naming no option is "
            f"{NO_ANSWER!r}",
            "anomaly": f"present/absent per CheXpert label ({len(CHEXPERT_LABELS)} per item, "
            f"incl. {NO_FINDING!r})",
        },
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "unit": "item"},
    }


def _reader_pairs(rows, items, n_resamples: int, seed: int) -> list[dict[str, Any]]:
    """Inter-reader kappa per task on the items both readers answered."""
    answers: dict[str, dict[str, str]] = {}
    for r in rows:
        answers.setdefault(str(r["reader"]), {})[r["item_id"]] = r["reader_answer"]
    names = sorted(answers)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = sorted(set(answers[a]) & set(answers[b]))
            by_task: dict[str, list] = {}
            for iid in common:
                it = items[iid]
                by_task.setdefault(it.task, []).append((it, answers[a][iid], answers[b][iid]))
            for task, pairs in sorted(by_task.items()):
                out.append(
                    {"readers": [a, b], "task": task, **_pair_stats(pairs, n_resamples, seed)}
                )
    return out


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-item rows as CSV text (:data:`ROW_FIELDS`; empty cells for None)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r[k] for k in ROW_FIELDS})
    return buf.getvalue()
