"""Is the finding in the demo's image features? A linear probe on the warmed-up vision tower.

    python benchmarks/demo_vision_probe.py --out demo_out [--seed 0] [--model DIR] [--pool mean]
    python benchmarks/demo_vision_probe.py --out demo_out --warmup 1000,2e-3,mean --synthetic 3000
    python benchmarks/demo_vision_probe.py --out demo_out --reliance demo_out/seed0/sft [--mode cot]

Reads the demo folder (``cxreason demo --out``): the vision-warmed model of a seed
(``seedN/model_vision``), the train and validation files. For every CheXpert finding it fits a
logistic regression (class-balanced) on the mean-pooled image features of the TRAIN images and
reports its ROC AUC on the VALIDATION images; then it answers each validation binary item
"Yes" iff the probe of the asked finding says present, which is what a reader of these frozen
features could score on the binary task without any language model. The test file is not read.

Writes ``OUT/vision_probe.json`` and prints a table. If the probe answers binary items well and
the demo's model does not, the language model is what fails to read the features, not the
vision tower.

``--warmup STEPS,LR,POOL [--synthetic N]`` re-runs the vision warm-up from the seed's
``model_init`` with other settings (and N random-label phantoms) and probes that model.
``--reliance MODEL`` answers the validation binary items with MODEL twice, with their own
images and with the images shuffled among the items: a model that ignores the image answers
the same either way.
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


def pooled_features(model_dir: Path, paths: list[str], batch: int = 64, pool: str = "mean"):
    """Pooled vision-tower features (after the merger) of each image: ``(n, hidden)``, or
    ``(n, 2 * hidden)`` for ``pool="meanmax"`` (``cxreason.train.vision_pretrain.pool_tokens``)."""
    import numpy as np
    import torch

    from cxreason.data.images import load_image
    from cxreason.train.model import load_model_and_processor
    from cxreason.train.vision_pretrain import pool_tokens

    model, processor = load_model_and_processor(model_dir, dtype="float32")
    model.eval()
    inner = model.model if hasattr(model, "model") else model
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            imgs = [load_image(p).convert("RGB") for p in paths[i : i + batch]]
            enc = processor.image_processor(imgs, return_tensors="pt")
            feats = inner.get_image_features(enc["pixel_values"], enc["image_grid_thw"])
            out += list(pool_tokens(feats.pooler_output, pool).numpy())
    return np.array(out)


def _demo_config(out: Path) -> dict:
    """The demo's recorded settings (``OUT/demo_config.json``), or {} when absent."""
    path = out / "demo_config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _studies(cfg: dict) -> dict:
    """{study id: Study} of the reports the demo was built from."""
    from cxreason.data.load import load_studies

    reports = Path(cfg.get("reports", "../shared/data/openi/indiana_reports.csv"))
    projections = cfg.get("projections")
    projections = Path(projections) if projections not in (None, "None") else None
    return {s.study_id: s for s in load_studies(reports, projections=projections)}


def probe(out: Path, seed: int = 0, model: Path | None = None, pool: str = "mean") -> dict:
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
    studies = _studies(_demo_config(out))

    def labels(sid: str) -> dict[str, str]:
        st = studies[sid]
        return laterality_from_report(st.findings, st.impression)[0]

    train, val = (
        _frontal_images(out / "train_bench.jsonl"),
        _frontal_images(out / "val_bench.jsonl"),
    )
    x_tr = pooled_features(model, [p for p, _ in train], pool=pool)
    x_va = pooled_features(model, [p for p, _ in val], pool=pool)
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
    val_items = read_records(out / "val_bench.jsonl", BenchItem)
    right = total = 0
    for it in val_items:
        if it.task != "binary" or not it.images or it.images[0] not in row_of:
            continue
        label = normalize_label_name(binary_finding(it.question))
        if label not in clfs:
            continue
        present = clfs[label].predict(x_va[row_of[it.images[0]] : row_of[it.images[0]] + 1])[0]
        answer = "Yes" if present else "No"
        right += (it.options or {}).get(it.answer) == answer
        total += 1
    single_right, single_total = single_choice_probe(val_items, clfs, x_va, row_of)
    return {
        "model": str(model),
        "pool": pool,
        "train_images": len(train),
        "validation_images": len(val),
        "per_label": per_label,
        "binary_probe_accuracy": round(right / total, 4) if total else None,
        "binary_items": total,
        "single_probe_accuracy": round(single_right / single_total, 4) if single_total else None,
        "single_items": single_total,
    }


def single_choice_probe(items, clfs: dict, x_va, row_of: dict[str, int]) -> tuple[int, int]:
    """(right, total) when each single-choice item is answered with the option whose probe
    gives the highest probability: what a reader of these frozen features could score there
    (chance 0.25). Items with an option that has no probe (too few training positives) are
    left out of ``total``."""
    from cxreason.labeling.ontology import normalize_label_name

    right = total = 0
    for it in items:
        if it.task != "single" or not it.options or not it.images or it.images[0] not in row_of:
            continue
        labels = {k: normalize_label_name(t) for k, t in it.options.items()}
        if any(lb not in clfs for lb in labels.values()):
            continue
        i = row_of[it.images[0]]
        prob = {k: float(clfs[lb].predict_proba(x_va[i : i + 1])[0, 1]) for k, lb in labels.items()}
        right += max(prob, key=prob.get) == it.answer
        total += 1
    return right, total


def warm_up_variant(
    out: Path, seed: int, steps: int, lr: float, pool: str, dest: Path, synthetic: int = 0
) -> Path:
    """Re-run the demo's vision warm-up from ``seedN/model_init`` with other settings.

    Same training images and labels as the demo's ``vision`` stage (the train file only);
    the model goes to ``dest``. Lets a warm-up setting be chosen on the validation probe.
    """
    from cxreason.demo.pipeline import _vision_examples
    from cxreason.records import BenchItem, read_records
    from cxreason.train.vision_pretrain import VisionPretrainConfig, pretrain_vision

    cfg = _demo_config(out)
    studies = _studies(cfg)
    examples = _vision_examples(read_records(out / "train_bench.jsonl", BenchItem), studies)
    if synthetic:
        size = int(cfg.get("image_size", 112))
        from cxreason.demo.phantoms import render_random_phantoms

        examples += render_random_phantoms(
            out / f"vision_synthetic_{size}_{synthetic}", synthetic, size, int(cfg.get("seed", 0))
        )
    if (dest / "config.json").exists():
        return dest
    pretrain_vision(
        out / f"seed{seed}" / "model_init", dest, examples,
        VisionPretrainConfig(steps=steps, batch_size=32, lr=lr, seed=seed, pool=pool),
    )  # fmt: skip
    return dest


def image_reliance(out: Path, model: Path, mode: str = "direct", seed: int = 0) -> dict:
    """Does ``model`` look at the image? Validation binary items answered twice, with their own
    images and with the images shuffled among the items (same questions).

    Returns accuracy on both and the share of items whose answer is unchanged: a model that
    ignores the image answers the same either way (agreement 1.0, accuracy at chance).
    """
    import random
    import tempfile
    from dataclasses import replace

    from cxreason.inference.predict import GenConfig, load_engine, predict_bench
    from cxreason.metrics.outcome import match_option, parse_answer
    from cxreason.records import BenchItem, read_records, write_jsonl

    items = [it for it in read_records(out / "val_bench.jsonl", BenchItem) if it.task == "binary"]
    if not items:
        raise SystemExit(f"no validation binary items in {out / 'val_bench.jsonl'}")
    images = [it.images for it in items]
    random.Random(seed).shuffle(images)
    engine = load_engine(str(model))
    options = {it.id: it.options for it in items}
    answers: dict[str, dict[str, str | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, imgs in (("own", [it.images for it in items]), ("shuffled", images)):
            bench, pred = Path(tmp) / f"{name}.jsonl", Path(tmp) / f"pred_{name}.jsonl"
            write_jsonl(bench, [replace(it, images=im) for it, im in zip(items, imgs, strict=True)])
            predict_bench(engine, bench, pred, mode=mode, cfg=GenConfig(max_new_tokens=160),
                          batch_size=8, split="validation")  # fmt: skip
            answers[name] = {}
            for line in open(pred, encoding="utf-8"):
                row = json.loads(line)  # scored as `cxreason score` reads answers
                answer = parse_answer(row.get("output"))
                answers[name][row["id"]] = match_option(answer, options[row["id"]])
    n = len(items)
    gold = {it.id: it.answer for it in items}
    return {
        "model": str(model),
        "mode": mode,
        "items": n,
        "accuracy_own_images": round(sum(answers["own"][i] == g for i, g in gold.items()) / n, 4),
        "accuracy_shuffled_images": round(
            sum(answers["shuffled"][i] == g for i, g in gold.items()) / n, 4
        ),
        "same_answer_share": round(
            sum(answers["own"][i] == answers["shuffled"][i] for i in gold) / n, 4
        ),
        "answer_A_share": round(sum(answers["own"][i] == "A" for i in gold) / n, 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo_out"), help="The demo's folder.")
    ap.add_argument("--seed", type=int, default=0, help="Which seed's vision model.")
    ap.add_argument("--model", type=Path, default=None, help="Another model folder to probe.")
    ap.add_argument(
        "--pool", choices=("mean", "max", "meanmax"), default="mean",
        help="How an image's tokens become the probe's features.",
    )  # fmt: skip
    ap.add_argument(
        "--warmup", metavar="STEPS,LR,POOL", default=None,
        help="Re-run the vision warm-up from the seed's model_init with these settings "
        "(e.g. 2000,2e-3,max) into OUT/vision_variants/ and probe that model.",
    )  # fmt: skip
    ap.add_argument(
        "--synthetic", type=int, default=0, metavar="N",
        help="With --warmup: add N random-label phantoms (no report behind them) to the warm-up.",
    )  # fmt: skip
    ap.add_argument(
        "--reliance", type=Path, default=None, metavar="MODEL",
        help="Instead of the probe: answer the validation binary items with MODEL (e.g. "
        "OUT/seed0/sft) with their own and with shuffled images (does it look at the image?).",
    )  # fmt: skip
    ap.add_argument("--mode", choices=("direct", "cot"), default="direct", help="With --reliance.")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.reliance is not None:
        res = image_reliance(args.out, args.reliance, args.mode, args.seed)
        sys.stdout.write(json.dumps(res, indent=2) + "\n")
        return 0
    model, name = args.model, "vision_probe.json"
    if args.warmup:
        steps, lr, wpool = args.warmup.split(",")
        tag = f"s{args.seed}_{steps}_{lr}_{wpool}_syn{args.synthetic}"
        model = warm_up_variant(
            args.out, args.seed, int(steps), float(lr), wpool,
            args.out / "vision_variants" / tag, args.synthetic,
        )  # fmt: skip
        name = f"vision_probe_{tag}_{args.pool}.json"
    res = probe(args.out, args.seed, model, args.pool)
    (args.out / name).write_text(json.dumps(res, indent=2) + "\n")
    lines = ["| finding | validation AUC | positives (train / validation) |", "|---|---|---|"]
    for lb, e in res["per_label"].items():
        auc = f"{e['auc']:.3f}" if "auc" in e else "–"
        lines.append(f"| {lb} | {auc} | {e['train_positive']} / {e['validation_positive']} |")
    lines.append(
        f"\nProbe answers on {res['binary_items']} validation binary items: accuracy "
        f"{res['binary_probe_accuracy']}; on {res['single_items']} validation single-choice "
        f"items (highest-probability option, chance 0.25): {res['single_probe_accuracy']}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
