// Evidence -> verdict, calibrated score and the deciding kind: fakescope/fusion.py (fuse,
// then apply_provenance for Content Credentials; the browser has no registry).

export const FACE = "face_manipulation";
export const GENERATED = "generated_image";
export const LOCAL = "local_edit";
const KIND_WORDS = { [FACE]: "face manipulation", [GENERATED]: "generated-image traces", [LOCAL]: "a local edit" };
const DEFAULT_BAND = [0.35, 0.65];
const PROVENANCE_REAL_CAP = 0.05;
const PROVENANCE_FAKE_FLOOR = 0.95;
const CREDENTIAL_ONLY = ["signingCredential.", "timeStamp.", "claimSignature.outsideValidity"];

function calibrate(score, params) {
  if (!params) return score;
  const p = Math.min(Math.max(score, 1e-6), 1 - 1e-6);
  const z = params.a * Math.log(p / (1 - p)) + params.b;
  return 1 / (1 + Math.exp(-z));
}

function verdictFor(score, [lo, hi]) {
  if (score >= hi) return "fake";
  if (score < lo) return "real";
  return "inconclusive";
}

// Python's f"{x:.2f}"
const f2 = (x) => x.toFixed(2);

// results: analyzer results ({name, score, face_scores, needsFaces, evidenceKind, band});
// card: fusion.json.
export function fuse(results, nFaces, card) {
  const faceScores = [];
  for (let i = 0; i < nFaces; i++) {
    const vals = results.filter((r) => r.needsFaces && r.face_scores && r.face_scores[i] != null)
      .map((r) => r.face_scores[i]);
    faceScores.push(vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null);
  }
  const raw = {};
  const scored = faceScores.filter((s) => s !== null);
  if (scored.length) raw[FACE] = Math.max(...scored);
  for (const kind of [GENERATED, LOCAL]) {
    const whole = results.filter((r) => !r.needsFaces && r.score !== null && (r.evidenceKind || GENERATED) === kind)
      .map((r) => r.score);
    if (whole.length) raw[kind] = Math.max(...whole);
  }
  if (!Object.keys(raw).length) {
    if (nFaces === 0) return { verdict: "no_face", score: null, faceScores, reason: "no face found, and no whole-image analyzer ran", decidedBy: null, evidence: {} };
    return { verdict: "inconclusive", score: null, faceScores, decidedBy: null, evidence: {},
             reason: "faces were found but none could be judged (too small or not confirmed as faces)" };
  }
  const judged = {};
  for (const [kind, value] of Object.entries(raw)) {
    const params = card ? { [FACE]: card.image, [GENERATED]: card.generated, [LOCAL]: card.local_edit }[kind] : null;
    // a local edit without the fusion card's entry: its own card's band
    const own = kind === LOCAL ? (results.find((r) => r.evidenceKind === LOCAL)?.band || DEFAULT_BAND) : DEFAULT_BAND;
    const band = params ? [params.threshold_real, params.threshold_fake] : own;
    const p = calibrate(value, params);
    judged[kind] = { p, band, verdict: verdictFor(p, band) };
  }
  const evidence = Object.fromEntries(Object.entries(judged).map(([k, v]) => [k, Math.round(v.p * 1e4) / 1e4]));
  const score = Math.max(...Object.values(judged).map((v) => v.p));
  let verdict, kinds;
  for (verdict of ["fake", "inconclusive", "real"]) {
    kinds = Object.keys(judged).filter((k) => judged[k].verdict === verdict);
    if (kinds.length) break;
  }
  const decided = kinds.reduce((best, k) => (judged[k].p > judged[best].p ? k : best), kinds[0]);
  const { p, band: [lo, hi] } = judged[decided];
  const words = KIND_WORDS[decided];
  let reason;
  if (verdict === "fake") {
    reason = `${words}: probability ${f2(p)} ≥ ${f2(hi)}`;
    if (decided === FACE) reason += strongest(faceScores);
  } else if (verdict === "inconclusive") {
    reason = `${words}: probability ${f2(p)} is within the uncertain band ${f2(lo)}–${f2(hi)}`;
  } else {
    reason = Object.entries(judged).map(([k, v]) => `${KIND_WORDS[k]}: probability ${f2(v.p)} < ${f2(v.band[0])}`).join("; ");
    if (!(FACE in judged)) reason += nFaces === 0 ? "; no face to judge" : "; no face could be judged";
  }
  return { verdict, score, faceScores, reason, decidedBy: decided, evidence };
}

function strongest(faceScores) {
  const scored = faceScores.map((s, i) => [s, i]).filter(([s]) => s !== null);
  if (scored.length < 2) return "";
  // Python's max over (score, index) tuples: the highest score, then the highest index.
  const [, i] = scored.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
  return ` (face ${i + 1} of ${faceScores.length})`;
}

// Content Credentials override the detectors' verdict (fusion.apply_provenance).
export function applyProvenance(fused, c2pa) {
  if (!c2pa || fused.verdict === "error") return fused;
  const signer = `${c2pa.signer || "an unknown signer"}${c2pa.trusted ? " (trusted)" : ""}`;
  if (c2pa.state === "valid" && c2pa.ai_generated) {
    const kinds = c2pa.digital_source_types.filter((t) => t.includes("rained")).join(", ");
    return as(fused, "fake", `its Content Credentials declare AI generation (${kinds}), signed by ${signer}`);
  }
  if (c2pa.state === "invalid") {
    const codes = c2pa.validation_errors.map((e) => e.split(":", 1)[0]);
    const tamper = codes.filter((x) => !CREDENTIAL_ONLY.some((p) => x.startsWith(p)));
    if (tamper.length || !codes.length) {
      const what = tamper.length ? tamper[0] : "validation failed";
      return as(fused, "fake", `its Content Credentials fail validation (${what}): the content or its manifest changed after signing`);
    }
  }
  if (c2pa.state === "valid" && c2pa.trusted) return as(fused, "real", `valid Content Credentials signed by ${signer}`);
  return fused;
}

function as(fused, verdict, reason) {
  const base = fused.score;
  const score = verdict === "real"
    ? (base !== null ? Math.min(base, PROVENANCE_REAL_CAP) : PROVENANCE_REAL_CAP)
    : (base !== null ? Math.max(base, PROVENANCE_FAKE_FLOOR) : PROVENANCE_FAKE_FLOOR);
  return { ...fused, verdict, score, reason, decidedBy: "provenance" };
}
