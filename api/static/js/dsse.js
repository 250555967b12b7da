// The DSSE wire format of trazo's events, for the browser (WebCrypto only, no other code).
//
// An event is a DSSE envelope; its signature is Ed25519 over
// PAE(payloadType, payload) = "DSSEv1" SP len(type) SP type SP len(payload) SP payload,
// lengths in ASCII decimal bytes. A keyid is the lowercase hex SHA-256 of the raw 32-byte
// Ed25519 public key; an event id is "sha256:" + hex SHA-256 of the payload bytes.
// The same definitions as ledger/envelope.py, written a second time on purpose.

const encoder = new TextEncoder();

/** Standard base64 (with padding) of a Uint8Array. */
export function b64encode(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** The bytes of standard base64 text; throws on anything that is not canonical base64. */
export function b64decode(str) {
  if (typeof str !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(str) || str.length % 4 !== 0) {
    throw new Error("not valid base64");
  }
  const text = atob(str);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  if (b64encode(out) !== str) throw new Error("not canonical base64");
  return out;
}

/** PAE(payloadType, payload): the bytes an envelope's signature covers. */
export function pae(payloadType, payloadBytes) {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} `);
  const middle = encoder.encode(` ${payloadBytes.length} `);
  const out = new Uint8Array(head.length + type.length + middle.length + payloadBytes.length);
  out.set(head, 0);
  out.set(type, head.length);
  out.set(middle, head.length + type.length);
  out.set(payloadBytes, head.length + type.length + middle.length);
  return out;
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lowercase hex SHA-256 of bytes. */
export async function sha256hex(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

/** The keyid of a raw 32-byte Ed25519 public key: lowercase hex SHA-256. */
export async function keyidOf(rawPublicKeyBytes) {
  if (rawPublicKeyBytes.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  return sha256hex(rawPublicKeyBytes);
}

/** The event id of a payload: "sha256:" + hex SHA-256 of its bytes. */
export async function eventId(payloadBytes) {
  return "sha256:" + (await sha256hex(payloadBytes));
}
