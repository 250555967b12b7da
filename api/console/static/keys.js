// The device key: Ed25519 in WebCrypto, its private half non-extractable, kept in IndexedDB.
// It signs DSSE envelopes exactly as the wire format says (dsse.js); nothing but the
// envelope leaves the page.

import { b64decode, b64encode, keyidOf, pae } from "/static/js/dsse.js";
import { get, put } from "./db.js";

export const EVENT_TYPE = "application/vnd.trazo.event+json";
export const SESSION_TYPE = "application/vnd.trazo.session+json";
const ED25519 = { name: "Ed25519" };

export async function deviceKey() {
  return (await get("keys", "device")) || null;
}

async function keepKey(privateKey, publicRaw) {
  const record = {
    name: "device",
    privateKey,
    publicKey: publicRaw,
    keyid: await keyidOf(publicRaw),
    created: new Date().toISOString(),
  };
  await put("keys", record);
  return record;
}

/** A new key made in this browser: the private half can never be exported. */
export async function generateKey() {
  const pair = await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return keepKey(pair.privateKey, raw);
}

/** A key made by `trazo keygen` (PEM PKCS#8). Its public half is read once from a
 * transient extractable copy; the key kept is imported anew, non-extractable. */
export async function importKey(pem) {
  const match = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(pem || "");
  if (!match) throw new Error("not a PEM private key (-----BEGIN PRIVATE KEY-----)");
  const der = b64decode(match[1].replace(/\s+/g, ""));
  const transient = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", transient);
  const raw = b64decode(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const kept = await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  return keepKey(kept, raw);
}

/** A DSSE envelope of ``payloadBytes`` signed with the device key. */
export async function signEnvelope(key, payloadBytes, payloadType = EVENT_TYPE) {
  const sig = await crypto.subtle.sign(ED25519, key.privateKey, pae(payloadType, payloadBytes));
  return {
    payloadType,
    payload: b64encode(payloadBytes),
    signatures: [{ keyid: key.keyid, sig: b64encode(new Uint8Array(sig)) }],
  };
}

export function publicKeyB64(key) {
  return b64encode(key.publicKey);
}

/** The payload bytes trazo signs: UTF-8 JSON, keys sorted, no spaces, integers and
 * strings only (a quantity is a decimal string; a float is refused here, as the ledger
 * would refuse it). */
export function payloadBytes(body) {
  return new TextEncoder().encode(canonical(body));
}

function canonical(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
  }
  throw new Error(`cannot sign a ${typeof value}`);
}

/** Decode the payload of an envelope (its exact bytes, then JSON). */
export function payloadOf(envelope) {
  return JSON.parse(new TextDecoder().decode(b64decode(envelope.payload)));
}

/** Now, RFC 3339 in local time with its offset, to the millisecond (as `trazo sign`). */
export function localTime(date = new Date()) {
  const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}
