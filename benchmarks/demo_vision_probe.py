"""Is the finding in the demo's image features? A linear probe on the warmed-up vision tower.

    python benchmarks/demo_vision_probe.py --out demo_out [--seed 0] [--model DIR]

Reads the demo folder (``cxreason demo --out``): the vision-warmed model of a seed
(``seedN/model_vision``), the train and validation files. For every CheXpert finding it fits a
logistic regression (class-balanced) on the mean-pooled image features of the TRAIN images and
reports its ROC AUC on the VALIDATION images; then it answers each validation binary item
"Yes" iff the probe of the asked finding says present, which is what a reader of these frozen
features could score on the binary task without any language model. The test file is not read.

Writes ``OUT/vision_probe.json`` and prints a table. If the probe answers binary items well and
the demo's model does not, the language model is what fails to read the features, not the
vision tower.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("demo_vision_probe")


def _frontal_images(bench: Path) -> list[tuple[str, str]]:
    """(image path, study id) of each distinct first image in a demo bench file."""
    seen: dict[str, str] = {}
    for line in open(bench, encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            if d["images"] and d["images"][0] not in seen:
                seen[d["images"][0]] = d["study_id"]
    return list(seen.items())


def pooled_features(model_dir: Path, paths: list[str], batch: int = 64):
    """Mean-pooled vision-tower features (after the merger) of each image, ``(n, hidden)``."""
    import numpy as np
    import torch

    from cxreason.data.images import load_image
    from cxreason.train.model import load_model_and_processor

    model, processor = load_model_and_processor(model_dir, dtype="float32")
    model.eval()
    inner = model.model if hasattr(model, "model") else model
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            imgs = [load_image(p).convert("RGB") for p in paths[i : i + batch]]
            enc = processor.image_processor(imgs, return_tensors="pt")
            feats = inner.get_image_features(enc["pixel_values"], enc["image_grid_thw"])
            out += [f.mean(0).numpy() for f in feats.pooler_output]
    return np.array(out)


def probe(out: Path, seed: int = 0, model: Path | None = None) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from cxreason.bench.baselines import binary_finding
    from cxreason.demo.phantoms import laterality_from_report
    from cxreason.labeling.ontology import normalize_label_name
    from cxreason.records import BenchItem, read_records
    from cxreason.vocab import CHEXPERT_LABELS, PRESENT

    model = model or out / f"seed{seed}" / "model_vision"
    if not (model / "config.json").exists():
        raise SystemExit(f"no model in {model}: run `cxreason demo --out {out}` first")
    cfg = (
        json.loads((out / "demo_config.json").read_text())
        if (out / "demo_config.json").exists()
        else {}
    )
    from cxreason.data.load import load_studies

    reports = Path(cfg.get("reports", "../shared/data/openi/indiana_reports.csv"))
    projections = cfg.get("projections")
    studies = {
        s.study_id: s
        for s in load_studies(
            reports, projections=Path(projections) if projections not in (None, "None") else None
        )
    }

    def labels(sid: str) -> dict[str, str]:
        st = studies[sid]
        return laterality_from_report(st.findings, st.impression)[0]

    train, val = (
        _frontal_images(out / "train_bench.jsonl"),
        _frontal_images(out / "val_bench.jsonl"),
    )
    x_tr = pooled_features(model, [p for p, _ in train])
    x_va = pooled_features(model, [p for p, _ in val])
    y_tr = np.array([[labels(s).get(lb) == PRESENT for lb in CHEXPERT_LABELS] for _, s in train])
    y_va = np.array([[labels(s).get(lb) == PRESENT for lb in CHEXPERT_LABELS] for _, s in val])
    per_label, clfs = {}, {}
    for j, lb in enumerate(CHEXPERT_LABELS):
        pos_tr, pos_va = int(y_tr[:, j].sum()), int(y_va[:, j].sum())
        entry = {"train_positive": pos_tr, "validation_positive": pos_va}
        if pos_tr >= 5 and len(y_tr) - pos_tr >= 5:
            clfs[lb] = LogisticRegression(max_iter=3000, class_weight="balanced").fit(
                x_tr, y_tr[:, j]
            )
            if 0 < pos_va < len(y_va):
                entry["auc"] = round(
                    float(roc_auc_score(y_va[:, j], clfs[lb].predict_proba(x_va)[:, 1])), 4
                )
        per_label[lb] = entry
    row_of = {p: i for i, (p, _) in enumerate(val)}
    right = total = 0
    for it in read_records(out / "val_bench.jsonl", BenchItem):
        if it.task != "binary" or not it.images or it.images[0] not in row_of:
            continue
        label = normalize_label_name(binary_finding(it.question))
        if label not in clfs:
            continue
        present = clfs[label].predict(x_va[row_of[it.images[0]] : row_of[it.images[0]] + 1])[0]
        answer = "Yes" if present else "No"
        right += (it.options or {}).get(it.answer) == answer
        total += 1
    return {
        "model": str(model),
        "train_images": len(train),
        "validation_images": len(val),
        "per_label": per_label,
        "binary_probe_accuracy": round(right / total, 4) if total else None,
        "binary_items": total,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo_out"), help="The demo's folder.")
    ap.add_argument("--seed", type=int, default=0, help="Which seed's vision model.")
    ap.add_argument("--model", type=Path, default=None, help="Another model folder to probe.")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    res = probe(args.out, args.seed, args.model)
    (args.out / "vision_probe.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["| finding | validation AUC | positives (train / validation) |", "|---|---|---|"]
    for lb, e in res["per_label"].items():
        auc = f"{e['auc']:.3f}" if "auc" in e else "–"
        lines.append(f"| {lb} | {auc} | {e['train_positive']} / {e['validation_positive']} |")
    lines.append(
        f"\nProbe answers on {res['binary_items']} validation binary items: accuracy "
        f"{res['binary_probe_accuracy']}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
