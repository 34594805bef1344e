// One file checked in the browser: the photo flow of fakescope/scan/image.py (decode ->
// faces -> face-forgery, generated and local-edit -> fusion -> Content Credentials) giving a report
// shaped like the Python ScanReport (the fields the page shows and the tests compare).
// Videos and audio get their Content Credentials read and a plain statement that their
// detectors run only in `fakescope scan` and the service.

import { faceForgery, generated, localEdit } from "./analyzers.js";
import { initC2pa, readC2pa } from "./c2pa.js";
import { CheckError, LIMITS, MIME, decodeImage, describeUnknown, sniff } from "./decode.js";
import { FaceDetector } from "./detector.js";
import { applyProvenance, fuse } from "./fusion.js";
import { Models, asset, bytesOf } from "./models.js";

const round = (v, d) => (v === null || v === undefined ? v : Math.round(v * 10 ** d) / 10 ** d);
const ms = (t0) => round(performance.now() - t0, 2);

function heatSummary(results) {
  const faces = results.flatMap((r) => r.heatmaps || []).map((h) => ({
    face: h.face,
    heat: Array.from({ length: h.side }, (_, y) => Array.from(h.heat.subarray(y * h.side, (y + 1) * h.side), (v) => round(v, 4))),
  }));
  const im = results.map((r) => r.imageHeat).find(Boolean);
  let image = null;
  if (im) {
    let n = 0, sum = 0;
    for (const v of im.heat) if (!Number.isNaN(v)) { n++; sum += v; }
    image = { width: im.w, height: im.h, covered: round(n / im.heat.length, 4), mean: n ? round(sum / n, 4) : null };
  }
  return { faces, image };
}

export class Checker {
  // Everything loaded once: the runtime, the models, their cards, the C2PA SDK.
  async load(onProgress = () => {}) {
    const config = await asset("config");
    this.cards = config.cards;
    this.fusion = config.fusion;
    this.version = config.version;
    this.models = new Models();
    await this.models.init(onProgress);
    this.detector = new FaceDetector(this.models);
    try {
      await initC2pa(bytesOf(await asset("c2pa-wasm")));
      this.c2pa = true;
    } catch (e) {
      console.warn("C2PA SDK unavailable", e);
      this.c2pa = false;
    }
  }

  // file: a File (or Blob with a name); anchorsPem: trust anchors chosen by the person.
  async check(file, anchorsPem = null) {
    const t0 = performance.now();
    const timing = { decode: 0, faces: 0, analyzers: 0, provenance: 0, total: 0 };
    const base = {
      file: file.name, sha256: null, media_type: null, verdict: "error", score: null, reason: "",
      decided_by: null, evidence: {}, error: null, media: null, faces: [], analyzers: [],
      timing_ms: timing, notes: [], provenance: null, checked_in: "browser",
      fakescope_version: this.version,
    };
    const fail = (code, message) => {
      timing.total = ms(t0);
      return { ...base, verdict: "error", reason: message, error: { code, message } };
    };
    if (file.size > LIMITS.maxBytes) {
      return fail("media_limit", `file is ${Math.round(file.size / 2 ** 20)} MB; the limit is ${LIMITS.maxBytes / 2 ** 20} MB`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (crypto.subtle) base.sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    if (!bytes.length) return fail("empty_file", "file is empty (0 bytes)");
    const kind = sniff(bytes.subarray(0, 64));
    if (!kind) return fail("not_media", `not a media file: ${describeUnknown(bytes.subarray(0, 64))}`);
    base.media_type = kind.mediaType;

    if (kind.mediaType !== "image") {
      const t = performance.now();
      const c2pa = this.c2pa ? await readC2pa(bytes, MIME[kind.format], anchorsPem) : null;
      timing.provenance = ms(t);
      timing.total = ms(t0);
      const what = kind.mediaType === "video" ? "Videos" : "Audio files";
      return {
        ...base, verdict: "not_checked", media: { format: kind.format, width: null, height: null },
        reason: `${what} cannot be checked for manipulation in the browser: this page's models `
          + "judge photos only. Check it with fakescope scan or the fakescope service.",
        provenance: c2pa ? { c2pa } : null,
      };
    }

    let media;
    let t = performance.now();
    try {
      media = await decodeImage(bytes, kind.format);
    } catch (e) {
      if (e instanceof CheckError) return fail(e.code, e.message);
      throw e;
    }
    timing.decode = ms(t);
    base.media = { format: media.format, width: media.width, height: media.height };
    base.notes = media.notes;

    t = performance.now();
    const faces = await this.detector.detect(media.rgb);
    timing.faces = ms(t);

    t = performance.now();
    const results = [];
    const card = (n) => this.cards[n];
    for (const [name, run, needsFaces] of [
      ["face-forgery", () => faceForgery(this.models, card("face-forgery"), media.rgb, faces), true],
      ["generated", () => generated(this.models, card("generated"), media.rgb), false],
      ["local-edit", () => localEdit(this.models, card("local-edit"), media.rgb), false],
    ]) {
      const ta = performance.now();
      try {
        results.push({ ...(await run()), needsFaces, time_ms: ms(ta) });
      } catch (e) {
        console.error(e);
        results.push({ name, error: { code: "analyzer_failed", message: String(e) },
                       needsFaces, score: null, face_scores: null, time_ms: ms(ta) });
      }
    }
    const edits = results.find((r) => r.evidenceKind === "local_edit" && !r.error);
    if (edits) edits.band = this.cards["local-edit"].inconclusive_band;
    timing.analyzers = ms(t);

    t = performance.now();
    const c2pa = this.c2pa ? await readC2pa(bytes, MIME[kind.format], anchorsPem) : null;
    timing.provenance = ms(t);

    const ok = results.filter((r) => !r.error);
    const fused = applyProvenance(fuse(ok, faces.length, this.fusion), c2pa);
    let { verdict, reason } = fused;
    if (!ok.length) {
      verdict = "error";
      reason = "every analyzer failed: " + results.map((r) => r.error.message).join("; ");
    }
    timing.total = ms(t0);
    return {
      ...base,
      verdict,
      score: verdict === "no_face" || verdict === "error" ? null : fused.score,
      reason,
      decided_by: verdict === "error" ? null : fused.decidedBy,
      evidence: fused.evidence,
      error: verdict === "error" ? { code: "analyzers_failed", message: reason } : null,
      faces: faces.map((f, i) => ({
        index: i,
        box: f.box.map((v) => round(v, 1)),
        detector_score: round(f.score, 4),
        landmarks: f.landmarks5.map(([x, y]) => [round(x, 1), round(y, 1)]),
        landmarks_source: f.landmarksSource,
        score: fused.faceScores[i] ?? null,
      })),
      analyzers: results.map(({ name, version, score, face_scores, details, error, time_ms }) => (
        { name, version: version || null, score, face_scores, details: details || {}, error: error || null, time_ms })),
      provenance: c2pa ? { c2pa } : null,
      localization: edits ? edits.localization : null,
      // Browser only: the heatmaps the page draws, as numbers (the Python scan keeps them in
      // memory for its HTML report): per face the face model's map on the aligned crop,
      // and where on the picture the generated-image model looked and what it saw on average.
      heatmaps: heatSummary(results),
      // What the page draws; not part of the Python report.
      visual: {
        rgb: media.rgb,
        heatmaps: results.flatMap((r) => r.heatmaps || []),
        imageHeat: results.map((r) => r.imageHeat).find(Boolean) || null,
        localization: edits ? edits.localization : null,
      },
    };
  }
}
