"""The run environment record (cxreason.environment)."""

from __future__ import annotations

from importlib import metadata

from cxreason.environment import cpu_info, environment, summary


def test_cpu_info_reads_the_model_and_the_kernel_selecting_flags(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(
        "processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nflags\t\t: fpu sse2 avx2 avx512f "
        "amx_tile\n\nprocessor\t: 1\nmodel name\t: Example CPU @ 2.0GHz\n"
    )
    assert cpu_info(f) == {"model": "Example CPU @ 2.0GHz", "isa": ["avx2", "avx512f", "amx_tile"]}
    missing = cpu_info(tmp_path / "absent")
    assert missing["isa"] == [] and missing["model"]


def test_environment_names_the_installed_versions_and_summary_lists_them():
    env = environment()
    assert env["packages"]["torch"] == metadata.version("torch")
    assert env["packages"]["transformers"] == metadata.version("transformers")
    line = summary(env)
    assert f"transformers {metadata.version('transformers')}" in line
    assert f"{env['torch_threads']} torch threads" in line and "CPU " in line
    assert "no AVX2" in summary({"python": "3", "packages": {}, "cpu": {"model": "x", "isa": []}})
