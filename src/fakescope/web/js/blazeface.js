// BlazeFace short and full range: fakescope/faces/blazeface.py step for step (letterbox,
// SSD anchors, decoding, weighted non-maximum suppression), float32 where numpy is float32.

import { getPerspectiveTransform, warpPerspective } from "./imgproc.js";

const f32 = Math.fround;

export const SHORT = { model: "face-detect-short", size: 128, strides: [8, 16, 16, 16], twoAnchors: true };
export const FULL = { model: "face-detect-full", size: 192, strides: [4], twoAnchors: false };
const NMS_IOU = f32(0.3); // numpy compares a float32 IoU with 0.3 as float32
const SCORE_CLIP = 100;

const anchorCache = new Map();

// Anchor centres (x, y in [0, 1], float32), laid out as mediapipe's SsdAnchorsCalculator.
export function anchors(spec) {
  if (anchorCache.has(spec.model)) return anchorCache.get(spec.model);
  const out = [];
  const strides = spec.strides;
  let layer = 0;
  while (layer < strides.length) {
    let perCell = 0, last = layer;
    while (last < strides.length && strides[last] === strides[layer]) {
      perCell += spec.twoAnchors ? 2 : 1;
      last += 1;
    }
    const n = Math.ceil(spec.size / strides[layer]);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        for (let k = 0; k < perCell; k++) out.push(f32((x + 0.5) / n), f32((y + 0.5) / n));
      }
    }
    layer = last;
  }
  const a = Float32Array.from(out);
  anchorCache.set(spec.model, a);
  return a;
}

// The image fitted into a size x size square, centred, black borders; and its ROI.
export function letterbox(rgb, size) {
  const side = Math.max(rgb.w, rgb.h);
  const x0 = (rgb.w - side) / 2, y0 = (rgb.h - side) / 2;
  const src = [[x0, y0 + side], [x0, y0], [x0 + side, y0], [x0 + side, y0 + side]];
  const dst = [[0, size], [0, 0], [size, 0], [size, size]];
  const m = getPerspectiveTransform(src, dst);
  return { square: warpPerspective(rgb, m, size, size, "constant"), roi: [x0, y0, side] };
}

// mediapipe's WEIGHTED suppression: each cluster (IoU above 0.3 with its best member) becomes
// one detection with the best score and the score-weighted mean of boxes and keypoints.
export function weightedNms(boxes, kps, scores) {
  const n = scores.length;
  let remaining = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const out = [];
  while (remaining.length) {
    const top = remaining[0];
    const t = boxes.subarray(top * 4, top * 4 + 4);
    const topArea = f32(f32(t[2] - t[0]) * f32(t[3] - t[1]));
    const members = [], rest = [];
    remaining.forEach((i, k) => {
      const b = boxes.subarray(i * 4, i * 4 + 4);
      const iw = Math.max(f32(Math.min(b[2], t[2]) - Math.max(b[0], t[0])), 0);
      const ih = Math.max(f32(Math.min(b[3], t[3]) - Math.max(b[1], t[1])), 0);
      const inter = f32(iw * ih);
      const area = f32(f32(b[2] - b[0]) * f32(b[3] - b[1]));
      const union = f32(f32(area + topArea) - inter);
      const iou = union > 0 ? f32(inter / Math.max(union, f32(1e-12))) : 0;
      (k === 0 || iou > NMS_IOU ? members : rest).push(i);
    });
    let total = 0;
    const box = [0, 0, 0, 0], kp = new Array(12).fill(0);
    for (const i of members) total += scores[i];
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (const i of members) s += boxes[i * 4 + j] * scores[i];
      box[j] = s / total;
    }
    for (let j = 0; j < 12; j++) {
      let s = 0;
      for (const i of members) s += kps[i * 12 + j] * scores[i];
      kp[j] = s / total;
    }
    out.push({ box, kp, score: scores[top] });
    remaining = rest;
  }
  return out;
}

export class BlazeFace {
  constructor(models, spec, minScore) {
    this.models = models;
    this.spec = spec;
    this.minScore = minScore;
    this.anchors = anchors(spec);
  }

  // Detections in image pixels, best first: {box: [x0, y0, x1, y1], score, keypoints: 6 x [x, y]}.
  async detect(rgb) {
    const size = this.spec.size;
    const { square, roi } = letterbox(rgb, size);
    const x = new Float32Array(size * size * 3);
    const k = f32(2 / 255);
    for (let i = 0; i < x.length; i++) x[i] = f32(f32(square.data[i] * k) - 1);
    const [reg, cls] = await this.models.run(this.spec.model, [x, [1, size, size, 3]]);
    const n = this.anchors.length / 2;
    const keep = [];
    const scores = [];
    for (let i = 0; i < n; i++) {
      const logit = Math.min(Math.max(cls[i], -SCORE_CLIP), SCORE_CLIP);
      const s = 1 / (1 + Math.exp(-logit));
      if (s >= this.minScore) { keep.push(i); scores.push(s); }
    }
    if (!keep.length) return [];
    const boxes = new Float32Array(keep.length * 4), kps = new Float32Array(keep.length * 12);
    keep.forEach((i, j) => {
      const r = (c) => f32(reg[i * 16 + c] / size);
      const ax = this.anchors[i * 2], ay = this.anchors[i * 2 + 1];
      const cx = f32(r(0) + ax), cy = f32(r(1) + ay), bw = r(2), bh = r(3);
      boxes.set([f32(cx - bw / 2), f32(cy - bh / 2), f32(cx + bw / 2), f32(cy + bh / 2)], j * 4);
      for (let p = 0; p < 6; p++) {
        kps[j * 12 + p * 2] = f32(r(4 + p * 2) + ax);
        kps[j * 12 + p * 2 + 1] = f32(r(5 + p * 2) + ay);
      }
    });
    const [x0, y0, side] = roi;
    return weightedNms(boxes, kps, scores).map((d) => ({
      box: [d.box[0] * side + x0, d.box[1] * side + y0, d.box[2] * side + x0, d.box[3] * side + y0],
      score: d.score,
      keypoints: Array.from({ length: 6 }, (_, p) => [d.kp[p * 2] * side + x0, d.kp[p * 2 + 1] * side + y0]),
    }));
  }
}
