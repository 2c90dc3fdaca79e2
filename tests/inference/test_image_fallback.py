"""--image-fallback phantom: a missing image becomes the training recipes' SYNTHETIC phantom,
counted and flagged per row; without the flag a missing image stays an error."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from inference_helpers import bench_items

from cxreason.inference import cli
from cxreason.inference.predict import (
    SYNTHETIC_FIELD,
    EngineError,
    GenConfig,
    item_request,
    predict_bench,
)
from cxreason.inference.safety import InputRefused
from cxreason.records import write_jsonl


def _bench_with_missing(tiny_bench, tmp_path):
    """The tiny benchmark with item 1's image and item 2's second image missing."""
    items = bench_items()
    items[1] = replace(items[1], images=["img/absent-1.png"])
    items[2] = replace(items[2], images=["img/s2.png", "img/absent-2.png"])
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, items)
    return bench, items


def rows(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_request_uses_the_training_recipes_phantom(tiny_bench, tmp_path):
    from cxreason.train.formatting import phantom_image

    _, items = _bench_with_missing(tiny_bench, tmp_path)
    with pytest.raises(InputRefused, match="absent-2.png: no such file"):
        item_request(items[2], "cot", [tiny_bench])
    req = item_request(items[2], "cot", [tiny_bench], image_fallback="phantom")
    assert req.synthetic == [1] and len(req.images) == 2
    want = np.asarray(phantom_image(items[2], 1, 128).convert("L"))
    assert np.array_equal(np.asarray(req.images[1]), want)  # the same phantom training renders
    big = item_request(items[2], "cot", [tiny_bench], image_fallback="phantom", phantom_size=96)
    assert big.images[1].size == (96, 96)
    with pytest.raises(EngineError, match="image fallback must be one of"):
        item_request(items[2], "cot", [tiny_bench], image_fallback="blank")


def test_unreadable_files_stay_errors_with_the_fallback(tiny_bench, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all" * 8)
    item = replace(bench_items()[0], images=[str(tmp_path / "broken.png")])
    with pytest.raises(InputRefused, match="not a recognised image"):
        item_request(item, "cot", [tiny_bench], image_fallback="phantom")


def test_predict_flags_and_counts_phantoms_and_a_run_without_the_flag_redoes_them(
    tiny_engine, tiny_bench, tmp_path
):
    bench, _ = _bench_with_missing(tiny_bench, tmp_path)
    out = tmp_path / "p.jsonl"
    kw = dict(cfg=GenConfig(max_new_tokens=4), images_dir=tiny_bench)
    s = predict_bench(tiny_engine, bench, out, image_fallback="phantom", **kw)
    assert (s.generated, s.failed, s.phantom_items, s.phantom_images) == (3, 0, 2, 2)
    got = rows(out)
    assert [r.get(SYNTHETIC_FIELD) for r in got] == [None, [0], [1]]
    assert all(r["output"] for r in got)
    # without the flag, rows made on phantoms are not reused: they are redone and fail
    s2 = predict_bench(tiny_engine, bench, out, **kw)
    assert (s2.done_before, s2.failed, s2.phantom_items) == (1, 2, 0)
    got = rows(out)
    assert "absent-1.png: no such file" in got[1]["error"] and SYNTHETIC_FIELD not in got[1]


def test_cli_flag_console_count_and_bad_value(tiny_model, tiny_bench, tmp_path, capsys):
    bench, _ = _bench_with_missing(tiny_bench, tmp_path)
    out = tmp_path / "cli.jsonl"
    args = ["--model", str(tiny_model), "--bench", str(bench), "--out", str(out)]
    args += ["--images", str(tiny_bench), "--split", "all", "--max-new-tokens", "3"]
    assert cli.main(args) == 0
    msg = " ".join(capsys.readouterr().err.split())
    assert "2 failed" in msg and "--image-fallback phantom predicts on SYNTHETIC" in msg
    assert cli.main([*args, "--image-fallback", "phantom"]) == 0
    msg = " ".join(capsys.readouterr().err.split())
    assert "2 of 3 items were predicted on SYNTHETIC phantom images (2 missing image files" in msg
    assert cli.main([*args, "--image-fallback", "blank"]) == 2
    assert "--image-fallback must be one of error, phantom" in capsys.readouterr().err
