// Faces in a photo: fakescope/faces/detector.py (FaceDetector.detect) step for step.
// Short- and full-range BlazeFace on the picture (at most 1280 px), full range on tiles
// for small faces, a padded retry for tight crops (kept only when FaceMesh confirms it),
// FaceMesh in a window around each face, the mesh checked against the detector's own
// keypoints, and 5 landmarks per face.

import { BlazeFace, FULL, SHORT } from "./blazeface.js";
import { FaceMesh, roiFromDetection } from "./facemesh.js";
import { crop, padConstant, pyRound, resizeArea } from "./imgproc.js";

const MESH_RIGHT_IRIS = 468, MESH_LEFT_IRIS = 473, MESH_NOSE_TIP = 1;
const MESH_MOUTH_RIGHT = 61, MESH_MOUTH_LEFT = 291, MESH_POINTS = 478;
const MOUTH_HALF_RATIO = 0.415;
const RETRY_PADS = [0.25, 0.5];
const MESH_AGREEMENT = 1.0;
const GRID_MIN_SIDE = 800;
const FULL_RANGE_MIN_SCORE = 0.6;
const MESH_DETECTION_SCORE = 0.3;
const MESH_PRESENCE = 0.5;
// fakescope.config.FaceSettings defaults
export const FACE_SETTINGS = { minDetectionScore: 0.5, maxFaces: 8, detectMaxSide: 1280 };
// fakescope.faces.types.MIN_EYE_DISTANCE_PX
export const MIN_EYE_DISTANCE_PX = 18.0;

export function iou(a, b) {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[2], b[2]), y1 = Math.min(a[3], b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

export function landmarks5FromMesh(mesh) {
  return [MESH_RIGHT_IRIS, MESH_LEFT_IRIS, MESH_NOSE_TIP, MESH_MOUTH_RIGHT, MESH_MOUTH_LEFT].map((i) => mesh[i]);
}

// BlazeFace gives eyes, nose tip and mouth centre; mouth corners are placed from them.
export function landmarks5FromDetector(kps) {
  const [re, le, nose, mouth] = kps;
  const half = [MOUTH_HALF_RATIO * (le[0] - re[0]), MOUTH_HALF_RATIO * (le[1] - re[1])];
  return [re, le, nose, [mouth[0] - half[0], mouth[1] - half[1]], [mouth[0] + half[0], mouth[1] + half[1]]];
}

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

// np.linspace(start, stop, num).round().astype(int)
export function linspaceRound(start, stop, num) {
  if (num === 1) return [pyRound(start)];
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => pyRound(i === num - 1 ? stop : i * step + start));
}

// Why a face model should not judge a face (fakescope.faces.types.Face.why_not_judged).
export function whyNotJudged(face) {
  if (face.landmarksSource !== "facemesh") return "not confirmed as a face by the landmark model";
  const eye = dist(face.landmarks5[0], face.landmarks5[1]);
  if (eye < MIN_EYE_DISTANCE_PX) {
    return `too small to judge (eyes ${eye.toFixed(0)} px apart, ${MIN_EYE_DISTANCE_PX.toFixed(0)} needed)`;
  }
  return null;
}

export class FaceDetector {
  constructor(models, settings = FACE_SETTINGS) {
    this.settings = settings;
    this.short = new BlazeFace(models, SHORT, settings.minDetectionScore);
    this.full = new BlazeFace(models, FULL, Math.max(settings.minDetectionScore, FULL_RANGE_MIN_SCORE));
    this.meshDetector = new BlazeFace(models, SHORT, MESH_DETECTION_SCORE);
    this.mesh = new FaceMesh(models);
  }

  tiles(rgb) {
    const { w, h } = rgb;
    const tiles = [];
    const side = Math.min(h, w), long = Math.max(h, w);
    if (long > 1.3 * side) {
      const n = Math.ceil((long - side) / (0.75 * side)) + 1;
      for (let k = 0; k < n; k++) {
        const off = pyRound((k * (long - side)) / (n - 1));
        tiles.push(w > h ? [off, 0, side] : [0, off, side]);
      }
    }
    if (side >= GRID_MIN_SIDE) {
      const half = Math.trunc(side * 0.6);
      for (const y0 of [0, h - half]) {
        for (const x0 of linspaceRound(0, w - half, Math.max(2, pyRound(w / half)))) tiles.push([x0, y0, half]);
      }
    }
    return tiles;
  }

  async detectBoxes(rgb) {
    let dets = [...(await this.short.detect(rgb)), ...(await this.full.detect(rgb))];
    for (const [x0, y0, side] of this.tiles(rgb)) {
      const tile = crop(rgb, x0, y0, x0 + side, y0 + side);
      for (const d of await this.full.detect(tile)) {
        dets.push({
          box: [d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0],
          score: d.score,
          keypoints: d.keypoints.map(([x, y]) => [x + x0, y + y0]),
        });
      }
    }
    let padded = false;
    if (!dets.length) {
      for (const frac of RETRY_PADS) {
        const pad = pyRound(frac * Math.max(rgb.w, rgb.h));
        const canvas = padConstant(rgb, pad, pad, pad, pad);
        dets = (await this.short.detect(canvas)).map((d) => ({
          box: d.box.map((v) => v - pad),
          score: d.score,
          keypoints: d.keypoints.map(([x, y]) => [x - pad, y - pad]),
        }));
        if (dets.length) {
          padded = true;
          break;
        }
      }
    }
    dets.sort((a, b) => b.score - a.score);
    const kept = [];
    for (const d of dets) if (kept.every((k) => iou(d.box, k.box) < 0.3)) kept.push(d);
    return { dets: kept, padded };
  }

  meshAgrees(mesh, kps) {
    const a = landmarks5FromMesh(mesh), b = landmarks5FromDetector(kps);
    const eye = Math.max(dist(b[1], b[0]), 1e-6);
    return Math.max(dist(a[0], b[0]), dist(a[1], b[1]), dist(a[2], b[2])) / eye <= MESH_AGREEMENT;
  }

  // FaceMesh on a square window twice the box, so it sees exactly that face.
  async meshFor(rgb, box) {
    const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
    const side = 2.0 * Math.max(box[2] - box[0], box[3] - box[1]);
    const x0 = pyRound(cx - side / 2), y0 = pyRound(cy - side / 2), s = pyRound(side);
    if (s < 8) return null;
    const { w, h } = rgb;
    const px0 = Math.max(0, -x0), py0 = Math.max(0, -y0);
    const px1 = Math.max(0, x0 + s - w), py1 = Math.max(0, y0 + s - h);
    let win = crop(rgb, Math.max(0, x0), Math.max(0, y0), Math.min(w, x0 + s), Math.min(h, y0 + s));
    if (!win.w || !win.h) return null;
    if (px0 || py0 || px1 || py1) win = padConstant(win, py0, py1, px0, px1);
    let scale = 1.0;
    if (s > 640) {
      scale = 640 / s;
      win = resizeArea(win, 640, 640);
    }
    const dets = await this.meshDetector.detect(win);
    if (!dets.length) return null;
    const { points, presence } = await this.mesh.run(win, roiFromDetection(dets[0].box, dets[0].keypoints));
    if (presence < MESH_PRESENCE) return null;
    const pts = points.map(([x, y]) => [x / scale + x0, y / scale + y0]);
    if (pts.length !== MESH_POINTS) return null;
    const meshBox = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of pts) {
      meshBox[0] = Math.min(meshBox[0], x); meshBox[1] = Math.min(meshBox[1], y);
      meshBox[2] = Math.max(meshBox[2], x); meshBox[3] = Math.max(meshBox[3], y);
    }
    if (iou(meshBox, box) < 0.25) return null;
    return pts;
  }

  // Faces, best detection first, at most maxFaces:
  // {box, score, landmarks5, mesh, landmarksSource}
  async detect(rgb) {
    const { w, h } = rgb;
    const scale = Math.min(1.0, this.settings.detectMaxSide / Math.max(h, w));
    const small = scale < 1.0 ? resizeArea(rgb, pyRound(w * scale), pyRound(h * scale)) : rgb;
    const { dets, padded } = await this.detectBoxes(small);
    const faces = [];
    for (const d of dets.slice(0, this.settings.maxFaces)) {
      const box = d.box.map((v) => v / scale);
      const kps = d.keypoints.map(([x, y]) => [x / scale, y / scale]);
      let mesh = await this.meshFor(rgb, box);
      if (mesh && !this.meshAgrees(mesh, kps)) mesh = null;
      if (!mesh && padded) continue; // the padded retry finds faces in clouds: FaceMesh must agree
      faces.push({
        box: [Math.max(0, box[0]), Math.max(0, box[1]), Math.min(w, box[2]), Math.min(h, box[3])],
        score: d.score,
        landmarks5: mesh ? landmarks5FromMesh(mesh) : landmarks5FromDetector(kps),
        mesh,
        landmarksSource: mesh ? "facemesh" : "detector",
      });
    }
    return faces;
  }
}
