// The photo analyzers: face-forgery (fakescope/analyzers/face_forgery.py, on faces aligned
// as fakescope/faces/align.py does), generated (fakescope/analyzers/generated.py, on
// native-resolution crops over the whole picture) and local-edit's net
// (fakescope/analyzers/local_edit.py; its copy-move matching needs OpenCV's SIFT and runs
// in the scan and the service only).

import { linspaceRound, whyNotJudged } from "./detector.js";
import { crop, padReflect, pyRound, resizeArea, resizeAreaFloat, resizeLinearFloat, warpAffine } from "./imgproc.js";

const f32 = Math.fround;

export function sigmoid(x) {
  return 1 / (1 + Math.exp(-Math.min(Math.max(x, -60), 60)));
}

// The same on a float32 value, as numpy computes it for float32 arrays: the calibration
// constants and every step in float32.
function sigmoid32(a, b, x) {
  const z = f32(f32(f32(a) * x) + f32(b));
  return f32(1 / f32(1 + f32(Math.exp(-Math.min(Math.max(z, -60), 60)))));
}

// numpy's float32 sum (pairwise: eight running sums, then the rest), and mean.
function mean32(v) {
  const n = v.length;
  if (n < 8) {
    let s = 0;
    for (const x of v) s = f32(s + x);
    return f32(s / n);
  }
  const r = Array.from(v.slice(0, 8));
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let k = 0; k < 8; k++) r[k] = f32(r[k] + v[i + k]);
  let s = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
  for (; i < n; i++) s = f32(s + v[i]);
  return f32(s / n);
}

// --- alignment (faces/align.py) ----------------------------------------------------------
const ARCFACE_112 = [
  [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
];
const CENTRE = [0.5, 0.52];
const EYE_DISTANCE = 0.4;
const UNIT = (() => {
  const mean = [0, 1].map((k) => ARCFACE_112.reduce((s, p) => s + p[k], 0) / 5);
  const eye = Math.hypot(ARCFACE_112[1][0] - ARCFACE_112[0][0], ARCFACE_112[1][1] - ARCFACE_112[0][1]);
  return ARCFACE_112.map((p) => [0, 1].map((k) => (p[k] - mean[k]) * (EYE_DISTANCE / eye) + CENTRE[k]));
})();

export function template(size, margin) {
  return UNIT.map((p) => [0, 1].map((k) => ((p[k] - CENTRE[k]) / margin + CENTRE[k]) * size));
}

// Least-squares similarity (Umeyama) from src to dst points, as a 2x3 matrix. In 2-D the
// SVD solution has a closed form: the rotation angle atan2(B, A) and scale sqrt(A^2+B^2)/var.
export function similarityTransform(src, dst) {
  const n = src.length;
  const ms = [0, 1].map((k) => src.reduce((s, p) => s + p[k], 0) / n);
  const md = [0, 1].map((k) => dst.reduce((s, p) => s + p[k], 0) / n);
  let a = 0, b = 0, v = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - ms[0], sy = src[i][1] - ms[1];
    const dx = dst[i][0] - md[0], dy = dst[i][1] - md[1];
    a += dx * sx + dy * sy;
    b += dy * sx - dx * sy;
    v += sx * sx + sy * sy;
  }
  const norm = Math.hypot(a, b);
  const scale = v > 0 ? norm / v : 1;
  const c = norm > 0 ? a / norm : 1, s = norm > 0 ? b / norm : 0;
  const r = [scale * c, -scale * s, scale * s, scale * c];
  return [r[0], r[1], md[0] - (r[0] * ms[0] + r[1] * ms[1]), r[2], r[3], md[1] - (r[2] * ms[0] + r[3] * ms[1])];
}

export function alignFace(rgb, landmarks5, size, margin) {
  const m = similarityTransform(landmarks5, template(size, margin));
  return { crop: warpAffine(rgb, m, size, size), m };
}

// uint8 HWC crops -> float32 NCHW, (x - mean * 255) / (std * 255) in float32.
function toNchw(crops, size, mean, std) {
  const plane = size * size;
  const x = new Float32Array(crops.length * 3 * plane);
  const m = mean.map((v) => f32(f32(v) * 255)), inv = std.map((v) => f32(1 / f32(f32(v) * 255)));
  crops.forEach((c, n) => {
    for (let i = 0; i < plane; i++) {
      for (let k = 0; k < 3; k++) x[(n * 3 + k) * plane + i] = f32(f32(c[i * 3 + k] - m[k]) * inv[k]);
    }
  });
  return x;
}

function mirrored(data, size) {
  const out = new Uint8Array(data.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3, p = (y * size + size - 1 - x) * 3;
      out[o] = data[p]; out[o + 1] = data[p + 1]; out[o + 2] = data[p + 2];
    }
  }
  return out;
}

// --- face-forgery ------------------------------------------------------------------------
export async function faceForgery(models, card, rgb, faces) {
  const name = "face-forgery";
  const base = { name, version: card.version };
  if (!faces.length) return { ...base, score: null, face_scores: [], details: { reason: "no face" }, heatmaps: [] };
  const notJudged = [];
  const judged = [];
  faces.forEach((f, i) => {
    const why = whyNotJudged(f);
    if (why === null) judged.push(i);
    else notJudged.push({ face: i, why });
  });
  if (!judged.length) {
    return { ...base, score: null, face_scores: faces.map(() => null),
             details: { reason: "no face could be judged", not_judged: notJudged }, heatmaps: [] };
  }
  const { size, margin, mean, std } = card.input;
  const aligned = judged.map((i) => alignFace(rgb, faces[i].landmarks5, size, margin));
  const n = aligned.length;
  let crops = aligned.map((a) => a.crop.data);
  const tta = card.tta === "hflip";
  if (tta) crops = [...crops, ...crops.map((c) => mirrored(c, size))];
  const [logitOut, camOut] = await models.run(name, [toNchw(crops, size, mean, std), [crops.length, 3, size, size]]);
  const cells = camOut.length / crops.length, side = Math.round(Math.sqrt(cells));
  const logits = [], cams = [];
  for (let i = 0; i < n; i++) {
    const cam = new Float32Array(cells);
    if (tta) {
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const a = camOut[i * cells + y * side + x], b = camOut[(n + i) * cells + y * side + (side - 1 - x)];
          cam[y * side + x] = f32(f32(a + b) / 2);
        }
      }
      logits.push(f32(f32(logitOut[i] + logitOut[n + i]) / 2));
    } else {
      cam.set(camOut.subarray(i * cells, (i + 1) * cells));
      logits.push(logitOut[i]);
    }
    cams.push(cam);
  }
  const c = card.calibration;
  const probs = logits.map((l) => sigmoid32(c.a, c.b, l));
  const faceScores = faces.map(() => null);
  const heatmaps = [];
  judged.forEach((i, k) => {
    faceScores[i] = probs[k];
    // Stretched to 0..1 (where the evidence is), scaled by the face's probability.
    const cam = cams[k];
    let lo = Infinity, hi = -Infinity;
    for (const v of cam) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi - lo;
    const heat = Float32Array.from(cam, (v) => (span > 1e-6 ? ((v - lo) / span) * probs[k] : 0));
    heatmaps.push({ face: i, heat, side, cropSize: size, m: aligned[k].m });
  });
  return {
    ...base,
    score: Math.max(...probs),
    face_scores: faceScores,
    details: {
      aggregation: "max over judged faces",
      logits: logits.map((v) => Math.round(v * 1e4) / 1e4),
      crop: { size, margin },
      ...(notJudged.length ? { not_judged: notJudged } : {}),
    },
    heatmaps,
  };
}

// --- generated ---------------------------------------------------------------------------
const MAX_CROPS = 9;
const HEAT_MAX_SIDE = 2048;

export function cropPositions(h, w, size, maxCrops = MAX_CROPS) {
  const perSide = Math.max(1, Math.trunc(Math.sqrt(maxCrops)));
  const ny = Math.min(perSide, Math.max(1, Math.ceil(h / size)));
  const nx = Math.min(perSide, Math.max(1, Math.ceil(w / size)));
  const ys = linspaceRound(0, Math.max(0, h - size), ny), xs = linspaceRound(0, Math.max(0, w - size), nx);
  return ys.flatMap((y) => xs.map((x) => [y, x]));
}

function cutCrops(rgb, size) {
  const { w, h } = rgb;
  const src = h < size || w < size ? padReflect(rgb, Math.max(0, size - h), Math.max(0, size - w)) : rgb;
  const pos = cropPositions(h, w, size);
  return { crops: pos.map(([y, x]) => crop(src, x, y, x + size, y + size).data), pos };
}

export async function generated(models, card, rgb) {
  const name = "generated";
  const { size, mean, std } = card.input;
  const { crops, pos } = cutCrops(rgb, size);
  const [logits, camOut] = await models.run(name, [toNchw(crops, size, mean, std), [crops.length, 3, size, size]]);
  const meanLogit = mean32(logits);
  const c = card.calibration;
  const prob = (l) => sigmoid(c.a * l + c.b);
  const cells = camOut.length / crops.length, side = Math.round(Math.sqrt(cells));
  const round4 = (v) => Math.round(v * 1e4) / 1e4;
  return {
    name,
    version: card.version,
    score: prob(meanLogit),
    face_scores: null,
    details: {
      // The page has no CLIP encoder: what the scan reports as reads "traces".
      reads: "traces",
      crops: pos.length,
      crop_size: size,
      mean_logit: round4(meanLogit),
      crop_probability_range: [round4(prob(Math.min(...logits))), round4(prob(Math.max(...logits)))],
    },
    imageHeat: heatMap(rgb.h, rgb.w, size, pos, camOut, side, c),
  };
}

// Crop maps -> probabilities pasted at their crops (NaN where no crop looked), at most
// HEAT_MAX_SIDE a side.
function heatMap(h, w, size, pos, cams, side, c) {
  const g = Math.min(1, HEAT_MAX_SIDE / Math.max(h, w));
  const hh = Math.max(1, pyRound(h * g)), ww = Math.max(1, pyRound(w * g));
  const s = Math.max(1, pyRound(size * g));
  const th = Math.max(hh, s), tw = Math.max(ww, s);
  const total = new Float32Array(th * tw), count = new Float32Array(th * tw);
  pos.forEach(([y, x], k) => {
    const cam = cams.subarray(k * side * side, (k + 1) * side * side);
    const p = Float32Array.from(cam, (v) => sigmoid(c.a * v + c.b));
    const up = resizeLinearFloat(p, side, side, s, s);
    const y0 = Math.min(pyRound(y * g), th - s), x0 = Math.min(pyRound(x * g), tw - s);
    for (let j = 0; j < s; j++) {
      for (let i = 0; i < s; i++) {
        total[(y0 + j) * tw + x0 + i] += up[j * s + i];
        count[(y0 + j) * tw + x0 + i] += 1;
      }
    }
  });
  const heat = new Float32Array(hh * ww);
  for (let j = 0; j < hh; j++) {
    for (let i = 0; i < ww; i++) heat[j * ww + i] = count[j * tw + i] ? total[j * tw + i] / count[j * tw + i] : NaN;
  }
  return { heat, w: ww, h: hh };
}

// --- local-edit --------------------------------------------------------------------------
const CELL = 8;
const TOP = 16;
const MAX_GRID = 64;
const EDIT_MAX_SIDE = 2048;

export async function localEdit(models, card, rgb) {
  const name = "local-edit";
  const { w, h } = rgb;
  const f = Math.min(1, EDIT_MAX_SIDE / Math.max(h, w));
  const src = f < 1 ? resizeArea(rgb, Math.max(CELL, pyRound(w * f)), Math.max(CELL, pyRound(h * f))) : rgb;
  // the net expects sides that are multiples of 16 (two strides of 2, twice)
  const ph = (16 - (src.h % 16)) % 16, pw = (16 - (src.w % 16)) % 16;
  const x = ph || pw ? padReflect(src, ph, pw) : src;
  const plane = x.w * x.h;
  const input = new Float32Array(3 * plane);
  const half = f32(127.5);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) input[k * plane + i] = f32(f32(x.data[i * 3 + k] / half) - 1);
  }
  const [out] = await models.run(name, [input, [1, 3, x.h, x.w]]);
  const cols = x.w / CELL, hh = Math.ceil(src.h / CELL), ww = Math.ceil(src.w / CELL);
  const logits = new Float32Array(hh * ww);
  for (let y = 0; y < hh; y++) logits.set(out.subarray(y * cols, y * cols + ww), y * ww);
  const top = mean32(Float32Array.from(logits).sort().subarray(hh * ww - Math.min(TOP, hh * ww)));
  const c = card.calibration;
  const p = sigmoid(c.a * top + c.b);
  const prob = Float32Array.from(logits, (v) => f32(sigmoid(v)));
  const H = Math.max(1, pyRound(h * f)), W = Math.max(1, pyRound(w * f));
  const rows = Math.min(MAX_GRID, hh), gcols = Math.min(MAX_GRID, ww);
  const grid = pooledGrid(prob, hh, ww, H, W, rows, gcols);
  const round = (v, d) => Math.round(v * 10 ** d) / 10 ** d;
  return {
    name,
    version: card.version,
    score: p,
    face_scores: null,
    evidenceKind: "local_edit",
    details: {
      logit: round(top, 4),
      read_at: round(f, 4),
      findings: [p >= 0.5 ? "a region differs from the rest of the picture" : "no region differs from the rest of the picture"],
    },
    localization: {
      rows, cols: gcols,
      cell_height_px: round(h / rows, 2), cell_width_px: round(w / gcols, 2),
      grid: Array.from({ length: rows }, (_, y) => Array.from(grid.subarray(y * gcols, (y + 1) * gcols), (v) => round(v, 3))),
      source: name,
    },
  };
}

// analyzers/local_edit.py pooled_grid: each cell's probability over its 8x8 pixels (the
// last row and column cut at the picture's edge), area-averaged into rows x cols cells.
function pooledGrid(prob, ph, pw, h, w, rows, cols) {
  const px = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const row = Math.floor(y / CELL) * pw;
    for (let x = 0; x < w; x++) px[y * w + x] = prob[row + Math.floor(x / CELL)];
  }
  return resizeAreaFloat(px, w, h, cols, rows);
}
