import json

import pytest

from cxreason.records import (
    BenchItem,
    Prediction,
    RecordError,
    Study,
    append_jsonl,
    read_appended_jsonl,
    read_records,
    write_jsonl,
)


def test_roundtrip_study(tmp_path):
    s = Study(study_id="1", dataset="openi", findings="Clear lungs.", images=[])
    p = tmp_path / "s.jsonl"
    assert write_jsonl(p, [s]) == 1
    assert read_records(p, Study)[0] == s


def test_bad_json_names_file_line_column(tmp_path):
    p = tmp_path / "pred.jsonl"
    p.write_text('{"id": "a", "output": "x"}\n{"id": "b", "output": }\n')
    with pytest.raises(RecordError) as ei:
        read_records(p, Prediction)
    msg = str(ei.value)
    assert "pred.jsonl:2:" in msg and ei.value.line == 2 and ei.value.column == 23


def test_missing_field_named(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"id": "1", "task": "binary"}) + "\n")
    with pytest.raises(RecordError, match=r"b.jsonl:1: .*study_id"):
        read_records(p, BenchItem)


def test_unknown_task_rejected(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"id": "1", "task": "essay"}) + "\n")
    with pytest.raises(RecordError, match="task must be one of"):
        read_records(p, BenchItem)


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    p = tmp_path / "x.jsonl"
    write_jsonl(p, [{"a": 1}])

    def boom():
        yield {"a": 2}
        raise RuntimeError("dies mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(p, boom())
    assert p.read_text() == '{"a":1}\n'
    assert [f.name for f in tmp_path.iterdir()] == ["x.jsonl"]


def test_progress_log_drops_torn_tail(tmp_path):
    p = tmp_path / "log.jsonl"
    append_jsonl(p, {"id": 1})
    append_jsonl(p, {"id": 2})
    with open(p, "a") as fh:
        fh.write('{"id": 3, "out')  # killed mid-write
    assert [r["id"] for r in read_appended_jsonl(p)] == [1, 2]


def test_written_files_follow_the_umask_not_mkstemp(tmp_path):
    import os
    import stat

    from cxreason.records import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        os.umask(0o002)
        write_json(tmp_path / "b.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o664
    finally:
        os.umask(old)
