"""Writers never silently overwrite somebody else's files (cxreason.outputs)."""

from __future__ import annotations

import pytest

from cxreason.outputs import OutputRefused, guard_output_dir, guard_output_file, jsonl_has_keys

OWN = ("bench.jsonl", "manifest.json")


def test_missing_empty_and_own_folders_may_be_written(tmp_path):
    assert guard_output_dir(tmp_path / "new", OWN) == []
    (tmp_path / "empty").mkdir()
    assert guard_output_dir(tmp_path / "empty", OWN) == []
    own = tmp_path / "own"
    own.mkdir()
    (own / "bench.jsonl").write_text("{}\n")
    (own / ".bench.jsonl.tmp123").write_text("torn")  # hidden leftovers are ignored
    assert guard_output_dir(own, OWN) == ["bench.jsonl"]


def test_foreign_files_are_refused_and_named_unless_overwrite(tmp_path):
    (tmp_path / "bench.jsonl").write_text("{}\n")
    for name in ("model.safetensors", "config.json", "a.txt", "b.txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(
        OutputRefused, match=r"did not write \(a\.txt, b\.txt, config\.json and 1 more\)"
    ):
        guard_output_dir(tmp_path, OWN, command="bench build")
    assert guard_output_dir(tmp_path, OWN, overwrite=True) == ["bench.jsonl"]


def test_own_subfolders_only_when_asked(tmp_path):
    sub = tmp_path / "system-a"
    sub.mkdir()
    (sub / "bench.jsonl").write_text("{}\n")
    with pytest.raises(OutputRefused):
        guard_output_dir(tmp_path, OWN)
    assert guard_output_dir(tmp_path, OWN, subdirs=True) == ["system-a"]
    (sub / "weights.bin").write_text("x")
    with pytest.raises(OutputRefused, match="system-a"):
        guard_output_dir(tmp_path, OWN, subdirs=True)


def test_a_file_where_a_folder_is_expected_and_vice_versa(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputRefused, match="must be a folder"):
        guard_output_dir(f, OWN)
    with pytest.raises(OutputRefused, match="must be a file"):
        guard_output_file(tmp_path, jsonl_has_keys("id"))


def test_output_file_is_replaced_only_when_it_is_own(tmp_path):
    is_pred = jsonl_has_keys("id", "output")
    p = tmp_path / "p.jsonl"
    assert guard_output_file(p, is_pred) is False
    p.write_text('{"id": "a", "output": "x"}\n')
    assert guard_output_file(p, is_pred) is True
    p.write_text('{"id": "a", "task": "binary"}\n')  # a benchmark, not predictions
    with pytest.raises(OutputRefused, match="is not a predictions file"):
        guard_output_file(p, is_pred, what="predictions")
    assert guard_output_file(p, is_pred, overwrite=True) is True
    p.write_bytes(b"\xff\xfe binary")
    with pytest.raises(OutputRefused):
        guard_output_file(p, is_pred)
    p.write_text("")
    assert guard_output_file(p, is_pred) is True  # an empty file holds nothing to lose
