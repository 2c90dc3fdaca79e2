"""Tiny random models of each registered VLM family, built offline from a config.

Each builder writes an HF folder (``config.json``, weights, processor, tokenizer, chat
template) loadable with ``AutoModelForImageTextToText`` / ``AutoProcessor``. They exist to test
that cxreason prompts, images and decoding work through each family's **own** processor class,
image processor (the PIL backend: torchvision has no build for the pinned CPU torch) and chat
template, on a CPU in seconds. Weights are random: outputs are gibberish, never accuracy.

Tokenizers: the real vocabularies cannot be downloaded here, so every tiny model uses the
truncated offline Qwen2 BPE of :func:`cxreason.train.model.build_tokenizer` (4,096 ranks) plus
the family's own special tokens (image placeholders, turn markers, end-of-turn) and chat
template. The templates below reproduce the rendering of the released checkpoints' templates
(the ``chat_template`` of the hub repositories named beside each); prompts therefore render as
for the real models, with a stand-in vocabulary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

VOCAB_SIZE = 4096

#: Idefics3 / SmolVLM (HuggingFaceTB/SmolVLM-Instruct, chat_template.json): ``User:<image>text``.
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

#: LLaVA-NeXT with a Mistral LM (llava-hf/llava-v1.6-mistral-7b-hf, chat_template.json): images
#: first, ``[INST] ... [/INST]``; a system turn becomes a ``<<SYS>>`` block.
LLAVA_NEXT_MISTRAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ part['text'] }}{% endfor %}{{ ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '</s> ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

#: Gemma 3 / MedGemma (google/gemma-3-4b-it, google/medgemma-4b-it, tokenizer_config.json): a
#: system turn is folded into the first user turn; ``<start_of_image>`` marks each image.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def _tokenizer(
    specials: list[str],
    *,
    eos: str,
    bos: str | None = None,
    named: dict[str, str] | None = None,
):
    """The offline Qwen2 BPE stand-in with a family's special tokens (``named``: e.g. Gemma's
    ``boi_token``, saved in tokenizer_config.json so AutoProcessor restores them)."""
    from cxreason.train.model import build_tokenizer

    tok = build_tokenizer(VOCAB_SIZE)
    tok.add_special_tokens({"additional_special_tokens": specials})
    if named:
        tok._set_model_specific_special_tokens(named)
    tok.eos_token = eos
    if bos:
        tok.bos_token = bos
    return tok


def _ids(tok, *tokens: str) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _save(model_config: Any, processor: Any, out: Path, seed: int, stop: list[int]) -> Path:
    """Random-init the model from ``model_config`` (seeded) and save model + processor."""
    import torch
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(model_config)
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    logger.info("tiny %s: %.2fM parameters -> %s", model_config.model_type, n / 1e6, out)
    return out


def _text_config(tok, model_type: str, **kw) -> dict[str, Any]:
    return dict(
        model_type=model_type,
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **kw,
    )


def _vision_config(**overrides) -> dict:
    """The tiny vision tower every family shares (32-wide, 1 layer, 32 px images in 8 px
    patches), with the family's own keys (``model_type``, extra heads) on top."""
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
        **overrides,
    }


def build_qwen2_vl(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2-VL (the toolkit's own tiny builder, smaller: 56-px images, 4 tokens each)."""
    from cxreason.train.model import init_tiny

    return init_tiny(
        out, seed, arch="qwen2_vl", vocab_size=VOCAB_SIZE, hidden=64, vision_depth=1, image_size=56
    )


def build_qwen2_5_vl(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2.5-VL (as :func:`build_qwen2_vl`)."""
    from cxreason.train.model import init_tiny

    return init_tiny(
        out,
        seed,
        arch="qwen2_5_vl",
        vocab_size=VOCAB_SIZE,
        hidden=64,
        vision_depth=1,
        image_size=56,
    )


def build_idefics3(out: Path, seed: int = 0) -> Path:
    """Tiny Idefics3 (SmolVLM v1 architecture): SigLIP-style tower, pixel shuffle, Llama LM.

    Images are split into 32-px tiles plus a global view, as SmolVLM does (``<row_i_col_j>``).
    """
    from transformers import Idefics3Config, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    grid = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tok = _tokenizer(
        ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *grid],
        eos="<end_of_utterance>",
    )
    ip = Idefics3ImageProcessorPil(
        do_image_splitting=True, size={"longest_edge": 64}, max_image_size={"longest_edge": 32}
    )
    # image_seq_len = (image_size / patch_size)^2 / scale_factor^2 = (32/8)^2 / 4
    proc = Idefics3Processor(ip, tok, image_seq_len=4, chat_template=IDEFICS3_TEMPLATE)
    cfg = Idefics3Config(
        vision_config=_vision_config(),
        text_config=_text_config(tok, "llama"),
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
    )
    return _save(cfg, proc, out, seed, _ids(tok, "<end_of_utterance>"))


def build_llava_next(out: Path, seed: int = 0) -> Path:
    """Tiny LLaVA-NeXT (CLIP tower, anyres grid of 32-px crops, Mistral LM)."""
    from transformers import LlavaNextConfig, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    tok = _tokenizer(["<image>", "<s>", "</s>"], eos="</s>", bos="<s>")
    pins = [[32, 64], [64, 32], [64, 64]]
    ip = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=pins
    )
    proc = LlavaNextProcessor(
        ip,
        tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        chat_template=LLAVA_NEXT_MISTRAL_TEMPLATE,
    )
    cfg = LlavaNextConfig(
        vision_config=_vision_config(
            model_type="clip_vision_model", num_hidden_layers=2, projection_dim=32
        ),
        text_config=_text_config(tok, "mistral"),
        image_grid_pinpoints=pins,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=False,
    )
    return _save(cfg, proc, out, seed, _ids(tok, "</s>"))


def build_gemma3(out: Path, seed: int = 0) -> Path:
    """Tiny Gemma 3 (MedGemma architecture): SigLIP tower, 4 soft tokens per image, Gemma 3 LM."""
    from transformers import Gemma3Config, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    image_tokens = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tok = _tokenizer(
        ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", *image_tokens],
        eos="<eos>",
        bos="<bos>",
        named={
            "boi_token": image_tokens[0],
            "eoi_token": image_tokens[1],
            "image_token": image_tokens[2],
        },
    )
    ip = Gemma3ImageProcessorPil(
        size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    proc = Gemma3Processor(ip, tok, chat_template=GEMMA3_TEMPLATE, image_seq_length=4)
    boi, eoi, soft = _ids(tok, *image_tokens)
    stop = _ids(tok, "<eos>", "<end_of_turn>")
    cfg = Gemma3Config(
        vision_config=_vision_config(model_type="siglip_vision_model", vision_use_head=False),
        text_config={
            **_text_config(tok, "gemma3_text", sliding_window=64),
            "eos_token_id": stop,
        },
        mm_tokens_per_image=4,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=soft,
    )
    return _save(cfg, proc, out, seed, stop)


BUILDERS = {
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "idefics3": build_idefics3,
    "llava_next": build_llava_next,
    "gemma3": build_gemma3,
}
