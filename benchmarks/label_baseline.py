"""cxreason labeler vs a medspaCy baseline (TargetMatcher + ConText) on the same reports.

The baseline is what a user would assemble today with medspaCy: CheXpert-14 target phrases
(literal synonym lists, the usual CheXpert mention phrases), medspaCy's PyRuSH sentence
splitter and its default ConText rules (negation, uncertainty/possible, historical,
hypothetical, family). An entity is ``absent`` when negated, ``uncertain`` when marked
uncertain or hypothetical, else ``present``; per label the strongest status wins and
``No Finding`` is present when no CheXpert finding is present/uncertain (CheXpert rule).

Both labelers run in ONE process on the same reports; the script prints micro-F1 against the
MeSH gold (same scoring as ``cxreason label eval``), reports/second for each and the ratio.

medspaCy pins spaCy < 3.8 -> thinc 8.2 -> numpy < 2 on Python 3.11, which conflicts with the
project venv (pandas 3 needs numpy >= 2). Run it from a separate venv:

    python3 -m venv .cache/venv-baseline
    .cache/venv-baseline/bin/pip install medspacy
    .cache/venv-baseline/bin/python benchmarks/label_baseline.py \\
        ../shared/data/openi/indiana_reports.csv [--json OUT.json] [--limit 1200]

(The project source is put on ``sys.path``; the labeler itself needs only the stdlib.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cxreason.data.openi import read_openi, read_openi_gold  # noqa: E402
from cxreason.labeling import label_report  # noqa: E402
from cxreason.labeling.evaluate import evaluate_predictions  # noqa: E402
from cxreason.records import report_text  # noqa: E402
from cxreason.vocab import ABSENT, FINDING_LABELS, NO_FINDING, PRESENT, UNCERTAIN  # noqa: E402

#: CheXpert-14 target phrases a user would write (lower case; medspaCy matches case-insensitively).
BASELINE_TERMS: dict[str, list[str]] = {
    "Enlarged Cardiomediastinum": [
        "enlarged cardiomediastinum", "widened mediastinum", "mediastinal widening",
        "enlarged cardiomediastinal silhouette", "mediastinal enlargement",
    ],
    "Cardiomegaly": [
        "cardiomegaly", "enlarged heart", "cardiac enlargement", "enlarged cardiac silhouette",
        "heart is enlarged", "heart size is enlarged", "enlargement of the cardiac silhouette",
    ],
    "Lung Opacity": [
        "opacity", "opacities", "density", "densities", "infiltrate", "infiltrates",
        "airspace disease", "air space disease", "airspace opacity", "haziness",
        "opacification", "ground glass",
    ],
    "Lung Lesion": ["nodule", "nodules", "mass", "masses", "lesion", "lesions", "neoplasm", "tumor"],
    "Edema": [
        "edema", "pulmonary edema", "vascular congestion", "pulmonary vascular congestion",
        "pulmonary congestion", "congestive heart failure", "chf",
    ],
    "Consolidation": ["consolidation", "consolidations", "consolidative"],
    "Pneumonia": ["pneumonia", "pneumonias", "infection", "infectious process"],
    "Atelectasis": ["atelectasis", "atelectatic", "collapse"],
    "Pneumothorax": ["pneumothorax", "pneumothoraces", "hydropneumothorax"],
    "Pleural Effusion": ["pleural effusion", "pleural effusions", "effusion", "effusions", "pleural fluid"],
    "Pleural Other": ["pleural thickening", "pleural plaque", "pleural scarring", "fibrothorax"],
    "Fracture": ["fracture", "fractures", "fractured"],
    "Support Devices": [
        "catheter", "line", "tube", "pacemaker", "pacer", "picc", "port", "stent", "clips",
        "hardware", "device", "endotracheal tube", "chest tube", "defibrillator", "aicd",
        "prosthesis", "valve replacement",
    ],
}  # fmt: skip

_RANK = {PRESENT: 2, UNCERTAIN: 1, ABSENT: 0}


def build_pipeline():
    """medspaCy pipeline: PyRuSH sentences, TargetMatcher with BASELINE_TERMS, default ConText."""
    import medspacy
    from medspacy.ner import TargetRule

    try:  # PyRuSH logs every sentence at DEBUG through loguru: silence it for a fair timing
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    except ImportError:
        pass

    nlp = medspacy.load()
    matcher = nlp.get_pipe("medspacy_target_matcher")
    matcher.add(
        [TargetRule(term, label) for label, terms in BASELINE_TERMS.items() for term in terms]
    )
    return nlp


def baseline_labels(doc) -> dict[str, str]:
    """Study-level labels from a medspaCy doc (CheXpert aggregation and No Finding rule)."""
    best: dict[str, str] = {}
    for ent in doc.ents:
        if ent._.is_negated:
            status = ABSENT
        elif ent._.is_uncertain or ent._.is_hypothetical:
            status = UNCERTAIN
        else:
            status = PRESENT
        if ent.label_ not in best or _RANK[status] > _RANK[best[ent.label_]]:
            best[ent.label_] = status
    if doc.text.strip():
        abnormal = any(best.get(lb) in (PRESENT, UNCERTAIN) for lb in FINDING_LABELS)
        best[NO_FINDING] = ABSENT if abnormal else PRESENT
    return best


def run(reports_csv: str, limit: int | None) -> dict:
    studies = read_openi(reports_csv)[:limit]
    gold = read_openi_gold(reports_csv)
    gold = {s.study_id: gold[s.study_id] for s in studies}
    texts = [report_text(s.findings, s.impression) for s in studies]
    out: dict = {"n_reports": len(studies)}

    nlp = build_pipeline()
    list(nlp.pipe(texts[:50]))  # warm-up on the same 50 reports for both labelers
    t0, c0 = time.perf_counter(), time.process_time()
    docs = list(nlp.pipe(texts))
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    base_pred = {s.study_id: baseline_labels(d) for s, d in zip(studies, docs, strict=True)}

    from cxreason.labeling.extract import _sentence_mentions

    for s in studies[:50]:
        label_report(s.findings, s.impression)
    _sentence_mentions.cache_clear()  # the memo starts empty: no reuse from the warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    ours_pred = {s.study_id: label_report(s.findings, s.impression).labels for s in studies}
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0

    for name, pred, secs, cpu in (
        ("cxreason", ours_pred, ours_s, ours_cpu),
        ("medspacy", base_pred, base_s, base_cpu),
    ):
        out[name] = {
            "seconds": secs,
            "cpu_seconds": cpu,
            "reports_per_s": len(studies) / secs,
            "reports_per_cpu_s": len(studies) / cpu,
            **{
                f"micro_f1_{pol}": evaluate_predictions(gold, pred, pol).micro().f1
                for pol in ("strict", "lenient")
            },
            "per_label_f1_strict": {
                lb: round(s.f1, 4)
                for res in [evaluate_predictions(gold, pred, "strict")]
                for lb in res.labels
                for s in [res.per_label[lb]]
            },
        }
    out["speed_ratio"] = out["cxreason"]["reports_per_s"] / out["medspacy"]["reports_per_s"]
    out["speed_ratio_cpu"] = (
        out["cxreason"]["reports_per_cpu_s"] / out["medspacy"]["reports_per_cpu_s"]
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports_csv")
    ap.add_argument("--limit", type=int, default=None, help="first N reports only")
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)
    res = run(args.reports_csv, args.limit)
    print(f"{res['n_reports']} reports, one process")
    print(
        f"{'labeler':10} {'micro-F1 strict':>16} {'micro-F1 lenient':>17} {'reports/s':>10}"
        f" {'reports/cpu-s':>14}"
    )
    for name in ("cxreason", "medspacy"):
        r = res[name]
        print(
            f"{name:10} {r['micro_f1_strict']:16.4f} {r['micro_f1_lenient']:17.4f} "
            f"{r['reports_per_s']:10.0f} {r['reports_per_cpu_s']:14.0f}"
        )
    print(
        f"speed ratio cxreason/medspacy: {res['speed_ratio']:.1f}x wall, "
        f"{res['speed_ratio_cpu']:.1f}x CPU time"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
