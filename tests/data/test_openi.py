"""Open-I reader and the study loader dispatcher."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from cxreason.data.load import detect_format, load_studies
from cxreason.data.openi import read_openi, read_openi_gold
from cxreason.records import RecordError, Study, write_jsonl

COLUMNS = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]


def _csv(path: Path, rows, columns=COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)
    return path


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return _csv(
        tmp_path / "reports.csv",
        [
            ["1", "normal", "normal", "PA", "Cough", "None", "Lungs are clear.", "Normal chest."],
            ["2", "Cardiomegaly", "Cardiomegaly", "", "", "", "Mild cardiomegaly.", "XXXX."],
        ],
    )


def test_read_openi_fields_and_gold(reports: Path) -> None:
    studies = read_openi(reports)
    assert [s.study_id for s in studies] == ["1", "2"]
    s = studies[0]
    assert (s.dataset, s.indication, s.comparison) == ("openi", "Cough", "None")
    assert (s.findings, s.impression, s.images) == ("Lungs are clear.", "Normal chest.", [])
    assert read_openi_gold(reports) == {"1": "normal", "2": "Cardiomegaly"}
    assert read_openi_gold(reports, "Problems")["2"] == "Cardiomegaly"


def test_projections_views_and_missing_images(reports: Path, tmp_path: Path, caplog) -> None:
    proj = _csv(
        tmp_path / "proj.csv",
        [["1", "1_a.png", "Frontal"], ["1", "1_b.png", "Lateral"], ["2", "2_a.png", "Frontal"],
         ["99", "99.png", "Frontal"]],
        ["uid", "filename", "projection"],
    )  # fmt: skip
    images = tmp_path / "images"
    images.mkdir()
    Image.new("L", (64, 64), 128).save(images / "1_a.png")
    missing: list[str] = []
    with caplog.at_level("WARNING"):
        studies = read_openi(reports, proj, images, missing_out=missing)
    views = [(Path(i.path).name, i.view) for i in studies[0].images]
    assert views == [("1_a.png", "frontal"), ("1_b.png", "lateral")]
    assert studies[0].images[0].path == str(images / "1_a.png")
    assert sorted(Path(m).name for m in missing) == ["1_b.png", "2_a.png"]
    assert "2 of 3 images missing" in caplog.text
    # without an images folder: bare file names, nothing checked
    assert read_openi(reports, proj)[1].images[0].path == "2_a.png"


def test_missing_column_names_column_and_file(tmp_path: Path) -> None:
    bad = _csv(tmp_path / "bad.csv", [["1", "x"]], ["uid", "findings"])
    with pytest.raises(RecordError, match=r"bad\.csv.*'impression'"):
        read_openi(bad)
    proj = _csv(tmp_path / "p.csv", [["1", "a.png"]], ["uid", "filename"])
    good = _csv(tmp_path / "good.csv", [["1", "", "", "", "", "", "a", "b"]])
    with pytest.raises(RecordError, match=r"p\.csv.*'projection'"):
        read_openi(good, proj)


def test_invalid_utf8_replaced_and_reported(reports: Path) -> None:
    reports.write_bytes(reports.read_bytes().replace(b"Mild", b"Mi\xc3\x28ld"))
    warnings: list[str] = []
    studies = read_openi(reports, warnings_out=warnings)
    assert "\ufffd" in studies[1].findings
    assert len(warnings) == 1 and "reports.csv:3" in warnings[0] and "UTF-8" in warnings[0]


def test_empty_and_duplicate_uids_are_skipped(tmp_path: Path) -> None:
    p = _csv(
        tmp_path / "r.csv", [["", "", "", "", "", "", "a", ""], ["5"] + [""] * 7, ["5"] + [""] * 7]
    )
    warnings: list[str] = []
    assert [s.study_id for s in read_openi(p, warnings_out=warnings)] == ["5"]
    assert any("empty uid" in w for w in warnings) and any("duplicate" in w for w in warnings)


def test_load_studies_dispatch(reports: Path, tmp_path: Path) -> None:
    assert detect_format(reports) == "openi-csv"
    assert [s.study_id for s in load_studies(reports)] == ["1", "2"]
    jl = tmp_path / "s.jsonl"
    write_jsonl(jl, [Study("x", findings="No effusion.")])
    assert detect_format(jl) == "jsonl"
    assert load_studies(jl)[0].findings == "No effusion."
    junk = tmp_path / "junk.txt"
    junk.write_text("a,b\n")
    with pytest.raises(RecordError, match="junk.txt"):
        load_studies(junk)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(RecordError, match="empty"):
        load_studies(tmp_path / "empty.csv")
    with pytest.raises(FileNotFoundError):
        load_studies(tmp_path / "absent.csv")


def test_shared_open_i(openi_reports, openi_projections, shared_data) -> None:
    missing: list[str] = []
    studies = read_openi(openi_reports, openi_projections, shared_data / "openi" / "images",
                         missing_out=missing)  # fmt: skip
    assert len(studies) == 1200
    s1900 = next(s for s in studies if s.study_id == "1900")
    assert {i.view for i in s1900.images} == {"frontal", "lateral"}
    assert all(Path(i.path).is_file() for i in s1900.images)
    assert len(missing) == sum(len(s.images) for s in studies) - 2
