"""BenchItems -> SFT/GRPO samples: prompts, targets, multi-image items, image fallbacks."""

from __future__ import annotations

import json

import pytest

from cxreason.prompts import COT_SUFFIX, DIRECT_SUFFIX
from cxreason.records import BenchItem, read_records
from cxreason.train.formatting import (
    ImageOptions,
    MissingImageError,
    grpo_samples,
    load_bench,
    sft_samples,
    target_text,
)


def _items(bench):
    return read_records(bench, BenchItem)


def test_sft_samples_mix_targets_and_images(tiny_bench):
    items = _items(tiny_bench)
    samples, stats = sft_samples(items, cot_fraction=0.5, seed=1, base_dir=tiny_bench.parent)
    assert stats.n_samples == len(items) == stats.n_cot + stats.n_direct
    assert 0 < stats.n_cot < len(items)
    for s, it in zip(samples, items, strict=True):
        user = s["prompt"][-1]["content"]
        n_img = sum(p["type"] == "image" for p in user)
        assert n_img == len(it.images) == len(s["images"])  # multi-image items keep all images
        assert all(im.mode == "RGB" and im.size == (128, 128) for im in s["images"])
        text = s["completion"][0]["content"][0]["text"]
        if s["mode"] == "cot":
            assert user[-1]["text"].endswith(COT_SUFFIX)
            assert text == f"<think>{it.reasoning}</think><answer>{it.answer}</answer>"
        else:
            assert user[-1]["text"].endswith(DIRECT_SUFFIX)
            assert text == f"<answer>{it.answer}</answer>"
    assert any(len(s["images"]) == 2 for s in samples)
    again, _ = sft_samples(items, cot_fraction=0.5, seed=1, base_dir=tiny_bench.parent)
    assert [s["mode"] for s in again] == [s["mode"] for s in samples]  # seeded


def test_both_modes_and_extreme_fractions(tiny_bench):
    items = _items(tiny_bench)
    both, st = sft_samples(items, both_modes=True, base_dir=tiny_bench.parent)
    assert st.n_cot == st.n_direct == len(items) and len(both) == 2 * len(items)
    direct, st = sft_samples(items, cot_fraction=0.0, base_dir=tiny_bench.parent)
    assert st.n_cot == 0
    with pytest.raises(ValueError):
        sft_samples(items, cot_fraction=1.5)
    no_chain = BenchItem(**{**vars(items[0]), "reasoning": ""})
    assert target_text(no_chain, "direct") == f"<answer>{no_chain.answer}</answer>"
    with pytest.raises(ValueError, match="no reasoning"):
        target_text(no_chain, "cot")


def test_grpo_samples_carry_reward_columns(tiny_bench):
    items = _items(tiny_bench)
    samples, _ = grpo_samples(items, base_dir=tiny_bench.parent)
    by_task = {s["task"]: s for s in samples}
    b, a = by_task["binary"], by_task["anomaly"]
    assert json.loads(b["options"]) == {"A": "Yes", "B": "No"}
    assert a["options"] is None and isinstance(a["answer_labels"], list)
    assert b["report"].startswith("FINDINGS:") and b["mode"] == "cot"
    assert "completion" not in b and b["prompt"][0]["role"] == "system"
    item_b = next(it for it in items if it.id == b["id"])
    assert b["reference"] == item_b.reasoning.strip()
    assert b["reference_steps"] == [s for s in item_b.reasoning_steps if s.strip()]


def test_missing_images_error_skip(tmp_path, make_bench):
    bench = make_bench(tmp_path / "b", n=4, with_images=False)
    items = _items(bench)
    with pytest.raises(MissingImageError, match="item b0: image .*s0_0.png"):
        sft_samples(items, base_dir=bench.parent)
    samples, stats = sft_samples(items, ImageOptions(image_fallback="skip"), base_dir=bench.parent)
    assert samples == [] and stats.skipped == [it.id for it in items]
    with pytest.raises(ValueError):
        ImageOptions(image_fallback="blank")


def test_missing_images_phantom(tmp_path, make_bench):
    pytest.importorskip("cxreason.data.phantom", reason="phantom renderer not available yet")
    bench = make_bench(tmp_path / "b", n=4, with_images=False)
    samples, stats = sft_samples(
        _items(bench), ImageOptions(image_fallback="phantom"), base_dir=bench.parent
    )
    assert len(samples) == 4 and stats.phantoms == 5  # item 3 has two images
    assert all(im.mode == "RGB" for s in samples for im in s["images"])


def test_images_dir_and_split_filter(tmp_path, make_bench):
    bench = make_bench(tmp_path / "b", n=4, split="test")
    with pytest.raises(ValueError, match="splits present: \\['test'\\]"):
        load_bench(bench, "train")
    items = load_bench(bench, "all")
    moved = tmp_path / "elsewhere"
    (bench.parent / "images").rename(moved)
    stripped = [
        BenchItem(**{**vars(it), "images": [p.split("/", 1)[1] for p in it.images]}) for it in items
    ]
    samples, _ = sft_samples(stripped, ImageOptions(images_dir=str(moved)))
    assert len(samples) == 4


def test_select_items_seeded_subset_and_tasks(tiny_bench):
    from types import SimpleNamespace

    from cxreason.train.sft import select_items

    args = SimpleNamespace(bench=str(tiny_bench), train_split="train", tasks=None, max_items=5)
    a, base = select_items(args, seed=0)
    b, _ = select_items(args, seed=0)
    ids = [it.id for it in _items(tiny_bench)]
    assert [it.id for it in a] == [it.id for it in b] and len(a) == 5 and base == tiny_bench.parent
    assert sorted(ids.index(it.id) for it in a) == [ids.index(it.id) for it in a]  # file order kept
    only, _ = select_items(
        SimpleNamespace(**{**vars(args), "tasks": ["anomaly"], "max_items": None})
    )
    assert {it.task for it in only} == {"anomaly"}
    with pytest.raises(ValueError, match="no items left"):
        select_items(SimpleNamespace(**{**vars(args), "tasks": ["temporal"]}))
