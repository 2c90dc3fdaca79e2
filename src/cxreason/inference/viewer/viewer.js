// cxreason audit viewer: no dependencies, no network beyond this server.
// All model text is inserted with textContent (never innerHTML): outputs are untrusted.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { bench: null, index: 0, view: null, shownAt: 0, timer: null, mode: "bench" };

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

function renderImpression(imp) {
  const box = $("impression");
  box.replaceChildren();
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

function renderImages(images) {
  const box = $("images");
  box.replaceChildren();
  if (!images.length) box.append(el("p", { class: "muted", text: "(no image)" }));
  for (const im of images) {
    const img = el("img", { src: im.url, alt: im.path });
    img.addEventListener("error", () => img.replaceWith(el("p", { class: "error", text: `cannot show ${im.path} (missing or refused)` })));
    box.append(el("figure", {}, img, el("figcaption", { text: im.path })));
  }
}

function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(2); }

function renderView(v) {
  state.view = v;
  $("item-head").textContent = `${v.id} · task ${v.task} · study ${v.study_id}`;
  $("question-box").textContent = v.question;
  const ol = $("options");
  ol.replaceChildren();
  for (const [letter, text] of Object.entries(v.options || {})) {
    const li = el("li", { "data-letter": letter, text: `${letter}) ${text}` });
    if (letter === v.gold) li.classList.add("gold");
    if (letter === v.answer_letter) li.classList.add("chosen");
    if (letter === v.answer_letter && !v.correct) li.classList.add("wrong");
    ol.append(li);
  }
  const verdict = $("verdict");
  verdict.replaceChildren();
  if (!v.has_prediction) {
    verdict.append(el("span", { class: "verdict none", text: "no prediction" }));
  } else {
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
  renderSteps(v.steps, v.think);
  renderImpression(v.impression);
  renderImages(v.images || []);
  $("report").textContent = v.report || "(no report)";
  $("ref-steps").replaceChildren(...(v.reference_steps || []).map((t) => el("li", { text: t })));
  $("raw").textContent = v.has_prediction ? (v.error ? `[error] ${v.error}\n` : "") + (v.output || "") : "";
  $("reader-text").value = v.impression ? v.impression.impression : "";
  $("reader-status").textContent = "";
  state.shownAt = performance.now();
}

async function loadItem(i) {
  const n = state.bench.n;
  if (!n) return;
  state.index = ((i % n) + n) % n;
  $("counter").textContent = `${state.index + 1} / ${n}`;
  $("jump").value = String(state.index);
  history.replaceState(null, "", `#i=${state.index}`);
  try {
    renderView(await api(`/api/items/${state.index}`));
    showError("");
  } catch (e) { showError(String(e.message || e)); }
}

async function recordDecision(decision) {
  const v = state.view;
  if (!v || state.mode !== "bench") return;
  const text = $("reader-text").value;
  const body = { item_id: v.id, decision, reader: $("reader-name").value || "anonymous",
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
                 radrscore: null, images: (r.previews || []).map((u, k) => ({ url: u, path: files[k] ? files[k].name : `image ${k + 1}` })) });
    $("verdict").replaceChildren(el("span", { class: "scores" }, el("span", {}, "answer ", el("b", { text: r.answer === null ? "(unparsable)" : r.answer })),
                                    el("span", { text: `${r.seconds.toFixed(2)} s · ${r.model}` })));
    showError("");
  } catch (e) { showError(String(e.message || e)); }
  finally { $("analyze").disabled = false; }
}

function onKey(ev) {
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (state.mode !== "bench" || !state.bench || !state.bench.n) return;
  if (ev.key === "ArrowRight" || ev.key === "j") { ev.preventDefault(); loadItem(state.index + 1); }
  else if (ev.key === "ArrowLeft" || ev.key === "k") { ev.preventDefault(); loadItem(state.index - 1); }
  else if (!$("reader").hidden && ev.key === "a") recordDecision("accept");
  else if (!$("reader").hidden && ev.key === "e") recordDecision("edit");
}

async function init() {
  $("prev").onclick = () => loadItem(state.index - 1);
  $("next").onclick = () => loadItem(state.index + 1);
  $("jump").onchange = () => loadItem(Number($("jump").value));
  $("accept").onclick = () => recordDecision("accept");
  $("save-edit").onclick = () => recordDecision("edit");
  $("reader-mode").onchange = () => { $("reader").hidden = !$("reader-mode").checked; state.shownAt = performance.now(); };
  $("open-upload").onclick = () => { $("upload").hidden = false; };
  $("close-upload").onclick = () => { $("upload").hidden = true; state.mode = "bench"; if (state.bench && state.bench.n) loadItem(state.index); };
  $("upload-form").addEventListener("submit", analyze);
  document.addEventListener("keydown", onKey);
  state.timer = setInterval(tick, 1000);
  try {
    state.bench = await api("/api/bench");
  } catch (e) { showError(String(e.message || e)); return; }
  $("model").textContent = `model: ${state.bench.model}${state.bench.vlm ? "" : " (text-only)"}`;
  $("reader-toggle").hidden = !state.bench.reader_study;
  if (!state.bench.loaded || !state.bench.n) {
    $("upload").hidden = false;
    state.mode = "upload";
    $("main").querySelector("#item-head").textContent = "No benchmark loaded: open an image to analyze it.";
    return;
  }
  $("nav").hidden = false;
  for (const [k, it] of state.bench.items.entries()) {
    const mark = it.outcome === null ? "·" : it.outcome >= 1 ? "✓" : "✗";
    $("jump").append(el("option", { value: String(k), text: `${k + 1}. ${it.id} ${mark}` }));
  }
  const m = /#i=(\d+)/.exec(location.hash);
  loadItem(m ? Number(m[1]) : 0);
}

init();
