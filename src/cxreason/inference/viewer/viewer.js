// cxreason audit viewer: no dependencies, no network beyond this server.
// All model text is inserted with textContent (never innerHTML): outputs are untrusted.
// The server never sends file paths: images come as /api/items/{i}/images/{k} with a base name.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  bench: null, index: 0, view: null, shownAt: 0, timer: null, mode: "bench",
  wl: { width: 256, level: 128, invert: false },
  canvases: [],
  loadSeq: 0,  // bumps on every item load and every commit; a stale response is dropped
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function showError(msg) {
  const box = $("error");
  box.textContent = msg;
  box.hidden = !msg;
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (_) { /* non-JSON */ }
  if (!r.ok) throw new Error((body && body.error) || `HTTP ${r.status}`);
  return body;
}

const MARK_RANK = { contradicted: 3, not_in_report: 2, supported: 1 };

// Merge overlapping mention spans; each merged span keeps the worst mark and a status.
function mergeSpans(mentions) {
  const sorted = [...mentions].sort((a, b) => a.start - b.start || b.end - a.end);
  const out = [];
  for (const m of sorted) {
    const last = out[out.length - 1];
    if (last && m.start < last.end) {
      last.end = Math.max(last.end, m.end);
      last.labels.add(m.label || m.concept);
      if ((MARK_RANK[m.mark] || 0) > (MARK_RANK[last.mark] || 0)) last.mark = m.mark;
      if (m.status === "present") last.status = "present";
    } else {
      out.push({ start: m.start, end: m.end, mark: m.mark, status: m.status,
                 labels: new Set([m.label || m.concept]) });
    }
  }
  return out;
}

function highlighted(text, mentions) {
  const frag = document.createDocumentFragment();
  let pos = 0;
  for (const s of mergeSpans(mentions || [])) {
    if (s.start > pos) frag.append(text.slice(pos, s.start));
    const cls = ["finding", s.status, s.mark].filter(Boolean).join(" ");
    const title = `${[...s.labels].join(", ")} — ${s.status}` + (s.mark ? ` — ${s.mark.replace(/_/g, " ")}` : "");
    frag.append(el("mark", { class: cls, title, "data-mark": s.mark || "" }, text.slice(s.start, s.end)));
    pos = s.end;
  }
  frag.append(text.slice(pos));
  return frag;
}

function renderSteps(steps, think) {
  const ol = $("steps");
  ol.replaceChildren();
  if (!steps || !steps.length) {
    ol.append(el("li", { class: "muted", text: think === null || think === undefined ? "(no <think> reasoning in the output)" : "(empty reasoning)" }));
    return;
  }
  for (const s of steps) {
    const li = el("li", { class: "step" + (s.mark ? ` step-${s.mark}` : "") });
    li.append(highlighted(s.text, s.mentions));
    if (s.mark) li.append(el("span", { class: `badge ${s.mark}`, text: s.mark.replace(/_/g, " ") }));
    ol.append(li);
  }
}

function renderImpression(imp, failed, hasPrediction) {
  const box = $("impression");
  box.replaceChildren();
  if (failed) { box.append(el("p", { class: "error", id: "impression-failed", text: "(prediction failed: no impression)" })); return; }
  if (!imp && hasPrediction) { box.append(el("div", { class: "line muted", text: "(no impression: the output has no reasoning and no answer)" })); return; }
  if (!imp) { box.append(el("p", { class: "muted", text: "(no prediction)" })); return; }
  box.append(el("div", { class: "line", text: imp.impression }));
  if (!imp.findings.length) return;
  const t = el("table", {}, el("tr", {}, el("th", { text: "finding" }), el("th", { text: "status" }),
                               el("th", { text: "evidence" }), el("th", { text: "from" })));
  for (const f of imp.findings) {
    t.append(el("tr", {}, el("td", { text: f.label }), el("td", { class: `status-${f.status}`, text: f.status }),
                el("td", { text: f.evidence }), el("td", { class: "muted", text: f.source || "" })));
  }
  box.append(t);
}

// ---------------------------------------------------------------- image viewer
// Each image is drawn on a canvas from its grey pixels through a window/level look-up table
// (8-bit: the server renders DICOM to PNG first); zoom and pan are a CSS transform per image.

// The DICOM linear VOI function (PS3.3 C.11.2.1.2) on 8-bit grey: W 256 / L 128 is identity.
function wlTable() {
  const { width, level, invert } = state.wl;
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) {
    const y = width <= 1 ? (v > level - 0.5 ? 255 : 0)
      : Math.round(((v - (level - 0.5)) / (width - 1) + 0.5) * 255);
    const c = Math.max(0, Math.min(255, y));
    lut[v] = invert ? 255 - c : c;
  }
  return lut;
}

function drawCanvas(c) {
  if (!c.grey) return;
  const lut = wlTable();
  const ctx = c.canvas.getContext("2d");
  const img = ctx.createImageData(c.canvas.width, c.canvas.height);
  const d = img.data;
  for (let i = 0, j = 0; i < c.grey.length; i++, j += 4) {
    const y = lut[c.grey[i]];
    d[j] = y; d[j + 1] = y; d[j + 2] = y; d[j + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function applyWL() {
  const { width, level, invert } = state.wl;
  $("win-width").value = String(width);
  $("win-level").value = String(level);
  $("invert").checked = invert;
  $("wl-value").textContent = `W ${width} · L ${level}`;
  $("images").dataset.window = String(width);
  $("images").dataset.level = String(level);
  for (const c of state.canvases) drawCanvas(c);
}

function setWL(width, level, invert = state.wl.invert) {
  state.wl = { width: Math.max(1, Math.min(256, Math.round(width))),
               level: Math.max(0, Math.min(255, Math.round(level))), invert };
  applyWL();
}

function applyTransform(c) {
  c.canvas.style.transform = `translate(${c.tx}px, ${c.ty}px) scale(${c.scale})`;
  Object.assign(c.canvas.dataset, { scale: c.scale.toFixed(4), tx: c.tx.toFixed(1), ty: c.ty.toFixed(1) });
}

// Zoom image c by factor f about the point (x, y) of its viewport (CSS px); scale stays in [1, 16].
function zoomAt(c, f, x, y) {
  const s = Math.max(1, Math.min(16, c.scale * f));
  const r = s / c.scale;
  c.tx = x - (x - c.tx) * r;
  c.ty = y - (y - c.ty) * r;
  c.scale = s;
  if (s === 1) { c.tx = 0; c.ty = 0; }
  applyTransform(c);
}

function resetView(c) { c.scale = 1; c.tx = 0; c.ty = 0; applyTransform(c); }

function zoomAll(f) {
  for (const c of state.canvases) {
    const r = c.viewport.getBoundingClientRect();
    zoomAt(c, f, r.width / 2, r.height / 2);
  }
}

function attachPointer(c) {
  const vp = c.viewport;
  vp.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = vp.getBoundingClientRect();
    zoomAt(c, ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  vp.addEventListener("dblclick", () => resetView(c));
  vp.addEventListener("contextmenu", (ev) => ev.preventDefault());
  let drag = null;
  vp.addEventListener("pointerdown", (ev) => {
    const wl = ev.button === 2 || ev.shiftKey;
    drag = { x: ev.clientX, y: ev.clientY, wl, w0: state.wl.width, l0: state.wl.level, tx0: c.tx, ty0: c.ty };
    vp.setPointerCapture(ev.pointerId);
    vp.classList.toggle("wl-drag", wl);
  });
  vp.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (drag.wl) setWL(drag.w0 + dx, drag.l0 + dy);
    else { c.tx = drag.tx0 + dx; c.ty = drag.ty0 + dy; applyTransform(c); }
  });
  const end = () => { drag = null; vp.classList.remove("wl-drag"); };
  vp.addEventListener("pointerup", end);
  vp.addEventListener("pointercancel", end);
}

function loadCanvas(c, url) {
  const img = new Image();
  img.onload = () => {
    const w = img.naturalWidth, h = img.naturalHeight;
    const off = document.createElement("canvas");
    off.width = w; off.height = h;
    const ctx = off.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    c.grey = new Uint8ClampedArray(w * h);
    for (let i = 0, j = 0; i < c.grey.length; i++, j += 4) c.grey[i] = rgba[j];
    c.canvas.width = w; c.canvas.height = h;
    drawCanvas(c);
    c.canvas.dataset.loaded = "1";
  };
  img.onerror = () => c.figure.replaceWith(el("p", { class: "error", text: `cannot show ${c.name} (missing or refused)` }));
  img.src = url;
}

function renderImages(images) {
  const box = $("image-list");
  box.replaceChildren();
  state.canvases = [];
  if (!images.length) box.append(el("p", { class: "muted", text: "(no image)" }));
  images.forEach((im, k) => {
    const name = im.name || `image ${k + 1}`;
    const canvas = el("canvas", { "aria-label": `image ${k + 1} of ${images.length}`, role: "img" });
    const viewport = el("div", { class: "viewport" }, canvas);
    const figure = el("figure", {}, viewport, el("figcaption", { text: `image ${k + 1} of ${images.length} · ${name}` }));
    const c = { canvas, viewport, figure, name, scale: 1, tx: 0, ty: 0, grey: null };
    state.canvases.push(c);
    applyTransform(c);
    attachPointer(c);
    box.append(figure);
    loadCanvas(c, im.url);
  });
}

// ---------------------------------------------------------------- item views

function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(2); }

function isBlind(v) { return Boolean(v && v.blinded); }

function renderOptions(v) {
  const ol = $("options");
  ol.replaceChildren();
  const revealed = !isBlind(v);
  for (const [letter, text] of Object.entries(v.options || {})) {
    const li = el("li", { "data-letter": letter, text: `${letter}) ${text}` });
    if (revealed && letter === v.gold) li.classList.add("gold");
    if (revealed && letter === v.answer_letter) li.classList.add("chosen");
    if (revealed && letter === v.answer_letter && !v.correct) li.classList.add("wrong");
    ol.append(li);
  }
}

function renderVerdict(v) {
  const verdict = $("verdict");
  verdict.replaceChildren();
  if (!v.has_prediction) {
    verdict.append(el("span", { class: "verdict none", text: "no prediction" }));
    return;
  }
  if (v.failed) {
    verdict.append(el("span", { class: "verdict wrong", id: "verdict-badge", text: "failed" }),
                   el("span", { class: "scores error", text: `prediction failed: ${v.error}` }));
    return;
  }
  verdict.append(el("span", { class: `verdict ${v.correct ? "correct" : "wrong"}`, id: "verdict-badge",
                              text: v.correct ? "correct" : "wrong" }));
  const r = v.radrscore || {};
  verdict.append(el("span", { class: "scores" },
    el("span", {}, "answer ", el("b", { text: v.answer === null ? "(unparsable)" : v.answer })),
    el("span", {}, "gold ", el("b", { text: v.gold })),
    v.task === "anomaly" ? el("span", {}, "F1 ", el("b", { text: fmt(v.outcome) })) : null,
    el("span", {}, "RadRScore ", el("b", { id: "radrscore", text: fmt(r.radrscore) })),
    el("span", { text: `factuality ${fmt(r.factuality)} · completeness ${fmt(r.completeness)} · effectiveness ${fmt(r.effectiveness)}` })));
}

function renderAnswerChoices(v) {
  const box = $("answer-choices");
  box.replaceChildren();
  const committed = v.committed ? v.committed.answer : null;
  if (v.options) {
    for (const [letter, text] of Object.entries(v.options)) {
      const input = el("input", { type: "radio", name: "reader-answer", value: letter });
      if (committed === letter) input.checked = true;
      box.append(el("label", { class: "choice" }, input, ` ${letter}) ${text}`));
    }
  } else {
    const chosen = new Set((committed || "").split(",").map((s) => s.trim()).filter(Boolean));
    for (const label of (state.bench && state.bench.labels) || []) {
      const input = el("input", { type: "checkbox", name: "reader-labels", value: label });
      if (chosen.has(label)) input.checked = true;
      box.append(el("label", { class: "choice" }, input, ` ${label}`));
    }
  }
  for (const input of box.querySelectorAll("input")) input.disabled = Boolean(v.committed);
  $("commit").disabled = Boolean(v.committed) || state.mode !== "bench";
  $("committed").textContent = v.committed
    ? `committed: ${v.committed.answer}` + (v.gold !== undefined ? ` · gold: ${v.gold}` : "") +
      (v.has_prediction ? ` · model: ${v.answer === null ? "(unparsable)" : v.answer}` : "")
    : "";
}

function renderView(v) {
  state.view = v;
  const blind = isBlind(v);
  $("item-head").textContent = `${v.id} · task ${v.task} · study ${v.study_id}`;
  $("question-box").textContent = v.question;
  $("blind-note").hidden = !blind;
  $("model-panel").hidden = blind;
  renderOptions(v);
  renderImages(v.images || []);
  renderAnswerChoices(v);
  $("reader-impression").hidden = blind;
  $("reader-status").textContent = "";
  state.shownAt = performance.now();
  if (blind) return;
  renderVerdict(v);
  renderSteps(v.steps, v.think);
  renderImpression(v.impression, v.failed, v.has_prediction);
  $("report").textContent = v.report || "(no report)";
  $("ref-steps").replaceChildren(...(v.reference_steps || []).map((t) => el("li", { text: t })));
  $("raw").textContent = v.has_prediction ? (v.error ? `[error] ${v.error}\n` : "") + (v.output || "") : "";
  $("reader-text").value = v.impression ? v.impression.impression : "";
}

function readerName() { return ($("reader-name").value || "").trim() || "anonymous"; }

async function loadItem(i) {
  const n = state.bench.n;
  if (!n) return;
  state.index = ((i % n) + n) % n;
  $("counter").textContent = `${state.index + 1} / ${n}`;
  $("jump").value = String(state.index);
  history.replaceState(null, "", `#i=${state.index}`);
  const seq = ++state.loadSeq;
  try {
    const q = state.bench.reader_study ? `?reader=${encodeURIComponent(readerName())}` : "";
    const v = await api(`/api/items/${state.index}${q}`);
    if (seq !== state.loadSeq) return;  // a newer load or a commit superseded this response
    renderView(v);
    showError("");
  } catch (e) { if (seq === state.loadSeq) showError(String(e.message || e)); }
  finally { if (seq === state.loadSeq) document.body.dataset.loads = String(seq); }
}

function chosenAnswer() {
  const v = state.view;
  if (v.options) {
    const r = document.querySelector('input[name="reader-answer"]:checked');
    return r ? r.value : null;
  }
  const labels = [...document.querySelectorAll('input[name="reader-labels"]:checked')].map((x) => x.value);
  return labels.length ? labels : null;
}

async function commitAnswer() {
  const v = state.view;
  if (!v || state.mode !== "bench" || v.committed) return;
  if (state.bench.blinded && !$("reader-name").value.trim()) { showError("type your name or initials first"); return; }
  const answer = chosenAnswer();
  if (!answer) { showError(v.options ? "choose an option first" : "tick the findings you see (or No Finding)"); return; }
  const body = { item_id: v.id, decision: "answer", answer, reader: readerName(),
                 seconds: (performance.now() - state.shownAt) / 1000 };
  try {
    const r = await api("/api/reader", { method: "POST", headers: { "content-type": "application/json" },
                                         body: JSON.stringify(body) });
    state.loadSeq += 1;  // an item load still in flight must not overwrite the committed view
    if (r.view) renderView(r.view);
    $("reader-status").textContent = `recorded answer ${r.record.answer} (${r.record.seconds.toFixed(1)} s)`;
    showError("");
  } catch (e) { showError(String(e.message || e)); }
}

async function recordDecision(decision) {
  const v = state.view;
  if (!v || state.mode !== "bench" || isBlind(v)) return;
  const text = $("reader-text").value;
  const body = { item_id: v.id, decision, reader: readerName(),
                 seconds: (performance.now() - state.shownAt) / 1000 };
  if (decision === "edit") body.edited_text = text;
  try {
    const r = await api("/api/reader", { method: "POST", headers: { "content-type": "application/json" },
                                         body: JSON.stringify(body) });
    $("reader-status").textContent = `recorded ${r.record.decision} (${r.record.seconds.toFixed(1)} s)`;
    showError("");
  } catch (e) { showError(String(e.message || e)); }
}

function tick() {
  if (!$("reader").hidden) $("timer").textContent = `${((performance.now() - state.shownAt) / 1000).toFixed(0)} s on this item`;
}

async function analyze(ev) {
  ev.preventDefault();
  const files = $("files").files;
  if (!files.length) { showError("choose an image first"); return; }
  const fd = new FormData();
  for (const f of files) fd.append("image", f);
  fd.append("question", $("question").value);
  fd.append("mode", $("mode").value);
  if ($("profile").value) fd.append("profile", $("profile").value);
  $("analyze").disabled = true;
  try {
    const r = await api("/api/analyze", { method: "POST", body: fd });
    state.mode = "upload";
    renderView({ id: "upload", study_id: "-", task: "upload", question: r.question, options: null,
                 gold: "–", has_prediction: true, correct: null, answer: r.answer, answer_letter: null,
                 output: r.output, think: r.think, steps: r.steps, impression: r.impression, report: "",
                 radrscore: null, images: (r.previews || []).map((u, k) => ({ url: u, name: files[k] ? files[k].name : `image ${k + 1}` })) });
    $("verdict").replaceChildren(el("span", { class: "scores" }, el("span", {}, "answer ", el("b", { text: r.answer === null ? "(unparsable)" : r.answer })),
                                    el("span", { text: `${r.seconds.toFixed(2)} s · ${r.model}` })));
    showError("");
  } catch (e) { showError(String(e.message || e)); }
  finally { $("analyze").disabled = false; }
}

function onKey(ev) {
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) && !["radio", "checkbox", "range"].includes(ev.target.type)) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "+" || ev.key === "=") { zoomAll(1.25); return; }
  if (ev.key === "-") { zoomAll(0.8); return; }
  if (ev.key === "0") { state.canvases.forEach(resetView); return; }
  if (ev.key === "r") { setWL(256, 128, false); return; }
  if (state.mode !== "bench" || !state.bench || !state.bench.n) return;
  if (ev.key === "ArrowRight" || ev.key === "j") { ev.preventDefault(); loadItem(state.index + 1); }
  else if (ev.key === "ArrowLeft" || ev.key === "k") { ev.preventDefault(); loadItem(state.index - 1); }
  else if (!$("reader").hidden && ev.key === "c") commitAnswer();
  else if (!$("reader").hidden && ev.key === "a") recordDecision("accept");
  else if (!$("reader").hidden && ev.key === "e") recordDecision("edit");
}

function initImageTools() {
  $("zoom-in").onclick = () => zoomAll(1.25);
  $("zoom-out").onclick = () => zoomAll(0.8);
  $("zoom-reset").onclick = () => state.canvases.forEach(resetView);
  $("win-width").oninput = () => setWL(Number($("win-width").value), state.wl.level);
  $("win-level").oninput = () => setWL(state.wl.width, Number($("win-level").value));
  $("invert").onchange = () => setWL(state.wl.width, state.wl.level, $("invert").checked);
  $("wl-reset").onclick = () => setWL(256, 128, false);
  applyWL();
}

async function init() {
  $("prev").onclick = () => loadItem(state.index - 1);
  $("next").onclick = () => loadItem(state.index + 1);
  $("jump").onchange = () => loadItem(Number($("jump").value));
  $("accept").onclick = () => recordDecision("accept");
  $("save-edit").onclick = () => recordDecision("edit");
  $("commit").onclick = () => commitAnswer();
  // blinded: what the page may show depends on the reader, so their name reloads the item
  $("reader-name").onchange = () => { if (state.bench && state.bench.blinded && state.bench.n) loadItem(state.index); };
  $("reader-mode").onchange = () => { $("reader").hidden = !$("reader-mode").checked; state.shownAt = performance.now(); };
  $("open-upload").onclick = () => { $("upload").hidden = false; };
  $("close-upload").onclick = () => { $("upload").hidden = true; state.mode = "bench"; if (state.bench && state.bench.n) loadItem(state.index); };
  $("upload-form").addEventListener("submit", analyze);
  document.addEventListener("keydown", onKey);
  initImageTools();
  state.timer = setInterval(tick, 1000);
  try {
    state.bench = await api("/api/bench");
  } catch (e) { showError(String(e.message || e)); return; }
  $("model").textContent = `model: ${state.bench.model}${state.bench.vlm ? "" : " (text-only)"}`;
  $("reader-toggle").hidden = !state.bench.reader_study;
  if (state.bench.blinded) {  // a blinded study: the reader panel is the point of the page
    $("reader-mode").checked = true;
    $("reader-mode").disabled = true;
    $("reader").hidden = false;
    $("open-upload").hidden = true;
  }
  if (!state.bench.loaded || !state.bench.n) {
    $("upload").hidden = false;
    state.mode = "upload";
    $("main").querySelector("#item-head").textContent = "No benchmark loaded: open an image to analyze it.";
    return;
  }
  $("nav").hidden = false;
  for (const [k, it] of state.bench.items.entries()) {
    const mark = it.outcome === null || it.outcome === undefined ? "·" : it.outcome >= 1 ? "✓" : "✗";
    $("jump").append(el("option", { value: String(k), text: `${k + 1}. ${it.id} ${mark}` }));
  }
  const m = /#i=(\d+)/.exec(location.hash);
  loadItem(m ? Number(m[1]) : 0);
}

init();
