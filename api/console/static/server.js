// The trazo server as the console sees it: the JSON API of this origin (/api/v1), the party
// session (a signed challenge), and the Ledger the outbox sends to (append, check, head,
// has), as api/cli/capture.py's HttpLedger is for the CLI.

import { cached, keep } from "./db.js";
import { SESSION_TYPE, payloadBytes, signEnvelope } from "./keys.js";
import { Refused, Unreachable } from "./outbox.js";

const API = "/api/v1/";
const TIMEOUT_MS = 20000; // a request the network swallows must not hold the outbox up

async function request(path, options = {}) {
  if (!navigator.onLine) throw new Unreachable("no connection");
  let response;
  try {
    const signal = AbortSignal.timeout(TIMEOUT_MS);
    response = await fetch(API + path, { cache: "no-store", signal, ...options });
  } catch (e) {
    throw new Unreachable(`the server did not answer: ${e.message}`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (response.status >= 500 || response.status === 429) {
    throw new Unreachable(`the server answered HTTP ${response.status}`);
  }
  return { status: response.status, body: body || {} };
}

export class SignInFailed extends Error {}

export class Server {
  constructor(key) {
    this.key = key;
  }

  async ledgerId() {
    const { status, body } = await request("health");
    if (status !== 200 || !body.ledger) throw new Unreachable("the server has no ledger");
    await keep("ledger", body.ledger);
    return body.ledger;
  }

  /** Sign in: a challenge from the server, signed by the device key (the session
   * statement of ledger/envelope.py), exchanged for a bearer token. */
  async signIn() {
    const challenge = await request("sessions/challenge", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (challenge.status !== 201) throw new SignInFailed(challenge.body.detail || "no challenge");
    const statement = {
      challenge: challenge.body.challenge,
      ledger: challenge.body.ledger,
      server: location.host.toLowerCase(),
      key: this.key.keyid,
    };
    const envelope = await signEnvelope(this.key, payloadBytes(statement), SESSION_TYPE);
    const answer = await request("sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(envelope),
    });
    if (answer.status !== 201) throw new SignInFailed(answer.body.detail || "refused");
    const session = {
      token: answer.body.token,
      party: answer.body.party,
      expires_at: answer.body.expires_at,
      keyid: this.key.keyid,
    };
    await keep("session", session);
    await keep("ledger", challenge.body.ledger);
    return session;
  }

  async session() {
    const found = await cached("session");
    return found && found.value.keyid === this.key.keyid ? found.value : null;
  }

  /** GET as the signed-in party; a session that ended is opened again with the key. */
  async get(path) {
    let session = await this.session();
    if (!session) session = await this.signIn();
    let answer = await request(path, { headers: { Authorization: `Bearer ${session.token}` } });
    if (answer.status === 401) {
      session = await this.signIn();
      answer = await request(path, { headers: { Authorization: `Bearer ${session.token}` } });
    }
    return answer;
  }

  async _post(path, envelopes) {
    const { status, body } = await request(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ events: envelopes }),
    });
    if (status === 200 || status === 201) {
      if (!Array.isArray(body.events)) throw new Unreachable("not a trazo server's answer");
      return body.events.map((item) => item.index);
    }
    return new Refused(body);
  }

  append(envelopes) {
    return this._post("events", envelopes);
  }

  check(envelopes) {
    return this._post("events/check", envelopes);
  }

  async head(keyid) {
    const { status, body } = await this.get(`keys/${keyid}/head`);
    if (status === 404) return null;
    if (status !== 200 || !Number.isInteger(body.seq)) throw new Unreachable(`HTTP ${status}`);
    let time = null;
    if (body.prev) {
      const last = await this.get(`events/${body.prev}`);
      time = last.status === 200 ? last.body.time : null;
    }
    return { seq: body.seq, prev: body.prev, time, party: body.party };
  }

  async has(eventId) {
    const { status } = await this.get(`events/${eventId}`);
    return status === 200;
  }
}
