"""The audit viewer in a real headless Chromium (Debian's; never downloaded).

Loads a benchmark with predictions, navigates with the keyboard, checks step highlights and
supported/contradicted marks, records a reader decision, and saves a screenshot to
test-artifacts/viewer.png. Skips with a reason where chromium or playwright is absent.
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_viewer_navigation_marks_reader(page, live_server):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.wait_for_selector("#steps li.step")
    assert page.inner_text("#counter") == "1 / 3"
    assert page.inner_text("#verdict-badge") == "correct"
    # step marks from the metric code: supported, contradicted, not in report
    classes = page.eval_on_selector_all("#steps li.step", "els => els.map(e => e.className)")
    assert classes == ["step step-supported", "step step-contradicted", "step step-not_in_report"]
    marks = page.eval_on_selector_all("#steps mark.finding", "els => els.map(e => e.textContent)")
    assert "heart is enlarged" in marks and "pleural effusion" in marks
    assert page.locator("#steps mark.finding.contradicted").count() == 1
    assert page.locator("#options li.gold.chosen").inner_text().startswith("B)")
    page.wait_for_selector("#images canvas[data-loaded='1']")
    # keyboard navigation
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#counter').textContent === '2 / 3'")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-1')")
    assert page.inner_text("#verdict-badge") == "wrong"
    assert page.locator("#options li.chosen.wrong").inner_text().startswith("B)")
    page.keyboard.press("j")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-2')")
    assert page.locator("#images canvas").count() == 2
    page.keyboard.press("k")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-1')")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-0')")
    # reader-study mode: edit the impression and save
    page.check("#reader-mode")
    page.fill("#reader-name", "browser-test")
    page.fill("#reader-text", "Cardiomegaly; small right pleural effusion")
    page.click("#save-edit")
    page.wait_for_function(
        "document.querySelector('#reader-status').textContent.startsWith('recorded edit')"
    )
    rec = [r for r in live_server.reader_log.read() if r["reader"] == "browser-test"][-1]
    assert rec["item_id"] == "it-0" and rec["edited_text"].startswith("Cardiomegaly; small")
    assert 0 <= rec["seconds"] < 120
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
    assert errors == []


def test_viewer_upload_analyze(page, live_server, samples_dir):
    page.goto(live_server.url + "/#i=0")
    page.wait_for_selector("#steps li.step")
    page.click("#open-upload")
    page.set_input_files("#files", str(samples_dir / "monochrome1_sample.dcm"))
    page.click("#analyze")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('upload')")
    assert page.locator("#images canvas").count() == 1
    page.wait_for_selector("#images canvas[data-loaded='1']")
    assert page.locator("#impression .line").count() == 1
    # a refused upload shows its reason, not a stack trace
    page.set_input_files(
        "#files",
        files=[
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"plain text, not an image"}
        ],
    )
    page.click("#analyze")
    page.wait_for_selector("#error:not([hidden])")
    msg = page.inner_text("#error")
    assert "notes.png" in msg and "not a recognised image" in msg and "Traceback" not in msg
