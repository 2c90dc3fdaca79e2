"""Broken CSV files are refused with file and line, never misread (every dataset reader)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from cxreason.data import csvio
from cxreason.data.chexpert_plus import read_chexpert_plus
from cxreason.data.mimic import read_mimic_chexpert, read_mimic_metadata
from cxreason.data.mscxrt import read_ms_cxr_t
from cxreason.data.openi import read_openi, read_openi_gold
from cxreason.records import RecordError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
COLUMNS = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]


def _reports(path: Path, n: int = 6) -> Path:
    rows = [
        [str(i), "normal", "normal", "Xray Chest PA and Lateral", "Cough, fever", "",
         f"Heart size normal, lungs clear in study {i}. No effusion.", f"Normal chest {i}."]
        for i in range(1, n + 1)
    ]  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def test_unbalanced_quote_is_refused_with_file_and_line(tmp_path):
    good = _reports(tmp_path / "r.csv")
    text = good.read_text()
    # drop the closing quote of study 3's findings: its text would swallow study 4
    broken = text.replace('study 3. No effusion.",', "study 3. No effusion.,", 1)
    assert broken != text
    bad = tmp_path / "bad.csv"
    bad.write_text(broken)
    with pytest.raises(RecordError, match=r"bad\.csv:4\b.*(unbalanced quote|quot)"):
        read_openi(bad)
    with pytest.raises(RecordError, match=r"bad\.csv:4"):
        read_openi_gold(bad)


def test_wrong_field_counts_are_refused(tmp_path):
    p = _reports(tmp_path / "r.csv")
    lines = p.read_text().splitlines()
    lines[2] = lines[2] + ",extra"
    (tmp_path / "more.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"more\.csv:3: 9 fields, the header has 8"):
        read_openi(tmp_path / "more.csv")
    lines = p.read_text().splitlines()
    lines[5] = "7,normal,normal"
    (tmp_path / "fewer.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"fewer\.csv:6: 3 fields, the header has 8"):
        read_openi(tmp_path / "fewer.csv")


def test_quote_left_open_at_the_end_and_stray_quote(tmp_path):
    p = _reports(tmp_path / "r.csv", 3)
    (tmp_path / "eof.csv").write_text(p.read_text() + '9,normal,normal,x,y,z,"never closed,\n')
    with pytest.raises(RecordError, match=r"eof\.csv:5: .*never closed"):
        read_openi(tmp_path / "eof.csv")
    (tmp_path / "stray.csv").write_text(p.read_text() + '9,normal,normal,x,y,z,"a"b,c\n')
    with pytest.raises(RecordError, match=r"stray\.csv:5: malformed CSV quoting"):
        read_openi(tmp_path / "stray.csv")


def test_fields_over_128_kib_are_read(tmp_path, monkeypatch, restore_field_limit):
    p = _reports(tmp_path / "r.csv", 2)
    long = "Heart size normal. " * 12_000  # about 230 KB, over Python's default 131,072
    with open(p, "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(["3", "normal", "", "", "", "", long, "Normal."])
    studies = read_openi(p)
    assert len(studies) == 3 and studies[2].findings == long
    monkeypatch.setattr(csvio, "MAX_FIELD_BYTES", 100_000)
    with pytest.raises(RecordError, match=r"r\.csv:4: a field .* larger than"):
        read_openi(p)


@pytest.fixture()
def restore_field_limit():
    before = csv.field_size_limit()
    yield
    csv.field_size_limit(before)


def test_every_reader_refuses_a_short_row(tmp_path):
    cases = [
        (FIX / "mimic" / "mimic-cxr-2.0.0-metadata.csv", read_mimic_metadata),
        (FIX / "mimic" / "mimic-cxr-2.0.0-chexpert.csv", read_mimic_chexpert),
        (FIX / "chexpert_plus" / "df_chexpert_plus_240401.csv", read_chexpert_plus),
        (FIX / "ms_cxr_t" / "MS_CXR_T_temporal_image_classification_v1.0.0.csv", read_ms_cxr_t),
    ]
    for src, reader in cases:
        dst = tmp_path / src.name
        lines = src.read_text().splitlines()
        lines.insert(2, "only,two")
        dst.write_text("\n".join(lines) + "\n")
        with pytest.raises(RecordError, match=rf"{re.escape(src.name)}:3: 2 fields"):
            reader(dst)


def test_projections_reader_refuses_broken_rows(tmp_path):
    rep = _reports(tmp_path / "r.csv", 2)
    proj = tmp_path / "p.csv"
    proj.write_text('uid,filename,projection\n1,1_a.png,Frontal\n2,"2_a.png,Frontal\n')
    with pytest.raises(RecordError, match=r"p\.csv:3: .*never closed"):
        read_openi(rep, proj)


def test_cli_refuses_in_one_line(tmp_path, capsys):
    from cxreason.bench.cli import main as bench_main

    good = _reports(tmp_path / "r.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace('study 3. No effusion.",', "study 3. No effusion.,"))
    assert bench_main(["build", str(bad), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err
    assert "bad.csv:4" in err and "Traceback" not in err and "_csv.Error" not in err
    assert not (tmp_path / "o" / "bench.jsonl").exists()


def test_no_corruption_of_a_quote_is_misread(tmp_path, openi_reports):
    """Drop each of the first quotes of the shared reports CSV in turn: every result is either
    refused (file and line) or reads every other study exactly as before."""
    src = tmp_path / "sub.csv"
    with open(openi_reports, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[:41]
    with open(src, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    text = src.read_text(encoding="utf-8")
    before = {s.study_id: s for s in read_openi(src)}
    quotes = [m.start() for m in re.finditer('"', text)][:120]
    assert len(quotes) >= 60
    refused = 0
    for q in quotes:
        bad = tmp_path / "bad.csv"
        bad.write_text(text[:q] + text[q + 1 :], encoding="utf-8")
        try:
            after = {s.study_id: s for s in read_openi(bad)}
        except RecordError as e:
            assert re.match(r".*bad\.csv:\d+", str(e)), e
            refused += 1
            continue
        changed = [k for k in before if after.get(k) != before[k]]
        assert len(after) == len(before) and len(changed) <= 1, (q, changed)
    assert refused >= len(quotes) // 2


def test_shared_files_still_read(openi_reports, openi_projections, shared_data, tmp_path):
    shutil.copy(openi_reports, tmp_path / "r.csv")
    assert len(read_openi(tmp_path / "r.csv", openi_projections)) == 1200
