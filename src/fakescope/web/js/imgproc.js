// Pixel operations of the Python pipeline, giving OpenCV 4.11's bytes (as its wheel runs on
// x86-64): warpPerspective and warpAffine with 8-bit bilinear sampling (source positions in
// 1/32 pixel, 15-bit weights), getPerspectiveTransform and the inverse to the last bit,
// INTER_AREA downscaling; and Python's and numpy's rounding. Checked against OpenCV by
// tests/test_browser_check.py::test_image_operations_match_opencv.
//
// An image is {w, h, data}: 8-bit RGB, rows top to bottom (data.length = w * h * 3).

const f32 = Math.fround;

export function image(w, h, data) {
  return { w, h, data: data || new Uint8Array(w * h * 3) };
}

// Python's round(): halves go to the even neighbour.
export function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// Rounding to an integer with halves to even (cvRound, saturate_cast<int>).
function roundEven(x) {
  const r = Math.floor(x + 0.5);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function sat8(x) {
  const r = roundEven(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

// cv::getPerspectiveTransform: the 8x8 system laid out as OpenCV lays it out (x rows, then
// y rows; the products of float32 coordinates in float32) and solved as the LAPACK its wheel
// calls does (dgesv: row pivoting on the largest magnitude, columns of L scaled by the
// pivot's reciprocal, right-looking updates, then the two triangular solves dividing by
// U's diagonal). The warps round source positions to 1/32 pixel, so with "round" scales
// (394 px into 128: 98.5/32 per pixel) the last bit of the matrix decides halves: it must
// be OpenCV's to the bit (checked on 400 letterboxes and rotated crops). src, dst: four [x, y].
export function getPerspectiveTransform(src, dst) {
  const a = Array.from({ length: 8 }, () => new Array(8).fill(0)), b = new Array(8).fill(0);
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i].map(f32), [u, v] = dst[i].map(f32);
    a[i][0] = a[i + 4][3] = x;
    a[i][1] = a[i + 4][4] = y;
    a[i][2] = a[i + 4][5] = 1;
    a[i][6] = -f32(x * u);
    a[i][7] = -f32(y * u);
    a[i + 4][6] = -f32(x * v);
    a[i + 4][7] = -f32(y * v);
    b[i] = u;
    b[i + 4] = v;
  }
  const n = 8;
  for (let j = 0; j < n; j++) {
    let p = j;
    for (let r = j + 1; r < n; r++) if (Math.abs(a[r][j]) > Math.abs(a[p][j])) p = r;
    if (a[p][j] === 0) return [0, 0, 0, 0, 0, 0, 0, 0, 1]; // singular: OpenCV fails too
    if (p !== j) {
      [a[j], a[p]] = [a[p], a[j]];
      [b[j], b[p]] = [b[p], b[j]];
    }
    const t = 1 / a[j][j];
    for (let r = j + 1; r < n; r++) a[r][j] *= t;
    for (let r = j + 1; r < n; r++) {
      for (let c = j + 1; c < n; c++) a[r][c] -= a[r][j] * a[j][c];
    }
  }
  for (let i = 0; i < n; i++) for (let k = 0; k < i; k++) b[i] -= a[i][k] * b[k];
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) b[i] -= a[i][k] * b[k];
    b[i] /= a[i][i];
  }
  return [...b, 1];
}

// cv::invert of a 3x3 matrix (DECOMP_LU takes the cofactor formula for 3x3).
export function invert3(m) {
  const [a, b, c, d, e, f, g, h, i] = m;
  let det = a * (e * i - h * f) - b * (d * i - g * f) + c * (d * h - g * e);
  if (det === 0) return [0, 0, 0, 0, 0, 0, 0, 0, 0];
  det = 1 / det;
  return [
    (e * i - f * h) * det, (c * h - b * i) * det, (b * f - c * e) * det,
    (f * g - d * i) * det, (a * i - c * g) * det, (c * d - a * f) * det,
    (d * h - e * g) * det, (b * g - a * h) * det, (a * e - b * d) * det,
  ];
}

// cv::invertAffineTransform of a 2x3 matrix [a, b, c, d, e, f].
export function invertAffine(m) {
  let det = m[0] * m[4] - m[1] * m[3];
  det = det !== 0 ? 1 / det : 0;
  const a11 = m[4] * det, a22 = m[0] * det, a12 = -m[1] * det, a21 = -m[3] * det;
  return [a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5]];
}

// OpenCV's bilinear warp of 8-bit pictures: the inverse map gives each output pixel a
// source position in 1/32 pixel steps (rounded half to even), weighted by 15-bit fixed-point
// coefficients. border: "constant" (black) or "replicate".
const TAB = 32;
function sample(src, out, o, X, Y, replicate) {
  const sw = src.w, sh = src.h, s = src.data;
  const ix = X >> 5, iy = Y >> 5, fx = X & (TAB - 1), fy = Y & (TAB - 1);
  if (!replicate && (ix >= sw || ix + 1 < 0 || iy >= sh || iy + 1 < 0)) return; // black
  // (1 - fy)(1 - fx), (1 - fy) fx, fy (1 - fx), fy fx in units of 2^-15
  const w0 = (TAB - fy) * (TAB - fx) * 32, w1 = (TAB - fy) * fx * 32;
  const w2 = fy * (TAB - fx) * 32, w3 = fy * fx * 32;
  let p0, p1, p2, p3;
  if (ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh) {
    p0 = (iy * sw + ix) * 3; p1 = p0 + 3; p2 = p0 + sw * 3; p3 = p2 + 3;
  } else {
    const at = (x, y) => {
      if (replicate) {
        x = x < 0 ? 0 : x >= sw ? sw - 1 : x;
        y = y < 0 ? 0 : y >= sh ? sh - 1 : y;
      } else if (x < 0 || x >= sw || y < 0 || y >= sh) return -1;
      return (y * sw + x) * 3;
    };
    p0 = at(ix, iy); p1 = at(ix + 1, iy); p2 = at(ix, iy + 1); p3 = at(ix + 1, iy + 1);
  }
  for (let c = 0; c < 3; c++) {
    const v0 = p0 < 0 ? 0 : s[p0 + c], v1 = p1 < 0 ? 0 : s[p1 + c];
    const v2 = p2 < 0 ? 0 : s[p2 + c], v3 = p3 < 0 ? 0 : s[p3 + c];
    const v = (v0 * w0 + v1 * w1 + v2 * w2 + v3 * w3 + 16384) >> 15;
    out[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

function clampInt(v) {
  return v < -2147483648 ? -2147483648 : v > 2147483647 ? 2147483647 : v;
}

// cv2.warpPerspective(src, m, (w, h), INTER_LINEAR, border): m maps source to output.
export function warpPerspective(src, m, w, h, border = "constant") {
  const M = invert3(m);
  const out = new Uint8Array(w * h * 3);
  const replicate = border === "replicate";
  // OpenCV maps the output in blocks of bw columns and adds the block's start separately:
  // M0 * xb + ... then + M0 * x1 rounds differently from M0 * (xb + x1).
  const bh = Math.min(16, h), bw = Math.min(Math.trunc(1024 / bh), w);
  for (let y = 0; y < h; y++) {
    for (let xb = 0; xb < w; xb += bw) {
      const x0 = M[0] * xb + M[1] * y + M[2], y0 = M[3] * xb + M[4] * y + M[5];
      const w0 = M[6] * xb + M[7] * y + M[8];
      for (let x1 = 0; x1 < Math.min(bw, w - xb); x1++) {
        let W = w0 + M[6] * x1;
        W = W ? TAB / W : 0;
        const X = roundEven(clampInt((x0 + M[0] * x1) * W));
        const Y = roundEven(clampInt((y0 + M[3] * x1) * W));
        sample(src, out, (y * w + xb + x1) * 3, X, Y, replicate);
      }
    }
  }
  return image(w, h, out);
}

// cv2.warpAffine(src, m, (w, h), INTER_LINEAR, BORDER_CONSTANT 0): m is 2x3, source to output.
export function warpAffine(src, m, w, h) {
  const M = invertAffine(m);
  const AB = 1024; // AB_BITS = 10
  const ax = new Int32Array(w), bx = new Int32Array(w);
  for (let x = 0; x < w; x++) {
    ax[x] = roundEven(M[0] * x * AB);
    bx[x] = roundEven(M[3] * x * AB);
  }
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const X0 = roundEven((M[1] * y + M[2]) * AB) + 16;
    const Y0 = roundEven((M[4] * y + M[5]) * AB) + 16;
    for (let x = 0; x < w; x++) {
      sample(src, out, (y * w + x) * 3, (X0 + ax[x]) >> 5, (Y0 + bx[x]) >> 5, false);
    }
  }
  return image(w, h, out);
}

// cv2.copyMakeBorder(..., BORDER_CONSTANT, 0).
export function padConstant(src, top, bottom, left, right) {
  const w = src.w + left + right, h = src.h + top + bottom;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < src.h; y++) {
    out.set(src.data.subarray(y * src.w * 3, (y + 1) * src.w * 3), ((y + top) * w + left) * 3);
  }
  return image(w, h, out);
}

// rgb[y0:y1, x0:x1] (clipped to the image), as a copy.
export function crop(src, x0, y0, x1, y1) {
  x0 = Math.max(0, x0); y0 = Math.max(0, y0);
  x1 = Math.min(src.w, x1); y1 = Math.min(src.h, y1);
  const w = Math.max(0, x1 - x0), h = Math.max(0, y1 - y0);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * src.w + x0) * 3;
    out.set(src.data.subarray(from, from + w * 3), y * w * 3);
  }
  return image(w, h, out);
}

// np.pad(rgb, ((0, dy), (0, dx), (0, 0)), mode="reflect"): mirror without the edge pixel.
export function padReflect(src, dy, dx) {
  const w = src.w + dx, h = src.h + dy;
  const out = new Uint8Array(w * h * 3);
  const refl = (i, n) => {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    i %= period;
    return i < n ? i : period - i;
  };
  for (let y = 0; y < h; y++) {
    const sy = refl(y, src.h);
    for (let x = 0; x < w; x++) {
      const sx = refl(x, src.w);
      const p = (sy * src.w + sx) * 3, o = (y * w + x) * 3;
      out[o] = src.data[p]; out[o + 1] = src.data[p + 1]; out[o + 2] = src.data[p + 2];
    }
  }
  return image(w, h, out);
}

// Weights of one axis of cv::resize INTER_AREA (computeResizeAreaTab): [dst, src, alpha].
function areaTab(ssize, dsize, scale) {
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push([dx, sx1 - 1, f32((sx1 - fsx1) / cell)]);
    for (let sx = sx1; sx < sx2; sx++) tab.push([dx, sx, f32(1 / cell)]);
    if (fsx2 - sx2 > 1e-3) tab.push([dx, sx2, f32(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell)]);
  }
  return tab;
}

// cv2.resize(src, (w, h), interpolation=INTER_AREA), for downscaling.
export function resizeArea(src, w, h) {
  const sx = src.w / w, sy = src.h / h;
  if (Number.isInteger(sx) && Number.isInteger(sy) && sx >= 1 && sy >= 1) return areaFast(src, w, h, sx, sy);
  const xtab = areaTab(src.w, w, sx), ytab = areaTab(src.h, h, sy);
  const out = new Uint8Array(w * h * 3);
  const buf = new Float32Array(w * 3), sum = new Float32Array(w * 3);
  let prev = ytab.length ? ytab[0][0] : 0;
  const flush = (dy) => {
    for (let i = 0; i < w * 3; i++) out[dy * w * 3 + i] = sat8(sum[i]);
  };
  for (let k = 0; k < ytab.length; k++) {
    const [dy, syi, beta] = ytab[k];
    buf.fill(0);
    const row = syi * src.w * 3;
    for (const [dx, sxi, alpha] of xtab) {
      for (let c = 0; c < 3; c++) {
        buf[dx * 3 + c] = f32(buf[dx * 3 + c] + f32(src.data[row + sxi * 3 + c] * alpha));
      }
    }
    if (dy !== prev) {
      flush(prev);
      for (let i = 0; i < w * 3; i++) sum[i] = f32(beta * buf[i]);
      prev = dy;
    } else {
      for (let i = 0; i < w * 3; i++) sum[i] = f32(sum[i] + f32(beta * buf[i]));
    }
  }
  flush(prev);
  return image(w, h, out);
}

// INTER_AREA for whole-number factors: the mean of each block (resizeAreaFast).
function areaFast(src, w, h, fx, fy) {
  const out = new Uint8Array(w * h * 3);
  const area = fx * fy, scale = f32(1 / area);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = 0; j < fy; j++) {
          const row = ((y * fy + j) * src.w + x * fx) * 3 + c;
          for (let i = 0; i < fx; i++) s += src.data[row + i * 3];
        }
        // The 2x2 vector path rounds halves up; the general one to even.
        out[(y * w + x) * 3 + c] = area === 4 ? (s + 2) >> 2 : sat8(f32(s * scale));
      }
    }
  }
  return image(w, h, out);
}

// cv2.resize of a one-channel float map with INTER_AREA, shrinking: each output pixel the
// mean of the source pixels it covers, weighted by the share of each it covers.
export function resizeAreaFloat(map, mw, mh, w, h) {
  const xtab = areaTab(mw, w, mw / w), ytab = areaTab(mh, h, mh / h);
  const out = new Float32Array(w * h);
  const acc = new Float64Array(w * h);
  const rowSum = new Float64Array(w);
  for (const [dy, sy, beta] of ytab) {
    rowSum.fill(0);
    for (const [dx, sx, alpha] of xtab) rowSum[dx] += map[sy * mw + sx] * alpha;
    for (let x = 0; x < w; x++) acc[dy * w + x] += beta * rowSum[x];
  }
  for (let i = 0; i < w * h; i++) out[i] = acc[i];
  return out;
}

// cv2.resize of a float map with INTER_LINEAR (half-pixel centres, edges replicated),
// for the heatmaps only: what the page draws, not what it decides with.
export function resizeLinearFloat(map, mw, mh, w, h) {
  const out = new Float32Array(w * h);
  const sx = mw / w, sy = mh / h;
  for (let y = 0; y < h; y++) {
    let fy = (y + 0.5) * sy - 0.5;
    let y0 = Math.floor(fy);
    let ay = fy - y0;
    if (y0 < 0) { y0 = 0; ay = 0; }
    if (y0 >= mh - 1) { y0 = mh - 1; ay = 0; }
    const y1 = Math.min(y0 + 1, mh - 1);
    for (let x = 0; x < w; x++) {
      let fx = (x + 0.5) * sx - 0.5;
      let x0 = Math.floor(fx);
      let ax = fx - x0;
      if (x0 < 0) { x0 = 0; ax = 0; }
      if (x0 >= mw - 1) { x0 = mw - 1; ax = 0; }
      const x1 = Math.min(x0 + 1, mw - 1);
      const top = map[y0 * mw + x0] * (1 - ax) + map[y0 * mw + x1] * ax;
      const bot = map[y1 * mw + x0] * (1 - ax) + map[y1 * mw + x1] * ax;
      out[y * w + x] = top * (1 - ay) + bot * ay;
    }
  }
  return out;
}
