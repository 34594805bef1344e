// fakescope live checks: start and stop watches, follow one's events (Server-Sent Events read
// with fetch, so that an API key can go in a header) and draw each person's score over the
// last minute of the stream. Plain JavaScript, nothing fetched from anywhere but this server;
// what the server sends is inserted as text, never as HTML.
"use strict";

const KEY_STORAGE = "fakescope.apiKey"; // shared with the main page
const SPAN_S = 60; // seconds of stream the chart shows
const KEEP_POINTS = 600;
const COLOURS = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f"];
const live = { id: null, abort: null, band: [0.35, 0.65], people: new Map(), alerts: [], last: null,
               drawPending: false, listTimer: null };

// el() and svg() come from dom.js.

function authHeaders() {
  const k = localStorage.getItem(KEY_STORAGE) || "";
  return k ? { Authorization: "Bearer " + k } : {};
}

function notice(text) {
  const n = document.getElementById("notice");
  n.textContent = text || "";
  n.hidden = !text;
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).detail || msg; } catch (_) { /* not JSON */ }
    if (res.status === 401) msg += " (enter your API key on the main page)";
    throw new Error(typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  return res;
}

function badge(verdict) {
  return el("span", { class: "badge " + verdict, text: verdict.replace("_", " ") });
}

// --- the list of watches ----------------------------------------------------------------

async function loadWatches() {
  clearTimeout(live.listTimer);
  try {
    const watches = await (await api("/v1/watches")).json();
    const rows = watches.map((w) => el("tr", {},
      el("td", { text: new Date(w.started_at).toLocaleString() }),
      el("td", { text: w.source }),
      el("td", { text: w.status + (w.end ? ": " + w.end.reason : "") }),
      el("td", {}, w.people.map((p) => el("span", {}, `person ${p.person} `, badge(p.verdict), " "))),
      el("td", { class: "num", text: String(w.alerts) }),
      el("td", {}, el("button", { type: "button", class: "secondary", onclick: () => follow(w.id, w.source) },
                      w.id === live.id ? "following" : "follow"))));
    document.getElementById("watchrows").replaceChildren(...rows);
    document.getElementById("nowatch").hidden = watches.length > 0;
  } catch (e) { notice(e.message); }
  live.listTimer = setTimeout(loadWatches, 5000);
}

async function startWatch(e) {
  e.preventDefault();
  const body = { source: document.getElementById("source").value.trim(),
                 window_s: Number(document.getElementById("window").value),
                 every_s: Number(document.getElementById("every").value) };
  try {
    const w = await (await api("/v1/watches", { method: "POST", body: JSON.stringify(body),
                                                headers: { "Content-Type": "application/json" } })).json();
    notice("");
    follow(w.id, w.source);
    loadWatches();
  } catch (err) { notice("Not started: " + err.message); }
}

// --- following one watch ------------------------------------------------------------------

async function follow(id, source) {
  if (live.abort) live.abort.abort();
  Object.assign(live, { id, abort: new AbortController(), people: new Map(), alerts: [], last: null });
  document.getElementById("detail").hidden = false;
  document.getElementById("detailtitle").textContent = "Live: " + source;
  document.getElementById("alerts").replaceChildren(el("li", { class: "muted", text: "none" }));
  draw();
  let after = 0;
  while (live.id === id) {
    try {
      const res = await api(`/v1/watches/${id}/events?after=${after}`, { signal: live.abort.signal });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let data = null;
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) after = Number(line.slice(4));
            else if (line.startsWith("data: ")) data = line.slice(6);
          }
          if (data) handle(JSON.parse(data));
        }
      }
      if (live.last && live.last.event === "end") return; // the watch ended: nothing more will come
    } catch (e) {
      if (e.name === "AbortError") return;
      notice("Lost the event stream (" + e.message + "); retrying");
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function handle(ev) {
  live.last = ev;
  if (ev.event === "start" && ev.band) live.band = ev.band;
  if (ev.event === "verdict" && ev.person !== null) {
    const pts = live.people.get(ev.person) || [];
    pts.push([ev.time_s, ev.score, ev.verdict]);
    if (pts.length > KEEP_POINTS) pts.splice(0, pts.length - KEEP_POINTS);
    live.people.set(ev.person, pts);
  }
  if (ev.event === "alert") {
    live.alerts.push(ev);
    const list = document.getElementById("alerts");
    if (live.alerts.length === 1) list.replaceChildren();
    list.prepend(el("li", {}, badge("fake"), ` at ${ev.time_s.toFixed(1)} s of the stream (` +
      `${new Date(ev.at).toLocaleTimeString()}): ${ev.reason}`));
  }
  const s = document.getElementById("status");
  if (ev.event === "verdict") s.textContent = `stream time ${ev.time_s.toFixed(1)} s · verdict ${ev.delay_s.toFixed(2)} s behind the stream`;
  else if (ev.event === "dropped") s.textContent = `${ev.dropped} of ${ev.received} frames dropped in the last ${ev.since_s.toFixed(0)} s (analysis busy)`;
  else if (ev.event === "reconnecting") s.textContent = `connection lost (${ev.error}); reconnecting, attempt ${ev.attempt}`;
  else if (ev.event === "reconnected") s.textContent = `reconnected after ${ev.gap_s.toFixed(1)} s`;
  else if (ev.event === "end") { s.textContent = "ended: " + ev.reason; loadWatches(); }
  if (!live.drawPending) { live.drawPending = true; requestAnimationFrame(() => { live.drawPending = false; draw(); }); }
}

function draw() {
  const W = 760, H = 240, L = 44, R = 12, T = 14, B = 36;
  const w = W - L - R, h = H - T - B;
  const all = [...live.people.values()].flat();
  const tmax = Math.max(SPAN_S, ...all.map((p) => p[0]));
  const t0 = tmax - SPAN_S;
  const x = (t) => L + (w * (t - t0)) / SPAN_S, y = (p) => T + h * (1 - p);
  const [lo, hi] = live.band;
  const chart = svg("svg", { class: "chart", id: "livechart", viewBox: `0 0 ${W} ${H}`, width: "100%",
                             role: "img", "aria-label": "manipulation probability per person over the last minute" },
    svg("rect", { x: L, y: y(1), width: w, height: y(hi) - y(1), fill: "#ffebee" }),
    svg("rect", { x: L, y: y(hi), width: w, height: y(lo) - y(hi), fill: "#fff8e1" }),
    svg("rect", { x: L, y: y(lo), width: w, height: y(0) - y(lo), fill: "#e8f5e9" }));
  for (const p of [0, 0.5, 1]) chart.append(svg("text", { x: L - 6, y: y(p) + 4, "text-anchor": "end" }, p.toFixed(1)));
  for (let k = 0; k <= 6; k++) {
    const t = t0 + (SPAN_S * k) / 6;
    chart.append(svg("text", { x: x(t), y: H - 18, "text-anchor": "middle" }, t.toFixed(0) + " s"));
  }
  chart.append(svg("text", { x: L + w / 2, y: H - 3, "text-anchor": "middle" }, "stream time"));
  for (const a of live.alerts) {
    if (a.time_s < t0) continue;
    chart.append(svg("line", { x1: x(a.time_s), x2: x(a.time_s), y1: y(0), y2: y(1), stroke: "#c62828",
                               "stroke-dasharray": "4 3" }));
  }
  [...live.people.entries()].sort((a, b) => a[0] - b[0]).forEach(([person, pts], n) => {
    const c = COLOURS[n % COLOURS.length];
    const shown = pts.filter((p) => p[0] >= t0 && p[1] !== null);
    if (shown.length) {
      chart.append(svg("polyline", { fill: "none", stroke: c, "stroke-width": "2",
        points: shown.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
    }
    const lastP = pts[pts.length - 1];
    chart.append(svg("text", { x: L + 8 + 150 * n, y: T + 12, fill: c },
      `person ${person}: ${lastP[2]}${lastP[1] === null ? "" : " " + lastP[1].toFixed(2)}`));
  });
  document.getElementById("chartbox").replaceChildren(chart);
}

async function stopWatch() {
  if (!live.id) return;
  try { await api("/v1/watches/" + live.id + "/stop", { method: "POST" }); loadWatches(); } catch (e) { notice(e.message); }
}

document.getElementById("startform").addEventListener("submit", startWatch);
document.getElementById("stop").addEventListener("click", stopWatch);
loadWatches();
