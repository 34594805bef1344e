// Content Credentials with the C2PA web SDK (@contentauth/c2pa-web), read offline and
// summarised as fakescope/provenance/c2pa_reader.py does: one state per file (valid,
// invalid, absent, unverifiable), the signer, whether it chains to the trust anchors the
// person chose, the declared digital source types and the edit history.

import { createC2pa, isSupportedReaderFormat } from "@contentauth/c2pa-web";

const AI_SOURCE_TYPES = new Set(["trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"]);
const TRUST_CODES = new Set(["signingCredential.untrusted"]);
const MAX_LISTED = 64;

let sdk = null;

// wasm: the SDK's WebAssembly binary (bytes); it runs in a worker made from a blob: URL.
export async function initC2pa(wasm) {
  if (!sdk) sdk = await createC2pa({ wasmSrc: await WebAssembly.compile(wasm) });
  return sdk;
}

function oneLine(e) {
  return String((e && e.message) || e).split(/\s+/).join(" ").slice(0, 300);
}

function unverifiable(reason, extra = {}) {
  return { ...empty("unverifiable"), reason, ...extra };
}

function empty(state) {
  return {
    state, trusted: false, signer: null, issuer: null, signed_at: null, claim_generator: null,
    manifest_count: 0, actions: [], digital_source_types: [], ai_generated: false, ingredients: [],
    validation_errors: [], reason: null, remote_manifest_url: null,
  };
}

// anchorsPem: PEM text of the trust anchors (replaces any built-in list), or null.
export async function readC2pa(bytes, mime, anchorsPem) {
  if (!sdk) return unverifiable("the C2PA SDK is not loaded");
  if (!mime || !isSupportedReaderFormat(mime)) return unverifiable("the C2PA SDK does not read this file type");
  const settings = { verify: { verifyTrust: true, remoteManifestFetch: false, ocspFetch: false } };
  if (anchorsPem) settings.trust = { trustAnchors: anchorsPem };
  let reader;
  try {
    reader = await sdk.reader.fromBlob(mime, new Blob([bytes], { type: mime }), settings);
  } catch (e) {
    const msg = oneLine(e);
    if (/remote/i.test(msg)) {
      const url = msg.match(/https?:\/\/\S+/);
      return unverifiable("the manifest is stored remotely and fakescope never fetches at run time",
                          { remote_manifest_url: url ? url[0] : null });
    }
    return unverifiable(`the C2PA SDK cannot read the file: ${msg}`);
  }
  if (!reader) return { ...empty("absent"), reason: "no C2PA manifest in the file" };
  try {
    return summariseStore(await reader.json());
  } finally {
    await reader.free();
  }
}

function shortSourceType(v) {
  if (!v || typeof v !== "string") return null;
  return v.replace(/\/+$/, "").split("/").pop();
}

function agent(v) {
  if (v && typeof v === "object") {
    const { name, version } = v;
    return name && version ? `${name}/${version}` : name || null;
  }
  return v ? String(v) : null;
}

function claimGenerator(m) {
  if (m.claim_generator) return String(m.claim_generator);
  const info = m.claim_generator_info;
  return Array.isArray(info) && info.length && typeof info[0] === "object" ? agent(info[0]) : null;
}

function actionsOf(manifest) {
  const out = [];
  for (const a of manifest.assertions || []) {
    const label = String(a.label || "");
    if (label === "c2pa.actions" || label.startsWith("c2pa.actions.") || label.startsWith("c2pa.actions__")) {
      out.push(...((a.data || {}).actions || []).filter((x) => x && typeof x === "object"));
    }
  }
  return out;
}

// The SDK's manifest-store JSON -> the report's C2PA block (c2pa_reader.summarise_store).
export function summariseStore(store) {
  const manifests = store.manifests || {};
  const activeLabel = store.active_manifest;
  const active = activeLabel ? manifests[activeLabel] : undefined;
  const sdkState = String(store.validation_state || "");
  const errors = (store.validation_status || [])
    .filter((s) => !TRUST_CODES.has(s.code))
    .map((s) => (s.explanation ? `${s.code}: ${s.explanation}` : String(s.code)));
  let state;
  if (sdkState === "Valid" || sdkState === "Trusted") state = "valid";
  else if (sdkState === "Invalid") state = "invalid";
  else if (!active) state = "unverifiable";
  else state = errors.length ? "invalid" : "valid";
  if (!active && state === "valid") state = "unverifiable";

  const actions = [], sourceTypes = [];
  const ordered = Object.entries(manifests).sort(([a], [b]) => (a !== activeLabel) - (b !== activeLabel));
  for (const [label, manifest] of ordered) {
    for (const act of actionsOf(manifest)) {
      const dst = shortSourceType(act.digitalSourceType);
      if (dst && !sourceTypes.includes(dst)) sourceTypes.push(dst);
      if (actions.length < MAX_LISTED) {
        actions.push({ action: String(act.action || ""), digital_source_type: dst,
                       software_agent: agent(act.softwareAgent), when: act.when || null, manifest: label });
      }
    }
  }
  const sig = (active || {}).signature_info || {};
  return {
    state,
    trusted: sdkState === "Trusted",
    signer: sig.common_name || null,
    issuer: sig.issuer || null,
    signed_at: sig.time || null,
    claim_generator: claimGenerator(active || {}),
    manifest_count: Object.keys(manifests).length,
    actions,
    digital_source_types: sourceTypes,
    ai_generated: sourceTypes.some((t) => AI_SOURCE_TYPES.has(t)),
    ingredients: ((active || {}).ingredients || []).slice(0, MAX_LISTED).map((ing) => ({
      title: ing.title || null, format: ing.format || null, relationship: ing.relationship || null,
      has_manifest: Boolean(ing.active_manifest || ing.manifest_data),
    })),
    validation_errors: errors.slice(0, MAX_LISTED),
    reason: active ? null : "manifest store has no active manifest",
    remote_manifest_url: null,
  };
}
