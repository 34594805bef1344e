// What a file is (fakescope/media/sniff.py) and its pixels as 8-bit RGB with the EXIF
// orientation applied (fakescope/media/image.py). The browser's own decoders do the work,
// asked for the file's colours as stored (no colour management, as Pillow), so that the
// pixels are the ones the Python scan reads.

import { image } from "./imgproc.js";

// fakescope.config.MediaLimits
export const LIMITS = { maxBytes: 200 * 1024 * 1024, maxPixels: 80_000_000, maxSide: 20_000 };
// Formats Chromium decodes; TIFF and HEIF it does not.
const BROWSER_IMAGES = new Set(["jpeg", "png", "webp", "bmp", "gif"]);
export const MIME = {
  jpeg: "image/jpeg", png: "image/png", webp: "image/webp", tiff: "image/tiff", gif: "image/gif",
  bmp: "image/bmp", mp4: "video/mp4", mov: "video/quicktime", avi: "video/avi", m4a: "audio/mp4",
  wav: "audio/wav", flac: "audio/flac", mp3: "audio/mpeg",
};

export class CheckError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const ascii = (b, from, to) => String.fromCharCode(...b.subarray(from, to));

// {mediaType, format} from the first bytes, or null.
export function sniff(b) {
  const h = (s, at = 0) => ascii(b, at, at + s.length) === s;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { mediaType: "image", format: "jpeg" };
  if (h("\x89PNG\r\n\x1a\n")) return { mediaType: "image", format: "png" };
  if (h("RIFF") && h("WEBP", 8)) return { mediaType: "image", format: "webp" };
  if (h("BM") && b.length >= 14) return { mediaType: "image", format: "bmp" };
  if (["II*\x00", "MM\x00*", "II+\x00", "MM\x00+"].some((s) => h(s))) return { mediaType: "image", format: "tiff" };
  if (h("GIF87a") || h("GIF89a")) return { mediaType: "image", format: "gif" };
  if (h("ftyp", 4)) {
    const brand = ascii(b, 8, 12);
    if (["M4A ", "M4B ", "M4P "].includes(brand)) return { mediaType: "audio", format: "m4a" };
    if (["heic", "heix", "mif1", "msf1", "avif", "heim", "heis"].includes(brand)) return { mediaType: "image", format: "heif" };
    return { mediaType: "video", format: brand !== "qt  " ? "mp4" : "mov" };
  }
  if (["moov", "mdat", "wide", "free"].includes(ascii(b, 4, 8))) return { mediaType: "video", format: "mov" };
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) {
    return { mediaType: "video", format: ascii(b, 0, 64).includes("webm") ? "webm" : "mkv" };
  }
  if (h("RIFF") && h("AVI ", 8)) return { mediaType: "video", format: "avi" };
  if (h("RIFF") && h("WAVE", 8)) return { mediaType: "audio", format: "wav" };
  if (h("fLaC")) return { mediaType: "audio", format: "flac" };
  if (h("OggS")) return { mediaType: "audio", format: "ogg" };
  if (h("ID3") || (b.length > 1 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0)) {
    return { mediaType: "audio", format: (b[1] & 0x06) === 0 ? "aac" : "mp3" };
  }
  return null;
}

export function describeUnknown(b) {
  if (!b.length) return "it is empty";
  const head = ascii(b, 0, Math.min(64, b.length));
  if (/^\s*(<!DOCTYPE html|<html|<HTML)/.test(head)) return "it looks like an HTML page";
  if (head.startsWith("%PDF")) return "it looks like a PDF document";
  if (head.startsWith("PK\x03\x04")) return "it looks like a ZIP archive";
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(0, 64));
  } catch {
    return "its content matches no supported format";
  }
  return "it looks like text";
}

// Width and height from the header, before any pixel is decoded (null when not found).
function headerSize(b, format) {
  const u16 = (i, le) => (le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (i, le) => (le ? (u16(i, true) | (u16(i + 2, true) << 16)) >>> 0 : ((u16(i) << 16) | u16(i + 2)) >>> 0);
  if (format === "png" && b.length >= 24) return [u32(16), u32(20)];
  if (format === "gif" && b.length >= 10) return [u16(6, true), u16(8, true)];
  if (format === "bmp" && b.length >= 26) return [u32(18, true) | 0, Math.abs(u32(22, true) | 0)];
  if (format === "webp" && b.length >= 30) {
    const chunk = ascii(b, 12, 16);
    if (chunk === "VP8X") return [1 + (b[24] | (b[25] << 8) | (b[26] << 16)), 1 + (b[27] | (b[28] << 8) | (b[29] << 16))];
    if (chunk === "VP8L") {
      const v = u32(21, true);
      return [1 + (v & 0x3fff), 1 + ((v >>> 14) & 0x3fff)];
    }
    if (chunk === "VP8 ") return [u16(26, true) & 0x3fff, u16(28, true) & 0x3fff];
  }
  if (format === "jpeg") {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) { i += 1; continue; }
      const len = u16(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return [u16(i + 7), u16(i + 5)];
      i += 2 + len;
    }
  }
  return null;
}

// Whether the data ends before the picture does (Pillow refuses such files; browsers
// show what arrived). JPEG: the entropy-coded data must reach an EOI marker; PNG: IEND.
export function truncated(b, format) {
  if (format === "png") {
    let i = 8;
    while (i + 8 <= b.length) {
      const len = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
      if (ascii(b, i + 4, i + 8) === "IEND") return false;
      i += 12 + len;
    }
    return true;
  }
  if (format === "jpeg") {
    let i = 2;
    while (i + 1 < b.length) {
      if (b[i] !== 0xff) { i += 1; continue; } // entropy-coded bytes
      const m = b[i + 1];
      if (m === 0xd9) return false; // EOI
      if (m === 0x00 || m === 0xff || (m >= 0xd0 && m <= 0xd7) || m === 0x01) { i += m === 0xff ? 1 : 2; continue; }
      if (i + 3 >= b.length) return true;
      i += 2 + ((b[i + 2] << 8) | b[i + 3]); // a marker segment: skip it
    }
    return true;
  }
  return false;
}

// The EXIF orientation tag (1..8) of a JPEG (APP1), PNG (eXIf) or WebP (EXIF chunk), or null.
export function exifOrientation(b, format) {
  let tiff = -1;
  if (format === "jpeg") {
    for (let i = 2; i + 4 < b.length && b[i] === 0xff && b[i + 1] !== 0xda;) {
      const len = (b[i + 2] << 8) | b[i + 3];
      if (b[i + 1] === 0xe1 && ascii(b, i + 4, i + 10) === "Exif\0\0") { tiff = i + 10; break; }
      i += 2 + len;
    }
  } else if (format === "png" || format === "webp") {
    const png = format === "png";
    for (let i = png ? 8 : 12; i + 8 <= b.length;) {
      const len = png ? ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0
        : (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24)) >>> 0;
      const type = png ? ascii(b, i + 4, i + 8) : ascii(b, i, i + 4);
      if (type === (png ? "eXIf" : "EXIF")) {
        tiff = i + 8;
        if (ascii(b, tiff, tiff + 6) === "Exif\0\0") tiff += 6;
        break;
      }
      i += png ? 12 + len : 8 + len + (len & 1);
    }
  }
  if (tiff < 0 || tiff + 8 > b.length) return null;
  const le = b[tiff] === 0x49;
  const u16 = (i) => (le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (i) => (le ? (u16(i) | (u16(i + 2) << 16)) >>> 0 : ((u16(i) << 16) | u16(i + 2)) >>> 0);
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > b.length) return null;
  for (let k = 0, n = u16(ifd); k < n && ifd + 2 + k * 12 + 12 <= b.length; k++) {
    const e = ifd + 2 + k * 12;
    if (u16(e) === 0x0112) return u16(e + 8);
  }
  return null;
}

// Bytes -> {rgb, format, width, height, notes}; a CheckError for what cannot be decoded here.
export async function decodeImage(bytes, format) {
  if (!BROWSER_IMAGES.has(format)) {
    throw new CheckError("unsupported_in_browser", `${format.toUpperCase()} pictures cannot be decoded by this browser: check them with fakescope scan or the fakescope service`);
  }
  const size = headerSize(bytes, format);
  if (size) {
    const [w, h] = size;
    if (w <= 0 || h <= 0) throw new CheckError("corrupt_media", `image header gives invalid dimensions ${w}x${h}`);
    if (Math.max(w, h) > LIMITS.maxSide) throw new CheckError("media_limit", `image is ${w}x${h}; the longest side allowed is ${LIMITS.maxSide} px`);
    if (w * h > LIMITS.maxPixels) {
      throw new CheckError("media_limit", `image has ${Math.round((w * h) / 1e6)} megapixels; the limit is ${LIMITS.maxPixels / 1e6} (possible decompression bomb)`);
    }
  }
  if (truncated(bytes, format)) throw new CheckError("truncated_file", "image data is truncated");
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: MIME[format] }), {
      imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
  } catch {
    throw new CheckError("corrupt_media", "image data cannot be decoded");
  }
  const { width: w, height: h } = bitmap;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const rgb = new Uint8Array(w * h * 3);
  let alpha = false;
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    const a = rgba[i + 3];
    if (a === 255) {
      rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
    } else {
      // Flattened onto white, as fakescope/media/image.py does.
      alpha = true;
      for (let c = 0; c < 3; c++) rgb[j + c] = Math.floor((rgba[i + c] * a + 255 * (255 - a) + 127) / 255);
    }
  }
  const notes = [];
  const orientation = exifOrientation(bytes, format);
  if (orientation !== null && orientation !== 1) notes.push(`EXIF orientation ${orientation} applied`);
  if (alpha) notes.push("alpha channel flattened onto white");
  return { rgb: image(w, h, rgb), format, width: w, height: h, notes };
}
