"""Other harnesses' formats: RadRBench-CXR and NV-Reason-CXR imports (small fixtures written in
their released layouts), VLMEvalKit TSV and Hugging Face exports, round trips both ways."""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from cxreason import prompts
from cxreason.bench import cli
from cxreason.bench.interop import (
    InteropError,
    export_bench,
    import_bench,
    split_options,
)
from cxreason.bench.manifest import BENCH_FORMAT
from cxreason.records import BenchItem, RecordError, read_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import grey_image  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "interop"
PREFIX = "/mnt/lustre/radr/"


def _draw_images(items: list[BenchItem], root: Path) -> None:
    """Synthetic grey PNGs at every image path of ``items`` (not medical images)."""
    for n, it in enumerate(items):
        for k, p in enumerate(it.images):
            f = root / p
            if not f.exists():
                f.parent.mkdir(parents=True, exist_ok=True)
                grey_image(10 * n + k).save(f)


@pytest.fixture()
def radr(tmp_path) -> tuple[Path, list[BenchItem], dict]:
    out = tmp_path / "radr"
    m = import_bench(FIX / "radrbench_sample.json", out, "radrbench", strip_prefix=PREFIX)
    items = read_records(out / "bench.jsonl", BenchItem)
    _draw_images(items, tmp_path / "images")
    return out, items, m


def _by_task(items):
    out: dict[str, list[BenchItem]] = {}
    for it in items:
        out.setdefault(it.task, []).append(it)
    return out


def test_radrbench_import(radr):
    out, items, m = radr
    t = _by_task(items)
    assert m["counts"]["per_task"] == {
        "binary": 1,
        "single": 2,
        "multiple": 1,
        "anomaly": 1,
        "temporal": 1,
    }
    assert m["import"]["rows"] == 9 and m["dropped"]["total"] == 3
    assert m["dropped"]["by_reason"] == {
        "label outside CheXpert-14": 1,
        "unknown task (pass --task)": 1,
        "answer names no single option": 1,
    }
    assert {d["row"] for d in m["dropped"]["rows"]} == {7, 8, 9}
    single = t["single"][0]
    assert single.options == {
        "A": "support devices",
        "B": "pleural effusion",
        "C": "atelectasis",
        "D": "pneumothorax",
    }
    assert (single.answer, single.answer_labels, single.study_id) == (
        "B",
        ["Pleural Effusion"],
        "50000001",
    )
    assert single.images[0] == "MIMIC-CXR-JPG/files/p10/p10000001/s50000001/aa01.png"
    assert single.report.startswith("FINDINGS: Small right pleural effusion.")
    assert len(single.reasoning_steps) == 3
    # an evaluation file's row: instruction stripped from the question, answer inside tags
    binary = t["binary"][0]
    assert binary.question == "Does this chest X-ray show pneumothorax?"
    assert (binary.answer, binary.answer_labels) == ("B", [])
    anomaly = t["anomaly"][0]
    assert anomaly.answer == "Cardiomegaly, Atelectasis, Pleural Effusion"
    assert t["temporal"][0].answer_labels == ["Edema"]
    free = [it for it in t["single"] if it.study_id == "540"][0]  # Open-I free-text options
    assert free.answer_labels == ["Lung Opacity"]
    assert free.report.startswith("FINDINGS: The heart size") and "IMPRESSION: Mild" in free.report
    assert free.reasoning_steps[0].startswith("Mild streaky opacities")
    assert m["source_ids"][single.id] == "[mimic-cxr] [50000001]MIMIC-CXR"
    assert "audit" in m and m["format"] == BENCH_FORMAT


def test_radrbench_import_is_deterministic(radr, tmp_path):
    out, _, _ = radr
    again = tmp_path / "again"
    import_bench(FIX / "radrbench_sample.json", again, "radrbench", strip_prefix=PREFIX)
    assert (again / "bench.jsonl").read_bytes() == (out / "bench.jsonl").read_bytes()
    assert (again / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_chestx_reasoner_profile_reproduces_the_released_question(radr):
    """Imported RadRBench items, prompted with the chestx-reasoner profile, read exactly as the
    authors' released evaluation questions."""
    _, items, _ = radr
    raw = json.loads((FIX / "radrbench_sample.json").read_text())
    binary = [it for it in items if it.task == "binary"][0]
    assert (
        prompts.profile_text(binary.question, binary.options, "cot", "chestx-reasoner")
        == (raw[1]["question"])
    )
    temporal = [it for it in items if it.task == "temporal"][0]
    text = prompts.profile_text(temporal.question, temporal.options, "direct", "chestx-reasoner")
    assert text == raw[4]["question"]


def test_split_options():
    q, o = split_options("Which finding is in this chest X-ray? Options:\nA) edema\n(B) fracture")
    assert (q, o) == ("Which finding is in this chest X-ray?", {"A": "edema", "B": "fracture"})
    assert split_options("Which findings are in this chest X-ray?")[1] is None


def test_nv_reason_datalists(tmp_path):
    m = import_bench(FIX / "nv_grpo_sample.jsonl", tmp_path / "g", "nv-reason", split="train")
    items = read_records(tmp_path / "g" / "bench.jsonl", BenchItem)
    assert [it.answer for it in items] == [
        "Enlarged Cardiomediastinum, Cardiomegaly, Lung Opacity, Support Devices",
        "No Finding",
    ]
    assert {it.task for it in items} == {"anomaly"} and {it.split for it in items} == {"train"}
    assert items[1].answer_labels == ["No Finding"]
    assert items[0].images == ["images/CheXpert/test/patient64741/study1/view1_frontal.jpg"]
    reasons = {d["source_id"].split("/")[1]: d["reason"] for d in m["dropped"]["rows"]}
    # NV-Reason-CXR's reward silently drops a label outside its list; the import says so
    assert reasons == {
        "patient64790": "label outside CheXpert-14: 'Nodule'",
        "patient64791": "'No Finding' listed together with findings",
    }
    sft = tmp_path / "s"
    import_bench(FIX / "nv_sft_sample.jsonl", sft, "nv-reason", split="train", strip_prefix="")
    chain = read_records(sft / "bench.jsonl", BenchItem)
    assert chain[0].study_id == "50414267"
    assert chain[0].images == ["mimic-cxr-jpg/images_512/02aa804e-bde0afdd.jpg"]
    assert len(chain[0].reasoning_steps) == 4  # one step per paragraph of the <think> chain
    assert chain[0].reasoning_steps[2].startswith("Looking at the left lower lobe")
    assert chain[1].answer == "No Finding"


def _read_tsv(path: Path) -> list[dict]:
    csv.field_size_limit(2**31 - 1)
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_vlmevalkit_export_layout_and_round_trip(radr, tmp_path):
    bench, items, _ = radr
    out = tmp_path / "vl"
    m = export_bench(bench, out, "vlmevalkit", images=tmp_path / "images")
    assert m["counts"]["total"] == len(items) and m["files"] == ["bench.tsv"]
    rows = _read_tsv(out / "bench.tsv")
    assert list(rows[0])[:11] == [
        "index",
        "image",
        "image_path",
        "question",
        "A",
        "B",
        "C",
        "D",
        "answer",
        "category",
        "split",
    ]
    assert [int(r["index"]) for r in rows] == list(range(len(items)))
    for r, it in zip(rows, items, strict=True):
        assert r["category"] == it.task and r["answer"] == it.answer
        assert r["question"] == it.question
        # VLMEvalKit's toliststr: a "[...]" cell is a list of base64 strings
        cells = ast.literal_eval(r["image"]) if r["image"].startswith("[") else [r["image"]]
        assert len(cells) == len(it.images)
        src = Image.open(tmp_path / "images" / it.images[0])
        assert _png(cells[0]).size == src.size
    binary = rows[[it.task for it in items].index("binary")]
    assert (binary["A"], binary["B"], binary["C"], binary["D"]) == ("Yes", "No", "", "")
    back = tmp_path / "back"
    import_bench(out / "bench.tsv", back, "vlmevalkit")
    again = read_records(back / "bench.jsonl", BenchItem)
    _same_items(items, again, tmp_path / "images", back)


def _same_items(before, after, before_root: Path, after_root: Path) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        da, db = a.__dict__.copy(), b.__dict__.copy()
        ia, ib = da.pop("images"), db.pop("images")
        assert da == db
        assert len(ia) == len(ib)
        for pa, pb in zip(ia, ib, strict=True):
            xa = Image.open(before_root / pa).convert("L")
            xb = Image.open(after_root / pb).convert("L")
            assert list(xa.getdata()) == list(xb.getdata())


def test_vlmevalkit_dedup_images(radr, tmp_path):
    bench, items, _ = radr
    out = tmp_path / "vl"
    export_bench(bench, out, "vlmevalkit", images=tmp_path / "images", dedup_images=True)
    rows = _read_tsv(out / "bench.tsv")
    refs = [r for r in rows if len(r["image"]) <= 64]
    assert refs, "items of the same study share images: later rows refer to the first"
    for r in refs:
        first = rows[int(r["image"])]
        assert len(first["image"]) > 64
    back = tmp_path / "back"
    import_bench(out / "bench.tsv", back, "vlmevalkit")
    _same_items(items, read_records(back / "bench.jsonl", BenchItem), tmp_path / "images", back)


def test_hf_export_and_round_trip(radr, tmp_path):
    from datasets import load_from_disk

    bench, items, _ = radr
    out = tmp_path / "hf"
    export_bench(bench, out, "hf", images=tmp_path / "images")
    ds = load_from_disk(str(out))
    assert list(ds) == ["test"] and ds["test"].num_rows == len(items)
    row = ds["test"][0]
    assert row["id"] == items[0].id and isinstance(row["images"][0], Image.Image)
    assert type(ds["test"].features["images"].feature).__name__ == "Image"
    back = tmp_path / "back"
    import_bench(out, back, "hf")
    _same_items(items, read_records(back / "bench.jsonl", BenchItem), tmp_path / "images", back)
    # exporting again into the same folder replaces it
    export_bench(bench, out, "hf", images=tmp_path / "images", split="test")
    assert load_from_disk(str(out))["test"].num_rows == len(items)


def test_missing_images_refused_or_skipped(radr, tmp_path):
    bench, items, _ = radr
    with pytest.raises(InteropError, match=r"6 of 6 items reference missing images.*--images"):
        export_bench(bench, tmp_path / "x", "vlmevalkit")
    with pytest.raises(InteropError, match="all 6 items reference missing images"):
        export_bench(bench, tmp_path / "x", "hf", on_missing="skip")
    gone = items[0].images[-1]
    (tmp_path / "images" / gone).unlink()
    m = export_bench(bench, tmp_path / "y", "hf", images=tmp_path / "images", on_missing="skip")
    skipped = {s["id"] for s in m["skipped_missing_images"]}
    assert items[0].id in skipped and m["counts"]["total"] == len(items) - len(skipped)
    assert all(gone in s["missing"] for s in m["skipped_missing_images"])


def test_refuses_foreign_output_folder_and_bad_input(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InteropError, match="not empty"):
        import_bench(FIX / "nv_grpo_sample.jsonl", busy, "nv-reason")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"item_id": "x",\n "question": }]')
    with pytest.raises(RecordError, match=r"bad.json:2"):
        import_bench(bad, tmp_path / "o", "radrbench")
    with pytest.raises(InteropError, match="no item could be imported"):
        empty = tmp_path / "e.jsonl"
        empty.write_text('{"id": "a", "image": "x.png", "solution": "Nodule"}\n')
        import_bench(empty, tmp_path / "o2", "nv-reason")
    with pytest.raises(InteropError, match="--format must be one of"):
        import_bench(bad, tmp_path / "o3", "mmbench")


def test_cli_import_export(tmp_path, capsys):
    out = tmp_path / "nv"
    rc = cli.main(
        ["import", str(FIX / "nv_grpo_sample.jsonl"), "--out", str(out), "-f", "nv-reason"]
    )
    assert rc == 0 and (out / "bench.jsonl").exists()
    assert "2 row(s) dropped" in capsys.readouterr().err
    rc = cli.main(["export", str(out), "--out", str(tmp_path / "vl"), "--format", "vlmevalkit"])
    err = capsys.readouterr().err
    assert rc == 1 and "reference missing images" in err and "Traceback" not in err
    rc = cli.main(
        ["import", str(tmp_path / "none.json"), "--out", str(tmp_path / "z"), "-f", "radrbench"]
    )
    assert rc == 1 and "none.json: file not found" in capsys.readouterr().err


def test_an_imported_bench_can_be_predicted_and_scored(radr, tmp_path):
    """Evaluate on data in another harness's layout: import, predict (tiny model), score."""
    from cxreason.inference.families import build_tiny
    from cxreason.inference.predict import GenConfig, load_engine, predict_bench
    from cxreason.metrics.cli import main as score_main

    bench, items, _ = radr
    engine = load_engine(str(build_tiny("qwen2_5_vl", tmp_path / "m")), backend="transformers")
    pred = tmp_path / "pred.jsonl"
    s = predict_bench(
        engine,
        bench / "bench.jsonl",
        pred,
        images_dir=tmp_path / "images",
        cfg=GenConfig(max_new_tokens=4),
        profile="chestx-reasoner",
    )
    assert (s.generated, s.failed) == (len(items), 0)
    rc = score_main(
        ["--bench", str(bench / "bench.jsonl"), "--pred", str(pred), "--out", str(tmp_path / "s")]
        + ["--no-semantic"]
    )
    assert rc == 0
    scores = json.loads((tmp_path / "s" / "scores.json").read_text())
    assert scores["n"] == len(items)
