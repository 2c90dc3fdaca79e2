"""The vision-tower warm-up trains the vision tower only and lowers its classification loss."""

from __future__ import annotations

import pytest

from cxreason.train.vision_pretrain import VisionPretrainConfig, label_targets, pretrain_vision


def test_label_targets_mask_uncertain():
    y, m = label_targets({"Cardiomegaly": "present", "Edema": "uncertain", "Fracture": "absent"})
    from cxreason.vocab import CHEXPERT_LABELS

    i = CHEXPERT_LABELS.index
    assert y[i("Cardiomegaly")] == 1.0 and m[i("Cardiomegaly")] == 1.0
    assert m[i("Edema")] == 0.0
    assert y[i("Fracture")] == 0.0 and m[i("Fracture")] == 1.0


def test_pretrain_changes_vision_only_and_learns(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from cxreason.data.phantom import render_study

    examples = []
    for k in range(16):
        labels = {"Cardiomegaly": "present"} if k % 2 else {"Cardiomegaly": "absent"}
        path = tmp_path / f"p{k}.png"
        render_study(labels, seed=k, size=112).save(path)
        examples.append((str(path), labels))
    out = tmp_path / "vis"
    r = pretrain_vision(
        tiny_model_dir,
        out,
        examples,
        VisionPretrainConfig(steps=30, batch_size=16, lr=3e-3, log_every=10),
    )
    assert r["loss_last"] < r["loss_first"]
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("visual" in k for k in changed), sorted(changed)[:5]


def test_pretrain_needs_examples(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="no \\(image, labels\\) examples"):
        pretrain_vision(tiny_model_dir, tmp_path / "x", [])


def test_freeze_vision_tower_keeps_merger_trainable(tiny_model_dir):
    from cxreason.train.model import load_model_and_processor
    from cxreason.train.sft import freeze_vision_tower

    model, _ = load_model_and_processor(tiny_model_dir, dtype="float32")
    n = freeze_vision_tower(model)
    visual = model.model.visual
    assert n > 0
    for name, p in visual.named_parameters():
        assert p.requires_grad == name.startswith("merger."), name
    assert all(p.requires_grad for p in model.model.language_model.parameters())


def test_freeze_merger_freezes_the_whole_tower(tiny_model_dir):
    from cxreason.train.model import load_model_and_processor
    from cxreason.train.sft import freeze_vision_tower

    model, _ = load_model_and_processor(tiny_model_dir, dtype="float32")
    n = freeze_vision_tower(model, merger=True)
    visual = model.model.visual
    assert n == sum(p.numel() for p in visual.parameters())
    assert not any(p.requires_grad for p in visual.parameters())
    assert all(p.requires_grad for p in model.model.language_model.parameters())


def test_pool_tokens_mean_max_and_both():
    import torch

    from cxreason.train.vision_pretrain import pool_tokens

    a = torch.tensor([[0.0, 4.0], [2.0, -2.0]])  # 2 tokens x 2 hidden
    b = torch.tensor([[1.0, 1.0]])
    assert pool_tokens([a, b], "mean").tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert pool_tokens([a, b], "max").tolist() == [[2.0, 4.0], [1.0, 1.0]]
    assert pool_tokens([a], "meanmax").tolist() == [[1.0, 1.0, 2.0, 4.0]]
    with pytest.raises(ValueError, match="unknown pool 'sum'"):
        pool_tokens([a], "sum")


def test_pretrain_rejects_unknown_pool_before_training(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown pool"):
        pretrain_vision(
            tiny_model_dir, tmp_path / "x", [("x.png", {})], VisionPretrainConfig(pool="sum")
        )
    assert not (tmp_path / "x").exists()
