"""predict and serve refuse what they cannot do, before anything slow (issue 17).

Each test drives the real CLI (``main(argv)``) and checks the exit code and the message.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest
from inference_helpers import bench_items

from cxreason.inference import cli, serve_cli
from cxreason.inference.predict import progress_path
from cxreason.provenance import PRED_HASH_FIELD, bench_sha256
from cxreason.records import read_appended_jsonl, write_jsonl


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a network connection (a hub lookup would)."""

    def refuse(self, address):
        raise AssertionError(f"network connection attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))


def _args(model, bench, out, *extra):
    return ["--model", str(model), "--bench", str(bench), "--out", str(out)] + [
        "--max-new-tokens",
        "2",
        "--backend",
        "transformers",
        *extra,
    ]


def _split_bench(tiny_bench, tmp_path):
    """The tiny benchmark's items in three splits (images beside them)."""
    items = [
        replace(it, split=s)
        for it, s in zip(bench_items(), ("train", "validation", "test"), strict=True)
    ]
    bench = tiny_bench / f"split-{tmp_path.name}.jsonl"
    write_jsonl(bench, items)
    return bench, items


def test_predictions_carry_the_bench_hash_and_a_changed_bench_is_not_resumed(
    tiny_model, tiny_bench, tmp_path, capsys
):
    bench, items = _split_bench(tiny_bench, tmp_path)
    out = tmp_path / "p.jsonl"
    assert cli.main(_args(tiny_model, bench, out, "--split", "all")) == 0
    digest = bench_sha256(bench)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3 and all(r[PRED_HASH_FIELD] == digest for r in rows)
    assert read_appended_jsonl(progress_path(out))[0]["_meta"][PRED_HASH_FIELD] == digest
    # the benchmark is rebuilt with another question under the same id: no silent resume
    write_jsonl(bench, [replace(items[0], question=items[0].question + " (v2)"), *items[1:]])
    assert cli.main(_args(tiny_model, bench, out, "--split", "all")) == 2
    assert "another build of the benchmark" in capsys.readouterr().err.replace("\n", " ")


def test_split_selects_items_and_defaults_to_test(tiny_model, tiny_bench, tmp_path, capsys):
    bench, items = _split_bench(tiny_bench, tmp_path)
    out = tmp_path / "p.jsonl"
    assert cli.main(_args(tiny_model, bench, out)) == 0
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [items[2].id]
    assert "1 items of split test" in capsys.readouterr().err
    val = tmp_path / "v.jsonl"
    assert cli.main(_args(tiny_model, bench, val, "--split", "validation")) == 0
    assert [json.loads(x)["id"] for x in val.read_text().splitlines()] == [items[1].id]
    assert cli.main(_args(tiny_model, bench, val, "--split", "dev")) == 2
    assert "--split must be one of" in capsys.readouterr().err


def test_out_that_is_not_a_predictions_file_is_refused(tiny_model, tiny_bench, tmp_path, capsys):
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, bench_items())
    before = bench.read_bytes()
    assert cli.main(_args(tiny_model, bench, bench)) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "is not a predictions file" in err and "--overwrite" in err
    assert bench.read_bytes() == before


def test_mistyped_model_path_fails_at_once_without_network(
    tmp_path, monkeypatch, capsys, no_network
):
    (tmp_path / "runs" / "tiny-grpo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, bench_items())
    assert cli.main(_args("runs/tiny-grpoo", bench, tmp_path / "p.jsonl")) == 2
    err = capsys.readouterr().err
    assert "model folder not found: runs/tiny-grpoo" in err
    # a hub id that is not cached is not fetched without --allow-download
    assert cli.main(_args("some-org/some-model", bench, tmp_path / "p.jsonl")) == 2
    assert "--allow-download" in capsys.readouterr().err.replace("\n", " ")


def test_serve_checks_its_port_before_loading_the_model(monkeypatch, tmp_path, capsys):
    def must_not_load(*a, **k):
        raise AssertionError("the model was loaded although the port is taken")

    monkeypatch.setattr("cxreason.inference.predict.load_engine", must_not_load)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        code = serve_cli.main(["--model", str(tmp_path), "--port", str(port)])
    finally:
        taken.close()
    assert code == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


def test_bind_socket_gives_a_free_port_when_asked_for_0():
    sock = serve_cli.bind_socket("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()
