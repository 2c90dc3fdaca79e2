"""The training benchmarks run end to end on small inputs (their full runs are in docs/training.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_reward_hacking_ranks_the_reference_first_under_our_recipes(
    tiny_bench, tmp_path, benchmark_script
):
    """On the synthetic fixture (short chains: the tiny recipe's length band fits them; the GPU
    recipes' bands are for real chains and are checked on real reports below)."""
    mod = benchmark_script("reward_hacking")
    recipes = [RECIPES / r / "grpo.yaml" for r in ("tiny", "chestx_reasoner_7b")]
    rc = mod.main(
        ["--bench", str(tiny_bench), "--out", str(tmp_path), "--recipes", *map(str, recipes)]
    )
    res = json.loads((tmp_path / "reward_hacking.json").read_text())["results"]
    assert rc == 0 and len(res) == 2
    by = {r["recipe"]: r["summary"] for r in res}
    ours = by["tiny/grpo.yaml"]
    for kind in mod.KINDS[1:]:
        assert ours[kind]["mean"] < ours["reference"]["mean"], kind
    # the released ChestX-Reasoner reward (factuality alone) cannot tell one safe sentence
    # from the reference chain on these items
    paper = by["chestx_reasoner_7b/grpo.yaml"]
    assert paper["safe_negative"]["mean"] == pytest.approx(paper["reference"]["mean"])
    table = (tmp_path / "reward_hacking.md").read_text()
    assert "| `tiny/grpo.yaml`" in table and "**HACKED**" in table


def test_gpu_recipes_rank_the_reference_first_on_real_reports(
    openi_reports, tmp_path, benchmark_script
):
    """The GPU recipes' weighted rewards on mined chains of the shared Open-I reports."""
    from cxreason.bench.build import BuildConfig, build_bench

    build_bench(BuildConfig(input=openi_reports, out=tmp_path / "bench"))
    mod = benchmark_script("reward_hacking")
    recipes = [RECIPES / r / "grpo.yaml" for r in ("qwen2_vl_7b", "qwen2_5_vl_3b")]
    args = ["--bench", str(tmp_path / "bench" / "bench.jsonl"), "--out", str(tmp_path / "o")]
    assert mod.main([*args, "--max-items", "300", "--recipes", *map(str, recipes)]) == 0
    res = json.loads((tmp_path / "o" / "reward_hacking.json").read_text())["results"]
    for r in res:
        s = r["summary"]
        for kind in mod.KINDS[1:]:
            assert s[kind]["mean"] < s["reference"]["mean"], (r["recipe"], kind)


@pytest.mark.slow  # builds the full 151k-token Qwen tokenizer
def test_reward_hacking_scores_nv_semantics_in_tokens(tiny_bench, tmp_path, benchmark_script):
    mod = benchmark_script("reward_hacking")
    rc = mod.main(
        [
            "--bench", str(tiny_bench), "--out", str(tmp_path),
            "--recipes", str(RECIPES / "nv_reason_cxr_3b/grpo.yaml"),
        ]
    )  # fmt: skip
    (res,) = json.loads((tmp_path / "reward_hacking.json").read_text())["results"]
    assert rc == 0 and res["semantics"] == "nv_reason_cxr" and res["reproduction"]
    s = res["summary"]
    # NV's reward never reads <think>: filler of 400+ tokens takes the full reward
    assert (
        s["filler"]["mean"] == pytest.approx(1.0) and s["filler"]["mean"] > s["reference"]["mean"]
    )
    assert s["no_reasoning"]["mean"] == pytest.approx(-1.0, abs=0.05)  # format-gated, too short


@pytest.mark.slow
def test_sft_image_memory_script_small(tmp_path, benchmark_script):
    mod = benchmark_script("sft_image_memory")
    rc = mod.main(
        ["--out", str(tmp_path), "--small", "4", "--large", "8", "--eager", "4", "--size", "600"]
    )
    figs = json.loads((tmp_path / "sft_image_memory.json").read_text())
    assert rc == 0 and [r["images"] for r in figs["runs"]] == [4, 8, 4]
    assert all(r["peak_rss"] > 0 for r in figs["runs"])


@pytest.mark.slow
def test_train_overhead_script_small(tmp_path, benchmark_script):
    mod = benchmark_script("train_overhead")
    mod.main(
        ["--out", str(tmp_path), "--items", "8", "--sft-steps", "2", "--grpo-steps", "1",
         "--batch", "4", "--repeats", "1"]
    )  # fmt: skip
    figs = json.loads((tmp_path / "train_overhead.json").read_text())
    for stage in ("sft", "grpo"):
        row = figs["stages"][stage]
        assert row["cxreason"]["loop_samples_per_s"] > 0 and row["bare"]["loop_samples_per_s"] > 0
        assert row["loop_ratio"] > 0
