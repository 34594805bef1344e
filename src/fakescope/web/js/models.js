// The bundled models on onnxruntime-web (WebAssembly, one thread), and the build's assets.
//
// Chromium refuses fetch() and module scripts from file:// pages, so the build wraps every
// binary (models, the runtime's .wasm, the C2PA SDK's .wasm) in a classic script that
// hands it over as base64: assets/NAME.js calls fakescopeAsset(NAME, DATA). The same
// folder then works from disk and from any web server, and nothing is ever fetched.

import * as ort from "onnxruntime-web/wasm";

const pending = new Map();
const loaded = new Map();

window.fakescopeAsset = (name, data) => {
  loaded.set(name, data);
  const p = pending.get(name);
  if (p) p.resolve(data);
};

// An asset by name (base64 text, or an object for the configuration).
export function asset(name) {
  if (loaded.has(name)) return Promise.resolve(loaded.get(name));
  if (!pending.has(name)) {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    pending.set(name, { promise, resolve });
    const s = document.createElement("script");
    s.src = `assets/${name}.js`;
    s.onerror = () => reject(new Error(`the build is missing assets/${name}.js`));
    document.head.appendChild(s);
  }
  return pending.get(name).promise;
}

export function bytesOf(b64) {
  return Uint8Array.fromBase64 ? Uint8Array.fromBase64(b64) : Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export const MODEL_NAMES = ["face-detect-short", "face-detect-full", "face-mesh", "face-forgery", "generated", "local-edit"];

export class Models {
  constructor() {
    this.sessions = new Map();
  }

  // Loads the runtime and every model; onProgress(done, total) after each.
  async init(onProgress = () => {}) {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = bytesOf(await asset("ort-wasm"));
    let done = 0;
    onProgress(done, MODEL_NAMES.length);
    for (const name of MODEL_NAMES) {
      const bytes = bytesOf(await asset(`model-${name}`));
      this.sessions.set(name, await ort.InferenceSession.create(bytes, {
        executionProviders: ["wasm"], graphOptimizationLevel: "all",
      }));
      onProgress(++done, MODEL_NAMES.length);
    }
  }

  // Inputs as [Float32Array, dims] in the model's input order; outputs' data in its output order.
  async run(name, ...inputs) {
    const session = this.sessions.get(name);
    const feeds = {};
    inputs.forEach(([data, dims], i) => {
      feeds[session.inputNames[i]] = new ort.Tensor("float32", data, dims);
    });
    const out = await session.run(feeds);
    return session.outputNames.map((n) => out[n].data);
  }
}
