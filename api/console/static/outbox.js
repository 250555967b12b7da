// The console's outbox: events signed on this device, kept until the ledger has them.
//
// It follows ledger/outbox.py (the CLI's outbox) state for state and rule for rule:
//   pending    signed onto the chain, waiting to be sent;
//   sent       in the ledger (ledger_index);
//   set_aside  the ledger refused it (reason, and the field it named): replace or drop it;
//   blocked    it names, directly or through others, an event that is set aside, blocked
//              or dropped: not sent until that is resolved;
//   replaced, dropped   resolved.
// When an event leaves the chain (set aside, dropped) the pending events after it are
// re-signed onto the chain's real head, and every reference to a re-signed event's id in
// a later event is rewritten (renames). A chain conflict (the key moved on elsewhere)
// re-signs the pending events onto the ledger's head.
//
// One IndexedDB record per key holds the head, the entries and the renames. Every change
// is made on a copy and written in one put (all of it or nothing), under a Web Lock, so
// two tabs never interleave: the head is never ahead of what the outbox holds.

import { eventId } from "/static/js/dsse.js";
import { get, put } from "./db.js";
import { localTime, payloadBytes, payloadOf, signEnvelope } from "./keys.js";

export const PENDING = "pending";
export const SENT = "sent";
export const SET_ASIDE = "set_aside";
export const BLOCKED = "blocked";
export const REPLACED = "replaced";
export const DROPPED = "dropped";
const UNRESOLVED = new Set([SET_ASIDE, BLOCKED, DROPPED]);
const EVENT_ID = /^sha256:[0-9a-f]{64}$/;
const KEEP_SENT = 200; // the ledger holds what was sent: only the latest are kept here

export class OutboxError extends Error {}

/** The ledger did not answer; nothing is lost: send again later. */
export class Unreachable extends Error {}

/** The ledger's answer to a batch it would not append (its problem document). */
export class Refused {
  constructor(problem) {
    this.problem = problem || {};
  }
  get index() {
    for (const item of this.problem.errors || []) {
      if (Number.isInteger(item.index)) return item.index;
    }
    return null;
  }
  get field() {
    const item = (this.problem.errors || []).find((i) => i && i.field);
    return item ? item.field : null;
  }
  get aboutTheKey() {
    const kind = String(this.problem.type || "");
    return kind.endsWith("/unknown-key") || kind.endsWith("/key-revoked");
  }
  get chainConflict() {
    return String(this.problem.type || "").endsWith("/chain-conflict");
  }
  /** What the ledger said about the event itself, as ledger/outbox.py's _reason. */
  get reason() {
    const items = (this.problem.errors || []).filter((i) => i && typeof i === "object");
    let said;
    if (items.length && items[0].message) {
      const field = items[0].field ? `field '${items[0].field}': ` : "";
      said = `${field}${items[0].message}`;
    } else said = String(this.problem.detail || this.problem.title || "refused");
    return this.problem.title ? `${this.problem.title}: ${said}` : said;
  }
}

export class RefusedError extends Error {
  constructor(refused) {
    super(`the ledger refuses it: ${refused.reason}`);
    this.refused = refused;
  }
}

function idsIn(value, skip = []) {
  const out = [];
  const walk = (v, top) => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, false));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) if (!(top && skip.includes(k))) walk(x, false);
    } else if (typeof v === "string" && EVENT_ID.test(v)) out.push(v);
  };
  walk(value, true);
  return out;
}

function rewrite(value, current, skip = [], top = true) {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, current, [], false));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = top && skip.includes(k) ? v : rewrite(v, current, [], false);
    }
    return out;
  }
  if (typeof value === "string" && EVENT_ID.test(value)) return current(value);
  return value;
}

function instant(text) {
  const t = Date.parse(String(text));
  return Number.isNaN(t) ? -Infinity : t;
}

function waitingReason(waits) {
  return (
    "waits for " +
    waits.map((e) => `${e.id.slice(0, 19)}… (${e.status.replace("_", " ")})`).join(", ")
  );
}

/** The outbox of one key; `key` is the device key (keys.js). */
export class Outbox {
  constructor(key) {
    this.key = key;
    this.keyid = key.keyid;
    this.unchecked = null;
  }

  // --- state ----------------------------------------------------------------------------

  async load() {
    const found = await get("outbox", this.keyid);
    return (
      found || {
        keyid: this.keyid,
        party: null,
        ledger: null,
        seq: 0,
        prev: null,
        prev_time: null,
        entries: [],
        renames: {},
      }
    );
  }

  async save(state) {
    const sent = state.entries.filter((e) => e.status === SENT);
    if (sent.length > KEEP_SENT) {
      const drop = new Set(sent.slice(0, sent.length - KEEP_SENT));
      state.entries = state.entries.filter((e) => !drop.has(e));
    }
    await put("outbox", state);
  }

  /** Run ``work(state)`` on a fresh copy under the key's lock; save only if it returns. */
  async transaction(work) {
    const run = async () => {
      const state = await this.load();
      this.s = state;
      try {
        const result = await work(state);
        await this.save(state);
        return result;
      } finally {
        this.s = null;
      }
    };
    if (navigator.locks) return navigator.locks.request(`trazo-outbox-${this.keyid}`, run);
    return run();
  }

  async entries(...statuses) {
    const state = await this.load();
    return state.entries
      .filter((e) => !statuses.length || statuses.includes(e.status))
      .sort((a, b) => a.position - b.position);
  }

  // helpers over the state of the running transaction (this.s)
  _entries(...statuses) {
    return this.s.entries
      .filter((e) => !statuses.length || statuses.includes(e.status))
      .sort((a, b) => a.position - b.position);
  }

  _entry(eventId) {
    const wanted = eventId.startsWith("sha256:") ? eventId : `sha256:${eventId}`;
    let found = this.s.entries.filter((e) => e.id.startsWith(wanted));
    if (!found.length) found = this.s.entries.filter((e) => e.id === this.currentId(wanted));
    if (found.length !== 1) {
      throw new OutboxError(
        found.length ? `${eventId} is the start of ${found.length} ids` : `no event ${eventId}`,
      );
    }
    return found[0];
  }

  /** What an id refers to now: followed through re-signings and replacements. */
  currentId(eventId, state = this.s) {
    const seen = new Set();
    while (!seen.has(eventId)) {
      seen.add(eventId);
      const next = state.renames[eventId];
      if (next === undefined) return eventId;
      eventId = next;
    }
    return eventId;
  }

  waitsFor(entry) {
    return this._unresolvedIn(payloadOf(entry.envelope), entry.id);
  }

  _unresolvedIn(payload, ownId = null) {
    const named = new Set(idsIn(payload, ["prev"]).map((i) => this.currentId(i)));
    named.delete(ownId);
    return this._entries(...UNRESOLVED).filter((e) => named.has(e.id));
  }

  _dependsOn(entry) {
    const found = [];
    const frontier = new Set([entry.id]);
    for (const later of this._entries()) {
      if (later.position <= entry.position || later.status === SENT) continue;
      if (later.status === REPLACED) continue;
      const named = idsIn(payloadOf(later.envelope), ["prev"]).map((i) => this.currentId(i));
      if (named.some((i) => frontier.has(i))) {
        found.push(later);
        frontier.add(later.id);
      }
    }
    return found;
  }

  _lastPosition() {
    return this.s.entries.reduce((m, e) => Math.max(m, e.position), 0);
  }

  _rename(oldId, newId) {
    this.s.renames[oldId] = newId;
  }

  _set(entry, status, reason, field = null) {
    if (status === SENT) entry.sent_at = new Date().toISOString();
    entry.status = status;
    entry.reason = reason;
    entry.field = field;
  }

  _timeOf(eventId) {
    const entry = this.s.entries.find((e) => e.id === eventId);
    if (entry) return String(payloadOf(entry.envelope).time);
    return this.s.prev === eventId ? this.s.prev_time : null;
  }

  _baseBefore(entry) {
    const prev = payloadOf(entry.envelope).prev;
    return { seq: entry.seq - 1, prev, time: prev ? this._timeOf(prev) : null };
  }

  // --- signing --------------------------------------------------------------------------

  /** Sign onto ``(seq, prev)``. A re-signed event (``redate``) that would go back in time
   * before the event it now follows takes that event's time. */
  async _sign(payload, seq, prev, redate = true) {
    const body = { ...payload, key: this.keyid, seq, prev };
    const after = redate && prev ? this._timeOf(prev) : null;
    if (after && instant(body.time) < instant(after)) body.time = after;
    const bytes = payloadBytes(body);
    const envelope = await signEnvelope(this.key, bytes);
    return { envelope, id: await eventId(bytes) };
  }

  _insert(signed, seq, status) {
    this.s.entries.push({
      position: this._lastPosition() + 1,
      id: signed.id,
      seq,
      envelope: signed.envelope,
      status,
      reason: null,
      field: null,
      ledger_index: null,
      queued_at: new Date().toISOString(),
    });
  }

  /** Sign ``body`` onto the chain and queue it as pending. With ``check`` (a reachable
   * ledger) the pending events and this one are dry-run first, and a refusal of this one
   * throws the ledger's own answer (RefusedError): nothing is queued. */
  async sign(body, { ledger = null, party = null, check = null } = {}) {
    return this.transaction(async (s) => {
      const who = body.party || s.party || party;
      if (!who) throw new OutboxError("this device's key belongs to no party yet: sign in");
      const bound = body.ledger || ledger || s.ledger;
      if (!bound || !EVENT_ID.test(bound)) {
        throw new OutboxError("which ledger is this event for? Connect once to learn it");
      }
      const payload = rewrite({ ...body }, (i) => this.currentId(i), ["prev"]);
      const waits = this._unresolvedIn(payload);
      if (waits.length) {
        throw new OutboxError(
          `this event names ${waitingReason(waits).replace(/^waits for /, "")}:` +
            " correct (or drop) that one first, then sign this",
        );
      }
      payload.schema ??= 1;
      payload.time ??= localTime();
      payload.party = who;
      payload.ledger = bound;
      const signed = await this._sign(payload, s.seq + 1, s.prev, false);
      this.unchecked = "not checked: no connection";
      if (check) {
        const batch = this._entries(PENDING).map((e) => e.envelope);
        let answer = null;
        try {
          answer = await check.check([...batch, signed.envelope]);
          this.unchecked = null;
        } catch (e) {
          if (!(e instanceof Unreachable)) throw e;
        }
        if (answer instanceof Refused && answer.chainConflict) {
          this.unchecked = "the key's chain moved on in the ledger (another device)";
        } else if (answer instanceof Refused && answer.index === batch.length) {
          throw new RefusedError(answer);
        } else if (answer instanceof Refused) {
          this.unchecked = "an earlier pending event would be refused";
        }
      }
      s.party = who;
      s.ledger = bound;
      s.seq += 1;
      s.prev = signed.id;
      this._insert(signed, s.seq, PENDING);
      return signed;
    });
  }

  // --- re-chaining ----------------------------------------------------------------------

  async _rechain(base, after) {
    let seq = base.seq;
    let prev = base.prev;
    this.s.seq = base.seq;
    this.s.prev = base.prev;
    this.s.prev_time = base.time || null;
    let resigned = 0;
    for (const entry of this._entries(PENDING, BLOCKED)) {
      if (entry.position <= after) continue;
      const waits = this.waitsFor(entry);
      if (waits.length) {
        this._set(entry, BLOCKED, waitingReason(waits));
        continue;
      }
      const payload = payloadOf(entry.envelope);
      if (entry.seq === seq + 1 && payload.prev === prev && !this._stale(entry)) {
        seq = entry.seq;
        prev = entry.id;
        this._set(entry, PENDING, null);
        continue;
      }
      const fresh = await this._resign(entry, seq + 1, prev);
      if (!fresh) continue;
      seq += 1;
      prev = fresh.id;
      resigned += 1;
    }
    this.s.seq = seq;
    this.s.prev = prev;
    if (prev !== base.prev) this.s.prev_time = null;
    return resigned;
  }

  _stale(entry) {
    return idsIn(payloadOf(entry.envelope), ["prev"]).some((i) => this.currentId(i) !== i);
  }

  async _resign(entry, seq, prev) {
    const payload = rewrite(payloadOf(entry.envelope), (i) => this.currentId(i), ["prev"]);
    const signed = await this._sign(payload, seq, prev);
    const twin = this.s.entries.find((e) => e.id === signed.id && e !== entry);
    if (twin) {
      this._set(
        entry,
        DROPPED,
        `the same event as ${signed.id} (${twin.status.replace("_", " ")}): the same` +
          " payload was signed twice",
      );
      this._rename(entry.id, signed.id);
      return null;
    }
    this._rename(entry.id, signed.id);
    Object.assign(entry, {
      id: signed.id,
      seq,
      envelope: signed.envelope,
      status: PENDING,
      reason: null,
      field: null,
    });
    return signed;
  }

  // --- sending --------------------------------------------------------------------------

  /** Send the pending events in order, in batches, until none is left; a refused one is
   * set aside with the ledger's reason and the rest go on. Unreachable stops it. */
  async submit(ledger, batchSize = 500) {
    const done = { sent: 0, landed: [], setAside: [], resigned: 0 };
    let conflicts = 0;
    for (;;) {
      const pending = (await this.entries(PENDING)).slice(0, batchSize);
      if (!pending.length) return done;
      const answer = await ledger.append(pending.map((e) => e.envelope));
      if (!(answer instanceof Refused)) {
        await this.transaction(async () => {
          pending.forEach((p, i) => {
            const entry = this.s.entries.find((e) => e.id === p.id);
            if (!entry) return;
            Object.assign(entry, { status: SENT, ledger_index: answer[i], reason: null });
            entry.sent_at = new Date().toISOString();
          });
        });
        done.sent += pending.length;
        pending.forEach((p, i) => done.landed.push([answer[i], p.id]));
        conflicts = 0;
        continue;
      }
      const at = answer.index;
      if (at === null || at < 0 || at >= pending.length || answer.aboutTheKey) {
        throw new RefusedError(answer);
      }
      if (answer.chainConflict) {
        conflicts += 1;
        const head = await ledger.head(this.keyid);
        if (conflicts > 3 || !head) throw new RefusedError(answer);
        const arrived = await this._arrived(ledger, pending);
        await this.transaction(async () => {
          for (const p of arrived) this._set(this._entry(p.id), SENT, null);
          done.resigned += await this._rechain(head, pending[0].position - 1);
        });
        continue;
      }
      const culprit = pending[at];
      await this.transaction(async () => {
        const entry = this._entry(culprit.id);
        this._set(entry, SET_ASIDE, answer.reason, answer.field);
        done.setAside.push(entry.id);
        done.resigned += await this._rechain(this._baseBefore(entry), entry.position);
      });
    }
  }

  async _arrived(ledger, pending) {
    const held = [];
    for (const entry of pending) {
      if (!(await ledger.has(entry.id))) break;
      held.push(entry);
    }
    return held;
  }

  /** Align the chain with the ledger's head of the key, re-signing what is pending. */
  async resync(ledger) {
    const head = await ledger.head(this.keyid);
    if (!head) throw new OutboxError(`the ledger has no key ${this.keyid}: register it first`);
    const arrived = await this._arrived(ledger, await this.entries(PENDING));
    return this.transaction(async (s) => {
      s.party = s.party || head.party;
      for (const p of arrived) this._set(this._entry(p.id), SENT, null);
      return this._rechain(head, 0);
    });
  }

  /** Sign a corrected payload in a set-aside event's place, at the chain's end; the
   * events that waited for it are unblocked and re-signed after it. */
  async replace(eventId, body) {
    return this.transaction(async (s) => {
      const entry = this._entry(eventId);
      if (entry.status !== SET_ASIDE) {
        throw new OutboxError(`event ${entry.id} is ${entry.status}, not set aside`);
      }
      const old = payloadOf(entry.envelope);
      let fixed = { ...body };
      for (const name of ["party", "ledger", "schema", "time"]) fixed[name] ??= old[name];
      fixed = rewrite(fixed, (i) => this.currentId(i), ["prev"]);
      const signed = await this._sign(fixed, s.seq + 1, s.prev);
      if (s.entries.some((e) => e.id === signed.id)) {
        throw new OutboxError(`this payload is already in the outbox as ${signed.id}`);
      }
      this._set(entry, REPLACED, `replaced by ${signed.id}`);
      this._rename(entry.id, signed.id);
      s.seq += 1;
      s.prev = signed.id;
      this._insert(signed, s.seq, PENDING);
      await this._requeueUnblocked();
      return signed;
    });
  }

  /** Abandon a set-aside or blocked event; returns what it leaves blocked. A pending one
   * is not dropped: it may already be in the ledger. */
  async drop(eventId) {
    return this.transaction(async () => {
      const entry = this._entry(eventId);
      if (entry.status !== SET_ASIDE && entry.status !== BLOCKED) {
        throw new OutboxError(`event ${entry.id} is ${entry.status}: not dropped`);
      }
      this._set(entry, DROPPED, "dropped by the signer");
      return this._dependsOn(entry);
    });
  }

  async _requeueUnblocked() {
    let changed = true;
    while (changed) {
      changed = false;
      for (const entry of this._entries(BLOCKED)) {
        if (this.waitsFor(entry).length) continue;
        const fresh = await this._resign(entry, this.s.seq + 1, this.s.prev);
        if (!fresh) continue;
        entry.position = this._lastPosition() + 1;
        this.s.seq += 1;
        this.s.prev = fresh.id;
        changed = true;
      }
    }
  }
}
