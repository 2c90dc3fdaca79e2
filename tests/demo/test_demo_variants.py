"""benchmarks/demo_variants.py: recipe selection on the validation split only (toy sizes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cxreason.demo.pipeline import DemoConfig

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "demo_variants.py"


def _load():
    spec = importlib.util.spec_from_file_location("demo_variants", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_outcome_arm_keeps_the_variants_outcome_weights():
    from cxreason.demo.pipeline import REPO_RECIPES, outcome_only_overrides

    mod = _load()
    args = ["--learning_rate", "2e-4", "--reward_weights", "0.5", "1.0", "0.5", "0.5"]
    rest, weights = mod.split_weights(args)
    assert rest == ["--learning_rate", "2e-4"] and weights == [0.5, 1.0, 0.5, 0.5]
    assert mod.split_weights(["--max_steps", "3"]) == (["--max_steps", "3"], None)
    recipe = REPO_RECIPES / "demo" / "grpo.yaml"
    assert outcome_only_overrides(recipe, [0.5, 0.5, 1, 1])[-2:] == ["0.5", "0.5"]
    assert outcome_only_overrides(recipe)[-2:] == ["0.5", "1.0"]  # the recipe's own weights


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory, openi_reports, openi_projections):
    mod = _load()
    out = tmp_path_factory.mktemp("variants")
    cfg = DemoConfig(
        out=out, reports=openi_reports, projections=openi_projections, max_eval_items=8,
        eval_renders={"binary": 2, "single": 1}, augment=0, vision_steps=2,
        sft_overrides=["--max_steps", "2"],
    )  # fmt: skip
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
