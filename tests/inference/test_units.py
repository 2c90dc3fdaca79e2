"""Unit tests: impression schema, reader log, step audit marks, safe image route, load script."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from cxreason.inference.impression import (
    build_impression,
    impression_schema,
    structure_output,
    validate_impression,
)
from cxreason.inference.reader import ReaderError, ReaderLog, validate_decision
from cxreason.inference.safety import InputRefused, decode_data_url
from cxreason.records import BenchItem


def test_schema_file_is_shipped_and_strict():
    schema = impression_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["version", "findings", "impression"]
    with pytest.raises(jsonschema.ValidationError):
        validate_impression(
            {
                "version": "impression-v1",
                "findings": [{"label": "Cardiomegally", "status": "present", "evidence": ""}],
                "impression": "",
            }
        )
    with pytest.raises(jsonschema.ValidationError):
        validate_impression(
            {
                "version": "impression-v1",
                "findings": [{"label": "Edema", "status": "maybe", "evidence": ""}],
                "impression": "",
            }
        )


def _item(task, options, question="Which finding is in this chest X-ray?"):
    return BenchItem("x", "s", task, question, options, "A", [], [], "FINDINGS: x IMPRESSION: y")


def test_answer_overrides_reasoning_and_binary_no():
    out = "<think>There may be mild edema. The heart size is normal.</think><answer>A</answer>"
    r = structure_output(out, _item("single", {"A": "Edema", "B": "Fracture"}))
    assert r["answer"] == "A" and r["labels"]["Edema"] == "present"
    edema = next(f for f in r["impression"]["findings"] if f["label"] == "Edema")
    assert edema["source"] == "answer"
    binary = _item("binary", {"A": "Yes", "B": "No"}, "Does this chest X-ray show Pneumothorax?")
    r = structure_output("<think>Lungs are clear.</think><answer>B</answer>", binary)
    assert r["labels"]["Pneumothorax"] == "absent" and r["impression"]["impression"] == "No Finding"


def test_unparsable_and_empty_outputs():
    r = structure_output("I am not sure")
    assert r["think"] is None and r["answer"] is None and r["labels"] == {}
    assert r["impression"] == {
        "version": "impression-v1",
        "findings": [],
        "impression": "No Finding",
    }
    anomaly = build_impression(None, "Cardiomegaly, Pleural Effusion")
    assert anomaly["impression"] == "Cardiomegaly; Pleural Effusion"


def test_reader_validation_and_append(tmp_path):
    log = ReaderLog(tmp_path / "r.jsonl", model="m")
    log.record({"item_id": "a", "decision": "accept", "seconds": 2})
    log.record(
        {"item_id": "b", "decision": "edit", "edited_text": "x", "seconds": 3.25}, {"a", "b"}
    )
    rows = log.read()
    assert [r["decision"] for r in rows] == ["accept", "edit"] and rows[1]["seconds"] == 3.25
    assert rows[0]["edited_text"] is None and rows[0]["model"] == "m"
    for bad in [
        {"decision": "accept", "seconds": 1},
        {"item_id": "a", "decision": "accept", "seconds": True},
        {"item_id": "a", "decision": "accept", "seconds": 1e9},
        {"item_id": "a", "decision": "edit", "edited_text": "  ", "seconds": 1},
    ]:
        with pytest.raises(ReaderError):
            validate_decision(bad)
    with pytest.raises(ReaderError, match="not an item"):
        log.record({"item_id": "zz", "decision": "accept", "seconds": 1}, {"a"})


def test_data_url_decoding():
    assert decode_data_url("data:image/png;base64,aGk=") == b"hi"
    for bad, code in [
        ("http://x/y.png", "bad_image_url"),
        ("data:image/png,plain", "bad_image_url"),
        ("data:image/png;base64,@@@", "bad_image_url"),
    ]:
        with pytest.raises(InputRefused) as e:
            decode_data_url(bad)
        assert e.value.code == code
    with pytest.raises(InputRefused) as e:
        decode_data_url("data:image/png;base64," + "A" * 2000, max_bytes=100)
    assert e.value.status == 413


def test_viewer_data_renders_monochrome1_dicom_bone_bright(samples_dir, tmp_path):
    import io
    import shutil

    import pydicom
    from PIL import Image

    from cxreason.inference.serve import ViewerData
    from cxreason.records import write_jsonl

    shutil.copy(samples_dir / "monochrome1_sample.dcm", tmp_path / "m1.dcm")
    item = BenchItem(
        "d",
        "s",
        "anomaly",
        "Which findings are in this chest X-ray?",
        None,
        "No Finding",
        [],
        ["m1.dcm"],
        "FINDINGS: Normal. IMPRESSION: Normal.",
    )
    write_jsonl(tmp_path / "bench.jsonl", [item])
    v = ViewerData(tmp_path / "bench.jsonl")
    shown = np.asarray(Image.open(io.BytesIO(v.png("m1.dcm"))), dtype=np.float64)
    raw = pydicom.dcmread(tmp_path / "m1.dcm").pixel_array.astype(np.float64)
    assert shown.shape == raw.shape
    assert np.corrcoef(shown.ravel(), raw.ravel())[0, 1] < -0.9  # inverted: bone bright
    with pytest.raises(InputRefused) as e:
        v.resolve("../m1.dcm")
    assert e.value.status == 403


def test_viewer_default_root_covers_absolute_paths(tmp_path):
    from inference_helpers import grey_image

    from cxreason.inference.serve import ViewerData
    from cxreason.records import write_jsonl

    (tmp_path / "imgs").mkdir()
    (tmp_path / "bench").mkdir()
    grey_image(0).save(tmp_path / "imgs" / "a.png")
    (tmp_path / "imgs" / "b.txt").write_text("x")
    item = BenchItem(
        "d",
        "s",
        "anomaly",
        "Which findings are in this chest X-ray?",
        None,
        "No Finding",
        [],
        [str(tmp_path / "imgs" / "a.png")],
        "FINDINGS: Normal. IMPRESSION: Normal.",
    )
    write_jsonl(tmp_path / "bench" / "bench.jsonl", [item])
    v = ViewerData(tmp_path / "bench" / "bench.jsonl")
    assert v.root == tmp_path.resolve()
    assert v.png(str(tmp_path / "imgs" / "a.png")).startswith(b"\x89PNG")
    for bad in [str(tmp_path / "imgs" / "b.txt"), str(tmp_path / "imgs" / ".." / "imgs" / "a.png")]:
        with pytest.raises(InputRefused):
            v.resolve(bad)
    narrow = ViewerData(tmp_path / "bench" / "bench.jsonl", images_root=tmp_path / "bench")
    with pytest.raises(InputRefused, match="outside the images root"):
        narrow.resolve(str(tmp_path / "imgs" / "a.png"))


def test_serve_load_script(tiny_model, tmp_path, benchmark_script):
    mod = benchmark_script("serve_load")
    rc = mod.main(
        [
            "--model",
            str(tiny_model),
            "--requests",
            "6",
            "--concurrency",
            "3",
            "--max-tokens",
            "3",
            "--json",
            str(tmp_path / "load.json"),
        ]
    )
    rep = json.loads((tmp_path / "load.json").read_text())
    assert rc == 0 and rep["ok"] == 6 and rep["failed"] == 0
    assert 0 < rep["latency_p50_s"] <= rep["latency_p95_s"] <= rep["latency_max_s"]
    assert rep["server_batches"] < 6  # concurrent requests were batched together
