"""BenchItems -> SFT/GRPO samples: prompts, targets, multi-image items, lazy images, fallbacks."""

from __future__ import annotations

import json

import pytest

from cxreason.prompts import COT_SUFFIX, DIRECT_SUFFIX
from cxreason.records import BenchItem, read_records
from cxreason.train.formatting import (
    ImageLoader,
    ImageOptions,
    MissingImageError,
    PixelBudget,
    grpo_samples,
    input_size_for,
    load_bench,
    sft_samples,
    target_text,
    to_dataset,
)


def _items(bench):
    return read_records(bench, BenchItem)


def test_sft_samples_mix_targets_and_images(tiny_bench):
    items = _items(tiny_bench)
    samples, stats = sft_samples(items, cot_fraction=0.5, seed=1, base_dir=tiny_bench.parent)
    assert stats.n_samples == len(items) == stats.n_cot + stats.n_direct
    assert 0 < stats.n_cot < len(items)
    ds = to_dataset(samples)
    for s, row, it in zip(samples, ds, items, strict=True):
        user = s["prompt"][-1]["content"]
        n_img = sum(p["type"] == "image" for p in user)
        assert n_img == len(it.images) == len(s["images"]) == len(row["images"])  # all images
        assert all(im.mode == "RGB" and im.size == (128, 128) for im in row["images"])
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


def test_preparation_decodes_no_image(tiny_bench, monkeypatch):
    """Samples hold references only; pixels are decoded when the trainer reads a row."""
    import cxreason.data.images as images

    def refuse(*a, **k):
        raise AssertionError("an image was decoded during preparation")

    monkeypatch.setattr(images, "load_image", refuse)
    items = _items(tiny_bench)
    samples, _ = sft_samples(items, base_dir=tiny_bench.parent)
    grpo, _ = grpo_samples(items, base_dir=tiny_bench.parent)
    ref = json.loads(samples[0]["images"][0])
    assert ref["path"].endswith("s0_0.png") and ref["item"] == items[0].id
    assert all(isinstance(r, str) for s in samples + grpo for r in s["images"])
    ds = to_dataset(samples)  # building the table decodes nothing either
    monkeypatch.undo()
    assert ds[0]["images"][0].mode == "RGB"


def test_loader_cache_is_bounded_and_reused(tiny_bench):
    samples, _ = sft_samples(_items(tiny_bench), base_dir=tiny_bench.parent)
    loader = ImageLoader(cache_size=2)
    ds = to_dataset(samples, loader)
    first = ds[0]["images"][0]
    assert ds[0]["images"][0] is first and loader.decoded == 1  # a hit: not decoded twice
    for i in range(len(ds)):
        ds[i]
    assert len(loader._cache) == 2
    assert loader.decoded == sum(len(s["images"]) for s in samples)
    assert ImageLoader(cache_size=0)(samples[0]["images"][0]).size == (128, 128)


def test_images_resized_to_the_processors_grid(tmp_path, tiny_model_dir):
    """A 3000 x 2400 file is resized at batch time to exactly the grid the processor would
    compute from the full-resolution file: same visual tokens, a fraction of the memory."""
    import numpy as np
    from PIL import Image

    from cxreason.train.model import load_processor

    proc = load_processor(tiny_model_dir)
    big = Image.fromarray((np.arange(3000 * 2400) % 251).astype(np.uint8).reshape(2400, 3000))
    path = tmp_path / "big.png"
    big.save(path)
    rule = input_size_for(proc)
    assert isinstance(rule, PixelBudget) and rule.factor == 28 and rule.max_pixels == 112 * 112
    img = ImageLoader(input_size=rule)(json.dumps({"item": "x", "path": str(path)}))
    assert img.size == rule(3000, 2400) and img.size[0] * img.size[1] <= 112 * 112
    full = proc.image_processor([big.convert("RGB")], return_tensors="pt")["image_grid_thw"]
    small = proc.image_processor([img], return_tensors="pt")["image_grid_thw"]
    assert full.tolist() == small.tolist()
    assert PixelBudget(100)(10, 8) == (10, 8) and PixelBudget(100)(40, 10) == (20, 5)
    assert input_size_for(object(), image_size=64).max_pixels == 64 * 64
    assert input_size_for(object()) is None


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


def test_grpo_mixed_prompt_modes(tiny_bench):
    """prompt_mode mixed: per item, seeded, CoT or direct prompt; the mode column follows."""
    items = _items(tiny_bench) * 4
    kw = {"base_dir": tiny_bench.parent}
    samples, stats = grpo_samples(items, mode="mixed", cot_fraction=0.5, seed=3, **kw)
    modes = [s["mode"] for s in samples]
    assert set(modes) == {"cot", "direct"} and stats.n_cot == modes.count("cot")
    for s in samples:
        suffix = COT_SUFFIX if s["mode"] == "cot" else DIRECT_SUFFIX
        assert s["prompt"][-1]["content"][-1]["text"].endswith(suffix)
    again, _ = grpo_samples(items, mode="mixed", cot_fraction=0.5, seed=3, **kw)
    assert [s["mode"] for s in again] == modes
    none, _ = grpo_samples(items, mode="mixed", cot_fraction=0.0, **kw)
    assert {s["mode"] for s in none} == {"direct"}
    with pytest.raises(ValueError, match="prompt_mode"):
        grpo_samples(items, mode="both")


def test_missing_images_error_skip(tmp_path, make_bench):
    bench = make_bench(tmp_path / "b", n=4, with_images=False)
    items = _items(bench)
    with pytest.raises(MissingImageError, match="item b0: image .*s0_0.png not found"):
        sft_samples(items, base_dir=bench.parent)
    samples, stats = sft_samples(items, ImageOptions(image_fallback="skip"), base_dir=bench.parent)
    assert samples == [] and stats.skipped == [it.id for it in items]
    with pytest.raises(ValueError):
        ImageOptions(image_fallback="blank")


def test_missing_images_phantom(tmp_path, make_bench):
    bench = make_bench(tmp_path / "b", n=4, with_images=False)
    samples, stats = sft_samples(
        _items(bench), ImageOptions(image_fallback="phantom"), base_dir=bench.parent
    )
    assert len(samples) == 4 and stats.phantoms == 5  # item 3 has two images
    rows = list(to_dataset(samples))
    assert all(im.mode == "RGB" and im.size == (128, 128) for r in rows for im in r["images"])


def test_unreadable_file_found_at_batch_time(tmp_path, make_bench):
    """A file that exists but does not decode: phantom fallback draws the phantom, error stops
    the run naming the item and the file."""
    bench = make_bench(tmp_path / "b", n=2)
    (bench.parent / "images" / "s0_0.png").write_bytes(b"not a png")
    items = _items(bench)
    samples, _ = sft_samples(items, base_dir=bench.parent)
    with pytest.raises(MissingImageError, match="item b0: image .*s0_0.png unusable"):
        to_dataset(samples)[0]
    ok, stats = sft_samples(items, ImageOptions(image_fallback="phantom"), base_dir=bench.parent)
    assert stats.phantoms == 0 and to_dataset(ok)[0]["images"][0].mode == "RGB"


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
    assert len(samples) == 4 and to_dataset(samples)[3]["images"][1].mode == "RGB"


def test_select_items_seeded_subset_and_tasks(tiny_bench):
    from types import SimpleNamespace

    from cxreason.train.config import RecipeError
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
    with pytest.raises(RecipeError, match="no items left"):
        select_items(SimpleNamespace(**{**vars(args), "tasks": ["temporal"]}))


def _binary(answer: str, finding: str = "pleural effusion") -> BenchItem:
    steps = [
        "I systematically review the pleural spaces.",
        "Large right pleural effusion." if answer == "A" else f"No {finding} is seen.",
        f"So the answer is {answer}.",
    ]
    return BenchItem(
        id=f"b{answer}", study_id="1", task="binary",
        question=f"Does this chest X-ray show {finding}?", options={"A": "Yes", "B": "No"},
        answer=answer, answer_labels=["Pleural Effusion"] if answer == "A" else [],
        images=["x.png"], report="", reasoning=" ".join(steps), reasoning_steps=steps,
    )  # fmt: skip


def test_verdict_step_states_the_status_after_the_plan():
    from cxreason.labeling.extract import extract_annotated
    from cxreason.train.formatting import verdict_sentence

    pos, neg = _binary("A"), _binary("B")
    assert verdict_sentence(pos) == "Pleural effusion is present."
    assert verdict_sentence(neg) == "Pleural effusion is absent."
    assert verdict_sentence(_binary("B", "support devices")) == "Support devices are absent."
    for item, status in ((pos, "present"), (neg, "absent")):
        mentions = extract_annotated(verdict_sentence(item))
        assert [(m.label, m.status) for m in mentions] == [("Pleural Effusion", status)]
    text = target_text(pos, "cot", verdict=True)
    assert text == (
        "<think>I systematically review the pleural spaces. Pleural effusion is present. "
        "Large right pleural effusion. So the answer is A.</think><answer>A</answer>"
    )
    assert target_text(pos, "cot") == f"<think>{pos.reasoning}</think><answer>A</answer>"
    assert target_text(pos, "direct", verdict=True) == "<answer>A</answer>"
    single = BenchItem(**{**vars(pos), "task": "single", "options": {"A": "Edema", "B": "x"}})
    assert verdict_sentence(single) is None
    assert target_text(single, "cot", verdict=True) == target_text(single, "cot")


def test_sft_samples_pass_the_verdict_option(tiny_bench):
    items = _items(tiny_bench)
    plain, _ = sft_samples(items, cot_fraction=1.0, base_dir=tiny_bench.parent)
    with_v, _ = sft_samples(items, cot_fraction=1.0, verdict=True, base_dir=tiny_bench.parent)
    changed = [
        it.task
        for it, a, b in zip(items, plain, with_v, strict=True)
        if a["completion"] != b["completion"]
    ]
    assert changed and set(changed) == {"binary"}
