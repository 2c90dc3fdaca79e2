"""`cxreason train`: every problem is one line on stderr with exit code 2; --help lists every key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxreason.train import cli

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, _err(capsys)


def _base(stage: str, bench: Path, model: Path | str, out: Path) -> list[str]:
    return [
        stage,
        "--config",
        str(RECIPES / f"tiny/{stage}.yaml"),
        "--bench",
        str(bench),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(out),
        "--report_to",
        "none",
    ]


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:") and "Traceback" not in err
    for n in needles:
        assert n in err, err


def test_prefix_option_is_refused_with_a_hint(capsys, tiny_bench, tiny_model_dir, tmp_path):
    argv = _base("sft", tiny_bench, tiny_model_dir, tmp_path / "o")
    _one_line(*_run(capsys, *argv, "--max_step", "1"), "--max_step", "did you mean --max_steps")
    _one_line(*_run(capsys, *argv, "--learning_rat", "1e-3"), "--learning_rat")


def test_unknown_reward_names_list_the_valid_ones(capsys, tiny_bench, tiny_model_dir, tmp_path):
    argv = _base("grpo", tiny_bench, tiny_model_dir, tmp_path / "o")
    code, err = _run(capsys, *argv, "--reward_funcs", "format", "factualty")
    _one_line(code, err, "'factualty'", "format, accuracy, factuality, completeness")
    code, err = _run(capsys, *argv, "--reward_semantics", "nv")
    _one_line(code, err, "reward_semantics", "nv_reason_cxr")
    code, err = _run(capsys, *argv, "--reward_weights", "1.0", "2.0")
    _one_line(code, err, "reward_weights has 2 values for")
    _one_line(*_run(capsys, *argv, "--prompt_mode", "both"), "prompt_mode", "mixed")
    _one_line(*_run(capsys, *argv, "--learning_rate", "abc"), "learning_rate", "abc")
    _one_line(*_run(capsys, *argv, "--use_vllm", "true"), "vllm is not installed")


def test_missing_or_malformed_bench(capsys, tiny_bench, tiny_model_dir, tmp_path):
    argv = _base("sft", tmp_path / "nope.jsonl", tiny_model_dir, tmp_path / "o")
    _one_line(*_run(capsys, *argv), "bench file not found", "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(tiny_bench.read_text().splitlines()[0] + "\n{not json\n")
    argv = _base("sft", bad, tiny_model_dir, tmp_path / "o")
    _one_line(*_run(capsys, *argv), "bad.jsonl:2")
    no_arg = [a for a in _base("sft", bad, tiny_model_dir, tmp_path / "o")]
    del no_arg[3:5]  # no --bench: the tiny recipe names none
    _one_line(*_run(capsys, *no_arg), "no benchmark")


def test_missing_or_malformed_recipe(capsys, tiny_bench, tiny_model_dir, tmp_path):
    argv = _base("sft", tiny_bench, tiny_model_dir, tmp_path / "o")
    argv[2] = str(tmp_path / "missing.yaml")
    _one_line(*_run(capsys, *argv), "recipe not found", "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("max_steps: [1\n")
    argv[2] = str(broken)
    _one_line(*_run(capsys, *argv), "not valid YAML")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump({"max_step": 3, "use_cpu": True}))
    argv[2] = str(unknown)
    _one_line(*_run(capsys, *argv), "in the recipe", "--max_step", "did you mean --max_steps")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    argv[2] = str(listy)
    _one_line(*_run(capsys, *argv), "YAML mapping")


def test_missing_or_malformed_model_fails_before_anything_heavy(
    capsys, tiny_bench, tiny_model_dir, tmp_path, monkeypatch
):
    """A model path that does not exist is refused by the pre-check: the TRL parser (and with
    it TRL/torch) is never reached, and no hub is contacted."""
    import cxreason.train.config as config

    def never(*a, **k):
        raise AssertionError("parse_args reached: the model check came too late")

    monkeypatch.setattr(config, "parse_args", never)
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("runs/tiny-grpoo", str(tmp_path / "nope"), "./nope"):
        argv = _base("grpo", tiny_bench, name, tmp_path / "o")
        _one_line(*_run(capsys, *argv), "model folder not found", name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = _base("grpo", tiny_bench, "someorg/some-model", tmp_path / "o")
    _one_line(*_run(capsys, *argv), "someorg/some-model", "HF_HUB_OFFLINE")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line(*_run(capsys, *_base("sft", tiny_bench, empty, tmp_path / "o")), "no config.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{oops")
    _one_line(*_run(capsys, *_base("sft", tiny_bench, broken, tmp_path / "o")), "not valid JSON")


def test_unloadable_model_is_one_line(capsys, tiny_bench, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "not_a_model"}')
    _one_line(*_run(capsys, *_base("sft", tiny_bench, model, tmp_path / "o")), "cannot load model")


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_help_lists_every_recipe_key_with_help_and_default(stage, capsys):
    assert cli.main([stage, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--max_step " not in text and "cxreason: data, images, prompt mix and rewards" in text
    keys = set()
    for recipe in RECIPES.glob(f"*/{stage}.yaml"):
        keys |= set(yaml.safe_load(recipe.read_text()))
    assert keys
    for key in sorted(keys):
        assert f"--{key} " in text, key
    # ours: each key with its help text and default
    from dataclasses import fields

    from cxreason.train.config import ScriptArguments

    for f in fields(ScriptArguments):
        help_text = " ".join(f.metadata["help"].split())
        assert help_text in text, f.name
    assert "Missing image: error | skip | phantom. (default: error)" in text
    assert "(default: 64)" in text  # image_cache_size


def test_parse_error_explained():
    from trl import SFTConfig

    from cxreason.train.config import _explain_parse_error, make_parser

    p = make_parser(SFTConfig)
    msg = "Some specified arguments are not used by the HfArgumentParser: ['--max_step', '1']"
    assert "did you mean --max_steps?" in _explain_parse_error(msg, p)
    assert _explain_parse_error("something else", p) == "something else"
