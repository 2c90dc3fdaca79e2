"""The reader study in a real headless Chromium: zoom/pan and window/level on the image, a
blinded reading that reveals the model and the gold only after the reader commits, agreement
export, and no local file path anywhere on the page. Skips where chromium is absent."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

CANVAS = "#images canvas"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _wl(v: int, width: int, level: int, invert: bool = False) -> int:
    """The viewer's window/level (DICOM linear VOI function on 8-bit grey)."""
    if width <= 1:
        y = 255 if v > level - 0.5 else 0
    else:
        y = round(((v - (level - 0.5)) / (width - 1) + 0.5) * 255)
    y = max(0, min(255, y))
    return 255 - y if invert else y


def _pixel(page, x: int, y: int) -> int:
    return page.eval_on_selector(
        CANVAS, f"c => c.getContext('2d').getImageData({x}, {y}, 1, 1).data[0]"
    )


def _data(page, key: str) -> float:
    return float(page.eval_on_selector(CANVAS, f"c => c.dataset.{key}"))


def test_zoom_pan_and_window_level(page, live_server):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/#i=0")
    page.wait_for_selector(f"{CANVAS}[data-loaded='1']")
    src = Image.open(
        io.BytesIO(httpx.get(live_server.url + "/api/items/0/images/0").content)
    ).convert("L")
    assert page.eval_on_selector(CANVAS, "c => [c.width, c.height]") == list(src.size)
    probe = [(10, 10), (64, 64), (100, 30)]
    values = [src.getpixel(p) for p in probe]
    assert [_pixel(page, *p) for p in probe] == values  # W 256 / L 128 is identity

    # wheel zooms about the cursor, drag pans, double-click fits
    box = page.locator("#images .viewport").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -120)
    page.wait_for_function("document.querySelector('#images canvas').dataset.scale === '1.2500'")
    tx0, ty0 = _data(page, "tx"), _data(page, "ty")
    page.mouse.down()
    page.mouse.move(cx + 50, cy + 30, steps=4)
    page.mouse.up()
    assert (round(_data(page, "tx") - tx0, 1), round(_data(page, "ty") - ty0, 1)) == (50.0, 30.0)
    page.keyboard.press("+")
    assert _data(page, "scale") > 1.5
    page.locator("#images .viewport").first.dblclick()
    assert (_data(page, "scale"), _data(page, "tx"), _data(page, "ty")) == (1.0, 0.0, 0.0)

    # right-drag: horizontal = window width, vertical = level (as on a PACS)
    page.mouse.move(cx, cy)
    page.mouse.down(button="right")
    page.mouse.move(cx - 160, cy + 20, steps=5)
    page.mouse.up(button="right")
    w, lv = (
        int(page.get_attribute("#images", "data-window")),
        int(page.get_attribute("#images", "data-level")),
    )
    assert (w, lv) == (96, 148)
    assert [_pixel(page, *p) for p in probe] == [_wl(v, 96, 148) for v in values]
    # the sliders and invert apply the same function
    page.eval_on_selector(
        "#win-width", "e => { e.value = 40; e.dispatchEvent(new Event('input')); }"
    )
    page.eval_on_selector(
        "#win-level", "e => { e.value = 100; e.dispatchEvent(new Event('input')); }"
    )
    page.check("#invert")
    assert [_pixel(page, *p) for p in probe] == [_wl(v, 40, 100, True) for v in values]
    page.keyboard.press("r")
    assert [_pixel(page, *p) for p in probe] == values
    assert errors == []


def test_blinded_reading_reveals_only_after_commit(page, blind_server):
    url = blind_server.url
    page.goto(url + "/#i=0")
    page.wait_for_selector(f"{CANVAS}[data-loaded='1']")
    assert page.is_visible("#reader") and page.is_visible("#blind-note")
    assert page.is_hidden("#model-panel") and page.is_disabled("#reader-mode")
    assert page.locator("#options li.gold").count() == 0
    assert page.locator("#verdict-badge").count() == 0
    html = page.content()
    assert "heart is enlarged" not in html and "<answer>" not in html
    assert all(
        not t.strip().endswith(("✓", "✗")) for t in page.locator("#jump option").all_inner_texts()
    )
    # the server itself withholds them (not just hidden by the page)
    raw = httpx.get(url + "/api/items/0").json()
    assert not {"gold", "output", "report", "steps", "radrscore", "reference_steps"} & set(raw)
    early = httpx.post(
        url + "/api/reader",
        json={"item_id": "it-0", "decision": "accept", "seconds": 1, "reader": "dr-a"},
    )
    assert early.status_code == 409 and "commit your own answer" in early.json()["error"]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader-blinded.png"), full_page=True)
    page.check("input[name='reader-answer'][value='B']")
    page.click("#commit")  # no name yet: refused in the page, nothing recorded
    page.wait_for_selector("#error:not([hidden])")
    assert "name or initials" in page.inner_text("#error")
    page.fill("#reader-name", "dr-a")
    loads = page.evaluate("document.body.dataset.loads")
    page.press("#reader-name", "Tab")  # change event: the item reloads for this reader
    # wait for that reload: it re-renders the choices and would race the commit below
    page.wait_for_function("prev => document.body.dataset.loads !== prev", arg=loads)
    page.check("input[name='reader-answer'][value='B']")
    page.click("#commit")
    page.wait_for_selector("#verdict-badge")
    assert page.is_visible("#model-panel") and page.is_hidden("#blind-note")
    assert page.inner_text("#committed").startswith("committed: B · gold: B")
    assert page.locator("#options li.gold").inner_text().startswith("B)")
    assert page.is_disabled("input[name='reader-answer'][value='A']")
    assert page.is_checked("input[name='reader-answer'][value='B']")
    again = httpx.post(
        url + "/api/reader",
        json={
            "item_id": "it-0",
            "decision": "answer",
            "answer": "A",
            "seconds": 2,
            "reader": "dr-a",
        },
    )
    assert again.status_code == 409 and "final" in again.json()["error"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader-blinded-revealed.png"), full_page=True)
    page.click("#accept")  # judging the model's impression is allowed once answered
    page.wait_for_function(
        "document.querySelector('#reader-status').textContent.startsWith('recorded accept')"
    )

    # an anomaly item: the reader ticks findings
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-2')")
    assert page.is_hidden("#model-panel")
    page.check("input[name='reader-labels'][value='Cardiomegaly']")
    page.click("#commit")
    page.wait_for_selector("#verdict-badge")
    assert page.inner_text("#committed").startswith("committed: Cardiomegaly · gold: ")

    export = httpx.get(url + "/api/reader/export").json()
    rows = {r["item_id"]: r for r in export["rows"] if r["reader"] == "dr-a"}
    assert rows["it-0"]["reader_vs_gold"] == 1.0 and rows["it-0"]["blinded"] is True
    assert abs(rows["it-2"]["reader_vs_gold"] - 2 / 3) < 1e-9  # set F1 of {C} vs {C, PE}
    assert "dr-a" in export["summary"]["readers"]
    csv_text = httpx.get(url + "/api/reader/export", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("reader,item_id,task,reader_answer,gold")


def test_viewer_never_shows_local_paths(page, blind_server):
    url, private = blind_server.url, blind_server.private
    page.goto(url + "/#i=1")
    page.reload()  # a hash-only navigation would not reload the page
    page.fill("#reader-name", "dr-b")
    page.press("#reader-name", "Tab")
    page.wait_for_function("document.querySelector('#item-head').textContent.startsWith('it-1')")
    page.check("input[name='reader-answer'][value='A']")
    page.click("#commit")
    page.wait_for_selector("#verdict-badge")
    page.click("#raw-box summary")
    # the failed prediction's error named the absolute image path: only the base name shows
    assert page.inner_text("#raw").startswith("[error] s1.png: no such file")
    for i in range(3):
        page.goto(url + f"/#i={i}")
        page.reload()
        page.wait_for_selector(f"{CANVAS}[data-loaded='1']")
        html = page.content()
        assert private not in html and "patient-Doe" not in html and "private-site" not in html
        assert "s1.png" in page.inner_text("#images") or "s2" in page.inner_text("#images")
    for path in ["/api/bench", "/api/items/0?reader=dr-b", "/api/items/1?reader=dr-b"]:
        body = httpx.get(url + path).text
        assert "patient-Doe" not in body and "private-site" not in body, path
    gone = httpx.get(url + "/api/image", params={"path": "img/nope.png"})
    assert "private-site" not in gone.text
