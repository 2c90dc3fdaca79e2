"""The benchmark in the layouts other harnesses use, and their data in ours.

Export (``cxreason bench export``):

- ``vlmevalkit``: one TSV as VLMEvalKit reads it (``TSVDataset`` / ``ImageBaseDataset``):
  ``index`` (int, unique), ``image`` (base64 of the image file: PNG/JPEG as they are, DICOM
  rendered to PNG; a multi-image item holds a JSON list of base64 strings, which VLMEvalKit's
  ``toliststr`` parses), ``image_path`` (file name, or a JSON list),
  ``question``, option columns ``A``..``D`` (empty where an item has fewer options), ``answer``
  (option letter; the label list for anomaly items), ``category`` (task), ``split``, plus
  cxreason's own columns (``id``, ``study_id``, ``answer_labels``, ``report``, ``reasoning``,
  ``reasoning_steps``; JSON where a list) so an export imports back losslessly. With
  ``dedup_images`` a repeated image cell holds the ``index`` of the first row with the same
  images (VLMEvalKit's convention for shared images).
- ``hf``: a Hugging Face ``datasets`` folder (``DatasetDict.save_to_disk``, one split per
  benchmark split) with an ``images`` column of ``Sequence(Image())`` and the same fields;
  ``datasets.load_from_disk(DIR)`` reads it.

Import (``cxreason bench import``), each to ``DIR/bench.jsonl`` + ``DIR/manifest.json``:

- ``radrbench``: ChestX-Reasoner's RadRBench-CXR JSON (a list of objects with ``item_id``,
  ``image_path``, ``question`` = ``{question} Options:\\nA) ...``, ``answer`` letter or label list,
  optional ``original_report``, ``reason_steps`` / ``process``), as released in
  ``MAGIC-AI4Med/ChestX-Reasoner`` ``eval/`` (an evaluation file's extra fields, e.g. ``pred``,
  are ignored; a trailing reasoning instruction in ``question`` is stripped).
- ``nv-reason``: NV-Reason-CXR datalists (JSONL or a JSON list): ``datalists/grpo.jsonl``
  (``id``, ``image``, ``conversations``, ``solution`` = label list) and ``datalists/sft.jsonl``
  (``messages`` with the assistant's ``<think>`` chain), as anomaly items; the chain becomes the
  item's reasoning (one step per paragraph), so the import can be trained on.
- ``vlmevalkit`` and ``hf``: the two export formats (images are written under ``DIR/images``).

Rows that cannot become a valid item are dropped with their reason (counted and listed in the
manifest), never silently: e.g. a solution naming a label outside CheXpert-14 (NV-Reason-CXR's
reward drops those silently), an unknown task, a duplicate item. A malformed file or row is an
error naming the file and row.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxreason import prompts
from cxreason.records import (
    BENCH_TASKS,
    BenchItem,
    RecordError,
    bench_report,
    iter_jsonl,
    read_records,
    write_json,
    write_jsonl,
)
from cxreason.vocab import NO_FINDING, canonical_order

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("vlmevalkit", "hf")
IMAGE_FORMATS = ("keep", "png", "jpeg")
IMPORT_FORMATS = ("radrbench", "nv-reason", "vlmevalkit", "hf")
SPLITS = ("train", "validation", "test")
EXPORT_MANIFEST = "export_manifest.json"
IMPORT_FORMAT = "cxreason-bench-import-v1"
TSV_NAME = "bench.tsv"
#: cxreason's own TSV columns (after VLMEvalKit's), JSON-encoded where the value is a list.
EXTRA_COLUMNS = ("id", "study_id", "answer_labels", "report", "reasoning", "reasoning_steps")


class InteropError(ValueError):
    """An export/import that cannot be done (the message says why and what to do)."""


# ---------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class EncodedImage:
    name: str
    data: bytes


def encode_image(path: Path, fmt: str = "keep", max_side: int = 0) -> tuple[bytes, str]:
    """A benchmark image as (bytes, suffix).

    ``keep`` (default): a PNG or JPEG file passes through byte for byte after an integrity
    check (fast; nothing re-encoded); anything else (DICOM) is rendered and written as PNG.
    ``png``/``jpeg``: decoded (DICOM rendered, grey) and re-encoded (JPEG q95). ``max_side``
    downscales the longer side to that many pixels (re-encodes; 0 keeps the size).
    """
    from PIL import Image, UnidentifiedImageError

    from cxreason.inference.safety import MAX_IMAGE_BYTES, ImageLimits, load_safe_image

    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise InteropError(f"{path.name}: over the {MAX_IMAGE_BYTES}-byte image limit")
    data = path.read_bytes()
    kind = _image_suffix(data)
    if fmt == "keep" and not max_side and kind in (".png", ".jpg"):
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except (OSError, UnidentifiedImageError, SyntaxError) as e:
            raise InteropError(f"{path.name}: corrupt image ({e})") from None
        return data, kind
    img = load_safe_image(data, name=path.name, limits=ImageLimits(check_chest=False))
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=95)
        return buf.getvalue(), ".jpg"
    img.save(buf, format="PNG")
    return buf.getvalue(), ".png"


def _image_suffix(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[128:132] == b"DICM":
        return ".dcm"
    return ".img"


def _export_name(item_id: str, k: int, suffix: str) -> str:
    return f"{_slug(item_id)}_{k}{suffix}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "item"


def _write_image(images_dir: Path, data: bytes) -> str:
    """Write image bytes under ``images_dir``, named by content (an image shared by several
    items is stored once); returns the path relative to the bench folder."""
    images_dir.mkdir(parents=True, exist_ok=True)
    name = f"{hashlib.sha256(data).hexdigest()[:24]}{_image_suffix(data)}"
    if not (images_dir / name).exists():
        (images_dir / name).write_bytes(data)
    return f"{images_dir.name}/{name}"


# ---------------------------------------------------------------------------------------
# Output folders


def _prepare_out(out: Path, marker: str) -> None:
    """Refuse a non-empty ``out`` unless it holds this writer's own output (``marker``)."""
    if out.exists() and not out.is_dir():
        raise InteropError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise InteropError(
            f"{out}: folder is not empty and holds no {marker} (not an earlier output of this "
            "command); choose an empty or new folder"
        )
    out.mkdir(parents=True, exist_ok=True)


def bench_file(path: Path) -> Path:
    """``path`` itself, or ``path/bench.jsonl`` for a bench folder."""
    return path / "bench.jsonl" if path.is_dir() else path


# ---------------------------------------------------------------------------------------
# Export


@dataclass
class ExportRow:
    item: BenchItem
    images: list[EncodedImage]


def _resolve_images(
    items: Sequence[BenchItem], roots: Sequence[Path]
) -> tuple[dict[str, list[Path]], dict[str, list[str]]]:
    """Per item id: the resolved image files, and the image paths that do not exist."""
    from cxreason.inference.predict import resolve_image_path

    files, missing = {}, {}
    for it in items:
        paths = [resolve_image_path(p, roots) for p in it.images]
        files[it.id] = paths
        gone = [p for p, f in zip(it.images, paths, strict=True) if not f.is_file()]
        if gone:
            missing[it.id] = gone
    return files, missing


def export_bench(
    bench: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str,
    *,
    images: str | os.PathLike | None = None,
    split: str | None = None,
    on_missing: str = "error",
    dedup_images: bool = False,
    image_format: str = "keep",
    max_side: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Export a benchmark (``bench.jsonl`` or its folder) to ``out`` as ``fmt``; returns the
    export manifest (also written to ``out/export_manifest.json``).

    Image paths resolve as ``cxreason predict`` resolves them (``images`` first, then the
    bench folder). ``on_missing``: ``error`` (default) refuses when any image is missing and
    names them; ``skip`` leaves those items out and lists them in the manifest.
    """
    if fmt not in EXPORT_FORMATS:
        raise InteropError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if on_missing not in ("error", "skip"):
        raise InteropError(f"--on-missing must be error or skip, got {on_missing!r}")
    if image_format not in IMAGE_FORMATS:
        raise InteropError(
            f"--image-format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    src = bench_file(Path(bench))
    if not src.is_file():
        raise FileNotFoundError(2, "not found", str(src))
    items = read_records(src, BenchItem)
    if split:
        items = [it for it in items if it.split == split]
    if not items:
        raise InteropError(f"{src}: no items" + (f" in split {split!r}" if split else ""))
    roots = [Path(images)] if images else []
    roots.append(src.resolve().parent)
    files, missing = _resolve_images(items, roots)
    if missing and on_missing == "error":
        first = [f"{k}: {v[0]}" for k, v in list(missing.items())[:3]]
        raise InteropError(
            f"{len(missing)} of {len(items)} items reference missing images (e.g. "
            f"{'; '.join(first)}); pass --images DIR where they are, or --on-missing skip to "
            "export the others (the skipped items are listed in the export manifest)"
        )
    kept = [it for it in items if it.id not in missing]
    if not kept:
        raise InteropError(
            f"all {len(items)} items reference missing images: nothing to export (pass --images "
            "DIR where they are)"
        )
    out = Path(out)
    _prepare_out(out, EXPORT_MANIFEST)
    done = [0]

    def rows(subset: Sequence[BenchItem]) -> Iterator[ExportRow]:
        """Rows encoded one at a time (memory does not grow with the benchmark)."""
        for it in subset:
            enc = []
            for k, f in enumerate(files[it.id]):
                data, suffix = encode_image(f, image_format, max_side)
                enc.append(EncodedImage(_export_name(it.id, k, suffix), data))
            done[0] += 1
            if progress:
                progress(done[0], len(kept))
            yield ExportRow(it, enc)

    if fmt == "vlmevalkit":
        letters = _letters(kept)
        written = [
            write_vlmevalkit_tsv(rows(kept), out / TSV_NAME, letters, dedup_images=dedup_images)
        ]
    else:
        written = write_hf_dataset(kept, rows, out)
    manifest = {
        "format": fmt,
        "source": {"bench": src.name, "sha256": _sha256(src), "split": split},
        "counts": _counts(kept),
        "images": {
            "format": image_format,
            "max_side": max_side or None,
            "dedup": dedup_images if fmt == "vlmevalkit" else None,
        },
        "skipped_missing_images": [{"id": k, "missing": v} for k, v in sorted(missing.items())],
        "files": written,
    }
    write_json(out / EXPORT_MANIFEST, manifest)
    return manifest


def _sha256(path: Path) -> str | None:
    from cxreason.bench.build import file_sha256

    return file_sha256(path)


def _counts(items: Sequence[BenchItem]) -> dict[str, Any]:
    per_task = Counter(it.task for it in items)
    per_split = Counter(it.split for it in items)
    return {
        "total": len(items),
        "per_task": {t: per_task[t] for t in BENCH_TASKS if per_task[t]},
        "per_split": {s: per_split[s] for s in sorted(per_split, key=_split_key)},
    }


def _split_key(s: str) -> tuple[int, str]:
    return (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)


def _letters(items: Sequence[BenchItem]) -> list[str]:
    """Option columns: A-D always (VLMEvalKit's MCQ layout), more when an item has more."""
    seen = {k for it in items for k in (it.options or {})}
    return sorted(seen | {"A", "B", "C", "D"})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_vlmevalkit_tsv(
    rows: Iterable[ExportRow], path: Path, letters: Sequence[str], dedup_images: bool = False
) -> str:
    """Write the VLMEvalKit TSV (see the module docstring) row by row; returns its file name.

    ``letters``: the option columns (:func:`_letters` of the exported items).
    """
    from cxreason.records import atomic_writer

    header = ["index", "image", "image_path", "question", *letters, "answer", "category", "split"]
    header += list(EXTRA_COLUMNS)
    first_with: dict[bytes, int] = {}  # digest of an image cell -> first index holding it
    with atomic_writer(path) as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        for index, r in enumerate(rows):
            it = r.item
            cells = [_b64(im.data) for im in r.images]
            image = cells[0] if len(cells) == 1 else json.dumps(cells)
            names = [im.name for im in r.images]
            if dedup_images:
                key = hashlib.sha256(image.encode("ascii")).digest()
                if key in first_with:
                    image = str(first_with[key])
                else:
                    first_with[key] = index
            w.writerow(
                [
                    index,
                    image,
                    names[0] if len(names) == 1 else json.dumps(names),
                    it.question,
                    *[(it.options or {}).get(k, "") for k in letters],
                    it.answer,
                    it.task,
                    it.split,
                    it.id,
                    it.study_id,
                    json.dumps(it.answer_labels),
                    it.report,
                    it.reasoning,
                    json.dumps(it.reasoning_steps, ensure_ascii=False),
                ]
            )
    return path.name


def hf_features(letters: Sequence[str]):
    """The ``datasets.Features`` of an ``hf`` export."""
    from datasets import Features, Image, Sequence, Value

    cols: dict[str, Any] = {
        "id": Value("string"),
        "study_id": Value("string"),
        "task": Value("string"),
        "split": Value("string"),
        "question": Value("string"),
    }
    cols.update({k: Value("string") for k in letters})
    cols.update(
        {
            "answer": Value("string"),
            "answer_labels": Sequence(Value("string")),
            "images": Sequence(Image()),
            "report": Value("string"),
            "reasoning": Value("string"),
            "reasoning_steps": Sequence(Value("string")),
        }
    )
    return Features(cols)


def _hf_record(r: ExportRow, letters: Sequence[str]) -> dict[str, Any]:
    it = r.item
    return {
        "id": it.id,
        "study_id": it.study_id,
        "task": it.task,
        "split": it.split,
        "question": it.question,
        **{k: (it.options or {}).get(k) for k in letters},
        "answer": it.answer,
        "answer_labels": list(it.answer_labels),
        "images": [{"bytes": im.data, "path": im.name} for im in r.images],
        "report": it.report,
        "reasoning": it.reasoning,
        "reasoning_steps": list(it.reasoning_steps),
    }


def write_hf_dataset(
    items: Sequence[BenchItem],
    rows: Callable[[Sequence[BenchItem]], Iterator[ExportRow]],
    out: Path,
) -> list[str]:
    """``DatasetDict`` (one dataset per split) saved to ``out``; returns the split names.

    Each split is built with ``Dataset.from_generator`` from ``rows(items of the split)``,
    written to an Arrow cache under ``out`` as rows come (removed afterwards).
    """
    import shutil
    import tempfile

    from datasets import Dataset, DatasetDict

    letters = _letters(items)
    feats = hf_features(letters)
    splits = sorted({it.split for it in items}, key=_split_key)
    for stale in ("dataset_dict.json", *SPLITS, *splits):  # a previous export's splits
        p = out / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()
    with tempfile.TemporaryDirectory(dir=out, prefix=".hf-cache-") as cache:

        def gen(split: str):
            for r in rows([it for it in items if it.split == split]):
                yield _hf_record(r, letters)

        dd = DatasetDict(
            {
                s: Dataset.from_generator(
                    gen,
                    gen_kwargs={"split": s},
                    features=feats,
                    cache_dir=cache,
                    # a fresh cache each export: no need to hash (pickle) the generator
                    fingerprint=hashlib.sha256(f"{s}:{len(items)}".encode()).hexdigest()[:16],
                )
                for s in splits
            }
        )
        dd.save_to_disk(str(out))
    return list(dd)


# ---------------------------------------------------------------------------------------
# Import: shared


@dataclass
class Imported:
    """Items made from a foreign file, and the rows dropped with their reasons."""

    items: list[BenchItem] = field(default_factory=list)
    source_ids: dict[str, str] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0

    def add(self, item: BenchItem, source_id: str, row: int) -> None:
        if item.id in self.source_ids:
            self.drop(row, source_id, f"duplicate item: {item.id}", "duplicate item")
            return
        self.items.append(item)
        self.source_ids[item.id] = source_id

    def drop(self, row: int, source_id: str, reason: str, kind: str | None = None) -> None:
        self.dropped.append(
            {"row": row, "source_id": source_id, "reason": reason, "kind": kind or reason}
        )


class _Skip(Exception):
    """A row that cannot become a valid item: ``kind`` (counted in the manifest) and a
    row-specific ``detail``."""

    def __init__(self, kind: str, detail: str = ""):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}" if detail else kind)


def _hash_id(prefix: str, *parts: str) -> str:
    return f"{prefix}-{hashlib.sha256(chr(31).join(parts).encode()).hexdigest()[:16]}"


def exact_labels(text: str) -> tuple[list[str], list[str]]:
    """A gold label list: terms split on commas/semicolons, each an exact CheXpert-14 name (any
    case/spacing). Returns (labels in canonical order, terms that are not label names). No
    synonym mapping: a gold list naming ``nodule`` is not silently read as ``Lung Lesion``."""
    from cxreason.vocab import CHEXPERT_LABELS

    by_key = {lb.lower(): lb for lb in CHEXPERT_LABELS}
    labels, other = set(), []
    for term in re.split(r"[,;\n]", text or ""):
        key = " ".join(term.split()).lower().rstrip(".")
        if not key:
            continue
        if key in by_key:
            labels.add(by_key[key])
        else:
            other.append(term.strip())
    return canonical_order(labels), other


def _labels_of(text: str, *, strict: bool) -> list[str]:
    """CheXpert labels named in ``text``: an exact label list, or (not ``strict``) free text
    read by the labeler (present findings). ``strict``: a term that is not a CheXpert-14 name
    raises :class:`_Skip`."""
    labels, other = exact_labels(text)
    if not other:
        return labels
    if strict:
        raise _Skip("label outside CheXpert-14", ", ".join(repr(t) for t in other))
    from cxreason.labeling import aggregate_labels, extract_mentions

    found = aggregate_labels(extract_mentions(text))
    return canonical_order(lb for lb, st in found.items() if st == "present" and lb != NO_FINDING)


def _anomaly_answer(text: str) -> tuple[str, list[str]]:
    """Canonical anomaly answer and labels from a label list (``No Finding`` must stand alone)."""
    labels = _labels_of(text, strict=True)
    if not labels:
        raise _Skip("empty label list")
    if NO_FINDING in labels and len(labels) > 1:
        raise _Skip("'No Finding' listed together with findings")
    return ", ".join(labels), labels


def infer_task(question: str, options: dict[str, str] | None) -> str | None:
    """The benchmark task a question asks (RadRBench-CXR / cxreason templates), else None."""
    q = " ".join(question.lower().split())
    if "progression of" in q:
        return "temporal"
    if q.startswith("does this chest x-ray show"):
        return "binary"
    if q.startswith("which finding is"):
        return "single"
    if q.startswith("which findings are"):
        return "multiple" if options else "anomaly"
    if options and {v.strip().lower() for v in options.values()} == {"yes", "no"}:
        return "binary"
    return None


def _asked_label(question: str) -> str | None:
    """The finding a binary or temporal question names (``{finding}`` of the templates)."""
    from cxreason.labeling.ontology import normalize_label_name

    templates = (prompts.BINARY_TEMPLATE, prompts.TEMPORAL_TEMPLATE)
    for template in (*templates, prompts.PAPER_TEMPORAL_TEMPLATE):
        head, _, tail = template.partition("{finding}")
        m = re.fullmatch(
            re.escape(head) + r"(.+?)" + re.escape(tail), " ".join(question.split()), re.I
        )
        if m:
            return normalize_label_name(m.group(1))
    return None


def closed_answer_labels(task: str, question: str, answer_text: str) -> list[str]:
    """``answer_labels`` of a closed item from the text of its correct option."""
    low = answer_text.strip().lower()
    if task == "binary":
        asked = _asked_label(question)
        if asked is None:
            raise _Skip("binary question names no CheXpert label")
        return [asked] if low == "yes" else []
    if task == "temporal":
        asked = _asked_label(question)
        if asked is None:
            raise _Skip("temporal question names no CheXpert label")
        return [asked] if low in ("worsening", "stable") else []
    return _labels_of(answer_text, strict=False)


def make_item(
    *,
    item_id: str,
    study_id: str,
    question: str,
    options: dict[str, str] | None,
    answer: str,
    images: list[str],
    report: str = "",
    steps: Sequence[str] = (),
    split: str = "test",
    task: str | None = None,
    answer_labels: list[str] | None = None,
) -> BenchItem:
    """A validated BenchItem from foreign fields (raises :class:`_Skip` with the reason)."""
    task = task or infer_task(question, options)
    if task not in BENCH_TASKS:
        raise _Skip("unknown task (pass --task)", repr(question[:60]))
    if not images:
        raise _Skip("no image")
    if task == "anomaly":
        if options:
            raise _Skip("anomaly item with options")
        answer, labels = _anomaly_answer(answer)
        answer_labels = labels if answer_labels is None else answer_labels
    else:
        if not options or len(options) < 2:
            raise _Skip("closed item with fewer than two options", task)
        letter = _answer_letter(answer, options)
        answer = letter
        if answer_labels is None:
            answer_labels = closed_answer_labels(task, question, options[letter])
    steps = [s.strip() for s in steps if s and s.strip()]
    return BenchItem(
        id=item_id,
        study_id=study_id,
        task=task,
        question=question,
        options=options if task != "anomaly" else None,
        answer=answer,
        answer_labels=list(answer_labels),
        images=list(images),
        report=report,
        reasoning=" ".join(steps),
        reasoning_steps=steps,
        split=split,
    )


def _answer_letter(answer: str, options: dict[str, str]) -> str:
    from cxreason.metrics.outcome import match_option

    raw = re.sub(r"</?answer>", "", answer or "", flags=re.I).strip()
    letter = match_option(raw, options)
    if letter is None:
        raise _Skip("answer names no single option", repr(answer))
    return letter


def _study_id(source_id: str) -> str:
    """The study part of a RadRBench ``item_id`` (``[mimic-cxr] [51947296]MIMIC-CXR`` ->
    ``51947296``), else the id itself."""
    groups = re.findall(r"\[([^\[\]]+)\]", source_id)
    return groups[-1].strip() if groups else source_id


def _report(text: str) -> str:
    """``Findings: ... Impression: ...`` (any case) as :func:`records.bench_report`."""
    if not text or not text.strip():
        return ""
    m = re.match(r"\s*findings?\s*:\s*(.*?)\s*impressions?\s*:\s*(.*)$", text, re.I | re.S)
    if m:
        return bench_report(" ".join(m.group(1).split()), " ".join(m.group(2).split()))
    return " ".join(text.split())


def _chain_steps(value: Any) -> list[str]:
    """Reasoning steps from a list, a ``{"reason_steps": [...]}`` dict, or a text (sentences)."""
    if isinstance(value, dict):
        value = value.get("reason_steps") or value.get("refined_steps") or []
    if isinstance(value, list):
        return [str(s) for s in value if isinstance(s, str | int | float)]
    if isinstance(value, str) and value.strip():
        text = re.sub(r"</?think>", "", value).strip()
        from cxreason.labeling import split_sentences

        return [text[s:e] for s, e in split_sentences(text)]
    return []


def split_options(text: str) -> tuple[str, dict[str, str] | None]:
    """``{question} Options:\\nA) x\\nB) y`` -> (question, {"A": "x", "B": "y"}); a trailing
    reasoning instruction (ChestX-Reasoner's) is removed first."""
    text = text.replace(prompts.CHESTX_REASONER_COT, "").strip()
    head, sep, tail = text.partition("Options:")
    if not sep:
        return head.strip(), None
    options: dict[str, str] = {}
    for line in tail.strip().splitlines():
        if not line.strip():
            continue
        m = re.match(r"^\s*\(?([A-Z])\s*[\).:]\s*(.+?)\s*$", line)
        if not m:
            raise _Skip("unreadable option line", repr(line.strip()[:60]))
        options[m.group(1)] = m.group(2)
    return head.strip(), options or None


# ---------------------------------------------------------------------------------------
# Import: RadRBench-CXR (ChestX-Reasoner)


def _load_json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a JSON list (row = 1-based position) or of a JSONL file (row = line)."""
    text_start = path.read_text("utf-8", errors="strict")[:64].lstrip()
    if text_start.startswith("["):
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as e:
            raise RecordError(path, e.lineno, f"invalid JSON: {e.msg}", e.colno) from None
        if not isinstance(data, list):
            raise RecordError(path, 1, "expected a JSON list of items")
        yield from enumerate(data, 1)
    else:
        yield from iter_jsonl(path)


def _strip(path: str, prefix: str | None) -> str:
    if prefix and path.startswith(prefix):
        return path[len(prefix) :].lstrip("/")
    return path


def import_radrbench(
    path: Path, *, split: str = "test", strip_prefix: str | None = None, task: str | None = None
) -> Imported:
    """RadRBench-CXR JSON items (see the module docstring) as BenchItems."""
    res = Imported()
    for row, obj in _load_json_rows(path):
        res.rows += 1
        if not isinstance(obj, dict):
            raise RecordError(path, row, "expected a JSON object per item")
        source_id = str(obj.get("item_id") or f"row {row}")
        try:
            q_full = obj.get("question")
            if not isinstance(q_full, str) or not q_full.strip():
                raise _Skip("no question")
            question, options = split_options(q_full)
            imgs = obj.get("image_path") or obj.get("images") or []
            imgs = [imgs] if isinstance(imgs, str) else list(imgs)
            imgs = [_strip(str(p), strip_prefix) for p in imgs]
            answer = obj.get("answer")
            if not isinstance(answer, str) or not answer.strip():
                raise _Skip("no answer")
            steps = _chain_steps(obj.get("reason_steps")) or _chain_steps(obj.get("process"))
            item = make_item(
                item_id=_hash_id("rr", source_id, q_full, *imgs),
                study_id=_study_id(source_id),
                question=question,
                options=options,
                answer=answer,
                images=imgs,
                report=_report(str(obj.get("original_report") or "")),
                steps=steps,
                split=split,
                task=task,
            )
        except _Skip as e:
            res.drop(row, source_id, str(e), e.kind)
            continue
        res.add(item, source_id, row)
    return res


# ---------------------------------------------------------------------------------------
# Import: NV-Reason-CXR datalists


def _nv_parts(obj: dict[str, Any]) -> tuple[str | None, str]:
    """(image path, assistant text) of a datalist row (SFT ``messages`` or GRPO layout)."""
    image, reply = None, ""
    for msg in obj.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for p in parts:
            if not isinstance(p, dict):
                continue
            if msg.get("role") == "user" and p.get("type") == "image" and p.get("image"):
                image = image or str(p["image"])
            elif msg.get("role") == "assistant" and p.get("type") == "text":
                reply += str(p.get("text") or "")
    return image or (str(obj["image"]) if obj.get("image") else None), reply


def _paragraph_steps(think: str) -> list[str]:
    """NV-Reason-CXR chains are paragraphs, one per region reviewed: one step each."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", think) if p.strip()]


def import_nv_reason(
    path: Path, *, split: str = "test", strip_prefix: str | None = None
) -> Imported:
    """NV-Reason-CXR datalist rows as anomaly BenchItems (question: the anomaly question; the
    ``nv-reason-cxr`` prompt profile asks the model's own instruction)."""
    from cxreason.metrics.radrscore import extract_think

    res = Imported()
    for row, obj in _load_json_rows(path):
        res.rows += 1
        if not isinstance(obj, dict):
            raise RecordError(path, row, "expected a JSON object per datalist row")
        source_id = str(obj.get("id") or f"row {row}")
        try:
            solution = obj.get("solution")
            if not isinstance(solution, str):
                raise _Skip("no 'solution' label list")
            image, reply = _nv_parts(obj)
            if not image:
                raise _Skip("no image")
            think = extract_think(reply) or ""
            item = make_item(
                item_id=_hash_id("nv", source_id, image),
                study_id=str(obj.get("study_id") or source_id),
                question=prompts.ANOMALY_QUESTION,
                options=None,
                answer=solution,
                images=[_strip(image, strip_prefix)],
                steps=_paragraph_steps(think),
                split=split,
                task="anomaly",
            )
        except _Skip as e:
            res.drop(row, source_id, str(e), e.kind)
            continue
        res.add(item, source_id, row)
    return res


# ---------------------------------------------------------------------------------------
# Import: our own exports (VLMEvalKit TSV, HF datasets folder)


def _json_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        got = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return [str(value)]
    return [str(v) for v in got] if isinstance(got, list) else [str(got)]


def _cell_list(value: str) -> list[str]:
    """A VLMEvalKit cell holding one string or a list (JSON or Python-literal) of strings."""
    v = (value or "").strip()
    if v.startswith("[") and v.endswith("]"):
        try:
            return [str(x) for x in json.loads(v)]
        except json.JSONDecodeError:
            import ast

            return [str(x) for x in ast.literal_eval(v)]
    return [v] if v else []


def import_vlmevalkit(
    path: Path, out: Path, *, split: str | None = None, task: str | None = None
) -> Imported:
    """A VLMEvalKit MCQ/VQA TSV (base64 images are written to ``out/images``)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    res = Imported()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        need = {"index", "question", "answer"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise RecordError(path, 1, f"TSV header needs columns {sorted(need)} (+ image)")
        if "image" not in reader.fieldnames and "image_path" not in reader.fieldnames:
            raise RecordError(path, 1, "TSV header needs an image or image_path column")
        rows = list(reader)
    images_by_index = {r["index"]: r.get("image") or "" for r in rows}
    letters = [c for c in (reader.fieldnames or []) if re.fullmatch(r"[A-Z]", c)]
    for n, r in enumerate(rows, 2):  # line 1 is the header
        res.rows += 1
        source_id = str(r.get("index"))
        try:
            cell = r.get("image") or ""
            if cell and len(cell) <= 64:  # VLMEvalKit: the index of a row holding the image
                if cell not in images_by_index:
                    raise _Skip("image cell refers to an index not in the file", repr(cell))
                cell = images_by_index[cell]
            encoded = _cell_list(cell)
            if not encoded:
                raise _Skip("no image data (image_path-only rows are not supported)")
            options = {k: r[k] for k in letters if (r.get(k) or "").strip()} or None
            item_id = (r.get("id") or "").strip() or _hash_id("vl", source_id, r["question"])
            paths = []
            for k, b in enumerate(encoded):
                try:
                    data = base64.b64decode(b, validate=True)
                except ValueError:
                    raise _Skip("image is not valid base64", f"image {k}") from None
                paths.append(_write_image(out / "images", data))
            category = (r.get("category") or "").strip()
            item = make_item(
                item_id=item_id,
                study_id=(r.get("study_id") or "").strip() or item_id,
                question=r["question"],
                options=options,
                answer=r["answer"],
                images=paths,
                report=r.get("report") or "",
                steps=_json_list(r.get("reasoning_steps")),
                split=split or (r.get("split") or "").strip() or "test",
                task=task or (category if category in BENCH_TASKS else None),
                answer_labels=_json_list(r["answer_labels"]) if r.get("answer_labels") else None,
            )
        except _Skip as e:
            res.drop(n, source_id, str(e), e.kind)
            continue
        res.add(item, source_id, n)
    return res


def import_hf(path: Path, out: Path, *, split: str | None = None) -> Imported:
    """A ``datasets`` folder written by ``--format hf`` (``load_from_disk``)."""
    from datasets import DatasetDict, Image, Sequence, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise InteropError(f"{path}: not a Hugging Face datasets folder ({e})") from None
    parts = ds.items() if isinstance(ds, DatasetDict) else [(split or "test", ds)]
    res = Imported()
    for split_name, d in parts:
        if "images" in d.column_names:
            d = d.cast_column("images", Sequence(Image(decode=False)))
        letters = [c for c in d.column_names if re.fullmatch(r"[A-Z]", c)]
        for n, r in enumerate(d, 1):
            res.rows += 1
            source_id = str(r.get("id") or f"{split_name}:{n}")
            try:
                item_id = str(r.get("id") or _hash_id("hf", split_name, str(n)))
                paths = [
                    _write_image(out / "images", im["bytes"])
                    for im in r.get("images") or []
                    if im and im.get("bytes")
                ]
                options = {k: r[k] for k in letters if r.get(k)} or None
                item = make_item(
                    item_id=item_id,
                    study_id=str(r.get("study_id") or item_id),
                    question=str(r["question"]),
                    options=options,
                    answer=str(r["answer"]),
                    images=paths,
                    report=str(r.get("report") or ""),
                    steps=list(r.get("reasoning_steps") or []),
                    split=split or str(r.get("split") or split_name),
                    task=r.get("task") if r.get("task") in BENCH_TASKS else None,
                    answer_labels=list(r["answer_labels"]) if "answer_labels" in r else None,
                )
            except _Skip as e:
                res.drop(n, source_id, str(e), e.kind)
                continue
            res.add(item, source_id, n)
    return res


def import_bench(
    src: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str,
    *,
    split: str | None = None,
    strip_prefix: str | None = None,
    images: str | os.PathLike | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """Import ``src`` (format ``fmt``) into ``out/bench.jsonl`` + ``out/manifest.json``;
    returns the manifest (counts, dropped rows and why, the leakage audit, image check)."""
    from cxreason.bench.audit import audit_items
    from cxreason.bench.manifest import BENCH_FORMAT

    if fmt not in IMPORT_FORMATS:
        raise InteropError(f"--format must be one of {', '.join(IMPORT_FORMATS)}, got {fmt!r}")
    if split is not None and split not in SPLITS:
        raise InteropError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if task is not None and task not in BENCH_TASKS:
        raise InteropError(f"--task must be one of {', '.join(BENCH_TASKS)}, got {task!r}")
    src, out = Path(src), Path(out)
    if not src.exists():
        raise FileNotFoundError(2, "not found", str(src))
    if fmt in ("radrbench", "nv-reason", "vlmevalkit") and not src.is_file():
        raise InteropError(f"{src}: --format {fmt} reads a file, not a folder")
    _prepare_out(out, "manifest.json")
    if (out / "manifest.json").exists():
        old = json.loads((out / "manifest.json").read_text("utf-8"))
        if old.get("import", {}).get("format") != IMPORT_FORMAT:
            raise InteropError(f"{out}: holds a benchmark that was not imported; use a new folder")
    if fmt == "radrbench":
        res = import_radrbench(src, split=split or "test", strip_prefix=strip_prefix, task=task)
    elif fmt == "nv-reason":
        res = import_nv_reason(src, split=split or "test", strip_prefix=strip_prefix)
    elif fmt == "vlmevalkit":
        res = import_vlmevalkit(src, out, split=split, task=task)
    else:
        res = import_hf(src, out, split=split)
    if not res.items:
        reasons = Counter(d["kind"] for d in res.dropped).most_common(3)
        raise InteropError(
            f"{src}: no item could be imported from {res.rows} rows"
            + (f" (most common reasons: {reasons})" if reasons else "")
        )
    roots = [Path(images)] if images else [out]
    _, missing = _resolve_images(res.items, roots)
    write_jsonl(out / "bench.jsonl", res.items)
    manifest = {
        "format": BENCH_FORMAT,
        "import": {
            "format": IMPORT_FORMAT,
            "from": fmt,
            "input": src.name,
            "sha256": _sha256(src) if src.is_file() else None,
            "rows": res.rows,
            "split": split,
            "strip_prefix": strip_prefix,
            "task": task,
        },
        "prompts_version": prompts.PROMPTS_VERSION,
        "counts": _counts(res.items),
        "dropped": {
            "total": len(res.dropped),
            "by_reason": dict(Counter(d["kind"] for d in res.dropped)),
            "rows": res.dropped,
        },
        "images": {
            "checked": images is not None or fmt in ("vlmevalkit", "hf"),
            "total": sum(len(it.images) for it in res.items),
            "missing": sum(len(v) for v in missing.values()),
            "missing_list": sorted({p for v in missing.values() for p in v})[:1000],
        },
        "source_ids": res.source_ids,
        "audit": audit_items(res.items),
    }
    write_json(out / "manifest.json", manifest)
    return manifest
