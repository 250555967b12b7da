// The log side of a proof bundle, for the browser: RFC 6962 inclusion proofs, C2SP signed
// notes (checkpoints) and cosignature/v1 witness lines, with WebCrypto Ed25519 and SHA-256.
// An independent second implementation of ledger/merkle.py, ledger/checkpoint.py and
// ledger/cosignature.py: the Python code is the reference, tests hold the two together.

import { b64decode } from "./dsse.js";

const encoder = new TextEncoder();

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function hexToBytes(text) {
  if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) throw new Error("not lowercase hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Ed25519 verification through WebCrypto; false (never a throw) for a bad signature. */
export async function ed25519Verify(rawKey, signature, message) {
  if (rawKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", rawKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch (e) {
    return false;
  }
}

// --- RFC 6962 / RFC 9162 ---------------------------------------------------------------

export async function leafHash(leafInput) {
  return sha256(concat(new Uint8Array([0]), leafInput));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** The root an inclusion proof gives for `leaf` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2); throws when the proof has the wrong length for that position. */
export async function rootFromInclusionProof(leaf, index, size, proof) {
  // exact integers (BigInt): a tree size beyond 2^53 is a number a double cannot hold,
  // and a rounded size would give a proof another shape than the one the log signed
  if (!Number.isSafeInteger(index)) throw new Error(`index ${index} is not an exact integer`);
  const n = BigInt(size);
  const i = BigInt(index);
  if (!(i >= 0n && i < n)) throw new Error(`index ${index} is not in a tree of size ${n}`);
  let fn = i;
  let sn = n - 1n;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
    if (sn === 0n) throw new Error("the proof is too long");
    if (fn % 2n === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2n === 0n) {
        while (fn % 2n === 0n && fn !== 0n) {
          fn /= 2n;
          sn /= 2n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn /= 2n;
    sn /= 2n;
  }
  if (sn !== 0n) throw new Error("the proof is too short");
  return r;
}

export async function verifyInclusion(leaf, index, size, proof, root) {
  const computed = await rootFromInclusionProof(leaf, index, size, proof);
  if (!equal(computed, root)) throw new Error("the proof does not lead to the checkpoint's root");
}

// --- C2SP signed notes -----------------------------------------------------------------

/** The 4-byte key ID of a note key: SHA-256(name || 0x0A || alg || key)[:4]. */
export async function noteKeyId(name, alg, raw) {
  return (await sha256(concat(encoder.encode(name + "\n"), new Uint8Array([alg]), raw))).slice(0, 4);
}

/** `name+hexid+base64(alg || key)`, checked: {name, keyId, raw}. */
export async function parseVerifierKey(vkey, alg) {
  const text = String(vkey).trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("a verifier key is <name>+<hex key ID>+<base64 key>");
  const [name, hexId, encoded] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!name || /[\s+]/.test(name)) throw new Error(`bad key name ${JSON.stringify(name)}`);
  const raw = b64decode(encoded);
  if (raw.length !== 33 || raw[0] !== alg) throw new Error(`not an Ed25519 key of type 0x0${alg}`);
  const keyId = await noteKeyId(name, alg, raw.slice(1));
  if (toHex(keyId) !== hexId) throw new Error("the verifier key's ID does not match its key");
  return { name, keyId, raw: raw.slice(1) };
}

/** A signed note's text (the signed bytes) and its signature lines. */
export function splitNote(note) {
  if (typeof note !== "string" || !note.endsWith("\n")) throw new Error("a signed note ends with a newline");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new Error("a signed note holds a control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the note has no blank line before its signatures");
  const body = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block) throw new Error("the note has no signature lines");
  const lines = block.slice(0, -1).split("\n").map((line, i) => {
    if (!line.startsWith("\u2014 ")) throw new Error(`signature line ${i + 1} does not start with an em dash`);
    const fields = line.slice(2).split(" ");
    if (fields.length !== 2) throw new Error(`signature line ${i + 1} is not '— name signature'`);
    const raw = b64decode(fields[1]);
    if (raw.length <= 4) throw new Error(`signature line ${i + 1} is too short`);
    return { name: fields[0], keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { body: encoder.encode(body), text: body, lines };
}

/** Open a checkpoint with the log's key: {origin, size, root} of the bytes that were signed.
 * As the C2SP spec says: lines of unknown keys are ignored, a known key's line that fails
 * rejects the note, and a note with no line of the known key is rejected. */
export async function openCheckpoint(note, logKey) {
  const { body, text, lines } = splitNote(note);
  const origin = text.split("\n", 1)[0];
  const name = logKey.name || origin;
  const keyId = await noteKeyId(name, 1, logKey.raw);
  let verified = false;
  for (const line of lines) {
    if (line.name !== name || !equal(line.keyId, keyId)) continue;
    if (!(await ed25519Verify(logKey.raw, line.signature, body))) {
      throw new Error(`the signature by ${name} does not verify`);
    }
    verified = true;
  }
  if (!verified) {
    const by = lines.map((l) => `${l.name}+${toHex(l.keyId)}`).join(", ");
    throw new Error(`no signature by the trusted log key (signed by: ${by})`);
  }
  const parts = text.slice(0, -1).split("\n");
  if (parts.length !== 3) throw new Error("a checkpoint is three lines: origin, size, root");
  if (!/^(0|[1-9][0-9]*)$/.test(parts[1])) throw new Error("the tree size is not a decimal number");
  const root = b64decode(parts[2]);
  if (root.length !== 32) throw new Error("the root hash is not 32 bytes");
  // size: for display; exactSize (a BigInt) for proofs, exact beyond 2^53
  return { origin: parts[0], size: Number(parts[1]), exactSize: BigInt(parts[1]), root };
}

/** The witnesses of `keys` (parsed cosigner keys) whose cosignature/v1 line on `note`
 * verifies, each once: [{name, timestamp}]. */
export async function cosignatures(note, keys) {
  const { body, lines } = splitNote(note);
  const found = new Map();
  for (const line of lines) {
    const key = keys.find((k) => k.name === line.name && equal(k.keyId, line.keyId));
    if (!key || found.has(toHex(key.raw)) || line.signature.length !== 72) continue;
    let timestamp = 0n;
    for (const b of line.signature.slice(0, 8)) timestamp = (timestamp << 8n) | BigInt(b);
    if (timestamp > 2n ** 63n - 1n) continue;
    const message = concat(encoder.encode(`cosignature/v1\ntime ${timestamp}\n`), body);
    if (await ed25519Verify(key.raw, line.signature.slice(8), message)) {
      found.set(toHex(key.raw), { name: line.name, timestamp: Number(timestamp) });
    }
  }
  return [...found.values()];
}
