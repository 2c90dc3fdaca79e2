"""The demo pipeline end to end at toy sizes (seconds, not minutes): every file the SPEC names,
train/validation/test kept apart, renders clustered by study, two seeds pooled, resumable."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cxreason.demo.pipeline import DemoConfig, run_demo
from cxreason.metrics.radrscore import METRIC_VERSION
from cxreason.records import BenchItem, read_records

SPEC_FILES = (
    "scores.json",
    "scores_grpo_outcome.json",
    "scores_sft.json",
    "scores_untrained.json",
    "scores_blind.json",
    "scores_chance.json",
    "scores_oracle.json",
    "report.md",
    "report.html",
    "ablation.json",
    "per_seed.json",
    "checks.json",
    "environment.json",
)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory, openi_reports, openi_projections):
    out = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig(
        out=out, reports=openi_reports, projections=openi_projections, seeds=2,
        max_eval_items=12, eval_renders={"binary": 3, "single": 1}, augment=0, vision_steps=2,
        vision_synthetic=12, read_steps=1, read_corpus=5, grpo_overrides=["--max_steps", "1"],
        sft_overrides=["--max_steps", "2", "--freeze_merger", "true", "--verdict_step", "true"],
    )  # fmt: skip
    run_demo(cfg)
    return out, cfg


def test_writes_every_file_on_the_same_test_items(small_demo):
    out, _ = small_demo
    for name in SPEC_FILES:
        assert (out / name).exists(), name
    test = read_records(out / "test_bench.jsonl", BenchItem)
    n = len(test)
    for name in ("blind", "chance", "oracle", "untrained"):
        assert json.loads((out / f"scores_{name}.json").read_text())["n"] == n, name
    for name in ("scores.json", "scores_sft.json", "scores_grpo_outcome.json"):
        s = json.loads((out / name).read_text())
        assert s["n"] == 2 * n and s["meta"]["seeds"] == [0, 1]  # pooled over the two seeds
        assert s["meta"]["metric_version"] == METRIC_VERSION  # as each seed's scores say
        assert s["bootstrap"]["unit"] == "study"
    report = (out / "report.md").read_text()
    for text in ("Image-blind template", "Normality oracle", "outcome rewards only", "## Seeds"):
        assert text in report
    env = json.loads((out / "environment.json").read_text())
    assert env["packages"]["torch"] and env["packages"]["trl"] and env["torch_threads"] >= 1
    assert f"trl {env['packages']['trl']}" in report  # the run's versions, in the report


def test_splits_are_kept_apart_and_renders_share_their_study(small_demo):
    out, _ = small_demo
    train = read_records(out / "train_bench.jsonl", BenchItem)
    val = read_records(out / "val_bench.jsonl", BenchItem)
    test = read_records(out / "test_bench.jsonl", BenchItem)
    assert {it.split for it in train} == {"train"}
    assert {it.split for it in val} == {"validation"} and {it.split for it in test} == {"test"}
    studies = [{it.study_id for it in x} for x in (train, val, test)]
    assert not (studies[0] & studies[1]) and not (studies[0] & studies[2])
    assert not (studies[1] & studies[2])
    per_base = Counter(it.id.split("~")[0] for it in test)
    binary = {it.id.split("~")[0] for it in test if it.task == "binary"}
    assert all(per_base[b] == 3 for b in binary)  # the original + 2 renders
    renders = [it for it in test if "~r" in it.id]
    assert renders and all(len(it.images) == 1 for it in test)  # frontal view only
    assert all("/test_r" in it.images[0] for it in renders)


def test_rerun_skips_every_stage_and_ablation_arm_drops_the_process_reward(small_demo):
    out, cfg = small_demo
    marks = {p.stem for p in (out / ".stages").glob("*.json")}
    stages = ("vision_corpus", "read_corpus", "read@seed0", "read@seed1", "sft@seed0", "trained@seed1", "grpo_outcome@seed1",
              "eval_untrained@seed0")  # fmt: skip
    assert len(list((out / "vision_synthetic").glob("random_*.png"))) == 12  # one corpus, 2 seeds
    for stage in stages:
        assert stage in marks
    assert "eval_untrained@seed1" not in marks  # the untrained model is scored once
    before = {p.name: p.stat().st_mtime for p in (out / ".stages").glob("*.json")}
    run_demo(cfg)
    after = {p.name: p.stat().st_mtime for p in (out / ".stages").glob("*.json")}
    assert before == after
    import yaml

    def script(arm):
        return yaml.safe_load((out / "seed0" / arm / "cxreason_config.yaml").read_text())["script"]

    def config(stage):
        return yaml.safe_load((out / "seed0" / stage / "cxreason_config.yaml").read_text())

    read = config("model_read")  # answer-only binary SFT, then the CoT SFT starts from it
    assert read["script"]["tasks"] == ["binary"] and read["data"]["n_cot"] == 0
    assert read["model"]["model_name_or_path"].endswith("seed0/model_vision")
    assert config("sft")["model"]["model_name_or_path"].endswith("seed0/model_read")
    # the demo's SFT overrides reach the read stage too; its own step count wins
    assert read["script"]["freeze_merger"] is True and read["training"]["max_steps"] == 1
    assert config("sft")["script"]["verdict_step"] is True
    # the reading corpus joins both SFT stages; GRPO keeps the train split (reports)
    for stage in ("model_read", "sft"):
        assert config(stage)["script"]["bench"] == str(out / "train_sft.jsonl"), stage
    for stage in ("grpo", "grpo_outcome"):
        assert config(stage)["script"]["bench"] == str(out / "train_bench.jsonl"), stage
    train = read_records(out / "train_bench.jsonl", BenchItem)
    sft = read_records(out / "train_sft.jsonl", BenchItem)
    assert [it.id for it in sft[: len(train)]] == [it.id for it in train]
    reading = sft[len(train) :]
    assert 5 <= len(reading) <= 10 and config("sft")["data"]["n_items"] == len(sft)
    assert all(it.images[0].startswith(str(out / "read_corpus")) for it in reading)
    assert script("grpo_outcome")["reward_funcs"] == ["format", "accuracy"]
    assert script("grpo")["reward_funcs"] == ["format", "accuracy", "factuality", "completeness"]
    outcome, process = (script(a) for a in ("grpo_outcome", "grpo"))
    assert {k: v for k, v in outcome.items() if k != "reward_funcs"} == {
        k: v for k, v in process.items() if k != "reward_funcs"
    }


def test_a_new_metric_version_rescores_and_retrains_only_the_process_arm(small_demo, monkeypatch):
    """A changed RadRScore definition (METRIC_VERSION) redoes the scoring and the baselines, and
    the GRPO arm whose process rewards are the metric's functions (and its predictions); the
    SFT, the outcome-only arm and their predictions are kept, not generated again."""
    from cxreason.demo import pipeline

    out, cfg = small_demo
    marks = out / ".stages"
    before = {p.stem: p.stat().st_mtime for p in marks.glob("*.json")}
    pred = (out / "seed0" / "pred_sft.jsonl").read_text()
    monkeypatch.setattr(pipeline, "METRIC_VERSION", "radrscore-offline-test")
    run_demo(cfg)
    after = {p.stem: p.stat().st_mtime for p in marks.glob("*.json")}
    redone = {k for k in before if after[k] != before[k]}
    process_arm = {f"{s}@seed{n}" for s in ("trained", "eval_trained") for n in (0, 1)}
    rescored = {k for k in before if k.endswith(".score") or k.startswith("baseline_")}
    assert redone == rescored | process_arm
    assert {"eval_sft@seed0.score", "eval_grpo_outcome@seed1.score"} <= redone
    assert (out / "seed0" / "pred_sft.jsonl").read_text() == pred
    assert json.loads((out / "scores_blind.json").read_text())["n"] > 0


def test_vision_probe_reads_the_demo_folder_and_never_the_test_file(
    small_demo, monkeypatch, benchmark_script
):
    mod = benchmark_script("demo_vision_probe")
    out, _ = small_demo
    opened = []
    real_open = open

    def spy(path, *a, **k):
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    res = mod.probe(out, seed=0)
    assert not any(p.endswith("test_bench.jsonl") for p in opened)
    assert res["train_images"] > 0 and res["validation_images"] > 0
    assert set(res["per_label"]) >= {"Cardiomegaly", "Pleural Effusion"}
    aucs = [e["auc"] for e in res["per_label"].values() if "auc" in e]
    assert all(0.0 <= a <= 1.0 for a in aucs)
    assert res["single_probe_accuracy"] is None or 0.0 <= res["single_probe_accuracy"] <= 1.0


def test_single_choice_probe_answers_the_most_probable_option_and_skips_unprobed_ones(
    benchmark_script,
):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mod = benchmark_script("demo_vision_probe")
    # feature j says finding j is present: each probe learns its own coordinate
    names = ["Cardiomegaly", "Edema", "Pneumothorax", "Pleural Effusion"]
    x = np.eye(4).repeat(5, axis=0)
    clfs = {n: LogisticRegression().fit(x, x[:, j] > 0) for j, n in enumerate(names)}
    opts = dict(zip("ABCD", names, strict=True))

    def item(i, image, answer, options=opts):
        return BenchItem(
            id=f"s{i}", study_id=f"s{i}", task="single", question="Which finding?",
            options=options, answer=answer, answer_labels=[], images=[image], report="",
        )  # fmt: skip

    items = [
        item(0, "img0", "A"),  # image 0 shows cardiomegaly: right
        item(1, "img2", "D"),  # image 2 shows pneumothorax (C): wrong
        item(2, "img0", "A", {**opts, "D": "Fracture"}),  # no Fracture probe: left out
    ]
    rows = {"img0": 0, "img2": 2}
    assert mod.single_choice_probe(items, clfs, np.eye(4), rows) == (1, 2)


def test_image_reliance_answers_with_own_and_shuffled_images(small_demo, benchmark_script):
    mod = benchmark_script("demo_vision_probe")
    out, _ = small_demo
    n = sum(it.task == "binary" for it in read_records(out / "val_bench.jsonl", BenchItem))
    res = mod.image_reliance(out, out / "seed0" / "sft")
    assert res["items"] == n > 0
    for key in ("accuracy_own_images", "accuracy_shuffled_images", "same_answer_share"):
        assert 0.0 <= res[key] <= 1.0, key
