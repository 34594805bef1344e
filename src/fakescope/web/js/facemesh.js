// FaceMesh with attention (478 landmarks): fakescope/faces/facemesh.py. A rotated square
// region of interest from a detection, cropped into the model's 192x192 input, landmarks
// projected back to image pixels, and the face-presence probability.

import { getPerspectiveTransform, warpPerspective } from "./imgproc.js";

const f32 = Math.fround;
export const SIZE = 192;
const MODEL = "face-mesh";
const ROI_SCALE = 1.5;

function normalizeRadians(a) {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}

// DetectionsToRects (rotation that levels p0 -> p1) then RectTransformation (square, 1.5x).
export function roiFromDetection(box, keypoints) {
  const [x0, y0, x1, y1] = box;
  const [p0, p1] = keypoints;
  const rotation = normalizeRadians(-Math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]));
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, side: Math.max(x1 - x0, y1 - y0) * ROI_SCALE, rotation };
}

// cv2.boxPoints: the corners of a rotated rectangle, in float32 as OpenCV computes them.
export function boxPoints(cx, cy, w, h, degrees) {
  cx = f32(cx); cy = f32(cy); w = f32(w); h = f32(h);
  const angle = (f32(degrees) * Math.PI) / 180;
  const b = f32(f32(Math.cos(angle)) * 0.5), a = f32(f32(Math.sin(angle)) * 0.5);
  const p0 = [f32(f32(cx - f32(a * h)) - f32(b * w)), f32(f32(cy + f32(b * h)) - f32(a * w))];
  const p1 = [f32(f32(cx + f32(a * h)) - f32(b * w)), f32(f32(cy - f32(b * h)) - f32(a * w))];
  return [p0, p1, [f32(2 * cx - p0[0]), f32(2 * cy - p0[1])], [f32(2 * cx - p1[0]), f32(2 * cy - p1[1])]];
}

// The ROI warped into SIZE x SIZE, edge pixels repeated outside the image.
export function cropRoi(rgb, roi) {
  const box = boxPoints(roi.cx, roi.cy, roi.side, roi.side, roi.rotation * (180 / Math.PI));
  const m = getPerspectiveTransform(box, [[0, SIZE], [0, 0], [SIZE, 0], [SIZE, SIZE]]);
  return warpPerspective(rgb, m, SIZE, SIZE, "replicate");
}

// Landmarks in crop pixels back to image pixels (mediapipe's LandmarkProjection).
export function project(pts, roi) {
  const c = Math.cos(roi.rotation), s = Math.sin(roi.rotation);
  const out = [];
  for (let i = 0; i < pts.length / 2; i++) {
    const rx = pts[i * 2] / SIZE - 0.5, ry = pts[i * 2 + 1] / SIZE - 0.5;
    out.push([(c * rx - s * ry) * roi.side + roi.cx, (s * rx + c * ry) * roi.side + roi.cy]);
  }
  return out;
}

export class FaceMesh {
  constructor(models) {
    this.models = models;
  }

  // {points: 478 x [x, y] in image pixels, presence: probability}
  async run(rgb, roi) {
    const patch = cropRoi(rgb, roi);
    const x = new Float32Array(patch.data.length);
    for (let i = 0; i < x.length; i++) x[i] = f32(patch.data[i] / 255);
    const [pts, flag] = await this.models.run(MODEL, [x, [1, SIZE, SIZE, 3]]);
    return { points: project(pts, roi), presence: 1 / (1 + Math.exp(-flag[0])) };
  }
}
