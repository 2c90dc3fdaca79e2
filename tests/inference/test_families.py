"""Each registered VLM family on a tiny random model built offline: prompts rendered through the
family's own chat template, images through its own (PIL) image processor, batched decoding, and
a parsed prediction on benchmark items (this checks plumbing, not accuracy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_helpers import bench_items

from cxreason import prompts
from cxreason.inference import families
from cxreason.inference.predict import (
    GenConfig,
    item_request,
    load_engine,
    predict_bench,
    progress_path,
)
from cxreason.inference.tiny_families import BUILDERS
from cxreason.records import iter_jsonl

#: What the family's own template must render around the image(s) and the system prompt.
MARKERS = {
    "qwen2_vl": [
        "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>",
        "<|vision_start|>",
    ],
    "qwen2_5_vl": ["<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"],
    "idefics3": [
        "<|im_start|>System: You are a helpful AI assistant.<end_of_utterance>",
        "User:<image>",
    ],
    "llava_next": [
        "<<SYS>>\nYou are a helpful AI assistant.\n<</SYS>>",
        "[INST] <image>\n",
        " [/INST]",
    ],
    "gemma3": ["<bos><start_of_turn>user\nYou are a helpful AI assistant.\n\n<start_of_image>"],
}
IMAGE_MARK = {
    "qwen2_vl": "<|vision_start|>",
    "qwen2_5_vl": "<|vision_start|>",
    "idefics3": "<image>",
    "llava_next": "<image>",
    "gemma3": "<start_of_image>",
}


def test_every_family_has_a_tiny_model_and_markers():
    for mt, fam in families.FAMILIES.items():
        assert fam.tiny in BUILDERS, mt
        assert mt in MARKERS and mt in IMAGE_MARK, f"add {mt} to this test's MARKERS"


@pytest.fixture(scope="module", params=sorted(families.FAMILIES))
def family_engine(request, tmp_path_factory):
    mt = request.param
    path = families.build_tiny(mt, tmp_path_factory.mktemp(mt) / f"tiny-{mt}")
    return mt, load_engine(str(path), backend="transformers", threads=1)


def test_family_prompt_images_and_decoding(family_engine, tiny_bench):
    mt, eng = family_engine
    assert eng.is_vlm and families.model_type_of(eng.model) == mt
    assert eng.family is families.FAMILIES[mt]
    items = bench_items()  # single (1 image), binary (1 image), anomaly (2 images)
    reqs = [item_request(it, "cot", [tiny_bench]) for it in items]
    for it, req in zip(items, reqs, strict=True):
        text = eng.processor.apply_chat_template(
            req.messages, add_generation_prompt=True, tokenize=False
        )
        for marker in MARKERS[mt]:
            assert marker in text, (mt, marker, text)
        assert text.count(IMAGE_MARK[mt]) == len(it.images)
        assert prompts.user_prompt(it.question, it.options, "cot") in text
    cfg = GenConfig(max_new_tokens=10)
    batched = eng.generate_batch(reqs, cfg)
    alone = [eng.generate_batch([r], cfg)[0] for r in reqs]
    # left padding and nested images must not change what each prompt generates
    assert [b.text for b in batched] == [a.text for a in alone]
    for out in batched:
        assert out.finish_reason in ("stop", "length")
        assert 0 < out.completion_tokens <= 10
        assert "Which finding" not in out.text  # the prompt is never part of the output


def test_family_batch_mixing_image_and_text_only_requests(family_engine):
    """The server batches concurrent chat requests: one with an image, one text-only."""
    from inference_helpers import grey_image

    from cxreason.inference.predict import ChatRequest

    mt, eng = family_engine
    with_image = ChatRequest(prompts.chat_messages("Which findings?", None, 1), [grey_image(1)])
    text_only = ChatRequest([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}])
    cfg = GenConfig(max_new_tokens=4)
    both = eng.generate_batch([with_image, text_only], cfg)
    assert [o.text for o in both] == [
        eng.generate_batch([with_image], cfg)[0].text,
        eng.generate_batch([text_only], cfg)[0].text,
    ]


def test_family_predict_bench_parsed_rows(family_engine, tiny_bench, tmp_path):
    mt, eng = family_engine
    out = tmp_path / "pred.jsonl"
    s = predict_bench(eng, tiny_bench / "bench.jsonl", out, cfg=GenConfig(max_new_tokens=8))
    assert (s.total, s.generated, s.failed) == (3, 3, 0)
    rows = [r for _, r in iter_jsonl(out)]
    assert [r["id"] for r in rows] == ["it-0", "it-1", "it-2"]
    for r in rows:
        assert {"output", "think", "answer", "labels", "impression"} <= set(r)
        if r["output"].strip():
            assert r["impression"]["version"] == "impression-v1"
        else:  # a random tiny model may generate nothing: no reading, no impression
            assert r["impression"] is None
    assert progress_path(out).exists()


def test_stop_tokens_include_the_end_of_turn_token(family_engine):
    mt, eng = family_engine
    tok = eng.tokenizer
    for t in families.FAMILIES[mt].stop_tokens:
        tid = families._token_id(tok, t)
        if tid is not None:
            assert tid in eng.stop_ids
    assert eng.stop_ids, mt


def test_decode_reports_stop_on_a_family_stop_token(tmp_path_factory):
    """Gemma 3 ends a turn with <end_of_turn>, which is not its tokenizer's eos."""
    import torch

    path = families.build_tiny("gemma3", tmp_path_factory.mktemp("g") / "g")
    eng = load_engine(str(path), backend="transformers")
    eot = eng.tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert eot != eng.tokenizer.eos_token_id and eot in eng.stop_ids
    word = eng.tokenizer.encode("lung", add_special_tokens=False)[0]
    out = torch.tensor([[7, 7, word, eot], [7, 7, word, word]])
    res = eng._decode(eng.tokenizer, out, 2, torch.ones(2, 2), 2, eng.stop_ids)
    assert [r.finish_reason for r in res] == ["stop", "length"]
    assert res[0].text == eng.tokenizer.decode([word]) and res[0].completion_tokens == 2


def test_unknown_model_type_is_generic_with_a_warning(caplog):
    class Cfg:
        model_type = "some_new_vlm"

    with caplog.at_level("WARNING"):
        fam = families.family_of(Cfg())
    assert fam is families.GENERIC
    assert "some_new_vlm" in caplog.text and "not a tested family" in caplog.text


def test_build_tiny_refuses_unknown_family(tmp_path: Path):
    with pytest.raises(ValueError, match="no tiny model for 'nope'"):
        families.build_tiny("nope", tmp_path)
