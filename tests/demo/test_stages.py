import json

from cxreason.demo.stages import StageRunner, fingerprint


def test_stage_skipped_when_done_with_same_config(tmp_path):
    calls = []
    r = StageRunner(tmp_path)
    r.run("a", {"x": 1}, lambda: calls.append(1))
    r2 = StageRunner(tmp_path)
    r2.run("a", {"x": 1}, lambda: calls.append(2))
    assert calls == [1] and r2.skipped == ["a"]


def test_stage_rerun_when_config_changes_or_forced(tmp_path):
    calls = []
    StageRunner(tmp_path).run("a", {"x": 1}, lambda: calls.append(1))
    StageRunner(tmp_path).run("a", {"x": 2}, lambda: calls.append(2))
    StageRunner(tmp_path, force=True).run("a", {"x": 2}, lambda: calls.append(3))
    assert calls == [1, 2, 3]


def test_failed_stage_leaves_no_marker(tmp_path):
    r = StageRunner(tmp_path)

    def boom():
        raise RuntimeError("killed")

    try:
        r.run("a", {}, boom)
    except RuntimeError:
        pass
    assert r.done_fingerprint("a") is None
    calls = []
    StageRunner(tmp_path).run("a", {}, lambda: calls.append(1))
    assert calls == [1]
    assert json.loads((tmp_path / ".stages" / "a.json").read_text())["fingerprint"] == fingerprint(
        {}
    )


def test_changed_config_removes_stale_outputs_but_interruption_keeps_them(tmp_path):
    out = tmp_path / "sft"

    def interrupted():
        out.mkdir(exist_ok=True)
        (out / "checkpoint-1").mkdir(exist_ok=True)
        raise KeyboardInterrupt

    try:
        StageRunner(tmp_path).run("sft", {"lr": 1}, interrupted, outputs=(out,))
    except KeyboardInterrupt:
        pass
    seen = []
    StageRunner(tmp_path).run(
        "sft", {"lr": 1}, lambda: seen.append((out / "checkpoint-1").exists()), outputs=(out,)
    )
    StageRunner(tmp_path).run("sft", {"lr": 2}, lambda: seen.append(out.exists()), outputs=(out,))
    assert seen == [True, False]
