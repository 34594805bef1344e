// The page: drop or pick files, check each one here, show the verdict, score, faces,
// heatmaps and Content Credentials. Nothing is sent anywhere: the page has no network
// code, and its Content-Security-Policy (connect-src 'none') forbids any.

import { Checker } from "./check.js";
import { invertAffine, resizeLinearFloat } from "./imgproc.js";

const $ = (sel, root = document) => root.querySelector(sel);
const WORDS = {
  fake: "Likely manipulated", real: "No sign of manipulation", inconclusive: "Inconclusive",
  no_face: "Nothing to judge", error: "Could not be checked", not_checked: "Not checked here",
};
const KIND_WORDS = { face_manipulation: "a manipulated face", generated_image: "traces of an image generator",
                     local_edit: "a local edit (part of the picture changed)", provenance: "its Content Credentials" };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const checker = new Checker();
let anchorsPem = null;
let queue = null; // checks run one at a time, after the models are loaded
let counter = 0;

async function start() {
  const status = $("#status");
  try {
    await checker.load((done, total) => {
      status.textContent = `Loading the models into this page… ${done} of ${total}`;
    });
  } catch (e) {
    status.textContent = `The models could not be loaded: ${e.message}`;
    status.dataset.state = "failed";
    return;
  }
  status.textContent = "Ready. Files you check are read by this page and never leave your device.";
  status.dataset.state = "ready";
  document.body.dataset.ready = "true";
}

function enqueue(files) {
  for (const file of files) {
    const n = ++counter;
    const card = el("section", { class: "card result", id: `result-${n}`, "data-state": "pending", "data-file": file.name },
      el("h2", { text: file.name }), el("p", { class: "muted" }, el("span", { class: "spinner" }), " checking…"));
    $("#results").prepend(card);
    queue = queue.then(async () => {
      try {
        if (document.body.dataset.ready !== "true") throw new Error("the models are not loaded");
        render(card, await checker.check(file, anchorsPem));
      } catch (e) {
        console.error(e);
        render(card, { file: file.name, verdict: "error", reason: `the check failed: ${e.message}`, faces: [], analyzers: [] });
      }
    });
  }
}

function jet(x) {
  const c = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(1.5 - Math.abs(4 * x - 3)), c(1.5 - Math.abs(4 * x - 2)), c(1.5 - Math.abs(4 * x - 1))];
}

// A float map [0, 1] (NaN = nothing looked there) as a translucent jet-coloured canvas.
function heatCanvas(heat, w, h, alpha = 0.45) {
  const c = new OffscreenCanvas(w, h);
  const img = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = heat[i];
    if (Number.isNaN(v)) continue;
    const [r, g, b] = jet(Math.min(1, Math.max(0, v)));
    img.data[i * 4] = r; img.data[i * 4 + 1] = g; img.data[i * 4 + 2] = b;
    img.data[i * 4 + 3] = Math.round(255 * alpha);
  }
  c.getContext("2d").putImageData(img, 0, 0);
  return c;
}

// The picture with a rows x cols map over it (at(row, col) in [0, 1], NaN = not looked at),
// each cell stretched over its share of the picture as shown, and a caption.
function mapFigure(full, scale, cls, rows, cols, at, caption) {
  const c = pictureCanvas(full, scale);
  c.classList.add(cls);
  const shown = new Float32Array(c.width * c.height);
  for (let y = 0; y < c.height; y++) {
    const r = Math.min(rows - 1, Math.floor(((y + 0.5) * rows) / c.height));
    for (let x = 0; x < c.width; x++) shown[y * c.width + x] = at(r, Math.min(cols - 1, Math.floor(((x + 0.5) * cols) / c.width)));
  }
  c.getContext("2d").drawImage(heatCanvas(shown, c.width, c.height), 0, 0);
  return el("div", {}, el("figure", { class: "picture" }, c), el("p", { class: "muted", text: caption }));
}

// The decoded picture once as a canvas, to draw scaled copies of.
function fullCanvas(rgb) {
  const c = new OffscreenCanvas(rgb.w, rgb.h);
  const img = new ImageData(rgb.w, rgb.h);
  const d = img.data, s = rgb.data;
  for (let i = 0, j = 0; j < s.length; i += 4, j += 3) {
    d[i] = s[j]; d[i + 1] = s[j + 1]; d[i + 2] = s[j + 2]; d[i + 3] = 255;
  }
  c.getContext("2d").putImageData(img, 0, 0);
  return c;
}

function pictureCanvas(full, scale) {
  const c = el("canvas");
  c.width = Math.max(1, Math.round(full.width * scale));
  c.height = Math.max(1, Math.round(full.height * scale));
  const ctx = c.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(full, 0, 0, c.width, c.height);
  return c;
}

function drawFaceHeat(canvas, heatmaps, scale) {
  const ctx = canvas.getContext("2d");
  for (const hm of heatmaps) {
    const up = resizeLinearFloat(hm.heat, hm.side, hm.side, hm.cropSize, hm.cropSize);
    const [a11, a12, b1, a21, a22, b2] = invertAffine(hm.m);
    ctx.save();
    ctx.setTransform(scale * a11, scale * a21, scale * a12, scale * a22, scale * b1, scale * b2);
    ctx.drawImage(heatCanvas(up, hm.cropSize, hm.cropSize), 0, 0);
    ctx.restore();
  }
}

function pct(p) {
  return `${Math.round(p * 100)} %`;
}

function faceClass(score) {
  if (score === null || score === undefined) return "facebox unjudged";
  return score >= 0.5 ? "facebox suspicious" : "facebox";
}

function provenancePanel(report) {
  const c = report.provenance && report.provenance.c2pa;
  const panel = el("div", { class: "card provenance" }, el("h3", { text: "Content Credentials (C2PA)" }));
  if (!c) {
    panel.append(el("p", { class: "muted", text: "Not read: the C2PA SDK could not be loaded." }));
    return panel;
  }
  const words = {
    valid: c.trusted ? "valid, from a signer you trust" : "valid, but the signer is not among your trust anchors",
    invalid: "present but broken: the file or its manifest changed after signing",
    absent: "none in this file", unverifiable: "cannot be checked here",
  };
  const cls = c.state === "valid" ? "good" : c.state === "invalid" ? "bad" : "neutral";
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "State" }), el("dd", { class: `state ${cls} c2pa-state`, "data-state": c.state, text: words[c.state] }));
  const add = (k, v) => { if (v) facts.append(el("dt", { text: k }), el("dd", { text: v })); };
  add("Signer", c.signer && `${c.signer}${c.issuer ? ` (${c.issuer})` : ""}`);
  add("Signed at", c.signed_at);
  add("Made with", c.claim_generator);
  add("Declared source", c.digital_source_types.join(", "));
  add("AI generation", c.ai_generated ? "declared by the manifest" : null);
  add("History", c.manifest_count > 1 ? `${c.manifest_count} manifests` : null);
  add("Actions", c.actions.map((a) => a.action).join(", "));
  add("Problems", c.validation_errors.join("; "));
  add("Why", c.reason);
  panel.append(facts);
  return panel;
}

function render(card, report) {
  card.replaceChildren();
  card.dataset.state = "done";
  card.dataset.verdict = report.verdict;
  const { visual, ...plain } = report;
  card.append(el("h2", { text: report.file }));
  const head = el("div", { class: "verdict-card" },
    el("div", {},
      el("p", { class: `verdict-word ${report.verdict}`, "data-verdict": report.verdict, text: WORDS[report.verdict] || report.verdict }),
      report.score !== null && report.score !== undefined
        ? el("p", { class: "headline score", "data-score": String(report.score),
                    text: `Manipulation probability ${pct(report.score)}` }) : null),
    el("div", {},
      el("p", { class: "reason", text: report.reason }),
      report.decided_by ? el("p", { class: "muted", text: `Decided by ${KIND_WORDS[report.decided_by] || report.decided_by}.` }) : null,
      report.timing_ms ? el("p", { class: "muted timing", "data-total-ms": String(report.timing_ms.total),
                                   text: `Checked in this browser in ${Math.round(report.timing_ms.total)} ms.` }) : null));
  card.append(head);

  if (visual) {
    const { rgb } = visual;
    const scale = Math.min(1, 640 / Math.max(rgb.w, rgb.h));
    const toggle = el("input", { type: "checkbox", checked: "" });
    const pics = el("div", { class: "grid2" });
    const faceView = el("figure", { class: "picture" });
    const full = fullCanvas(rgb);
    const plainPic = pictureCanvas(full, scale);
    const heatPic = pictureCanvas(full, scale);
    heatPic.classList.add("faceheat");
    drawFaceHeat(heatPic, visual.heatmaps, scale);
    faceView.append(plainPic, heatPic);
    plainPic.hidden = true;
    for (const f of report.faces) {
      const [x0, y0, x1, y1] = f.box;
      const box = el("div", { class: faceClass(f.score), "data-face": String(f.index) },
        el("span", { text: `face ${f.index + 1}${f.score !== null ? `: ${f.score.toFixed(2)}` : ""}` }));
      box.style.left = `${x0 * scale}px`; box.style.top = `${y0 * scale}px`;
      box.style.width = `${(x1 - x0) * scale}px`; box.style.height = `${(y1 - y0) * scale}px`;
      faceView.append(box);
    }
    toggle.addEventListener("change", () => { heatPic.hidden = !toggle.checked; plainPic.hidden = toggle.checked; });
    const left = el("div", {}, faceView,
      el("p", { class: "muted" }, el("label", {}, toggle, " face heatmaps"), " · where the face model saw manipulation ",
         el("span", { class: "legend" })));
    pics.append(left);
    if (visual.imageHeat) {
      // Painted at the size shown (the map may be up to 2048 px; its cells are 128 px crops).
      const { heat, w, h } = visual.imageHeat;
      pics.append(mapFigure(full, scale, "imageheat", h, w, (y, x) => heat[y * w + x],
        "Where in the whole picture the model saw generator traces (red = strong)."));
    }
    if (visual.localization) {
      const { grid, rows, cols } = visual.localization;
      pics.append(mapFigure(full, scale, "editmap", rows, cols, (y, x) => grid[y][x],
        "Where part of the picture may have been changed: each cell's probability of a local edit (red = likely)."));
    }
    card.append(pics);
  }

  if (report.faces.length) {
    const rows = report.faces.map((f) => el("tr", {},
      el("td", { text: `face ${f.index + 1}` }),
      el("td", { class: "num", text: f.score !== null ? pct(f.score) : "not judged" }),
      el("td", { text: f.box.map((v) => Math.round(v)).join(", ") }),
      el("td", { text: f.landmarks_source })));
    card.append(el("table", { class: "faces" },
      el("thead", {}, el("tr", {}, ...["face", "manipulation probability", "box (px)", "landmarks"].map((t) => el("th", { text: t })))),
      el("tbody", {}, ...rows)));
  }
  if (report.verdict !== "error" || report.provenance) card.append(provenancePanel(report));
  card.append(el("details", {}, el("summary", { text: "Report (JSON)" }),
    el("pre", { class: "report-json", text: JSON.stringify(plain, null, 1) })));
}

function setup() {
  const input = $("#fileinput");
  const drop = $("#drop");
  input.addEventListener("change", () => { enqueue([...input.files]); input.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    enqueue([...e.dataTransfer.files]);
  });
  $("#anchors").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    anchorsPem = f ? await f.text() : null;
    $("#anchorsinfo").textContent = anchorsPem
      ? (anchorsPem.includes("-----BEGIN CERTIFICATE-----") ? `Trusting the signers of ${f.name}.` : `${f.name} holds no PEM certificate.`)
      : "";
    if (anchorsPem && !anchorsPem.includes("-----BEGIN CERTIFICATE-----")) anchorsPem = null;
  });
  queue = start();
}

setup();
