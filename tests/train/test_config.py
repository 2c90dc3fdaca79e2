"""Resume resolution and weight restore (the transformers-5 VLM checkpoint key mismatch)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from cxreason.train.config import RecipeError, resolve_resume, restore_weights
from cxreason.train.model import load_model_and_processor


def test_resolve_resume(tmp_path):
    args = SimpleNamespace(output_dir=str(tmp_path / "run"), resume_from_checkpoint="auto")
    assert resolve_resume(args) is None  # nothing to resume: start fresh
    for step in (2, 10):
        (tmp_path / "run" / f"checkpoint-{step}").mkdir(parents=True)
    assert resolve_resume(args).endswith("checkpoint-10")
    assert resolve_resume(SimpleNamespace(output_dir="x", resume_from_checkpoint=None)) is None
    with pytest.raises(RecipeError, match="not a checkpoint folder"):
        resolve_resume(
            SimpleNamespace(output_dir="x", resume_from_checkpoint=str(tmp_path / "nope"))
        )


def test_restore_weights_maps_checkpoint_keys(tiny_model_dir, tmp_path):
    trained, _ = load_model_and_processor(tiny_model_dir, dtype="float32")
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    trained.save_pretrained(tmp_path / "ckpt")
    fresh, _ = load_model_and_processor(tiny_model_dir, dtype="float32")
    # what Trainer._load_from_checkpoint does: nothing matches, silently
    from safetensors.torch import load_file

    result = fresh.load_state_dict(load_file(tmp_path / "ckpt" / "model.safetensors"), strict=False)
    assert result.unexpected_keys
    restore_weights(fresh, tmp_path / "ckpt")
    for (k, a), (_, b) in zip(
        trained.state_dict().items(), fresh.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def test_freeze_merger_needs_a_frozen_tower():
    from types import SimpleNamespace

    from cxreason.train.config import ScriptArguments, validate

    script = ScriptArguments(bench="b.jsonl", freeze_merger=True)
    model = SimpleNamespace(model_name_or_path="m")
    with pytest.raises(RecipeError, match="freeze_merger needs freeze_vision_tower"):
        validate(script, SimpleNamespace(), model)
    script.freeze_vision_tower = True
    validate(script, SimpleNamespace(), model)
