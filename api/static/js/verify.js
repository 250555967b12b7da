// A proof bundle checked in the browser: an independent second implementation of
// `trazo verify` (graph/verify.py), in plain JavaScript with WebCrypto and no other code.
//
// verifyBundle(bundle, options, onStep) runs named steps, as the Python verifier does, and
// reports each one as it passes; every failure is a finding naming the event and why.
// The price figures of `verdict.prices` are recomputed by prices.js (graph/prices.py's
// second implementation). What the Python verifier checks and this one does not (the
// bundle's JSON Schema beyond its members, the value of every field of every event type,
// the wording of a verdict's reasons) is listed in NOT_CHECKED and shown with the result: nothing is passed silently. Tests run
// both verifiers on the same bundles and require the same answer.

import { b64decode, eventId, keyidOf, pae } from "./dsse.js";
import {
  cosignatures,
  hexToBytes,
  leafHash,
  openCheckpoint,
  parseVerifierKey,
  sha256,
  verifyInclusion,
  ed25519Verify,
} from "./proof.js";
import { Q } from "./exact.js";
import { FIELDS as ALLOWED } from "./fields.js";
import { PRICE_TYPES, applicable, checkAmount, priceDifferences, priceSection, readBody } from "./prices.js";

export { Q };

export const PAYLOAD_TYPE = "application/vnd.trazo.event+json";
const SCHEME = "SPP";
const CUSTODY = new Set(["harvest", "transform", "ship", "receive", "dispose"]);
const KNOWN = new Set([
  "party.register", "key.add", "key.revoke", "member.enroll", "member.leave", "plot.map",
  "cert.issue", "cert.revoke", "harvest", "transform", "ship", "receive", "dispose", "void",
  "lot.publish", "grant.issue", "grant.revoke", ...PRICE_TYPES,
]);
const OPTIONAL = new Set(["void", "cert.revoke"]);

export const NOT_CHECKED = [
  "the bundle's JSON Schema beyond its members (each value's type and form)",
  "the value of every field of every event type (this check refuses a field its type does not define and reads the values the custody and price rules use)",
  "the wording of the verdict's reasons (the shares, fractions and certified parts are compared)",];

const ZERO = new Q(0n);

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The objects a path of fields.js's `nested` names in `body` (`outputs[]`: each item of the
 * array, `outputs[].package`: an object in one), each with where it is; a value of another
 * shape is not reached (its form is the rules' concern, and refused there by trazo verify). */
function reach(body, path) {
  let found = [[body, ""]];
  for (const step of path.split(".")) {
    const many = step.endsWith("[]");
    const name = many ? step.slice(0, -2) : step;
    const next = [];
    for (const [obj, where] of found) {
      const v = Object.hasOwn(obj, name) ? obj[name] : undefined;
      if (many && Array.isArray(v)) v.forEach((x, i) => isObject(x) && next.push([x, `${where}${name}[${i}].`]));
      else if (!many && isObject(v)) next.push([v, `${where}${name}.`]);
    }
    found = next;
  }
  return found;
}

/** The first field of `body` its type does not define, or in an object inside it whose unknown
 * keys the type's rule refuses (fields.js: generated from the rule modules, as ledger/fields.py's
 * reject_unknown reads them); null if none, or if the type is unknown (reported apart). */
export function unknownField(type, body) {
  const spec = Object.hasOwn(ALLOWED, type) ? ALLOWED[type] : null;
  if (!spec || !isObject(body)) return null;
  const stray = (obj, allowed, where) => {
    const extra = Object.keys(obj).filter((k) => !allowed.includes(k)).sort();
    return extra.length ? where + extra[0] : null;
  };
  const top = stray(body, spec.fields, "");
  if (top) return top;
  for (const [path, allowed] of Object.entries(spec.nested)) {
    for (const [obj, where] of reach(body, path)) {
      const bad = stray(obj, allowed, where);
      if (bad) return bad;
    }
  }
  return null;
}
const ONE = new Q(1n);

/** `q` rounded up to 40 significant digits, as Python's Decimal context of the yield rule
 * (prec 40, ROUND_CEILING) rounds a share or a demand: never down. */
function ceilDigits(q, digits = 40) {
  if (q.n <= 0n) return q;
  let e = 0; // 10^(e-1) <= q < 10^e
  while (new Q(10n ** BigInt(Math.max(e, 0)), 10n ** BigInt(Math.max(-e, 0))).cmp(q) <= 0) e++;
  while (new Q(10n ** BigInt(Math.max(e - 1, 0)), 10n ** BigInt(Math.max(1 - e, 0))).cmp(q) > 0) e--;
  const shift = digits - e;
  const scale = shift >= 0 ? new Q(10n ** BigInt(shift)) : new Q(1n, 10n ** BigInt(-shift));
  const x = q.mul(scale);
  const up = x.n % x.d === 0n ? x.n / x.d : x.n / x.d + 1n;
  return new Q(up).div(scale);
}

/** `q` rounded up to `places` decimals. */
function ceilPlaces(q, places) {
  const scale = 10n ** BigInt(places);
  const x = q.n * scale;
  const up = x % q.d === 0n ? x / q.d : x / q.d + (x > 0n ? 1n : 0n);
  return new Q(up, scale);
}

// --- a strict reading of a payload: no duplicate keys, no floats -----------------------

const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

export function parseStrict(text) {
  let i = 0;
  const ws = () => { while (/[ \t\n\r]/.test(text[i] || "")) i++; };
  const fail = (why) => { throw new Error(`${why} at character ${i}`); };
  function string() {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (text[i] !== '"') fail("unterminated string");
    i++;
    const out = JSON.parse(text.slice(start, i));
    // as ledger/payload.py refuses them: they reorder the text shown after them
    if (BIDI_CONTROLS.test(out)) fail("a bidirectional control character (U+202A–202E, U+2066–2069)");
    return out;
  }
  function value(depth) {
    if (depth > 64) fail("nested too deeply");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out = {};
      ws();
      if (text[i] === "}") { i++; return out; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        if (Object.prototype.hasOwnProperty.call(out, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        out[key] = value(depth + 1);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return out; }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const out = [];
      ws();
      if (text[i] === "]") { i++; return out; }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return out; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9][0-9]*)([.eE][-+0-9.eE]*)?/.exec(text.slice(i, i + 400));
    if (m && m[0]) {
      if (m[2]) fail("a floating-point number (quantities are decimal strings)");
      i += m[0].length;
      const n = Number(m[0]);
      if (!Number.isSafeInteger(n)) fail("an integer beyond 2^53");
      return n;
    }
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return fail("not JSON");
  }
  const out = value(0);
  ws();
  if (i !== text.length) fail("text after the JSON value");
  return out;
}

const TIME = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const FIELDS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch, with the microseconds kept apart for exact comparison.
 * Every field in its range, as Python's datetime holds them (ledger/fields.py): no
 * 24:00, no leap second, no April 31, an offset under 24 hours; Date.parse alone rolls
 * such times over into real ones. */
function instant(text) {
  const m = TIME.exec(String(text));
  if (!m) throw new Error(`time ${JSON.stringify(text)} is not RFC 3339 with an offset`);
  const [, year, month, day, hour, minute, second, offHour, offMinute] = FIELDS.exec(text).map(Number);
  const days = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && (year % 4 !== 0 || (year % 100 === 0 && year % 400 !== 0)) ? 1 : 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59
    || second > 59 || (offHour || 0) > 23 || (offMinute || 0) > 59) {
    throw new Error(`time ${JSON.stringify(text)} is not a real time`);
  }
  const ms = Date.parse(text.replace(/\.\d+/, ""));
  if (Number.isNaN(ms)) throw new Error(`time ${JSON.stringify(text)} is not a real time`);
  // to the microsecond, as Python's datetime holds a time (ledger/fields.py truncates)
  const frac = (m[2] || ".0").slice(1).padEnd(6, "0").slice(0, 6);
  return BigInt(ms) * 1000n + BigInt(frac);
}

// --- the rule tables a bundle carries ------------------------------------------------

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

class Tables {
  constructor(doc) {
    this.units = doc.units.units;
    this.processes = doc.products.processes;
    this.products = doc.products.products;
  }
  kg(line, where) {
    const unit = this.units[line.unit];
    if (!unit) throw new RuleError("rules", `unknown unit ${JSON.stringify(line.unit)}`, where);
    const q = Q.parse(line.quantity);
    if (q.isZero()) throw new RuleError("rules", "a quantity must be above zero", where);
    return q.mul(Q.parse(unit.kg));
  }
  product(name) {
    const p = this.products[name];
    if (!p) throw new RuleError("rules", `unknown product ${JSON.stringify(name)}`);
    return p;
  }
  /** Largest yield of a forward path from → to (1 within a form), or null. */
  maxYield(product, from, to) {
    const p = this.product(product);
    if (!p.forms.includes(from) || !p.forms.includes(to)) return null;
    if (from === to) return ONE;
    let best = null;
    const walk = (form, acc) => {
      for (const s of p.steps) {
        if (s.from !== form) continue;
        const y = acc.mul(Q.parse(s.max_yield));
        if (s.to === to) { if (!best || y.cmp(best) > 0) best = y; } else walk(s.to, y);
      }
    };
    walk(from, ONE);
    return best;
  }
  /** Whether `process` may turn `from` into `to`. */
  allows(product, process, from, to) {
    const p = this.product(product);
    if (!p.forms.includes(from) || !p.forms.includes(to)) return false;
    if (from === to) return Boolean(this.processes[process] && this.processes[process].keeps_form);
    const walk = (form) => p.steps.some((s) => s.from === form && s.processes.includes(process)
      && (s.to === to || walk(s.to)));
    return walk(from);
  }
}

class RuleError extends Error {
  constructor(check, message, where) {
    super(where ? `${message} (field ${where})` : message);
    this.check = check;
  }
}

// --- the steps -------------------------------------------------------------------------

/**
 * Verify `bundle` (the parsed bundle.json). `options`: {logKey: verifier key string (or
 * {name, raw}), witnesses: [cosigner verifier key strings], quorum, tablesDigest: the hex
 * digest of the rule tables this verifier trusts, claim: {certified_fraction} the page
 * states, as a fraction "n/d"}. `onStep({check, ok, text})` is told of every step as it ends.
 * Returns {ok, findings: [{check, event, message}], verdict, checkpoint, cosignedBy}.
 */
export async function verifyBundle(bundle, options = {}, onStep = () => {}) {
  const findings = [];
  const find = (check, message, event = null) => findings.push({ check, message, event });
  const result = { ok: false, findings, verdict: null, checkpoint: null, cosignedBy: [], unknownTypes: [] };
  const step = async (check, text, run) => {
    const before = findings.length;
    try {
      await run();
    } catch (e) {
      find(check, `cannot be checked: ${e.message}`);
    }
    const mine = findings.slice(before);
    onStep({ check, ok: mine.length === 0, text, findings: mine });
    return mine.length === 0;
  };

  // 1. format
  const formatOk = await step("format", "the bundle's format", () => {
    if (!bundle || typeof bundle !== "object" || bundle.format !== "trazo.bundle") {
      throw new Error("not a trazo.bundle document");
    }
    if (bundle.version !== 1) find("format", `version ${JSON.stringify(bundle.version)}; this verifier reads 1`);
    if (typeof bundle.lot !== "string") find("format", "the bundle names no lot");
    if (!Array.isArray(bundle.events) || !bundle.events.length) find("envelopes", "the bundle carries no events");
    for (const problem of memberProblems(bundle)) find("schema", problem);
  });
  if (!formatOk) return finish(result);

  // 2. the checkpoint, signed by the log key the page names; 3. its witnesses
  let checkpoint = null;
  await step("checkpoint", "the log's signature on its checkpoint", async () => {
    if (!options.logKey) throw new Error("no log key to check the checkpoint with");
    const key = typeof options.logKey === "string" ? await parseVerifierKey(options.logKey, 1) : options.logKey;
    try {
      checkpoint = await openCheckpoint(bundle.checkpoint, key);
    } catch (e) {
      find("checkpoint", `not signed by the trusted log key: ${e.message}`);
    }
    result.checkpoint = checkpoint;
  });
  if (checkpoint && (options.witnesses || []).length) {
    await step("witnesses", "the witnesses' cosignatures", async () => {
      const keys = [];
      for (const w of options.witnesses) {
        const vkey = w.split("+", 1)[0].includes("=") ? w.slice(w.indexOf("=") + 1) : w;
        keys.push(await parseVerifierKey(vkey, 4));
      }
      result.cosignedBy = (await cosignatures(bundle.checkpoint, keys)).map((c) => c.name).sort();
      const quorum = options.quorum ?? 0;
      if (result.cosignedBy.length < quorum) {
        find("witnesses", `the checkpoint carries ${result.cosignedBy.length} valid cosignature(s) of the witnesses trusted; the policy asks for ${quorum}`);
      }
    });
  }

  // 4. the tables: exactly the ones this verifier trusts
  let tables = null;
  await step("tables", "the rule tables (units, yields, plot limits)", async () => {
    tables = new Tables(bundle.tables);
    if (options.tablesDigest) {
      const digest = Array.from(await sha256(new TextEncoder().encode(canonical(bundle.tables))),
        (b) => b.toString(16).padStart(2, "0")).join("");
      if (digest !== options.tablesDigest) {
        find("tables", `the bundle's tables (sha256 ${digest.slice(0, 16)}…) are not the tables this page trusts (sha256 ${options.tablesDigest.slice(0, 16)}…)`);
      }
    }
  });

  // 5. envelopes, ids and 6. inclusion
  const records = [];
  await step("envelopes", "every event's id and payload", async () => {
    let last = -1;
    const seen = new Set();
    for (const [n, item] of bundle.events.entries()) {
      let record;
      try {
        record = await readEvent(item);
      } catch (e) {
        find("envelopes", `events[${n}] does not parse: ${e.message}`);
        continue;
      }
      if (!Number.isInteger(record.index) || record.index <= last) {
        find("envelopes", `events[${n}]: index ${JSON.stringify(record.index)} is not after ${last}`, record.id);
        continue;
      }
      last = record.index;
      if (seen.has(record.id)) {
        find("envelopes", "the same event appears twice", record.id);
        continue;
      }
      seen.add(record.id);
      records.push(record);
    }
  });
  if (checkpoint) {
    await step("inclusion", "every event is in the log under the checkpoint", async () => {
      for (const r of records) {
        try {
          const proof = r.inclusion.map(hexToBytes);
          await verifyInclusion(await leafHash(await sha256(r.payload)), r.index, checkpoint.exactSize, proof, checkpoint.root);
        } catch (e) {
          find("inclusion", `not in the log at index ${r.index} under the checkpoint: ${e.message}`, r.id);
        }
      }
    });
  }

  // 7. the genesis and the ledger each event names
  const genesis = records.find((r) => r.index === 0);
  await step("ledger", "every event names this ledger", () => {
    if (!genesis) {
      find("ledger", "the bundle carries no genesis (event 0): which ledger its events belong to cannot be checked");
    }
  });

  // 8. signatures, key chains, who may sign what, custody and conservation
  const state = new Ledger(tables, genesis);
  await step("signatures", "every signature, by a key its party holds (the key chain)", async () => {
    for (const r of records) await state.admit(r, find);
  });
  result.unknownTypes = [...new Set(records.filter((r) => !KNOWN.has(r.type)).map((r) => r.type))].sort();

  // 9. references, 10. privacy
  const byId = new Map(records.map((r) => [r.id, r]));
  await step("references", "every custody step builds on an earlier one in the bundle", () => {
    for (const r of records) {
      for (const ref of references(r, tables)) {
        const parent = byId.get(ref.parent);
        if (!parent) find("references", `builds on ${ref.parent} (lot ${ref.lot}), which is not in the bundle`, r.id);
        else if (parent.index >= r.index) find("references", `builds on a later event ${ref.parent}`, r.id);
        else if (r.instant < parent.instant) find("references", `dated before ${ref.parent}, which it builds on`, r.id);
      }
    }
  });
  await step("privacy", "no plot location in the bundle", () => {
    for (const r of records) if (r.type === "plot.map") find("privacy", "a published bundle must not carry a plot's location", r.id);
  });

  // 11. the verdict, recomputed from the events the rules admitted
  if (typeof bundle.lot === "string" && tables) {
    await step("verdict", "the certified share, recomputed from the events", () => {
      const admitted = records.filter((r) => !state.refused.has(r.id));
      const verdict = attribute(bundle.lot, admitted, tables);
      result.verdict = verdict;
      compareVerdict(bundle.verdict, verdict, find);
      if (options.claim && Q.fraction(options.claim).cmp(verdict.certified) !== 0) {
        find("verdict", `this page states a certified share of ${options.claim}, the events give ${verdict.certified.text()}`);
      }
      const needed = neededEvents(bundle.lot, records, tables);
      result.needed = needed;
      for (const r of records) if (!needed.has(r.id)) find("references", "an event this lot's proof does not need (added)", r.id);
    });
    await step("prices", "the price figures, recomputed from the disclosed payments", () => {
      const admitted = records.filter((r) => !state.refused.has(r.id));
      const section = priceSection(admitted, tables, ancestryOf(bundle.lot, admitted, tables), (lot) => createdBy(admitted, lot));
      result.prices = section.figures;
      const claimed = bundle.verdict && typeof bundle.verdict === "object" ? bundle.verdict.prices : undefined;
      const differ = priceDifferences(claimed, section.figures);
      if (differ.length) {
        // named by the payment a differing figure rests on, where the events give one
        const at = (differ[0].match(/^verdict\.prices\[(\d+)\]/) || [])[1];
        const figure = at !== undefined ? section.figures[Number(at)] : section.figures[0];
        find("verdict", `the claimed price figures differ from the ones the disclosed payments give: ${differ.slice(0, 5).join("; ")}${differ.length > 5 ? `; and ${differ.length - 5} more` : ""}`,
          figure ? figure.events.payments[0] : null);
      }
    });
  }
  return finish(result);
}

// The members the bundle's JSON Schema (graph/data/bundle.schema.json) allows, each
// required: a bundle must not carry claims its verifier never reads (a `plots` array).
const MEMBERS = {
  bundle: ["format", "version", "lot", "checkpoint", "events", "tables", "verdict"],
  event: ["index", "envelope", "inclusion"],
  envelope: ["payloadType", "payload", "signatures"],
  signature: ["keyid", "sig"],
  verdict: ["lot", "product", "form", "kg", "scheme", "certified", "certified_fraction",
    "certified_percent", "certified_kg", "summary", "shares", "rounding", "tables_digest"],
  summary: ["certified_percent", "certified_kg", "spos", "members", "plots", "harvests",
    "countries", "harvest_from", "harvest_until", "reasons"],
  share: ["harvest_event", "harvest_lot", "source", "member", "plot", "country", "harvest_date",
    "fraction", "kg", "percent", "certified", "reasons"],
  reason: ["code", "message", "event"],
  figures: ["spo", "buyers", "scheme", "standard", "basis", "currency", "unit", "form", "kg", "price",
    "minimum", "above_minimum", "premium_paid", "premium_due", "farmgate", "farmgate_percent",
    "farmgate_kg", "events"],
  figureEvents: ["payments", "confirmations", "price_lists", "member_payments"],
};
// Members a bundle carries only sometimes: `verdict.prices` only where a payment is disclosed.
const MAY = { verdict: ["prices"] };

function memberProblems(bundle) {
  const out = [];
  const check = (value, kind, where) => {
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      out.push(`${where}: is not an object`);
      return;
    }
    const allowed = MEMBERS[kind];
    const may = MAY[kind] || [];
    for (const key of Object.keys(value)) if (!allowed.includes(key) && !may.includes(key)) out.push(`${where}: unknown member ${JSON.stringify(key)}`);
    for (const key of allowed) if (!(key in value)) out.push(`${where}: missing member ${JSON.stringify(key)}`);
  };
  check(bundle, "bundle", "the bundle");
  (Array.isArray(bundle.events) ? bundle.events : []).forEach((e, i) => {
    check(e, "event", `events[${i}]`);
    if (e && e.envelope) {
      check(e.envelope, "envelope", `events[${i}].envelope`);
      (e.envelope.signatures || []).forEach((sig, j) => check(sig, "signature", `events[${i}].envelope.signatures[${j}]`));
    }
    if (e && Array.isArray(e.inclusion) && !e.inclusion.every((h) => typeof h === "string" && /^[0-9a-f]{64}$/.test(h))) {
      out.push(`events[${i}].inclusion: not a list of 64 hex digits`);
    }
  });
  const verdict = bundle.verdict;
  check(verdict, "verdict", "verdict");
  if (verdict && typeof verdict === "object") {
    check(verdict.summary, "summary", "verdict.summary");
    (Array.isArray(verdict.shares) ? verdict.shares : []).forEach((share, i) => {
      check(share, "share", `verdict.shares[${i}]`);
      ((share && share.reasons) || []).forEach((r, j) => check(r, "reason", `verdict.shares[${i}].reasons[${j}]`));
    });
    if ("prices" in verdict) {
      if (!Array.isArray(verdict.prices) || !verdict.prices.length) out.push("verdict.prices: is not a list of figures");
      else {
        verdict.prices.forEach((f, i) => {
          check(f, "figures", `verdict.prices[${i}]`);
          if (f && typeof f === "object") check(f.events, "figureEvents", `verdict.prices[${i}].events`);
        });
      }
    }
  }
  return out.slice(0, 20);
}

function finish(result) {
  result.ok = result.findings.length === 0;
  return result;
}

async function readEvent(item) {
  if (!item || typeof item !== "object") throw new Error("not an object");
  const env = item.envelope;
  if (!env || typeof env !== "object") throw new Error("no envelope");
  const extra = Object.keys(env).filter((k) => !["payloadType", "payload", "signatures"].includes(k));
  if (extra.length) throw new Error(`unknown envelope field(s): ${extra.join(", ")}`);
  if (env.payloadType !== PAYLOAD_TYPE) throw new Error(`payloadType is not ${PAYLOAD_TYPE}`);
  if (!Array.isArray(env.signatures) || env.signatures.length !== 1) throw new Error("an envelope carries exactly one signature");
  const sig = env.signatures[0];
  if (!sig || typeof sig.keyid !== "string" || !/^[0-9a-f]{64}$/.test(sig.keyid)) throw new Error("a keyid is 64 lowercase hex digits");
  const signature = b64decode(sig.sig);
  if (signature.length !== 64) throw new Error("an Ed25519 signature is 64 bytes");
  const payload = b64decode(env.payload);
  if (payload.length > 65536) throw new Error("a payload is at most 64 KiB");
  // a byte-order mark is kept, and refused as JSON, as Python's reader refuses it
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(payload);
  const body = parseStrict(text);
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("payload must be a JSON object");
  for (const name of ["type", "schema", "party", "key", "seq", "prev", "time"]) {
    if (!(name in body)) throw new Error(`missing common field ${name}`);
  }
  if (body.schema !== 1) throw new Error("schema must be 1");
  if (typeof body.type !== "string" || typeof body.party !== "string") throw new Error("type and party are strings");
  if (body.key !== sig.keyid) throw new Error("the payload's key is not the signature's keyid");
  if (!Number.isInteger(body.seq) || body.seq < 1) throw new Error("seq must be an integer ≥ 1");
  if ((body.seq === 1) !== (body.prev === null)) throw new Error("prev is null exactly when seq is 1");
  const id = await eventId(payload);
  if (!Array.isArray(item.inclusion)) throw new Error("no inclusion proof");
  return {
    index: item.index, id, payload, body, type: body.type, party: body.party, keyid: sig.keyid,
    signature, payloadType: env.payloadType, instant: instant(body.time), day: TIME.exec(body.time)[1],
    inclusion: item.inclusion,
  };
}

// --- the ledger as the rules see it, over the bundle alone ------------------------------

class Ledger {
  constructor(tables, genesis) {
    this.tables = tables;
    this.genesis = genesis;
    this.operator = genesis ? genesis.body.subject : null;
    this.parties = new Map(); // id → {roles, country}
    this.keys = new Map(); // keyid → {party, raw, revoked}
    this.heads = new Map(); // keyid → Map(seq → record)
    this.lots = new Map(); // lot → {product, form, event}
    this.holdings = new Map(); // party|lot|via → {kg, instant}
    this.shipments = new Map(); // ship id → {from, to, lots: Map lot → kg, received}
    this.members = new Map(); // member → spo
    this.certificates = new Map(); // id → certifier
    this.events = new Map(); // id → record (admitted)
    this.refused = new Set();
    this.voids = new Set(); // ids of events an admitted void declared erroneous
    this.terms = []; // price terms of admitted price lists
    this.payments = new Map(); // payment id → {payer, payee, instant, answer, status}
    this.paidBy = new Map(); // receipt or harvest id → ids of the payments naming it
  }

  async admit(r, find) {
    const refuse = (check, message) => {
      find(check, message, r.id);
      this.refused.add(r.id);
    };
    try {
      await this.signature(r);
    } catch (e) {
      this.chain(r, () => {});
      return refuse("signatures", e.message);
    }
    let chainProblem = null;
    this.chain(r, (m) => { chainProblem = m; });
    if (chainProblem) return refuse("chains", chainProblem);
    if (r.index > 0 && this.genesis && r.body.ledger !== this.genesis.id) {
      return refuse("ledger", `names ledger ${JSON.stringify(r.body.ledger)}, not ${this.genesis.id}`);
    }
    const stray = unknownField(r.type, r.body);
    if (stray) return refuse("rules", `refused by the ledger's rules: ${stray}: a field its type does not define`);
    const undo = this.snapshot();
    try {
      await this.apply(r);
      this.events.set(r.id, r);
    } catch (e) {
      this.restore(undo);
      if (e instanceof NotInEvidence) {
        if (!OPTIONAL.has(r.type)) refuse("references", `cannot be checked from the bundle: ${e.message}`);
        return;
      }
      return refuse(e.check || "rules", `refused by the ledger's rules: ${e.message}`);
    }
  }

  async signature(r) {
    let key = this.keys.get(r.keyid);
    if (r.index === 0 && r.type === "party.register") {
      const raw = b64decode(String(r.body.public_key));
      if ((await keyidOf(raw)) !== r.keyid || r.body.subject !== r.party) {
        throw new Error("the genesis is not self-signed by the key it registers");
      }
      key = { party: r.party, raw, revoked: false };
    }
    if (!key || key.party !== r.party) throw new Error(`key ${r.keyid.slice(0, 16)}… is not registered to party ${JSON.stringify(r.party)}`);
    if (key.revoked) throw new Error(`key ${r.keyid.slice(0, 16)}… was revoked by ${key.revoked}`);
    // as ledger/engine.py's check_key_validity: a key signs nothing dated before the
    // event that registered it
    if (key.added !== undefined && r.instant < key.added) {
      throw new Error(`key ${r.keyid.slice(0, 16)}… was registered at ${key.addedText}; it signs nothing dated before that (${r.body.time})`);
    }
    if (!(await ed25519Verify(key.raw, r.signature, pae(r.payloadType, r.payload)))) {
      throw new Error("the Ed25519 signature does not verify");
    }
  }

  chain(r, problem) {
    let seqs = this.heads.get(r.keyid);
    if (!seqs) this.heads.set(r.keyid, (seqs = new Map()));
    const earlier = seqs.get(r.body.seq);
    if (earlier && earlier.id !== r.id) return problem(`seq ${r.body.seq} of key ${r.keyid.slice(0, 16)}… is already taken by ${earlier.id} (a fork)`);
    const top = seqs.size ? Math.max(...seqs.keys()) : 0;
    if (!earlier && r.body.seq < top) {
      // as check_chain: a key's chain only moves forward in the log's order
      return problem(`seq ${r.body.seq} of key ${r.keyid.slice(0, 16)}… comes after its seq ${top} in the log: the chain runs backwards`);
    }
    const before = seqs.get(r.body.seq - 1);
    if (before && r.body.prev !== before.id) return problem(`prev is ${r.body.prev}, not ${before.id}, the key's event seq ${r.body.seq - 1}`);
    // a gap is events the bundle does not carry: prev must then be one of them too
    if (!before && r.body.seq > 1 && this.events.has(r.body.prev)) {
      return problem(`seq ${r.body.seq} skips seqs of key ${r.keyid.slice(0, 16)}…, yet its prev ${r.body.prev} is an event the bundle carries`);
    }
    if (before && r.instant < before.instant) return problem("dated before the key's previous event");
    if (!before) { // across a gap too, as check_chain: a key's events move forward in time
      const below = [...seqs.keys()].filter((n) => n < r.body.seq);
      const head = below.length ? seqs.get(Math.max(...below)) : null;
      if (head && r.instant < head.instant) return problem(`dated before the key's previous event in the bundle, ${head.id}`);
    }
    seqs.set(r.body.seq, r);
  }

  snapshot() {
    return {
      parties: new Map(this.parties), keys: new Map([...this.keys].map(([k, v]) => [k, { ...v }])),
      lots: new Map(this.lots), holdings: new Map([...this.holdings].map(([k, v]) => [k, { ...v }])),
      shipments: new Map([...this.shipments].map(([k, v]) => [k, { ...v }])),
      members: new Map(this.members), certificates: new Map(this.certificates),
      voids: new Set(this.voids), terms: [...this.terms],
      payments: new Map([...this.payments].map(([k, v]) => [k, { ...v }])),
      paidBy: new Map([...this.paidBy].map(([k, v]) => [k, [...v]])),
    };
  }

  restore(s) {
    Object.assign(this, s);
  }

  owned(id, what) {
    if (typeof id !== "string" || !id.startsWith(this.current.party + ":")) {
      throw new RuleError("rules", `${what} ${JSON.stringify(id)} must start with ${JSON.stringify(this.current.party + ":")}`);
    }
  }

  async apply(r) {
    this.current = r;
    const b = r.body;
    const t = this.tables;
    switch (r.type) {
      case "party.register": {
        if (r.index > 0 && r.party !== this.operator) throw new RuleError("rules", `only the operator ${JSON.stringify(this.operator)} registers parties, not ${JSON.stringify(r.party)}`);
        if (this.parties.has(b.subject)) throw new RuleError("rules", `party ${JSON.stringify(b.subject)} is already registered`);
        if (r.index > 0 && (b.roles || []).includes("operator")) throw new RuleError("rules", "a ledger has one operator");
        await this.addKey(b.subject, b.public_key);
        this.parties.set(b.subject, { roles: b.roles || [], country: b.country });
        return null;
      }
      case "key.add":
      case "key.revoke": {
        if (b.subject !== r.party && r.party !== this.operator) {
          throw new RuleError("rules", `${r.type} for ${JSON.stringify(b.subject)} must be signed by ${JSON.stringify(b.subject)} or the operator ${JSON.stringify(this.operator)}, not ${JSON.stringify(r.party)}`);
        }
        if (r.type === "key.add") return this.addKey(b.subject, b.public_key);
        const key = this.keys.get(b.keyid);
        if (!key || key.party !== b.subject) throw new RuleError("rules", `key ${String(b.keyid).slice(0, 16)}… is not a key of ${b.subject}`);
        key.revoked = r.id;
        return null;
      }
      case "member.enroll":
        this.owned(b.member, "member");
        if (this.members.has(b.member)) throw new RuleError("rules", `member ${b.member} is already enrolled`);
        this.members.set(b.member, {
          spo: r.party, since: b.since, until: null, products: b.products || [],
          plots: new Set((b.plots || []).map((p) => p.plot)),
        });
        return null;
      case "member.leave": {
        const member = this.members.get(b.member);
        if (member === undefined) throw new NotInEvidence(`member ${b.member} is not enrolled in the bundle`);
        if (member.spo !== r.party) throw new RuleError("rules", `member ${JSON.stringify(b.member)} was enrolled by ${JSON.stringify(member.spo)}, not ${JSON.stringify(r.party)}`);
        this.members.set(b.member, { ...member, until: b.until });
        return null;
      }
      case "cert.issue": {
        const party = this.parties.get(r.party);
        if (!party || !party.roles.includes("certifier")) throw new RuleError("rules", `${r.party} is not a certifier`);
        if (String(b.valid_until) < String(b.valid_from)) throw new RuleError("rules", `valid_until ${b.valid_until} is before valid_from ${b.valid_from}`);
        if (this.certificates.has(b.certificate)) throw new RuleError("rules", `certificate ${b.certificate} is already issued`);
        this.certificates.set(b.certificate, r.party);
        return null;
      }
      case "cert.revoke": {
        const certifier = this.certificates.get(b.certificate);
        if (certifier === undefined) throw new NotInEvidence(`certificate ${b.certificate} is not in the bundle`);
        if (certifier !== r.party) throw new RuleError("rules", `certificate ${b.certificate} was issued by ${certifier}, not ${r.party}`);
        return null;
      }
      case "harvest": {
        this.owned(b.lot, "lot");
        t.product(b.product);
        if (b.member !== undefined && b.member !== null) {
          const member = this.members.get(b.member);
          if (!member) throw new NotInEvidence(`member ${b.member} is not enrolled in the bundle`);
          if (member.spo !== r.party) throw new RuleError("rules", `member ${b.member} is not a member of ${r.party}`);
          if (r.day < member.since || (member.until && r.day > member.until)) {
            throw new RuleError("rules", `member ${JSON.stringify(b.member)} was not enrolled on ${r.day}`);
          }
          if (!member.products.includes(b.product)) throw new RuleError("rules", `member ${JSON.stringify(b.member)} is not enrolled for ${b.product}`);
          if (!member.plots.has(b.plot)) throw new RuleError("rules", `plot ${JSON.stringify(b.plot)} is not a plot of member ${JSON.stringify(b.member)}`);
        }
        this.createLot(b.lot, b.product, b.form, t.kg(b, "quantity"));
        return null;
      }
      case "transform": {
        if (!t.processes[b.process]) throw new RuleError("rules", `unknown process ${JSON.stringify(b.process)}`);
        const outputs = b.outputs || [];
        if (!outputs.length) throw new RuleError("rules", "a transform has outputs");
        const product = outputs[0].product;
        t.product(product);
        const inputs = (b.inputs || []).map((line, i) => {
          const kg = this.take(line, `inputs[${i}]`);
          const lot = this.lots.get(line.lot);
          if (lot.product !== product) throw new RuleError("rules", `input lot ${line.lot} is ${lot.product}; this transform makes ${product}`);
          const potential = lot.potential && lot.potential.cmp(ONE) < 0 ? lot.potential : ONE;
          return { kg, form: lot.form, potential };
        });
        const potential = this.checkYield(product, inputs, outputs.map((o, i) => ({ kg: t.kg(o, `outputs[${i}].quantity`), form: o.form, where: `outputs[${i}]` })));
        for (const o of outputs) {
          if (o.product !== product) throw new RuleError("rules", "a transform keeps its product");
          if (!inputs.some((i) => t.allows(product, b.process, i.form, o.form))) {
            const moves = [...new Set(inputs.map((i) => `${i.form} → ${o.form}`))].sort().join(", ");
            throw new RuleError("rules", `process ${JSON.stringify(b.process)} does not make ${product} ${o.form} from ${moves}`);
          }
        }
        for (const o of outputs) {
          this.owned(o.lot, "lot");
          this.createLot(o.lot, product, o.form, t.kg(o, "quantity"), potential);
        }
        return null;
      }
      case "ship": {
        if (b.to === r.party) throw new RuleError("rules", "a party does not ship to itself (field to)");
        const lots = new Map();
        (b.lots || []).forEach((line, i) => {
          const kg = this.take(line, `lots[${i}]`);
          lots.set(line.lot, (lots.get(line.lot) || ZERO).add(kg));
        });
        const claims = Array.isArray(b.claims) ? b.claims : [];
        this.shipments.set(r.id, { from: r.party, to: b.to, lots, claims, received: false, instant: r.instant });
        return null;
      }
      case "receive": {
        const shipment = this.shipments.get(b.shipment);
        if (!shipment) throw new NotInEvidence(`shipment ${b.shipment} is not in the bundle`);
        if (shipment.to !== r.party) throw new RuleError("rules", `shipment ${b.shipment} is to ${shipment.to}, not ${r.party}`);
        if (shipment.received) throw new RuleError("conservation", `shipment ${b.shipment} was already received`);
        if (r.instant < shipment.instant) throw new RuleError("references", "dated before the shipment it receives");
        shipment.received = true;
        (b.lots || []).forEach((line, i) => {
          const shipped = shipment.lots.get(line.lot);
          if (!shipped) throw new RuleError("rules", `shipment ${b.shipment} carries no lot ${line.lot}`);
          const kg = t.kg(line, `lots[${i}].quantity`);
          if (kg.cmp(shipped) > 0) throw new RuleError("conservation", `receives ${kg.kgText()} of lot ${line.lot}, more than the ${shipped.kgText()} shipped`);
          this.holdings.set(`${r.party}|${line.lot}|${r.id}`, { kg, instant: r.instant });
        });
        return null;
      }
      case "dispose":
        this.take(b, "");
        return null;
      case "void":
        if (typeof b.event === "string") this.voids.add(b.event);
        return null;
      case "price.list":
        return this.priceList(r);
      case "payment":
        return this.payment(r);
      case "payment.confirm":
      case "payment.dispute":
        return this.answer(r);
      case "member.payment":
        return this.memberPayment(r);
      default:
        return null; // a type whose rules this verifier does not know: signature, chain and log only
    }
  }

  role(r, role) {
    const party = this.parties.get(r.party);
    if (!party) throw new RuleError("rules", `party ${JSON.stringify(r.party)} is not registered`);
    if (!party.roles.includes(role)) throw new RuleError("rules", `party ${JSON.stringify(r.party)} has roles ${JSON.stringify(party.roles)}; a ${r.type} must be signed by a party with role ${role}`);
  }

  // ledger/rules/price_list.py: a standard-setter's list, never retroactive, never overlapping
  priceList(r) {
    const terms = readBody(r, this.tables);
    this.role(r, "standard");
    if (terms[0].validFrom < r.day) {
      throw new RuleError("rules", `valid_from ${terms[0].validFrom} is before the list is signed (${r.day}): a price list is never retroactive`);
    }
    terms.forEach((term, n) => {
      const other = this.terms.find((t) => t.key === term.key && t.validFrom <= term.validUntil && term.validFrom <= t.validUntil);
      if (other) throw new RuleError("rules", `${term.scheme} ${term.product} ${term.form} ${term.quality || "(any class)"}: list ${JSON.stringify(other.list)} (${other.event}) is in force from ${other.validFrom} to ${other.validUntil}, which overlaps (field items[${n}])`);
    });
    this.terms.push(...terms);
    return null;
  }

  // ledger/rules/payment.py: a buyer pays for its own receipts of the seller's goods
  payment(r) {
    const body = readBody(r, this.tables);
    if (!this.parties.has(body.to)) throw new RuleError("rules", `party ${JSON.stringify(body.to)} is not registered (field to)`);
    const goods = new Set();
    let kg = ZERO;
    let carried = true;
    body.receipts.forEach((id, n) => {
      const where = `receipts[${n}]`;
      const receipt = this.events.get(id);
      if (!receipt) {
        carried = false; // over a bundle: the figures rest only on the receipts it carries
        return;
      }
      if (receipt.type !== "receive" || receipt.party !== r.party) {
        throw new RuleError("rules", `no receipt ${id} signed by ${JSON.stringify(r.party)}: a buyer pays for its own receipts (field ${where})`);
      }
      if (this.voids.has(id)) throw new RuleError("rules", `receipt ${id} was voided (field ${where})`);
      const shipment = this.shipments.get(receipt.body.shipment);
      if (!shipment) throw new NotInEvidence(`the shipment of ${id} is not in the bundle`);
      if (shipment.from !== body.to) {
        throw new RuleError("rules", `receipt ${id} is of a shipment from ${JSON.stringify(shipment.from)}, not from ${JSON.stringify(body.to)} (field ${where})`);
      }
      if (r.instant < receipt.instant) throw new RuleError("references", `dated before receipt ${id}, which it builds on`);
      (receipt.body.lots || []).forEach((line, i) => {
        const lot = this.lots.get(line.lot);
        if (!lot) throw new NotInEvidence(`lot ${JSON.stringify(line.lot)} is not in the bundle`);
        goods.add(`${lot.product} ${lot.form}`);
        kg = kg.add(this.tables.kg(line, `lots[${i}].quantity`));
      });
      // the scheme the goods were sold under: one the receipt's shipment claimed
      if (body.scheme !== null && !shipment.claims.includes(body.scheme)) {
        throw new RuleError("rules", `receipt ${id} is of goods shipped as ${shipment.claims.join(", ") || "no scheme"}, not ${body.scheme}: a payment is judged by the scheme the goods were sold under (field scheme)`);
      }
      // a receipt is paid once: another payment only once the seller disputed the first
      for (const earlier of this.paidBy.get(id) || []) {
        const paid = this.payments.get(earlier);
        if (paid && paid.status !== "disputed") {
          throw new RuleError("rules", `receipt ${id} is paid by payment ${earlier} (${paid.status}); a new one only once the seller disputed it (field ${where})`);
        }
      }
    });
    if (carried) checkAmount(body.amount, body.price.add(body.premium), kg, body.unit, this.tables, "price + premium");
    if (goods.size > 1) throw new RuleError("rules", `the receipts hold ${[...goods].sort().join(", ")}: one payment prices one product in one form (field receipts)`);
    if (goods.size === 1 && body.scheme !== null) {
      const lot = this.lots.get(this.events.get(body.receipts.find((id) => this.events.has(id))).body.lots[0].lot);
      const term = applicable(this.terms, { scheme: body.scheme, product: lot.product, form: lot.form, quality: body.quality, day: body.contractDate });
      if (term && term.currency !== body.currency && (!body.rate || body.rate.currency !== term.currency)) {
        throw new RuleError("rules", `the ${term.scheme} price list ${JSON.stringify(term.list)} in force on ${body.contractDate} is in ${term.currency}; a payment in ${body.currency} states its rate to ${term.currency} (field rate)`);
      }
    }
    this.payments.set(r.id, { payer: r.party, payee: body.to, instant: r.instant, answer: null, status: "unconfirmed" });
    this.link(r.id, body.receipts);
    return null;
  }

  // ledger/rules/payment_answer.py: only the party paid answers a payment, once
  answer(r) {
    const body = readBody(r, this.tables);
    const payment = this.payments.get(body.payment);
    if (!payment) throw new NotInEvidence(`payment ${body.payment} is not in the bundle`);
    if (payment.payee !== r.party) {
      throw new RuleError("rules", `no payment ${body.payment} to ${JSON.stringify(r.party)}: only the party paid confirms or disputes a payment (field payment)`);
    }
    if (payment.answer) throw new RuleError("rules", `payment ${body.payment} was already answered by ${payment.answer} (field payment)`);
    if (r.instant < payment.instant) throw new RuleError("references", `dated before payment ${body.payment}, which it answers`);
    payment.answer = r.id;
    payment.status = r.type === "payment.dispute" ? "disputed" : "confirmed";
    return null;
  }

  // ledger/rules/member_payment.py: an SPO pays its own member for that member's deliveries
  memberPayment(r) {
    const body = readBody(r, this.tables);
    this.role(r, "spo");
    let kg = ZERO;
    let carried = true;
    body.harvests.forEach((id, n) => {
      const harvest = this.events.get(id);
      if (!harvest) {
        carried = false; // a settlement names deliveries outside the lot: not in evidence
        return;
      }
      if (harvest.type !== "harvest" || harvest.party !== r.party || harvest.body.member !== body.member) {
        throw new RuleError("rules", `no harvest ${id} of member ${JSON.stringify(body.member)} signed by ${JSON.stringify(r.party)} (field harvests[${n}])`);
      }
      if (this.voids.has(id)) throw new RuleError("rules", `harvest ${id} was voided (field harvests[${n}])`);
      if (r.instant < harvest.instant) throw new RuleError("references", `dated before harvest ${id}, which it pays for`);
      if (body.part === "price") { // a delivery's price is paid once; later money is a second-payment
        const earlier = (this.paidBy.get(id) || []).find((p) => {
          const e = this.events.get(p);
          return e && e.type === "member.payment" && e.body.part === "price";
        });
        if (earlier) throw new RuleError("rules", `the price of harvest ${id} was paid by member.payment ${earlier}; what a member is paid later is a second-payment (field harvests[${n}])`);
      }
      kg = kg.add(this.tables.kg(harvest.body, "quantity"));
    });
    if (carried) checkAmount(body.amount, body.price, kg, body.unit, this.tables);
    this.link(r.id, body.harvests);
    return null;
  }

  /** The receipts or harvests a payment names, each knowing it (ledger.records.PaymentLink). */
  link(payment, targets) {
    for (const id of targets) {
      if (!this.paidBy.has(id)) this.paidBy.set(id, []);
      this.paidBy.get(id).push(payment);
    }
  }

  addKey(subject, publicKey) {
    let raw;
    try {
      raw = b64decode(String(publicKey));
    } catch (e) {
      throw new RuleError("rules", "public_key is not base64");
    }
    if (raw.length !== 32) throw new RuleError("rules", "an Ed25519 public key is 32 raw bytes");
    return keyidOf(raw).then((keyid) => {
      if (this.keys.has(keyid)) throw new RuleError("rules", `key ${keyid.slice(0, 16)}… is already registered`);
      this.keys.set(keyid, { party: subject, raw, revoked: false, added: this.current.instant, addedText: this.current.body.time });
    });
  }

  createLot(lot, product, form, kg, potential = null) {
    if (this.lots.has(lot)) throw new RuleError("rules", `lot ${JSON.stringify(lot)} was already created`);
    const p = this.tables.product(product);
    if (!p.forms.includes(form)) throw new RuleError("rules", `${product} has no form ${JSON.stringify(form)}`);
    this.lots.set(lot, { product, form, event: this.current.id, potential });
    this.holdings.set(`${this.current.party}|${lot}|${this.current.id}`, { kg, instant: this.current.instant });
  }

  take(line, where) {
    const r = this.current;
    const key = `${r.party}|${line.lot}|${line.event}`;
    const holding = this.holdings.get(key);
    const kg = this.tables.kg(line, `${where}.quantity`);
    if (!holding) {
      if (!this.lots.has(line.lot) || !this.events.has(line.event)) {
        throw new NotInEvidence(`lot ${JSON.stringify(line.lot)} or event ${line.event} is not in the bundle`);
      }
      throw new RuleError("rules", `${JSON.stringify(r.party)} holds no lot ${JSON.stringify(line.lot)} through event ${line.event}`);
    }
    if (holding.kg.cmp(kg) < 0) {
      throw new RuleError("conservation", `${JSON.stringify(r.party)} holds ${holding.kg.kgText()} of lot ${JSON.stringify(line.lot)} through event ${line.event}, and this event asks for ${kg.kgText()}`);
    }
    if (r.instant < holding.instant) throw new RuleError("references", `dated before event ${line.event}, which it builds on`);
    holding.kg = holding.kg.sub(kg);
    return kg;
  }

  checkYield(product, inputs, outputs) {
    const margin = ONE.add(Q.parse(this.tables.product(product).tolerance));
    const forms = [...new Set(outputs.map((o) => o.form))];
    let share = ZERO;
    for (const form of forms) {
      const claimed = outputs.filter((o) => o.form === form).reduce((a, o) => a.add(o.kg), ZERO);
      let allowed = ZERO;
      for (const i of inputs) {
        const y = this.tables.maxYield(product, i.form, form);
        if (y) allowed = allowed.add(i.kg.mul(y).mul(i.form !== form ? margin : ONE));
      }
      if (allowed.isZero()) throw new RuleError("conservation", `${product} ${[...new Set(inputs.map((i) => i.form))].join(", ")} cannot become ${form}`);
      if (claimed.cmp(allowed) > 0) throw new RuleError("conservation", `outputs of ${product} ${form} total ${claimed.kgText()}; the inputs allow at most ${allowed.kgText()}`);
      share = ceilDigits(share.add(ceilDigits(claimed.div(allowed))));
    }
    if (share.cmp(ONE) > 0) throw new RuleError("conservation", "outputs of several forms together need more than the inputs");
    return this.checkPath(product, inputs, outputs, forms, margin);
  }

  /** The tolerance once per path (ledger/conservation.py `_check_path`): the outputs are
   * held to the inputs' potential × (1 + tolerance); returns the outputs' potential. */
  checkPath(product, inputs, outputs, forms, margin) {
    let demand = ZERO;
    for (const form of forms) {
      const claimed = outputs.filter((o) => o.form === form).reduce((a, o) => a.add(o.kg), ZERO);
      let exact = ZERO;
      for (const i of inputs) {
        const y = this.tables.maxYield(product, i.form, form);
        if (y) exact = exact.add(i.kg.mul(y).mul(i.potential));
      }
      if (claimed.isZero()) continue;
      if (exact.isZero()) {
        demand = margin.add(ONE);
        break;
      }
      demand = ceilDigits(demand.add(ceilDigits(claimed.div(exact))));
    }
    if (demand.cmp(margin) > 0) {
      throw new RuleError("conservation", `outputs need ${demand.floor(4)} times what the maximum yields allow along the whole path from harvest; the tolerance applies once per path, not at every step`);
    }
    if (demand.cmp(ONE) <= 0) return ONE;
    return ceilPlaces(ceilDigits(ONE.div(demand)), 27);
  }
}

class NotInEvidence extends Error {}

// --- custody references and the attribution ------------------------------------------

function references(r, tables) {
  const b = r.body;
  const kg = (line) => {
    try { return tables ? tables.kg(line, "") : ZERO; } catch (e) { return ZERO; }
  };
  if (r.type === "receive") return (b.lots || []).map((l) => ({ parent: b.shipment, lot: l.lot, kg: kg(l) }));
  const lines = r.type === "transform" ? b.inputs : r.type === "ship" ? b.lots : r.type === "dispose" ? [b] : [];
  return (lines || []).map((l) => ({ parent: l.event, lot: l.lot, kg: kg(l) }));
}

/** The event that created `lot` and every event it builds on, as far as `records` hold
 * them (ids of missing parents included): graph/evidence.py `Evidence.ancestry`. */
function ancestryOf(lot, records, tables) {
  const byId = new Map(records.map((r) => [r.id, r]));
  const found = new Set();
  const created = createdBy(records, lot);
  const stack = created ? [created.record.id] : [];
  while (stack.length) {
    const id = stack.pop();
    if (found.has(id)) continue;
    found.add(id);
    const r = byId.get(id);
    if (r) for (const ref of references(r, tables)) stack.push(ref.parent);
  }
  return found;
}

function createdBy(records, lot) {
  for (const r of records) {
    if (r.type === "harvest" && r.body.lot === lot) return { record: r, line: r.body };
    if (r.type === "transform") {
      const o = (r.body.outputs || []).find((x) => x.lot === lot);
      if (o) return { record: r, line: o };
    }
  }
  return null;
}

/** The certified share of `lot` from `records` (the admitted events), as origin.py
 * computes it: exact fractions back to every harvest, each share judged. */
export function attribute(lot, records, tables) {
  const byId = new Map(records.map((r) => [r.id, r]));
  const created = createdBy(records, lot);
  if (!created) throw new Error(`no event in the bundle creates lot ${lot}`);
  const product = created.line.product;
  const limit = tables.product(product).area_limit_ha;
  const voided = new Set(records.filter((r) => r.type === "void").map((r) => r.body.event));
  const parties = new Map(records.filter((r) => r.type === "party.register").map((r) => [r.body.subject, r.body]));
  const left = new Map(records.filter((r) => r.type === "member.leave" && !voided.has(r.id)).map((r) => [r.body.member, r.body.until]));
  const members = new Map();
  for (const r of records) {
    if (r.type !== "member.enroll" || voided.has(r.id)) continue;
    const plots = new Map((r.body.plots || []).map((p) => [p.plot, Q.parse(p.area_ha)]));
    members.set(r.body.member, { spo: r.party, since: r.body.since, until: left.get(r.body.member) ?? null, plots });
  }
  const revoked = new Map(records.filter((r) => r.type === "cert.revoke" && !voided.has(r.id)).map((r) => [r.body.certificate, r.instant]));
  const certs = records.filter((r) => r.type === "cert.issue" && !voided.has(r.id) && r.body.scheme === SCHEME
    && (r.body.products || []).includes(product)).map((r) => ({
    subject: r.body.subject, from: r.body.valid_from, until: r.body.valid_until, revoked: revoked.get(r.body.certificate) ?? null,
  }));
  const certified = (party, r) => certs.some((c) => c.subject === party && c.from <= r.day && r.day <= c.until
    && (c.revoked === null || c.revoked > r.instant));

  const memo = new Map();
  const mix = (eventId, lotId) => {
    const key = `${eventId} ${lotId}`;
    if (!memo.has(key)) memo.set(key, compute(eventId, lotId));
    return memo.get(key);
  };
  const compute = (eventId, lotId) => {
    const r = byId.get(eventId);
    if (!r) return new Map([["|bad", ONE]]);
    let bad = voided.has(r.id);
    let base;
    if (r.type === "harvest") {
      base = new Map([[`${r.id}|`, ONE]]);
      bad = bad || !harvestCertified(r);
    } else {
      bad = bad || !certified(r.party, r);
      let refs = references(r, tables);
      if (r.type !== "transform") refs = refs.filter((x) => x.lot === lotId);
      const total = refs.reduce((a, x) => a.add(x.kg), ZERO);
      if (total.isZero()) return new Map([["|bad", ONE]]);
      base = new Map();
      for (const ref of refs) {
        const w = ref.kg.div(total);
        for (const [k, f] of mix(ref.parent, ref.lot)) base.set(k, (base.get(k) || ZERO).add(w.mul(f)));
      }
    }
    if (!bad) return base;
    const out = new Map();
    for (const [k, f] of base) {
      const harvest = k.split("|")[0];
      out.set(`${harvest}|bad`, (out.get(`${harvest}|bad`) || ZERO).add(f));
    }
    return out;
  };
  const harvestCertified = (r) => {
    const source = parties.get(r.party);
    const member = r.body.member;
    if (!source || !(source.roles || []).includes("spo") || !member) return false;
    const m = members.get(member);
    if (!m || m.spo !== r.party) return false;
    if (r.day < m.since || (m.until !== null && r.day > m.until)) return false;
    const area = m.plots.get(r.body.plot || "");
    if (!area) return false;
    if (limit !== null && limit !== undefined && area.cmp(Q.parse(limit)) > 0) return false;
    return certified(r.party, r);
  };

  const shares = new Map(); // harvest → {certified, other}
  let total = ZERO;
  for (const [k, f] of mix(created.record.id, lot)) {
    const [harvest, bad] = k.split("|");
    const s = shares.get(harvest) || { certified: ZERO, other: ZERO };
    if (bad) s.other = s.other.add(f); else { s.certified = s.certified.add(f); total = total.add(f); }
    shares.set(harvest, s);
  }
  const kg = tables.kg(created.line, "quantity");
  return {
    lot, product, form: created.line.form, kg, shares, certified: total,
    certifiedPercent: total.mul(new Q(100n)).floor(2), certifiedKg: total.mul(kg).floor(3),
  };
}

function compareVerdict(claim, verdict, find) {
  if (!claim || typeof claim !== "object") return find("verdict", "the bundle states no verdict");
  const differ = [];
  const same = (what, a, b) => { if (a !== b) differ.push(`${what}: claimed ${JSON.stringify(a)}, recomputed ${JSON.stringify(b)}`); };
  same("verdict.lot", claim.lot, verdict.lot);
  same("verdict.product", claim.product, verdict.product);
  same("verdict.form", claim.form, verdict.form);
  try { same("verdict.kg", Q.parse(claim.kg).text(), verdict.kg.text()); } catch (e) { differ.push("verdict.kg is not a quantity"); }
  try {
    same("verdict.certified_fraction", Q.fraction(claim.certified_fraction).text(), verdict.certified.text());
  } catch (e) {
    differ.push("verdict.certified_fraction is not a fraction");
  }
  same("verdict.certified_percent", claim.certified_percent, verdict.certifiedPercent);
  same("verdict.certified_kg", claim.certified_kg, verdict.certifiedKg);
  same("verdict.certified", claim.certified, verdict.certified.cmp(ONE) === 0);
  const claimed = new Map();
  for (const s of claim.shares || []) {
    const h = s.harvest_event ?? "";
    const c = claimed.get(h) || { certified: ZERO, other: ZERO };
    try {
      const f = Q.fraction(s.fraction);
      if (s.certified && !(s.reasons || []).length) c.certified = c.certified.add(f); else c.other = c.other.add(f);
    } catch (e) {
      differ.push(`a share of ${h} has no fraction`);
    }
    claimed.set(h, c);
  }
  for (const h of new Set([...claimed.keys(), ...verdict.shares.keys()])) {
    const a = claimed.get(h) || { certified: ZERO, other: ZERO };
    const b = verdict.shares.get(h) || { certified: ZERO, other: ZERO };
    if (a.certified.cmp(b.certified) || a.other.cmp(b.other)) {
      differ.push(`the share of harvest ${h || "(a broken link)"}: claimed ${a.certified.text()} certified and ${a.other.text()} not, recomputed ${b.certified.text()} and ${b.other.text()}`);
    }
  }
  if (differ.length) {
    find("verdict", `the claimed verdict differs from the one the events give: ${differ.slice(0, 5).join("; ")}${differ.length > 5 ? `; and ${differ.length - 5} more` : ""}`);
  }
}

/** Every event the lot's verdict or the signatures depend on (graph/verify.py `_needed`). */
function neededEvents(lot, records, tables) {
  const byId = new Map(records.map((r) => [r.id, r]));
  const needed = ancestryOf(lot, records, tables);
  for (const id of priceSection(records, tables, new Set(needed), (l) => createdBy(records, l)).events) needed.add(id);
  const custody = [...needed].map((id) => byId.get(id)).filter(Boolean);
  const parties = new Set(custody.map((r) => r.party));
  const members = new Set(custody.filter((r) => r.type === "harvest").map((r) => r.body.member));
  for (const r of records) {
    const b = r.body;
    if (!KNOWN.has(r.type)) needed.add(r.id); // a type whose place in a proof this verifier does not know
    if (["party.register", "key.add", "key.revoke", "cert.revoke", "void"].includes(r.type)
      || (["member.enroll", "member.leave"].includes(r.type) && members.has(b.member))
      || (r.type === "cert.issue" && parties.has(b.subject))) needed.add(r.id);
  }
  return needed;
}

export { CUSTODY };
