"""benchmarks/demo_variants.py: recipe selection on the validation split only (toy sizes)."""

from __future__ import annotations

import json

import pytest

from cxreason.demo.pipeline import DemoConfig


def test_outcome_arm_keeps_the_variants_outcome_weights(benchmark_script):
    from cxreason.demo.pipeline import REPO_RECIPES, outcome_only_overrides

    mod = benchmark_script("demo_variants")
    args = ["--learning_rate", "2e-4", "--reward_weights", "0.5", "1.0", "0.5", "0.5"]
    rest, weights = mod.split_weights(args)
    assert rest == ["--learning_rate", "2e-4"] and weights == [0.5, 1.0, 0.5, 0.5]
    assert mod.split_weights(["--max_steps", "3"]) == (["--max_steps", "3"], None)
    # a --grpo-overrides after the variant's own weights: the last ones apply (TrlParser) and
    # neither is left behind to clash with the outcome arm's two rewards
    twice = [*args, "--reward_weights", "1", "1", "0", "0", "--max_steps", "3"]
    assert mod.split_weights(twice) == (
        ["--learning_rate", "2e-4", "--max_steps", "3"],
        [1, 1, 0, 0],
    )
    recipe = REPO_RECIPES / "demo" / "grpo.yaml"
    assert outcome_only_overrides(recipe, [0.5, 0.5, 1, 1])[-2:] == ["0.5", "0.5"]
    assert outcome_only_overrides(recipe)[-2:] == ["0.5", "1.0"]  # the recipe's own weights


def _tiny_config(out, reports, projections, **overrides) -> DemoConfig:
    """The demo at toy sizes (8 held-out items, 2 renders, 2 warm-up and 2 SFT steps)."""
    sizes = dict(
        max_eval_items=8, eval_renders={"binary": 2, "single": 1}, augment=0, vision_steps=2,
        sft_overrides=["--max_steps", "2"],
    )  # fmt: skip
    return DemoConfig(out=out, reports=reports, projections=projections, **(sizes | overrides))


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory, openi_reports, openi_projections, benchmark_script):
    mod = benchmark_script("demo_variants")
    out = tmp_path_factory.mktemp("variants")
    cfg = _tiny_config(
        out, openi_reports, openi_projections, grpo_overrides=["--freeze_merger", "true"]
    )
    variants = (("base", []), ("heavier process", ["--reward_weights", "0.5", "1.0", "2", "2"]))
    return mod, out, mod.run_variants(cfg, variants=variants, steps=1)


def test_every_arm_is_scored_on_validation_and_never_on_test(variants_run):
    mod, out, res = variants_run
    assert [v["name"] for v in res["variants"]] == ["base", "heavier process"]
    assert res["chosen"] in (0, 1)
    splits = {
        json.loads(p.read_text())["meta"]["split"]
        for p in (out / "variants").glob("score_*/scores.json")
    }
    assert splits == {"validation"}
    # the re-weighting's outcome arm is the base's outcome arm: trained once
    assert (
        not (out / "variants" / "v1_outcome").exists()
        and (out / "variants" / "v0_outcome").exists()
    )
    assert res["variants"][1]["arms"]["outcome"] == res["variants"][0]["arms"]["outcome"]
    assert not (out / "seed0" / "grpo").exists()  # the demo's own GRPO is not run here
    import yaml

    for arm in ("v0_process", "v0_outcome", "v1_process"):  # --grpo-overrides reach every arm
        conf = yaml.safe_load((out / "variants" / arm / "cxreason_config.yaml").read_text())
        assert conf["script"]["freeze_merger"] is True, arm


def test_train_seed_trains_another_seed_on_the_same_data(
    variants_run, openi_reports, openi_projections
):
    mod, out, _ = variants_run
    cfg = _tiny_config(out, openi_reports, openi_projections, text_layers=3, text_hidden=64)
    before = (out / "val_bench.jsonl").read_text()
    res = mod.run_variants(cfg, variants=(("base", []),), steps=1, subdir="s1", train_seed_=1)
    assert res["seed"] == 1 and (out / "seed1" / "sft").exists()
    assert (out / "val_bench.jsonl").read_text() == before  # the demo's data, not re-rendered
    for model in ("model_init", "sft"):  # --text-layers/--text-hidden reach every model
        conf = json.loads((out / "seed1" / model / "config.json").read_text())
        assert conf["text_config"]["num_hidden_layers"] == 3, model
        assert conf["text_config"]["hidden_size"] == 64, model
        assert conf["vision_config"]["out_hidden_size"] == 64, model  # the merger follows


def test_default_width_keeps_old_init_fingerprints():
    from cxreason.demo.pipeline import _init_fingerprint

    assert _init_fingerprint(DemoConfig(), 0) == {"seed": 0, "size": 112, "layers": 2}
    assert _init_fingerprint(DemoConfig(text_hidden=256), 1)["hidden"] == 256


def test_text_layers_option_reaches_the_demo_config(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cxreason import cli, demo

    seen = []
    monkeypatch.setattr(demo, "run_demo", lambda cfg, force=False: seen.append(cfg) or {})
    args = ["demo", "--out", str(tmp_path), "--text-layers", "4", "--text-hidden", "256"]
    result = CliRunner().invoke(cli.app, [*args, "--read-corpus", "1500"])
    assert seen and seen[0].text_layers == 4 and seen[0].text_hidden == 256, result.output
    assert seen[0].read_corpus == 1500
    assert (DemoConfig().text_layers, DemoConfig().text_hidden) == (2, 128)  # default unchanged
    assert (
        DemoConfig().read_corpus == 0 and DemoConfig(fast=True, read_corpus=900).read_corpus == 100
    )


def test_curve_scores_every_saved_checkpoint_on_validation(
    variants_run, openi_reports, openi_projections
):
    mod, out, _ = variants_run
    cfg = _tiny_config(out, openi_reports, openi_projections)
    res = mod.run_variants(
        cfg, variants=(("base", []),), steps=2, subdir="curve", curve=1, process_only=True
    )
    assert set(res["variants"][0]["arms"]) == {"process"}  # no ablation arm trained
    # another folder's stages neither skip on nor delete the default folder's (same SFT model)
    assert (out / "curve" / "score_sft" / "scores.json").exists()
    for kept in ("score_sft/scores.json", "v0_process/config.json", "v0_outcome/config.json"):
        assert (out / "variants" / kept).exists(), kept
    assert not (out / "curve" / "v0_outcome").exists() and "| outcome |" not in mod.markdown(res)
    points = res["variants"][0]["curves"]["process"]
    assert [p["step"] for p in points] == [1, 2]
    assert all(0.0 <= p["binary_accuracy"] <= 1.0 for p in points)
    final = res["variants"][0]["arms"]["process"]["by_task"]["binary"]["accuracy"]["value"]
    assert points[-1]["binary_accuracy"] == final  # the last checkpoint is the final model
    splits = {
        json.loads(p.read_text())["meta"]["split"]
        for p in (out / "curve").glob("score_*_step*/scores.json")
    }
    assert splits == {"validation"}
    md = mod.curve_markdown(res)
    assert md.count("| base | process |") == 2 and "outcome" not in md
    assert mod.curve_markdown({"variants": [{"name": "x", "arms": {}}]}) == ""
    with pytest.raises(SystemExit):  # argparse's error: a negative step count is refused
        mod.main(["--out", str(out), "--curve", "-5"])


def test_vision_steps_option_reaches_the_demo_config(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cxreason import cli, demo

    seen = []
    monkeypatch.setattr(demo, "run_demo", lambda cfg, force=False: seen.append(cfg) or {})
    args = ["demo", "--out", str(tmp_path), "--vision-steps", "3000"]
    result = CliRunner().invoke(cli.app, args)
    assert seen and seen[0].vision_steps == 3000, result.output
    result = CliRunner().invoke(cli.app, [*args[:3], "--vision-steps", "0"])
    assert result.exit_code != 0  # at least one step


def test_table_and_doc_block(variants_run, tmp_path):
    mod, _, res = variants_run
    md = mod.markdown(res)
    assert "| SFT only |" in md and "**(chosen)**" in md and "Validation split" in md
    doc = tmp_path / "training.md"
    doc.write_text("a\n<!-- figures:demo-variants -->\nold\n<!-- /figures:demo-variants -->\nb\n")
    mod.write_doc(doc, md)
    text = doc.read_text()
    assert "old" not in text and "| SFT only |" in text and text.endswith("b\n")
    bad = tmp_path / "other.md"
    bad.write_text("no block")
    with pytest.raises(SystemExit, match="no <!-- figures:demo-variants -->"):
        mod.write_doc(bad, md)


def test_table_only_rewrites_from_the_saved_run(variants_run, tmp_path, capsys):
    mod, out, res = variants_run
    doc = tmp_path / "t.md"
    doc.write_text("<!-- figures:demo-variants -->\n<!-- /figures:demo-variants -->\n")
    assert mod.main(["--out", str(out), "--table-only", "--write-doc", str(doc)]) == 0
    assert "| SFT only |" in doc.read_text() and "chosen:" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not found"):
        mod.main(["--out", str(tmp_path / "empty"), "--table-only"])


def test_reading_study_measures_the_read_stage_per_seed(
    tmp_path, openi_reports, openi_projections, benchmark_script
):
    import yaml

    mod = benchmark_script("demo_variants")
    cfg = _tiny_config(tmp_path / "r", openi_reports, openi_projections, read_steps=0)
    with pytest.raises(SystemExit, match="needs --read-steps"):
        mod.reading_study(cfg, [0])
    cfg.read_steps, cfg.sft_overrides = 1, ["--max_steps", "5", "--freeze_merger", "true"]
    res = mod.reading_study(cfg, [0, 1], "reading")
    assert [r["seed"] for r in res["seeds"]] == [0, 1]
    for r in res["seeds"]:
        assert r["items"] > 0 and 0.0 <= r["accuracy_own_images"] <= 1.0
        assert r["model"].endswith(f"seed{r['seed']}/model_read")
    assert json.loads((cfg.out / "reading" / "reading.json").read_text()) == res
    conf = yaml.safe_load((cfg.out / "seed0" / "model_read" / "cxreason_config.yaml").read_text())
    # the demo's SFT overrides reach the read stage; its own step count and answer-only wins
    assert conf["script"]["freeze_merger"] is True and conf["training"]["max_steps"] == 1
    assert conf["data"]["n_cot"] == 0 and not (cfg.out / "seed0" / "sft").exists()
    assert "| 1 |" in mod.reading_markdown(res)


def test_reward_funcs_reads_the_last_override_or_the_recipe(tmp_path):
    from cxreason.demo.pipeline import outcome_only_overrides, reward_funcs

    recipe = DemoConfig().grpo_recipe
    assert reward_funcs(recipe, []) == ["format", "accuracy", "factuality", "completeness"]
    assert reward_funcs(recipe, outcome_only_overrides(recipe)) == ["format", "accuracy"]
    over = ["--reward_funcs", "format", "--max_steps", "3", "--reward_funcs", "format", "radrscore"]
    assert reward_funcs(recipe, over) == ["format", "radrscore"]  # the last one wins
    (tmp_path / "empty.yaml").write_text("")
    assert reward_funcs(tmp_path / "empty.yaml", []) == []


def test_seeds_table_gathers_one_run_per_seed(benchmark_script, tmp_path, capsys):
    mod = benchmark_script("demo_variants")

    def arm(acc):
        return {"by_task": {"binary": {"accuracy": {"value": acc, "ci95": [0, 1]}}}}

    def run(sub, seed, rows):
        variants = [
            {"name": n, "arms": {"process": arm(a)}, "selection_score": r} for n, a, r in rows
        ]
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "variants.json").write_text(
            json.dumps({"seed": seed, "variants": variants})
        )

    first, second = mod.VARIANTS[0][0], mod.VARIANTS[1][0]
    run("a_s0", 0, [(second, 0.7, 0.72), (first, 0.6, 0.65)])
    run("a_s1", 1, [(first, 0.5, 0.55)])
    md = mod.seeds_table(tmp_path, ["a_s0", "a_s1"])
    rows = [line for line in md.splitlines() if line.startswith("| ") and "seed 0" not in line]
    assert rows[0] == f"| {first} | 0.600 (0.650) | 0.500 (0.550) | 0.550 (0.600) |"
    assert rows[1] == f"| {second} | 0.700 (0.720) | – | 0.700 (0.720) |"  # VARIANTS order
    assert mod.main(["--out", str(tmp_path), "--seeds-table", "a_s0,a_s1"]) == 0
    assert (tmp_path / "variants_seeds.md").read_text() == md == capsys.readouterr().out
    with pytest.raises(SystemExit, match="not found"):
        mod.seeds_table(tmp_path, ["a_s0", "missing"])
