// fakescope web UI: plain JavaScript, no build step, no third-party code, nothing fetched
// from anywhere but this server. Everything the server sends that a user wrote (file names,
// manifest fields) is inserted as text, never as HTML.
"use strict";

const KEY_STORAGE = "fakescope.apiKey";
const BAND = [0.35, 0.65]; // the default verdict band (model cards may move it)
const state = { info: null, uploads: [], filters: { verdict: "", status: "", media_type: "", since: "" },
                pollTimer: null, objectUrls: [], mayReview: null };

// --- small helpers --------------------------------------------------------------------

// el() and svg() come from dom.js.

function apiKey() { return localStorage.getItem(KEY_STORAGE) || ""; }

function authHeaders() {
  const k = apiKey();
  return k ? { Authorization: "Bearer " + k } : {};
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
  if (res.status === 401) { askForKey("This server needs an API key."); }
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).detail || msg; } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, msg);
  }
  return res;
}

async function apiJson(path, opts) { return (await api(path, opts)).json(); }

async function blobUrl(path) {
  const url = URL.createObjectURL(await (await api(path)).blob());
  state.objectUrls.push(url);
  return url;
}

function notice(text) {
  const n = document.getElementById("notice");
  n.textContent = text || "";
  n.hidden = !text;
}

function askForKey(message) {
  document.getElementById("keyform").hidden = false;
  notice(message + " Enter it at the top right; it is kept in this browser only.");
}

const pct = (x) => (100 * x).toFixed(0) + " %";
const seconds = (t, span) => (span < 10 ? t.toFixed(1) : t.toFixed(0)) + " s";
const fmtScore = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

const VERDICT_WORDS = {
  fake: "Likely manipulated", real: "No sign of manipulation", inconclusive: "Inconclusive",
  no_face: "No face to judge", error: "Could not be analysed",
};

const WHERE = {
  image: " The boxes and the coloured heatmap show where the evidence is.",
  video: " The chart below shows when, and for which person.",
  audio: " The voice panel below shows where in the recording.",
};

const VERDICT_EXPLAIN = {
  fake: "The detectors found traces of manipulation strong enough to call this media fake.",
  real: "The detectors found no meaningful manipulation traces in what they examined. " +
        "This is not proof of authenticity: it means this check found nothing.",
  inconclusive: "The evidence is too weak or too mixed for a call either way. A person should look " +
                "at the media and its source before relying on it.",
  no_face: "Nothing could judge this file: no face was found and no whole-picture check ran. This " +
           "says nothing about whether the media is authentic.",
  error: "The file could not be analysed; the reason is given below.",
};

function faceWord(score) {
  if (score === null || score === undefined) return ["not scored", ""];
  if (score >= BAND[1]) return ["looks manipulated", "suspicious"];
  if (score >= BAND[0]) return ["uncertain", "uncertain"];
  return ["looks unaltered", ""];
}

function badge(verdict, status) {
  if (!verdict) {
    const word = status === "failed" ? "failed" : status || "pending";
    return el("span", { class: "badge " + (status === "failed" ? "failed" : "pending"), text: word });
  }
  return el("span", { class: "badge " + verdict, "data-verdict": verdict, text: verdict.replace("_", " ") });
}

// --- routing --------------------------------------------------------------------------

function route() {
  clearTimeout(state.pollTimer);
  state.objectUrls.forEach((u) => URL.revokeObjectURL(u));
  state.objectUrls = [];
  const m = location.hash.match(/^#\/scans\/([A-Za-z0-9]+)$/);
  if (m) showScan(m[1]);
  else if (location.hash === "#/review") showQueue();
  else if (location.hash === "#/dashboard") showDashboard();
  else if (location.hash === "#/people") showPeople();
  else showHome();
}

// Whether this key may record reviews (the reviewer role): asked once, by reading the queue.
async function mayReview() {
  if (state.mayReview === null) {
    try { await api("/v1/reviews/queue?limit=1"); state.mayReview = true; }
    catch (e) { if (e.status !== 403) throw e; state.mayReview = false; }
  }
  return state.mayReview;
}

// --- home: upload and list --------------------------------------------------------------

function showHome() {
  const view = document.getElementById("view");
  const input = el("input", { type: "file", id: "fileinput", multiple: true, hidden: true,
                              accept: "image/*,video/*,audio/*" });
  input.addEventListener("change", () => { uploadFiles(input.files); input.value = ""; });
  const drop = el("div", { class: "drop", id: "drop" },
    el("p", {}, el("strong", { text: "Drop photos or videos here" })),
    el("p", { class: "muted" }, "or ", el("button", { type: "button", class: "secondary",
                                                     onclick: () => input.click() }, "choose files")),
    el("p", { class: "muted", text: maxUploadText() }), input);
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => uploadFiles(e.dataTransfer.files));

  const list = el("ul", { class: "uploads", id: "uploads" });
  const f = state.filters;
  const select = (name, options) => el("select", { name, onchange: (e) => { f[name] = e.target.value; loadScans(); } },
    options.map(([v, label]) => el("option", { value: v, selected: f[name] === v, text: label })));
  const filters = el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
    el("label", {}, "Verdict", select("verdict", [["", "any"], ["fake", "fake"], ["inconclusive", "inconclusive"],
      ["real", "real"], ["no_face", "no face"], ["error", "error"]])),
    el("label", {}, "Status", select("status", [["", "any"], ["queued,running", "in progress"],
      ["done", "done"], ["failed", "failed"]])),
    el("label", {}, "Media", select("media_type", [["", "any"], ["image", "image"], ["video", "video"],
      ["audio", "audio"]])),
    el("label", {}, "Since", el("input", { type: "date", name: "since", value: f.since,
      onchange: (e) => { f.since = e.target.value; loadScans(); } })));
  view.replaceChildren(
    el("section", { class: "card" }, el("h2", { text: "Scan media" }), drop, list),
    el("section", { class: "card" }, el("h2", { text: "Scans" }), filters,
      el("table", { id: "scans" }, el("thead", {}, el("tr", {},
        ["Uploaded", "File", "Media", "Result", "Score", ""].map((h) => el("th", { text: h })))),
        el("tbody", { id: "scanrows" })),
      el("p", {}, el("button", { type: "button", class: "secondary", id: "more", hidden: true,
                                 text: "Load more" })),
      el("p", { class: "muted", id: "empty", hidden: true, text: "No scans yet." })),
    el("section", { class: "card", id: "review-link", hidden: true }, el("h2", { text: "Review" }),
      el("p", {}, "Record the truth about scans, so that this deployment can learn from it: ",
        el("a", { href: "#/review", text: "the review queue" }), " (the inconclusive and the disputed first).")),
    el("section", { class: "card" }, el("h2", { text: "Monitoring" }),
      el("p", {}, "Verdict shares, how each kind of evidence scores this deployment's media, and how often " +
        "reviewers agree: ", el("a", { href: "#/dashboard", text: "the dashboard" }), ".")),
    el("section", { class: "card", id: "people-link", hidden: true }, el("h2", { text: "Protected people" }),
      el("p", {}, "Enrol the people likely to be impersonated, so that every scan says whether a face or the " +
        "voice matches them: ", el("a", { href: "#/people", text: "protected people" }), ".")),
    el("section", { class: "card" }, el("h2", { text: "Live streams" }),
      el("p", {}, "Watch a camera or a live stream and see a verdict per person as it goes: ",
        el("a", { href: "/ui/live.html", text: "live checks" }), ".")));
  renderUploads();
  loadScans();
  mayReview().then((ok) => { document.getElementById("review-link").hidden = !ok; }).catch(() => {});
  // Admin keys on a server with the people key: the list answers (403 others, 503 off).
  api("/v1/people").then(() => { document.getElementById("people-link").hidden = false; }).catch(() => {});
}

function maxUploadText() {
  if (!state.info) return "";
  const mb = state.info.max_upload_bytes / (1024 * 1024);
  return `Up to ${mb.toFixed(0)} MB per file. Uploads and reports are deleted after ` +
         `${state.info.retention_days} days.`;
}

function scanRow(s) {
  return el("tr", { "data-id": s.id },
    el("td", { text: when(s.created_at) }),
    el("td", {}, el("a", { href: "#/scans/" + s.id, text: s.filename })),
    el("td", { text: s.media_type || "" }),
    el("td", {}, badge(s.verdict, s.status)),
    el("td", { class: "num", text: fmtScore(s.score) }),
    el("td", {}, el("a", { href: "#/scans/" + s.id, text: "report" })));
}

async function loadScans(cursor) {
  const f = state.filters;
  const q = new URLSearchParams({ limit: "25" });
  if (f.verdict) q.set("verdict", f.verdict);
  if (f.status) q.set("status", f.status);
  if (f.media_type) q.set("media_type", f.media_type);
  if (f.since) q.set("since", new Date(f.since + "T00:00:00").toISOString());
  if (cursor) q.set("cursor", cursor);
  let page;
  try { page = await apiJson("/v1/scans?" + q); } catch (e) { if (e.status !== 401) notice(e.message); return; }
  const rows = document.getElementById("scanrows");
  if (!rows) return;
  if (!cursor) rows.replaceChildren();
  page.items.forEach((s) => rows.append(scanRow(s)));
  document.getElementById("empty").hidden = rows.children.length > 0;
  const more = document.getElementById("more");
  more.hidden = !page.next_cursor;
  more.onclick = () => loadScans(page.next_cursor);
  if (!cursor && page.items.some((s) => s.status === "queued" || s.status === "running")) {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(() => { if (!location.hash.startsWith("#/scans/")) loadScans(); }, 2000);
  }
}

function renderUploads() {
  const list = document.getElementById("uploads");
  if (!list) return;
  list.replaceChildren(...state.uploads.map((u) => {
    const status = el("span", { class: "status" });
    if (u.report) {
      status.append(badge(u.report.verdict, u.report.status), " ",
                    el("a", { href: "#/scans/" + u.id, text: "view report" }));
    } else {
      status.append(u.error ? el("span", { class: "state bad", text: u.error }) : u.phase);
    }
    return el("li", { "data-upload": u.name },
      el("span", { class: "name", title: u.name, text: u.name }),
      el("progress", { max: "100", value: String(u.progress) }), status);
  }));
}

function uploadFiles(files) {
  for (const file of files) {
    const u = { name: file.name, progress: 0, phase: "uploading…", id: null, report: null, error: null };
    state.uploads.unshift(u);
    const form = new FormData();
    form.append("file", file, file.name);
    // XMLHttpRequest, not fetch: only it reports upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/scans");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) { u.progress = Math.round((100 * e.loaded) / e.total); renderUploads(); }
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* empty */ }
      if (xhr.status === 202) {
        u.id = body.id; u.progress = 100; u.phase = "queued — scanning soon";
        renderUploads(); loadScans(); followUpload(u);
      } else {
        if (xhr.status === 401) askForKey("This server needs an API key.");
        const retry = xhr.getResponseHeader("Retry-After");
        u.error = (body.detail || xhr.statusText || "upload failed") + (retry ? ` (retry in ${retry} s)` : "");
        renderUploads();
      }
    };
    xhr.onerror = () => { u.error = "network error: the upload did not reach the server"; renderUploads(); };
    xhr.send(form);
  }
  renderUploads();
}

async function followUpload(u) {
  for (;;) {
    let s;
    try { s = await apiJson("/v1/scans/" + u.id); } catch (e) { u.error = e.message; renderUploads(); return; }
    if (s.status === "done" || s.status === "failed") { u.report = s; renderUploads(); loadScans(); return; }
    u.phase = s.status === "running" ? "scanning…" : "queued — scanning soon";
    renderUploads();
    await new Promise((r) => setTimeout(r, 800));
  }
}

// --- one scan: the report page ------------------------------------------------------------

async function showScan(id) {
  const view = document.getElementById("view");
  let s;
  try { s = await apiJson("/v1/scans/" + id); } catch (e) {
    view.replaceChildren(el("p", {}, el("a", { href: "#/", text: "← all scans" })),
                         el("p", { class: "state bad", text: e.message }));
    return;
  }
  if (location.hash !== "#/scans/" + id) return;
  const back = el("p", {}, el("a", { href: "#/", text: "← all scans" }));
  const title = el("h1", { class: "filename", text: s.filename });
  if (s.status === "queued" || s.status === "running") {
    view.replaceChildren(back, title, el("section", { class: "card", id: "pending" },
      el("span", { class: "spinner" }), " ",
      s.status === "running" ? "Scanning now…" : "Waiting for a free scanner…",
      el("p", { class: "muted", text: "This page updates by itself." })));
    state.pollTimer = setTimeout(() => showScan(id), 1000);
    return;
  }
  if (s.status === "failed" || !s.report) {
    view.replaceChildren(back, title, el("section", { class: "card" },
      el("p", { class: "verdict-word error", text: "Scan failed" }),
      el("p", { text: s.error || "No report could be made." }), actions(s)));
    return;
  }
  const r = s.report;
  const parts = [back, title, verdictCard(s, r)];
  if (await mayReview().catch(() => false)) parts.push(await reviewCard(s));
  if (r.media_type === "image" && r.media) parts.push(await pictureCard(s, r));
  if (r.media_type === "video") parts.push(videoCard(r));
  if (r.audio || r.analyzers.some((a) => a.name === "voice")) parts.push(voiceCard(r));
  if (r.people) parts.push(peopleCard(r.people));
  parts.push(el("div", { class: "grid2" }, provenanceCard(r), metadataCard(r)));
  parts.push(limitsCard(r), technicalCard(s, r));
  view.replaceChildren(...parts);
}

function gauge(score) {
  const cx = 110, cy = 105, rad = 85;
  const pt = (p) => [cx - rad * Math.cos(Math.PI * p), cy - rad * Math.sin(Math.PI * p)];
  const arc = (a, b, colour) => {
    const [x0, y0] = pt(a), [x1, y1] = pt(b);
    return svg("path", { d: `M${x0} ${y0} A${rad} ${rad} 0 0 1 ${x1} ${y1}`, stroke: colour,
                         "stroke-width": "18", fill: "none" });
  };
  const g = svg("svg", { class: "gauge", width: "220", height: "130", viewBox: "0 0 220 130", role: "img",
                         "aria-label": score === null ? "no score" : `manipulation probability ${pct(score)}` },
    arc(0, BAND[0], "#66bb6a"), arc(BAND[0], BAND[1], "#ffca28"), arc(BAND[1], 1, "#ef5350"),
    svg("text", { x: "18", y: "125" }, "real"), svg("text", { x: "178", y: "125" }, "fake"));
  if (score !== null && score !== undefined) {
    const [nx, ny] = pt(score);
    g.append(svg("line", { x1: cx, y1: cy, x2: cx + 0.85 * (nx - cx), y2: cy + 0.85 * (ny - cy),
                           stroke: "#1d232b", "stroke-width": "4", "stroke-linecap": "round" }),
             svg("circle", { cx, cy, r: "6", fill: "#1d232b" }),
             svg("text", { x: cx, y: cy - 28, "text-anchor": "middle", class: "value" }, pct(score)));
  } else {
    g.append(svg("text", { x: cx, y: cy - 28, "text-anchor": "middle", class: "value" }, "–"));
  }
  return g;
}

const EVIDENCE_WORDS = {
  face_manipulation: "a face model (signs of a swapped, reenacted or edited face)",
  generated_image: "the generated-picture model (traces an image generator leaves in the whole picture)",
  temporal: "how the face moves over time (blinking, lip-sync)",
  synthetic_voice: "the voice model",
  provenance: "the file's provenance (Content Credentials or the registry)",
};

function verdictCard(s, r) {
  const v = r.verdict;
  const scoreLine = r.score === null || r.score === undefined ? "No manipulation score: " +
    (v === "no_face" ? "there was nothing to judge." : v === "error" ? "the file could not be analysed."
      : "nothing could be judged.")
    : `Estimated probability that the media was manipulated or generated: ${pct(r.score)} ` +
      "(each kind of evidence has its own thresholds for real and fake).";
  return el("section", { class: "card verdict-card", id: "verdict-card" },
    gauge(r.score),
    el("div", {},
      el("p", { class: "verdict-word " + v, id: "verdict", "data-verdict": v, text: VERDICT_WORDS[v] || v }),
      el("p", { class: "headline", text: (VERDICT_EXPLAIN[v] || "") + (v === "fake" ? WHERE[r.media_type] || "" : "") }),
      el("p", { class: "muted", text: scoreLine }),
      el("p", { class: "muted" }, "Why: ", el("span", { id: "reason", text: r.reason })),
      r.decided_by ? el("p", { class: "muted", id: "decided-by",
                               text: "Decided by " + (EVIDENCE_WORDS[r.decided_by] || r.decided_by) + "." }) : null,
      r.error ? el("p", { class: "state bad", text: r.error.message }) : null));
}

async function pictureCard(s, r) {
  const box = el("div", { class: "picture", id: "picture" });
  const card = el("section", { class: "card" }, el("h2", { text: "Faces found" }));
  try {
    const img = el("img", { src: await blobUrl(`/v1/scans/${s.id}/image`), alt: "the scanned picture" });
    box.append(img);
  } catch (e) {
    card.append(el("p", { class: "muted", text: "The picture is no longer stored (" + e.message + ")." }));
    return card;
  }
  let heat = null;
  if (r.faces.length) {
    try {
      heat = el("img", { class: "heat", src: await blobUrl(`/v1/scans/${s.id}/heatmap.png`),
                         alt: "where the model saw manipulation" });
      box.append(heat);
    } catch (_) { heat = null; }
  }
  const W = r.media.width, H = r.media.height;
  for (const f of r.faces) {
    const [x0, y0, x1, y1] = f.box;
    const [word, cls] = faceWord(f.score);
    const fb = el("div", { class: "facebox " + cls, "data-face": String(f.index),
                           title: `face ${f.index + 1}: ${word}` },
      el("span", { text: `face ${f.index + 1}: ${fmtScore(f.score)}` }));
    // Percentages: the boxes stay on the faces whatever size the picture is shown at.
    fb.style.left = (100 * x0 / W) + "%"; fb.style.top = (100 * y0 / H) + "%";
    fb.style.width = (100 * (x1 - x0) / W) + "%"; fb.style.height = (100 * (y1 - y0) / H) + "%";
    box.append(fb);
  }
  card.append(box);
  if (heat) {
    const toggle = el("input", { type: "checkbox", checked: true, id: "showheat",
                                 onchange: (e) => { heat.hidden = !e.target.checked; } });
    card.append(el("p", {}, el("label", {}, toggle, " Show heatmaps"), " ",
      el("span", { class: "legend" }), el("span", { class: "muted",
        text: " blue: no evidence → red: strong evidence of manipulation, where the face model looked" })));
  }
  if (r.faces.length) {
    card.append(el("table", {}, el("thead", {}, el("tr", {},
      ["Face", "Probability of manipulation", "What it means", "Detector confidence"].map((h) => el("th", { text: h })))),
      el("tbody", {}, r.faces.map((f) => el("tr", {},
        el("td", { text: `face ${f.index + 1}` }), el("td", { class: "num", text: fmtScore(f.score) }),
        el("td", { text: faceWord(f.score)[0] }), el("td", { class: "num", text: pct(f.detector_score) }))))));
    card.append(el("p", { class: "muted", text: "The picture's score is the highest of its faces: one " +
      "manipulated face is enough to make a manipulated picture." }));
  } else {
    card.append(el("p", { class: "muted", text: "No face was found in this picture." }));
  }
  return card;
}

function timelineChart(r) {
  const W = 760, H = 230, L = 44, R = 12, T = 12, B = 36;
  const w = W - L - R, h = H - T - B;
  const dur = Math.max(r.video ? r.video.duration_s : 0, ...r.timeline.map((p) => p.time_s), 0.001);
  const x = (t) => L + (w * t) / dur, y = (p) => T + h * (1 - p);
  const chart = svg("svg", { class: "chart", id: "timeline", viewBox: `0 0 ${W} ${H}`, width: "100%",
                             role: "img", "aria-label": "manipulation probability over time" },
    svg("rect", { x: L, y: y(1), width: w, height: y(BAND[1]) - y(1), fill: "#ffebee" }),
    svg("rect", { x: L, y: y(BAND[1]), width: w, height: y(BAND[0]) - y(BAND[1]), fill: "#fff8e1" }),
    svg("rect", { x: L, y: y(BAND[0]), width: w, height: y(0) - y(BAND[0]), fill: "#e8f5e9" }));
  for (const p of [0, 0.5, 1]) chart.append(svg("text", { x: L - 6, y: y(p) + 4, "text-anchor": "end" }, p.toFixed(1)));
  for (let k = 0; k <= 5; k++) {
    const t = (dur * k) / 5;
    chart.append(svg("text", { x: x(t), y: H - 18, "text-anchor": "middle" }, seconds(t, dur)));
  }
  chart.append(svg("text", { x: L + w / 2, y: H - 3, "text-anchor": "middle" }, "time in the clip"));
  const colours = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f"];
  const ids = [...new Set(r.timeline.flatMap((p) => Object.keys(p.track_scores || {})))].sort((a, b) => a - b);
  const series = ids.length ? ids.map((id) => [`person ${Number(id) + 1}`,
    r.timeline.filter((p) => p.track_scores[id] !== null && p.track_scores[id] !== undefined)
      .map((p) => [p.time_s, p.track_scores[id]])])
    : [["frame score", r.timeline.filter((p) => p.score !== null).map((p) => [p.time_s, p.score])]];
  series.forEach(([name, pts], n) => {
    if (!pts.length) return;
    const c = colours[n % colours.length];
    chart.append(svg("polyline", { fill: "none", stroke: c, "stroke-width": "2",
                                   points: pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
    pts.forEach(([t, v]) => chart.append(svg("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: "2.5", fill: c })));
    chart.append(svg("text", { x: L + 8 + 90 * n, y: T + 12, fill: c }, name));
  });
  return chart;
}

function videoCard(r) {
  const card = el("section", { class: "card", id: "video" }, el("h2", { text: "Over time" }));
  const v = r.video;
  if (v) {
    card.append(el("p", { class: "muted", text: `${v.duration_s.toFixed(1)} s at ${v.fps} fps (${v.codec}); ` +
      `${v.frames_analysed} frames analysed (${v.sampling})${v.has_audio ? ", with sound" : ", no sound"}.` }));
  }
  if (r.timeline.length) {
    card.append(timelineChart(r), el("p", { class: "muted", text: "Each line is one person's face: the " +
      "probability of manipulation in each analysed frame (green: real, yellow: uncertain, red: fake)." }));
  } else {
    card.append(el("p", { class: "muted", text: "No frame could be analysed." }));
  }
  if (r.tracks.length) {
    card.append(el("table", {}, el("thead", {}, el("tr", {},
      ["Person", "Seen", "Probability of manipulation", "What it means"].map((h) => el("th", { text: h })))),
      el("tbody", {}, r.tracks.map((t) => el("tr", {},
        el("td", { text: `person ${t.id + 1}` }),
        el("td", { text: `${t.first_s.toFixed(1)}–${t.last_s.toFixed(1)} s (${t.frames} frames)` }),
        el("td", { class: "num", text: fmtScore(t.score) }),
        el("td", { text: t.counted === false ? "seen too briefly to count towards the verdict"
          : faceWord(t.score)[0] }))))));
  }
  const temporal = r.analyzers.filter((a) => ["blink", "motion", "lip-sync"].includes(a.name));
  if (temporal.length) {
    card.append(el("p", { text: "Behaviour over time (0.5 means no opinion):" }), el("ul", { class: "plain" },
      temporal.map((a) => el("li", {}, el("strong", { text: a.name }), `: ${fmtScore(a.score)} — `,
        ((a.details && (a.details.findings || [a.details.reason])) || []).filter(Boolean).join("; ") ||
        (a.error ? a.error.message : "no finding")))));
  }
  return card;
}

const TRACE_LABELS = { vocoder: "vocoder/codec-like", prosody: "prosody", spectrum: "spectrum" };

function segmentsChart(r) {
  const W = 760, H = 120, L = 44, R = 12, T = 8, B = 30;
  const w = W - L - R, h = H - T - B;
  const dur = Math.max(r.audio ? r.audio.duration_s : 0, ...r.segments.map((s) => s.end_s), 0.001);
  const x = (t) => L + (w * t) / dur;
  const chart = svg("svg", { class: "chart", id: "segments", viewBox: `0 0 ${W} ${H}`, width: "100%",
                             role: "img", "aria-label": "synthetic-voice probability over time" });
  for (const seg of r.segments) {
    const colour = !seg.speech || seg.score === null ? "#cfd8dc"
      : seg.score >= BAND[1] ? "#ef5350" : seg.score >= BAND[0] ? "#ffca28" : "#66bb6a";
    const height = seg.speech && seg.score !== null ? Math.max(3, h * seg.score) : 3;
    const width = Math.max(1, x(seg.end_s) - x(seg.start_s) - 1);
    const bar = svg("rect", { x: x(seg.start_s) + 0.5, y: T + h - height, width, height, fill: colour });
    const kinds = Object.entries(seg.traces || {}).sort((a, b) => b[1] - a[1]);
    let tip = `${seg.start_s.toFixed(1)}–${seg.end_s.toFixed(1)} s` + (seg.score === null ? ": no speech" : `: ${pct(seg.score)}`);
    if (kinds.length) tip += "; traces: " + kinds.map(([k, v]) => `${TRACE_LABELS[k] || k} ${pct(v)}`).join(", ");
    bar.append(svg("title", {}, tip));
    chart.append(bar);
    const fired = kinds.filter(([, v]) => v >= 0.5).map(([k]) => k[0].toUpperCase()).join("");
    if (fired && seg.score !== null && seg.score >= BAND[1] && width >= 7) {
      chart.append(svg("text", { x: x(seg.start_s) + 0.5 + width / 2, y: T + h - height - 2, "text-anchor": "middle",
                                 class: "kind" }, fired));
    }
  }
  for (let k = 0; k <= 5; k++) {
    const t = (dur * k) / 5;
    chart.append(svg("text", { x: x(t), y: H - 14, "text-anchor": "middle" }, seconds(t, dur)));
  }
  chart.append(svg("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, "1.0"),
               svg("text", { x: L - 6, y: T + h, "text-anchor": "end" }, "0"));
  return chart;
}

function voiceCard(r) {
  const card = el("section", { class: "card", id: "voice" }, el("h2", { text: "Voice" }));
  const a = r.analyzers.find((x) => x.name === "voice");
  if (r.audio) {
    card.append(el("p", { class: "muted", text: `${r.audio.duration_s.toFixed(1)} s of audio (${r.audio.codec}, ` +
      `${r.audio.sample_rate} Hz)` + (r.audio.speech_s !== null && r.audio.speech_s !== undefined
        ? `, of which ${r.audio.speech_s.toFixed(1)} s is speech.` : ".") }));
  }
  if (!a) {
    card.append(el("p", { text: "The voice was not analysed in this scan." }));
  } else if (a.score === null || a.score === undefined) {
    card.append(el("p", { text: a.error ? "Voice analysis failed: " + a.error.message
      : "No opinion on the voice (for example: no speech was found)." }));
  } else {
    card.append(el("p", {}, "Probability that the voice is synthesised or converted: ",
      el("strong", { text: pct(a.score) }), ` — ${faceWord(a.score)[0].replace("unaltered", "natural")}.`));
    const tw = a.details && a.details.trace_windows;
    const flagged = a.details && a.details.segments_flagged;
    if (tw && flagged) {
      const parts = Object.entries(tw).filter(([, n]) => n > 0).sort((p, q) => q[1] - p[1])
        .map(([k, n]) => `${TRACE_LABELS[k] || k} in ${n}`);
      card.append(el("p", { id: "trace-kinds", text: `Kinds of trace in the ${flagged} flagged window` +
        `${flagged === 1 ? "" : "s"}: ` + (parts.length ? parts.join(", ") : "none of the known kinds stands out") +
        " (each stronger there than in 95 % of real speech; letters over the bars: V vocoder/codec-like, " +
        "P prosody, S spectrum). Today's clones carry these kinds little more often than real speech: " +
        "a kind found is a fact about the window, none found says nothing." }));
    }
  }
  if (r.segments && r.segments.length) {
    card.append(segmentsChart(r), el("p", { class: "muted", text: "Each bar is a 2-second window: its height " +
      "and colour show how synthetic the speech in it sounds (grey: no speech)." }));
  }
  card.append(el("p", { class: "muted", text: "Voice detectors look for traces of speech synthesis and voice " +
    "conversion; background noise, music, phone-line quality and heavy compression make them less reliable." }));
  return card;
}

function provenanceCard(r) {
  const card = el("section", { class: "card", id: "provenance" }, el("h2", { text: "Origin (provenance)" }));
  const p = r.provenance;
  if (!p) { card.append(el("p", { class: "muted", text: "The file could not be read." })); return card; }
  const c = p.c2pa;
  const says = {
    valid: ["Valid Content Credentials", "good", "The file carries a signed record of its origin and " +
            "history (C2PA), and the content still matches it."],
    invalid: ["Content Credentials FAIL", "bad", "The file carries Content Credentials that no longer " +
              "validate: the file or its record changed after signing."],
    absent: ["No Content Credentials", "neutral", "Most media has none; their absence is not evidence of " +
             "manipulation."],
    unverifiable: ["Credentials not checkable", "neutral", "The file has Content Credentials that cannot " +
                   "be checked offline (for example a remote manifest, which is never fetched)."],
  }[c.state] || [c.state, "neutral", ""];
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Credentials" }), el("dd", {}, el("span", { class: "state " + says[1], id: "c2pa-state",
                                                               text: says[0] })));
  if (c.signer) {
    facts.append(el("dt", { text: "Signed by" }), el("dd", { text: c.signer + (c.issuer ? ` (${c.issuer})` : "") +
      (c.trusted ? " — a signer this server trusts" : " — not a signer this server is configured to trust") }));
  }
  if (c.signed_at) facts.append(el("dt", { text: "Signed at" }), el("dd", { text: c.signed_at }));
  if (c.claim_generator) facts.append(el("dt", { text: "Made with" }), el("dd", { text: c.claim_generator }));
  if (c.ai_generated) facts.append(el("dt", { text: "Declares" }), el("dd", { class: "state bad",
    text: "AI generation (the credentials themselves say the content is synthetic)" }));
  if (c.actions && c.actions.length) {
    facts.append(el("dt", { text: "History" }), el("dd", { text: c.actions.map((a) => a.action.replace("c2pa.", "") +
      (a.software_agent ? ` with ${a.software_agent}` : "")).join(", ") }));
  }
  if (c.validation_errors && c.validation_errors.length) {
    facts.append(el("dt", { text: "Failures" }), el("dd", { text: c.validation_errors.join("; ") }));
  }
  const wm = p.watermark;
  facts.append(el("dt", { text: "Watermark" }), el("dd", { text: !wm ? "not checked (not an image)"
    : !wm.checked ? "not checked: " + (wm.reason || "")
    : wm.detected ? `fakescope watermark present (payload ${wm.payload})` : "no fakescope watermark found" }));
  const reg = p.registry;
  facts.append(el("dt", { text: "Registry" }), el("dd", { text: !reg ? "no registry configured"
    : !reg.checked ? "not used: " + (reg.reason || "failed its integrity check")
    : reg.matched === "none" ? "no match among registered originals"
    : `${reg.matched} match with registered entry ${reg.matches[0].entry_id}` +
      (reg.matches[0].label ? ` (${reg.matches[0].label})` : "") }));
  card.append(el("p", { text: says[2] }), facts);
  return card;
}

// Protected people (docs/people.md): names and similarities only; the findings say what a
// match can show (impersonation when face and voice disagree, likeness when they agree).
function peopleCard(p) {
  const card = el("section", { class: "card", id: "people" }, el("h2", { text: "Protected people" }));
  if (!p.matches.length) {
    card.append(el("p", { class: "muted", text: p.enrolled
      ? "No face or voice to compare with the enrolled people." : "Nobody is enrolled." }));
    return card;
  }
  card.append(el("ul", { class: "plain" }, p.findings.map((f) => el("li", { text: f }))));
  card.append(el("table", {}, el("thead", {}, el("tr", {}, ["", "Closest enrolled", "Similarity", "Match at"].map((h) =>
    el("th", { text: h })))), el("tbody", {}, p.matches.map((m) => el("tr", {},
      el("td", { text: m.subject }), el("td", { text: m.person || "–" }),
      el("td", { class: "num", text: m.similarity == null ? "–" : m.similarity.toFixed(2) + (m.matches ? " ✓" : "") }),
      el("td", { class: "num", text: "≥ " + m.threshold.toFixed(2) }))))));
  card.append(el("p", { class: "muted", text: `${p.enrolled} people enrolled. A match shows likeness, not ` +
    "authenticity: a good fake of a person matches them too." }));
  return card;
}

function metadataCard(r) {
  const card = el("section", { class: "card", id: "metadata" }, el("h2", { text: "File metadata" }));
  const m = r.analyzers.find((a) => a.name === "metadata");
  const anomalies = (m && m.details && m.details.anomalies) || [];
  if (!m) card.append(el("p", { class: "muted", text: "Not examined." }));
  else if (!anomalies.length) card.append(el("p", { text: "Nothing unusual in the file's metadata." }));
  else card.append(el("ul", { class: "plain" }, anomalies.map((a) => el("li", { text: a.explanation || a.code }))));
  card.append(el("p", { class: "muted", text: "Metadata is easy to edit or strip, so it is context, never a verdict." }));
  return card;
}

function limitsCard(r) {
  const audio = r.media_type === "audio";
  const items = [
    "The score is a calibrated estimate from models trained on known manipulations, not a proof. " +
      "New kinds of manipulation can go undetected, and unusual but genuine media can look suspicious.",
    audio ? "The voice model judges speech only: edits to music, effects or the order of what is said are " +
      "not what it looks for."
      : "The face models judge faces only: edits elsewhere in the picture (objects, text, background) are " +
        "not what they look for.",
    audio ? "Noise, music, phone-line quality and heavy compression weaken the evidence in either direction."
      : "Heavy compression, resizing, screenshots and very small faces weaken the evidence in either direction.",
    "Valid Content Credentials from a trusted signer, or a match with a registered original, are stronger " +
      "evidence than any detector; a missing record means nothing either way.",
  ];
  if (r.verdict === "inconclusive") items.unshift("This result is inconclusive: check the source and context " +
    "before relying on the media.");
  return el("section", { class: "card", id: "limits" }, el("h2", { text: "How to read this, and its limits" }),
    el("ul", { class: "plain" }, items.map((t) => el("li", { text: t }))));
}

function actions(s) {
  const del = el("button", { type: "button", class: "danger", id: "delete", text: "Delete scan and media",
    onclick: async () => {
      if (!confirm("Delete this scan, its report and the uploaded file?")) return;
      try { await api("/v1/scans/" + s.id, { method: "DELETE" }); location.hash = "#/"; }
      catch (e) { notice(e.message); }
    } });
  const html = el("button", { type: "button", class: "secondary", text: "Open printable report",
    onclick: async () => {
      try { window.open(await blobUrl(`/v1/scans/${s.id}/report.html`), "_blank"); } catch (e) { notice(e.message); }
    } });
  const json = el("button", { type: "button", class: "secondary", text: "Download JSON",
    onclick: async () => {
      try {
        const a = el("a", { href: await blobUrl("/v1/scans/" + s.id), download: `${s.id}.json` });
        document.body.append(a); a.click(); a.remove();
      } catch (e) { notice(e.message); }
    } });
  return el("div", { class: "actions" }, s.report ? html : null, s.report ? json : null, del);
}

function technicalCard(s, r) {
  const rows = r.analyzers.map((a) => el("tr", {}, el("td", { text: a.name }), el("td", { text: a.version }),
    el("td", { class: "num", text: a.error ? a.error.message : fmtScore(a.score) }),
    el("td", { class: "num", text: a.time_ms.toFixed(0) + " ms" })));
  const t = r.timing_ms;
  return el("section", { class: "card", id: "technical" }, el("h2", { text: "Details" }),
    el("details", {}, el("summary", { text: "Analyzers, timings and file facts" }),
      el("table", {}, el("thead", {}, el("tr", {}, ["Analyzer", "Version", "Score", "Time"].map((h) =>
        el("th", { text: h })))), el("tbody", {}, rows)),
      el("p", { class: "muted", text: `SHA-256 ${r.sha256 || "–"} · ` +
        (r.media ? `${r.media.width}×${r.media.height} ${r.media.format} · ` : "") +
        `total ${t.total.toFixed(0)} ms · fakescope ${r.fakescope_version}, report schema ${r.schema_version}` }),
      r.notes.length ? el("p", { class: "muted", text: "Notes: " + r.notes.join("; ") }) : null),
    el("p", { class: "muted", text: `Uploaded ${when(s.created_at)}; kept until ${when(s.expires_at)}.` }),
    actions(s));
}

// --- reviews: the truth a person records, and the queue -------------------------------------

const REVIEW_WORDS = { fake: "Fake", real: "Real", unsure: "Unsure: look again" };
const WHY_WORDS = { inconclusive: "inconclusive", disputed: "evidence disagrees", unsure: "a reviewer was unsure",
                    unreviewed: "not reviewed yet" };

async function reviewCard(s) {
  let current = null;
  try { current = await apiJson(`/v1/scans/${s.id}/review`); } catch (e) { if (e.status !== 404) notice(e.message); }
  const status = el("p", { class: "muted", id: "review-status" });
  const show = (rv) => {
    status.textContent = rv
      ? `Reviewed as ${rv.label} on ${when(rv.updated_at)}` + (rv.agrees === false ? " (overrules the verdict)." : ".")
      : "Not reviewed yet.";
  };
  show(current);
  const note = el("textarea", { id: "review-note", rows: 2, maxlength: 2000, placeholder: "Why (optional)" });
  note.value = current && current.note ? current.note : "";
  const buttons = ["fake", "real", "unsure"].map((label) => el("button", {
    type: "button", class: current && current.label === label ? "" : "secondary", "data-label": label,
    text: REVIEW_WORDS[label],
    onclick: async () => {
      try {
        const rv = await apiJson(`/v1/scans/${s.id}/review`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ label, note: note.value.trim() || null }) });
        buttons.forEach((b) => { b.className = b.dataset.label === label ? "" : "secondary"; });
        show(rv);
      } catch (e) { notice(e.message); }
    } }));
  return el("section", { class: "card", id: "review" }, el("h2", { text: "Your review" }),
    el("p", { class: "muted", text: "What is the truth about this media? Reviews teach this deployment " +
      "(fakescope calibrate); each is recorded with your key." }),
    el("div", { class: "actions" }, buttons), note, status);
}

async function showQueue() {
  const view = document.getElementById("view");
  const back = el("p", {}, el("a", { href: "#/", text: "← all scans" }));
  let q;
  try { q = await apiJson("/v1/reviews/queue?limit=100"); } catch (e) {
    view.replaceChildren(back, el("p", { class: "state bad", text: e.message }));
    return;
  }
  if (location.hash !== "#/review") return;
  const rows = q.items.map((i) => el("tr", { "data-scan": i.id, "data-why": i.why },
    el("td", { text: when(i.created_at) }),
    el("td", {}, el("a", { href: "#/scans/" + i.id, text: i.filename })),
    el("td", { text: i.media_type || "–" }),
    el("td", {}, badge(i.verdict, "done")),
    el("td", { class: "num", text: fmtScore(i.score) }),
    el("td", { text: WHY_WORDS[i.why] || i.why })));
  view.replaceChildren(back, el("section", { class: "card" }, el("h2", { text: "Review queue" }),
    el("p", { class: "muted", id: "queue-count",
              text: `${q.waiting} scan(s) to look at: the inconclusive first, then those whose evidence disagrees, ` +
                    "then those a reviewer was unsure of, then the rest." }),
    rows.length ? el("table", { id: "queue" }, el("thead", {}, el("tr", {},
      ["Uploaded", "File", "Media", "Result", "Score", "Why here"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)) : el("p", { class: "muted", id: "queue-empty", text: "Nothing to review." })));
}

// --- protected people (admin keys): enrol, list, remove --------------------------------------

async function showPeople() {
  const view = document.getElementById("view");
  const back = el("p", {}, el("a", { href: "#/", text: "← all scans" }));
  let people;
  try { people = await apiJson("/v1/people"); } catch (e) {
    view.replaceChildren(back, el("p", { class: "state bad", id: "people-error", text: e.message }));
    return;
  }
  if (location.hash !== "#/people") return;
  const status = el("p", { class: "muted", id: "people-status" });
  const rows = people.map((p) => el("tr", { "data-person": p.name },
    el("td", { text: p.name }), el("td", { class: "num", text: String(p.faces) }),
    el("td", { class: "num", text: String(p.voices) }), el("td", { class: "num", text: String(p.behaviours || 0) }),
    el("td", { text: when(p.created_at) + (p.created_by ? " by " + p.created_by : "") }),
    el("td", { text: p.note }),
    el("td", {}, el("button", { type: "button", class: "secondary", text: "Remove", onclick: async () => {
      if (!confirm(`Erase ${p.name} and every template enrolled for them?`)) return;
      try { await api("/v1/people/" + encodeURIComponent(p.name), { method: "DELETE" }); showPeople(); }
      catch (e) { status.textContent = e.message; }
    } }))));
  const form = el("form", { id: "enrol" },
    el("label", {}, "Name ", el("input", { name: "name", required: true, maxlength: 100 })),
    el("label", {}, "Consent or authority ", el("input", { name: "note", required: true, size: 50 })),
    el("label", {}, "Photos ", el("input", { type: "file", name: "photos", multiple: true, accept: "image/*" })),
    el("label", {}, "Videos ", el("input", { type: "file", name: "videos", multiple: true, accept: "video/*" })),
    el("label", {}, "Audio ", el("input", { type: "file", name: "audio", multiple: true, accept: "audio/*,video/*" })),
    el("button", { type: "submit", text: "Enrol" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "Enrolling… (faces, voices and how they move are read from the media)";
    try {
      const p = await apiJson("/v1/people", { method: "POST", body: new FormData(form) });
      status.textContent = `Enrolled ${p.name}: ${p.faces} face, ${p.voices} voice template(s)` +
        (p.notes && p.notes.length ? ". " + p.notes.join("; ") : ".");
      setTimeout(showPeople, 1500);
    } catch (e) { status.textContent = e.message; }
  });
  view.replaceChildren(back, el("section", { class: "card" }, el("h2", { text: "Protected people" }),
    el("p", { class: "muted", text: "Templates are biometric data: they are stored encrypted with the operator's " +
      "key and never shown; scans name the closest person and how strongly the face and the voice match." }),
    rows.length ? el("table", { id: "people" }, el("thead", {}, el("tr", {},
      ["Name", "Faces", "Voices", "Movement", "Enrolled", "Consent or authority", ""].map((h) =>
        el("th", { text: h })))), el("tbody", {}, rows))
      : el("p", { class: "muted", id: "people-empty", text: "Nobody is enrolled." })),
    el("section", { class: "card" }, el("h2", { text: "Enrol someone" }), form, status));
}

// --- dashboard: drift at a glance, from /metrics -------------------------------------------

// Prometheus text format -> [{name, labels, value}] (the lines this page reads).
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+|NaN|\+Inf)$/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function sumBy(rows, name, keys) {
  const out = new Map();
  for (const r of rows.filter((x) => x.name === name)) {
    const k = keys.map((key) => r.labels[key]).join("|");
    out.set(k, (out.get(k) || 0) + r.value);
  }
  return out;
}

// One horizontal bar of shares: [[label, n, css class]], with the counts written under it.
function shareBar(parts) {
  const total = parts.reduce((a, [, n]) => a + n, 0) || 1;
  return el("div", {},
    el("div", { class: "sharebar" }, parts.filter(([, n]) => n > 0).map(([label, n, cls]) => {
      const part = el("span", { class: "badge " + cls, title: `${label}: ${n}`, text: n / total >= 0.08 ? label : "" });
      part.style.width = `${(100 * n) / total}%`; // CSSOM, not a style attribute: the page's CSP allows only this
      return part;
    })),
    el("p", { class: "muted", text: parts.map(([label, n]) => `${label} ${n}`).join(" · ") }));
}

async function showDashboard() {
  const view = document.getElementById("view");
  const back = el("p", {}, el("a", { href: "#/", text: "← all scans" }));
  let rows;
  try { rows = parseMetrics(await (await api("/metrics")).text()); } catch (e) {
    view.replaceChildren(back, el("p", { class: "state bad", text: e.message }));
    return;
  }
  if (location.hash !== "#/dashboard") return;
  const verdicts = sumBy(rows, "fakescope_scans_total", ["media_type", "verdict"]);
  const media = [...new Set([...verdicts.keys()].map((k) => k.split("|")[0]))].sort();
  const order = ["fake", "inconclusive", "real", "no_face", "error"];
  const verdictCard = el("section", { class: "card", id: "dash-verdicts" }, el("h2", { text: "Verdicts" }),
    media.length ? media.map((m) => el("div", {}, el("h3", { text: m }),
      shareBar(order.map((v) => [v.replace("_", " "), verdicts.get(`${m}|${v}`) || 0, v]))))
      : el("p", { class: "muted", text: "No scans finished since this server started." }));

  // evidence: per media type and kind, the share of scans in each tenth of probability
  const buckets = rows.filter((r) => r.name === "fakescope_evidence_probability_bucket");
  const kinds = [...new Set(buckets.map((r) => `${r.labels.media_type}|${r.labels.kind}`))].sort();
  const evidenceCard = el("section", { class: "card", id: "dash-evidence" },
    el("h2", { text: "How each kind of evidence scores this deployment's media" }),
    kinds.length ? kinds.map((key) => {
      const [m, kind] = key.split("|");
      const cum = buckets.filter((r) => r.labels.media_type === m && r.labels.kind === kind)
        .map((r) => [r.labels.le === "+Inf" ? 1.01 : Number(r.labels.le), r.value]).sort((a, b) => a[0] - b[0]);
      const total = cum.length ? cum[cum.length - 1][1] : 0;
      const counts = cum.map(([, c], i) => c - (i ? cum[i - 1][1] : 0));
      const w = 24, h = 60;
      const bars = counts.map((c, i) => svg("rect", { x: i * (w + 2), y: h - (h * c) / (total || 1), width: w,
        height: (h * c) / (total || 1), class: i >= 7 ? "high" : "low" }, svg("title", {}, `${(i / 10).toFixed(1)}–${((i + 1) / 10).toFixed(1)}: ${c}`)));
      return el("div", { class: "histo", "data-kind": kind },
        el("h3", { text: `${kind.replace("_", " ")} (${m}, ${total} scan${total === 1 ? "" : "s"})` }),
        svg("svg", { width: counts.length * (w + 2), height: h + 14, class: "chart" }, bars,
          svg("text", { x: 0, y: h + 12 }, "0"), svg("text", { x: counts.length * (w + 2) - 8, y: h + 12 }, "1")));
    }) : el("p", { class: "muted", text: "No evidence recorded since this server started." }));

  const reviews = rows.filter((r) => r.name === "fakescope_reviews_total");
  const agreeCard = el("section", { class: "card", id: "dash-reviews" }, el("h2", { text: "Reviewers" }),
    reviews.length ? [...new Set(reviews.map((r) => r.labels.media_type))].sort().map((m) => {
      const of = reviews.filter((r) => r.labels.media_type === m && ["fake", "real"].includes(r.labels.verdict)
                                        && ["fake", "real"].includes(r.labels.label));
      const n = of.reduce((a, r) => a + r.value, 0);
      const agree = of.filter((r) => r.labels.label === r.labels.verdict).reduce((a, r) => a + r.value, 0);
      return el("p", { "data-media": m }, el("strong", { text: m }), `: reviewers agreed with ${agree} of ${n} ` +
        `fake or real verdicts${n ? ` (${pct(agree / n)})` : ""}.`);
    }) : el("p", { class: "muted", text: "No reviews recorded since this server started." }));

  const models = sumBy(rows, "fakescope_model_scans_total", ["model", "version", "verdict"]);
  const versions = [...new Set([...models.keys()].map((k) => k.split("|").slice(0, 2).join("|")))].sort();
  const modelCard = el("section", { class: "card", id: "dash-models" }, el("h2", { text: "Verdicts by model version" }),
    versions.length ? el("table", {}, el("thead", {}, el("tr", {}, ["Model", "Version", ...order].map((t) => el("th", { text: t })))),
      el("tbody", {}, versions.map((mv) => el("tr", {}, mv.split("|").map((t) => el("td", { text: t })),
        order.map((v) => el("td", { class: "num", text: String(models.get(`${mv}|${v}`) || 0) }))))))
      : el("p", { class: "muted", text: "No scans finished since this server started." }));
  view.replaceChildren(back, el("p", { class: "muted", text: "Counted by this server process since it started " +
    "(Prometheus keeps the history: docs/feedback.md has queries and an alert rule)." }),
  verdictCard, evidenceCard, agreeCard, modelCard);
}

// --- start ----------------------------------------------------------------------------------

async function start() {
  const form = document.getElementById("keyform");
  document.getElementById("apikey").value = apiKey();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY_STORAGE, document.getElementById("apikey").value.trim());
    state.mayReview = null;
    notice(""); route();
  });
  document.getElementById("forgetkey").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE); document.getElementById("apikey").value = ""; state.mayReview = null; route();
  });
  try {
    state.info = await apiJson("/v1/info");
    document.getElementById("serverinfo").textContent = `fakescope ${state.info.version}`;
    if (state.info.auth_required) {
      form.hidden = false;
      if (!apiKey()) askForKey("This server needs an API key.");
    }
  } catch (e) { notice("Cannot reach the server: " + e.message); }
  window.addEventListener("hashchange", route);
  route();
}

start();
