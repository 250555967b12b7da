// DSSE wire-format pieces for the browser (DESIGN.md, "Wire format"; ledger/envelope.py).
//
// The bytes that are signed are PAE(payloadType, payload); the keyid is the lowercase hex
// SHA-256 of the raw 32-byte Ed25519 public key; an event's id is "sha256:" + the hex
// SHA-256 of its payload bytes. Base64 is standard, padded (RFC 4648 section 4), and
// decoding is strict: anything that does not re-encode to the same text is refused, as
// the ledger refuses it (ledger.envelope.b64decode_strict).

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const encoder = new TextEncoder();

/** Standard padded base64 of a Uint8Array (or ArrayBuffer). */
export function b64encode(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < data.length; i += 3) {
    const a = data[i];
    const b = i + 1 < data.length ? data[i + 1] : 0;
    const c = i + 2 < data.length ? data[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < data.length ? ALPHABET[(n >> 6) & 63] : "=";
    out += i + 2 < data.length ? ALPHABET[n & 63] : "=";
  }
  return out;
}

/** The bytes of canonical padded base64; throws on anything else. */
export function b64decode(str) {
  if (typeof str !== "string" || str.length % 4 !== 0) {
    throw new Error("malformed base64: not in canonical padded form");
  }
  const pad = str.endsWith("==") ? 2 : str.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((str.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < str.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = str[i + j];
      const last = i + 4 === str.length;
      let v;
      if (ch === "=" && last && j >= 4 - pad) v = 0;
      else {
        v = ALPHABET.indexOf(ch);
        if (v < 0) throw new Error(`malformed base64: character ${JSON.stringify(ch)}`);
      }
      n = (n << 6) | v;
    }
    const bytes = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    for (const byte of bytes) if (o < out.length) out[o++] = byte;
  }
  if (b64encode(out) !== str) throw new Error("malformed base64: not in canonical padded form");
  return out;
}

/** DSSE v1 pre-authentication encoding: "DSSEv1" SP len(t) SP t SP len(b) SP b. */
export function pae(payloadType, payloadBytes) {
  const t = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${t.length} ${payloadType} ${payloadBytes.length} `);
  const out = new Uint8Array(head.length + payloadBytes.length);
  out.set(head, 0);
  out.set(payloadBytes, head.length);
  return out;
}

/** Lowercase hex SHA-256 of the bytes. */
export async function sha256hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The keyid of a raw 32-byte Ed25519 public key. */
export async function keyidOf(rawPublicKeyBytes) {
  if (rawPublicKeyBytes.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  return sha256hex(rawPublicKeyBytes);
}

/** An event's id: "sha256:" + hex SHA-256 of its payload bytes. */
export async function eventId(payloadBytes) {
  return "sha256:" + (await sha256hex(payloadBytes));
}
