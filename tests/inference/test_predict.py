"""predict: engines, resumable benchmark prediction, single-study CLI, clean refusals."""

from __future__ import annotations

import json

import pytest
from inference_helpers import grey_image

from cxreason.inference import cli
from cxreason.inference.predict import GenConfig, item_request, predict_bench, progress_path
from cxreason.records import BenchItem, read_appended_jsonl, read_records


def test_generate_returns_generated_text_only(tiny_model, tiny_bench):
    from cxreason import prompts
    from cxreason.inference.predict import generate
    from cxreason.train.model import load_model_and_processor

    model, proc = load_model_and_processor(str(tiny_model))
    item = read_records(tiny_bench / "bench.jsonl", BenchItem)[0]
    out = generate(model, proc, item, "cot", roots=[tiny_bench], cfg=GenConfig(max_new_tokens=6))
    assert isinstance(out, str) and prompts.COT_SUFFIX not in out and "system" not in out
    req = item_request(item, "direct", [tiny_bench])
    assert len(req.images) == 1 and req.messages[1]["content"][-1]["text"].endswith(
        prompts.DIRECT_SUFFIX
    )


def test_greedy_is_deterministic_and_batching_consistent(tiny_engine, tiny_bench):
    items = read_records(tiny_bench / "bench.jsonl", BenchItem)
    reqs = [item_request(it, "cot", [tiny_bench]) for it in items]
    cfg = GenConfig(max_new_tokens=8)
    one = [tiny_engine.generate_batch([r], cfg)[0].text for r in reqs]
    assert one == [tiny_engine.generate_batch([r], cfg)[0].text for r in reqs]
    batched = tiny_engine.generate_batch(reqs, cfg)
    assert len(batched) == 3 and all(o.completion_tokens <= 8 for o in batched)


def test_predict_bench_resumes(tiny_engine, tiny_bench, tmp_path):
    out = tmp_path / "pred.jsonl"
    cfg = GenConfig(max_new_tokens=6)
    s1 = predict_bench(tiny_engine, tiny_bench / "bench.jsonl", out, cfg=cfg, batch_size=2, limit=2)
    assert (s1.total, s1.generated, s1.done_before, s1.failed) == (2, 2, 0, 0)
    first = [json.loads(line) for line in out.read_text().splitlines()]
    # interrupted run: drop the final file; the progress log alone lets the rerun skip done ids
    out.unlink()
    seen = []
    s2 = predict_bench(
        tiny_engine,
        tiny_bench / "bench.jsonl",
        out,
        cfg=cfg,
        batch_size=2,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert (s2.total, s2.done_before, s2.generated) == (3, 2, 1)
    assert seen[0] == (2, 3) and seen[-1] == (3, 3)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["it-0", "it-1", "it-2"]
    assert recs[:2] == first
    for r in recs:
        assert set(r) >= {"id", "output", "think", "answer", "labels", "impression"}
        # an empty generation is no reading: no impression, never a made-up "No Finding"
        if r["output"].strip():
            assert r["impression"]["version"] == "impression-v1"
        else:
            assert r["impression"] is None and r["labels"] == {}
    log = read_appended_jsonl(progress_path(out))
    assert log[0]["_meta"]["model"] == tiny_engine.name and len(log) == 4
    # different settings refuse to mix with the old progress log
    with pytest.raises(Exception, match="delete it or rerun"):
        predict_bench(tiny_engine, tiny_bench / "bench.jsonl", out, mode="direct")


def test_predict_bench_missing_image_recorded_not_crashed(tiny_engine, tiny_bench, tmp_path):
    items = read_records(tiny_bench / "bench.jsonl", BenchItem)
    items[1].images = ["img/absent.png"]
    from cxreason.records import write_jsonl

    write_jsonl(tmp_path / "b.jsonl", items)
    out = tmp_path / "p.jsonl"
    s = predict_bench(
        tiny_engine,
        tmp_path / "b.jsonl",
        out,
        images_dir=tiny_bench,
        cfg=GenConfig(max_new_tokens=4),
    )
    assert (s.generated, s.failed) == (2, 1)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[1]["output"] == "" and "absent.png" in recs[1]["error"]


def test_cli_bench_and_rerun(tiny_model, tiny_bench, tmp_path, capsys):
    out = tmp_path / "cli_pred.jsonl"
    args = [
        "--model",
        str(tiny_model),
        "--bench",
        str(tiny_bench / "bench.jsonl"),
        "--out",
        str(out),
        "--max-new-tokens",
        "4",
        "--backend",
        "transformers",
    ]
    assert cli.main(args) == 0
    assert len(out.read_text().splitlines()) == 3
    assert cli.main(args) == 0
    assert "3 already done" in capsys.readouterr().err


def test_cli_single_study(tiny_model, tmp_path, capsys):
    img = tmp_path / "x.png"
    grey_image(7).save(img)
    out = tmp_path / "one.json"
    rc = cli.main(
        [
            "--model",
            str(tiny_model),
            "--image",
            str(img),
            "--question",
            "Does this chest X-ray show Edema?",
            "--options",
            '{"A": "Yes", "B": "No"}',
            "--max-new-tokens",
            "4",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["question"].startswith("Does this") and "impression" in rec and "output" in rec


def _truncated_png() -> bytes:
    import io

    buf = io.BytesIO()
    grey_image(3).save(buf, format="PNG")
    return buf.getvalue()[:600]


@pytest.mark.parametrize(
    "content,needle",
    [(b"hello, I am text", "not a recognised image"), (_truncated_png(), "cannot decode PNG")],
)
def test_cli_refuses_bad_image_exit_2(tiny_model, tmp_path, capsys, content, needle):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    rc = cli.main(["--model", str(tiny_model), "--image", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "bad.png" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["--model", "x"]) == 2
    assert "either --bench" in capsys.readouterr().err
    assert cli.main(["--model", "x", "--bench", "b.jsonl", "--out", "o", "--mode", "long"]) == 2
    assert (
        cli.main(
            [
                "--model",
                str(tmp_path / "nope"),
                "--bench",
                str(tmp_path / "b.jsonl"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "model folder not found:" in capsys.readouterr().err


def test_prompt_profile_recorded_and_part_of_the_resume_key(tiny_engine, tiny_bench, tmp_path):
    from cxreason import prompts

    out = tmp_path / "p.jsonl"
    bench = tiny_bench / "bench.jsonl"
    s = predict_bench(
        tiny_engine, bench, out, cfg=GenConfig(max_new_tokens=4), profile="chestx-reasoner"
    )
    assert s.generated == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["prompt_profile"] for r in rows} == {"chestx-reasoner"}
    meta = read_appended_jsonl(progress_path(out))[0]["_meta"]
    assert meta["prompt_profile"] == "chestx-reasoner"
    assert meta["prompts_version"] == prompts.PROMPTS_VERSION
    # predictions made with another wording never mix into this file
    with pytest.raises(Exception, match="delete it or rerun"):
        predict_bench(tiny_engine, bench, out, cfg=GenConfig(max_new_tokens=4))
    with pytest.raises(Exception, match="prompt profile must be one of"):
        predict_bench(tiny_engine, bench, tmp_path / "q.jsonl", profile="gpt")


def test_item_request_uses_the_profile(tiny_bench):
    item = read_records(tiny_bench / "bench.jsonl", BenchItem)[2]  # anomaly, two images
    req = item_request(item, "cot", [tiny_bench], profile="nv-reason-cxr")
    assert len(req.images) == 2 and [m["role"] for m in req.messages] == ["user"]
    assert req.messages[0]["content"][-1]["text"] == "Find abnormalities and support devices."


def test_cli_prompt_profile(tiny_model, tiny_bench, tmp_path, capsys):
    out = tmp_path / "cp.jsonl"
    base = ["--model", str(tiny_model), "--bench", str(tiny_bench / "bench.jsonl")]
    base += ["--out", str(out), "--max-new-tokens", "3", "--limit", "1"]
    assert cli.main([*base, "--prompt-profile", "nv-reason-cxr"]) == 0
    assert json.loads(out.read_text())["prompt_profile"] == "nv-reason-cxr"
    assert cli.main([*base, "--prompt-profile", "medgemma"]) == 2
    err = capsys.readouterr().err
    assert "--prompt-profile must be one of cxreason, chestx-reasoner, nv-reason-cxr" in err
    assert cli.main([*base, "--prompt-profile", "nv-reason-cxr", "--mode", "direct"]) == 2
    assert "use --mode cot" in capsys.readouterr().err
