// The capture console: a party's holdings, inbound shipments and events, and the forms that
// record new events, signed on this device (keys.js) and sent through the outbox
// (outbox.js), online or off.

import { cached, keep } from "./db.js";
import { FORMS, buildForm, fmtKg, h, kgOf, localProblems } from "./forms.js";
import { LANGUAGES, chooseLanguage, language, loadLanguage, t } from "./i18n.js";
import { deviceKey, generateKey, importKey, payloadOf, publicKeyB64 } from "./keys.js";
import {
  BLOCKED,
  DROPPED,
  Outbox,
  OutboxError,
  PENDING,
  REPLACED,
  RefusedError,
  SENT,
  SET_ASIDE,
  Unreachable,
} from "./outbox.js";
import { Server, SignInFailed } from "./server.js";

const view = document.getElementById("view");
const ctx = {
  key: null,
  outbox: null,
  server: null,
  party: null,
  ledger: null,
  tables: null,
  holdings: [],
  inbound: [],
  events: [],
  parties: [],
  members: [],
  readAt: null,
  signInProblem: null,
  notice: null,
};

// --- start ---------------------------------------------------------------------------------

async function start() {
  await loadLanguage(chooseLanguage());
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/console/sw.js", { scope: "/console/" }).catch(() => {});
  }
  ctx.tables = await loadTables();
  const session = await cached("session");
  const ledger = await cached("ledger");
  ctx.ledger = ledger ? ledger.value : null;
  ctx.key = await deviceKey();
  if (ctx.key) await useKey(ctx.key, session);
  window.addEventListener("online", () => {
    header();
    setTimeout(sync, 500);
  });
  setInterval(async () => {
    // what is still pending goes out as soon as the server answers again
    if (ctx.outbox && navigator.onLine && (await ctx.outbox.entries(PENDING)).length) sync();
  }, 5000);
  window.addEventListener("offline", () => header());
  window.addEventListener("hashchange", () => {
    if (ctx.noticeFor !== location.hash) ctx.notice = null; // a notice is for one view
    render();
  });
  header();
  await render();
  if (ctx.key) await sync();
}

async function loadTables() {
  const response = await fetch("/console/tables.json");
  return response.json();
}

async function useKey(key, session) {
  ctx.key = key;
  ctx.outbox = new Outbox(key);
  ctx.server = new Server(key);
  const state = await ctx.outbox.load();
  const own = session && session.value.keyid === key.keyid ? session.value.party : null;
  ctx.party = state.party || own;
  await readCache();
}

async function readCache() {
  for (const name of ["holdings", "inbound", "events", "parties", "members"]) {
    const found = await cached(name);
    if (found) ctx[`_${name}`] = found.value;
    if (name === "holdings" && found) ctx.readAt = found.at;
  }
  await mergeOutbox();
}

let syncing = null;
/** When online: sign in, align the chain, send the outbox, read the party's data again.
 * One at a time: a call while one runs gets the running one. */
function sync() {
  if (!syncing) syncing = syncOnce().finally(() => (syncing = null));
  return syncing;
}

async function syncOnce() {
  try {
    if (!ctx.key || !navigator.onLine) return;
    ctx.ledger = await ctx.server.ledgerId();
    let session = await ctx.server.session();
    try {
      if (!session || Date.parse(session.expires_at) < Date.now() + 60e3) {
        session = await ctx.server.signIn();
      }
      ctx.signInProblem = null;
    } catch (e) {
      if (e instanceof SignInFailed) {
        ctx.signInProblem = e.message;
        return;
      }
      throw e;
    }
    ctx.party = session.party;
    const entries = await ctx.outbox.entries();
    if (!entries.length) await ctx.outbox.resync(ctx.server);
    const done = await ctx.outbox.submit(ctx.server);
    if (done.sent || done.setAside.length) {
      ctx.notice = t("{sent} sent, {aside} set aside", {
        sent: done.sent,
        aside: done.setAside.length,
      });
      ctx.noticeFor = location.hash;
    }
    await refresh();
  } catch (e) {
    if (e instanceof Unreachable) console.info(`not sent now: ${e.message}`);
    else {
      ctx.notice = e.message;
      console.error(e);
    }
  } finally {
    header();
    await render({ keepForms: true });
  }
}

async function readAll(path) {
  const { status, body } = await ctx.server.get(path);
  if (status !== 200) throw new Unreachable(`${path}: HTTP ${status}`);
  return body;
}

/** Every page of a listing (``next_after`` cursors), up to ``pages`` pages. */
async function readPages(path, name, pages = 20) {
  const out = [];
  let after = null;
  for (let i = 0; i < pages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const cursor = after === null ? "" : `&after=${encodeURIComponent(after)}`;
    const page = await readAll(`${path}${sep}limit=1000${cursor}`);
    out.push(...page[name]);
    if (page.next_after === null || page.next_after === undefined) break;
    after = page.next_after;
  }
  return out;
}

async function refresh() {
  const p = encodeURIComponent(ctx.party);
  const holdings = await readAll(`parties/${p}/holdings`);
  const inbound = await readAll(`parties/${p}/shipments?direction=inbound&status=in-transit`);
  const since = encodeURIComponent(new Date(Date.now() - 7 * 86400e3).toISOString());
  const events = await readPages(`events?party=${p}&since=${since}`, "events");
  const parties = await readPages("parties", "parties");
  const enroll = await readPages(`events?party=${p}&type=member.enroll`, "events");
  const leave = await readPages(`events?party=${p}&type=member.leave`, "events");
  await keep("holdings", holdings.holdings);
  await keep("inbound", inbound.shipments);
  await keep("events", events.slice(-50).map(summary));
  await keep("parties", parties.map((x) => ({ id: x.id, name: x.name })));
  await keep("members", members(enroll, leave));
  await readCache();
}

function members(enrolled, left) {
  const today = new Date().toISOString().slice(0, 10);
  // a member who leaves delivers up to its `until` day, not after
  const gone = new Set(left.filter((e) => e.payload.until < today).map((e) => e.payload.member));
  const out = new Map();
  for (const e of enrolled) {
    if (!gone.has(e.payload.member)) out.set(e.payload.member, e.payload);
  }
  return [...out.values()].map((m) => ({ member: m.member, plots: m.plots, products: m.products }));
}

function summary(e) {
  const p = e.payload;
  const lots = p.lots || p.outputs || (p.lot ? [p] : []);
  return {
    id: e.id,
    type: e.type,
    time: e.time,
    seq: e.seq,
    summary:
      lots.map((l) => `${l.lot}${l.quantity ? ` ${l.quantity} ${l.unit}` : ""}`).join(", ") ||
      p.member ||
      p.subject ||
      (p.event ? p.event.slice(7, 19) : ""),
  };
}

// --- what the outbox has done since the last read --------------------------------------------

/** The holdings as last read, plus what this device's outbox did since (pending events,
 * and events sent after that read), each such row marked. */
async function mergeOutbox() {
  const rows = (ctx._holdings || []).map((x) => ({ ...x, kg: Number(x.kg) }));
  const readAt = ctx.readAt ? Date.parse(ctx.readAt) : 0;
  const entries = ctx.outbox ? await ctx.outbox.entries(PENDING, SENT) : [];
  let applied = 0;
  const take = (lot, via, kg) => {
    const row = rows.find((x) => x.lot === lot && x.via === via);
    if (row && kg !== null) {
      row.kg -= kg;
      row.outbox = true;
    }
  };
  for (const entry of entries) {
    if (entry.status === SENT && Date.parse(entry.sent_at || 0) <= readAt) continue;
    const p = payloadOf(entry.envelope);
    const gives = (lot, product, form, quantity, unit) =>
      rows.push({ lot, product, form, kg: kgOf(ctx, quantity, unit), via: entry.id, time: p.time, outbox: true });
    applied += 1;
    if (p.type === "harvest") {
      gives(p.lot, p.product, p.form, p.quantity, p.unit);
    } else if (p.type === "transform") {
      for (const l of p.inputs || []) take(l.lot, l.event, kgOf(ctx, l.quantity, l.unit));
      for (const o of p.outputs || []) {
        gives(o.lot, o.product, o.form, o.quantity, o.unit);
      }
    } else if (p.type === "ship") {
      for (const l of p.lots || []) take(l.lot, l.event, kgOf(ctx, l.quantity, l.unit));
    } else if (p.type === "dispose") {
      take(p.lot, p.event, kgOf(ctx, p.quantity, p.unit));
    } else if (p.type === "receive") {
      for (const l of p.lots || []) {
        gives(l.lot, "", "", l.quantity, l.unit); // its product and form: from the ledger, later
      }
    }
  }
  ctx.holdings = rows.filter((x) => x.kg > 1e-9);
  ctx.applied = applied;
  ctx.inbound = ctx._inbound || [];
  // the events as last read, and those of this device that landed since
  const read = ctx._events || [];
  const known = new Set(read.map((e) => e.id));
  const landed = entries
    .filter((e) => e.status === SENT && !known.has(e.id))
    .map((e) => {
      const p = payloadOf(e.envelope);
      return summary({ id: e.id, type: p.type, time: p.time, seq: e.seq, payload: p });
    });
  ctx.events = [...read, ...landed];
  ctx.parties = ctx._parties || [];
  ctx.members = ctx._members || [];
}

// --- the page ------------------------------------------------------------------------------

function header() {
  const net = document.getElementById("net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
  net.className = navigator.onLine ? "badge online" : "badge offline";
  document.getElementById("who").textContent = ctx.party || "";
  const lang = document.getElementById("lang");
  if (!lang.options.length) {
    for (const code of LANGUAGES) lang.append(h("option", { value: code, text: code }));
    lang.addEventListener("change", async () => {
      await loadLanguage(lang.value);
      header();
      await render();
    });
  }
  lang.value = language;
  const tabs = document.getElementById("tabs");
  const here = location.hash.split("/")[0] || "#holdings";
  tabs.replaceChildren(
    ...[
      ["#holdings", t("Holdings")],
      ["#inbound", t("Inbound")],
      ["#events", t("Events")],
      ["#record", t("Record")],
      ["#key", t("Key")],
    ].map(([href, label]) =>
      h("a", { href, class: here === href ? "current" : null, text: label }),
    ),
  );
}

let rendering = 0;
/** Draw the view the location names. ``keepForms``: a form being filled in stays as it
 * is (a refresh behind it must not wipe what is typed). */
async function render({ keepForms = false } = {}) {
  header();
  const [route, arg] = location.hash.slice(1).split("/");
  if (keepForms && view.dataset.route === location.hash && (route === "record" || route === "fix")) {
    return;
  }
  const mine = ++rendering;
  await mergeOutbox();
  let body;
  if (!ctx.key || route === "key") body = keyView();
  else if (route === "inbound") body = inboundView();
  else if (route === "events") body = await eventsView();
  else if (route === "record") body = arg ? recordView(arg) : recordMenu();
  else if (route === "fix") body = await fixView(decodeURIComponent(arg || ""));
  else body = holdingsView();
  if (mine !== rendering) return; // a later render draws the page
  const notice = ctx.notice ? h("p", { class: "notice", role: "status", text: ctx.notice }) : null;
  view.replaceChildren(...[notice, body].filter(Boolean));
  view.dataset.route = location.hash;
}

function keyView() {
  if (!ctx.key) {
    // a private key: no spelling service (Chrome's enhanced spell check sends the text
    // away), no autofill or form restoration keeps it
    const pem = h("textarea", {
      id: "pem", rows: 4, placeholder: "-----BEGIN PRIVATE KEY-----",
      spellcheck: "false", autocomplete: "off", autocapitalize: "off", autocorrect: "off",
    });
    return h(
      "section",
      {},
      h("h2", { text: t("This device's key") }),
      h("p", { text: t("Events are signed on this device. Make a key here, or bring one made by trazo keygen.") }),
      h("button", { id: "generate", onclick: () => keyAction(generateKey) , text: t("Make a key on this device") }),
      h("h3", { text: t("Bring a key") }),
      pem,
      h("button", { class: "secondary", id: "import", onclick: () => keyAction(() => importKey(pem.value)), text: t("Use this key") }),
      h("p", { class: "field-error", id: "key-error", role: "alert" }),
    );
  }
  return h(
    "section",
    {},
    h("h2", { text: t("This device's key") }),
    h("dl", {},
      h("dt", { text: t("keyid") }),
      h("dd", { id: "keyid", class: "mono", text: ctx.key.keyid }),
      h("dt", { text: t("public key") }),
      h("dd", { id: "public-key", class: "mono", text: publicKeyB64(ctx.key) }),
      h("dt", { text: t("party") }),
      h("dd", { id: "party", text: ctx.party || t("not registered yet") }),
    ),
    ctx.signInProblem
      ? h("p", { class: "warn", id: "signin-problem", text: t("Give the operator the public key above: it registers it for your party (party.register or key.add). Then sign in.") })
      : null,
    h("p", { class: "hint", text: t("The private key never leaves this browser: it cannot be exported.") }),
    h("button", { id: "signin", onclick: () => sync(), text: t("Sign in") }),
  );
}

async function keyAction(make) {
  try {
    const key = await make();
    await useKey(key, null);
    location.hash = "#key";
    await render();
    await sync();
  } catch (e) {
    document.getElementById("key-error").textContent = e.message;
  }
}

function stale() {
  if (navigator.onLine && !ctx.applied) return null;
  const at = ctx.readAt ? new Date(ctx.readAt).toLocaleString(language) : "—";
  return h("p", { class: "stale", id: "stale", text: t("As read at {at}, plus {n} event(s) of this device not yet in what was read", { at, n: ctx.applied || 0 }) });
}

function holdingsView() {
  const rows = ctx.holdings.map((x) =>
    h("li", { class: x.outbox ? "card outbox" : "card", dataset: { lot: x.lot } },
      h("div", { class: "lot", text: x.lot }),
      h("div", { class: "what", text: `${t(x.product || "")} · ${t(x.form || "")}` }),
      h("div", { class: "kg", text: `${fmtKg(x.kg)} kg` }),
      h("div", { class: "via mono", text: `${t("through")} ${t(typeOfVia(x.via))} ${x.via.slice(7, 19)}…${x.outbox ? " ⏳" : ""}` }),
    ),
  );
  return h("section", { id: "holdings" },
    h("h2", { text: t("Holdings") }),
    stale(),
    rows.length ? h("ul", { class: "cards" }, ...rows) : h("p", { text: t("Nothing held.") }),
  );
}

function typeOfVia(via) {
  const e = ctx.events.find((x) => x.id === via);
  return e ? e.type : "event";
}

function inboundView() {
  const list = ctx.inbound.filter((s) => s.status === "in-transit");
  return h("section", { id: "inbound" },
    h("h2", { text: t("Shipments on their way to you") }),
    stale(),
    list.length
      ? h("ul", { class: "cards" }, ...list.map((s) =>
          h("li", { class: "card", dataset: { shipment: s.shipment } },
            h("div", { class: "lot", text: `${s.shipper} → ${s.receiver}` }),
            h("div", { text: s.lots.map((l) => `${l.lot}: ${fmtKg(l.kg)} kg`).join(", ") }),
            h("div", { class: "via mono", text: `${s.time.slice(0, 16)} · ${s.shipment.slice(7, 19)}…` }),
            h("a", { class: "button", href: `#record/receive?${encodeURIComponent(s.shipment)}`, text: t("Receive") }),
          )))
      : h("p", { text: t("No shipment on its way.") }),
  );
}

const STATUS = {
  [PENDING]: "pending",
  [SENT]: "landed",
  [SET_ASIDE]: "set aside",
  [BLOCKED]: "blocked",
  [REPLACED]: "replaced",
  [DROPPED]: "dropped",
};

async function eventsView() {
  const entries = (await ctx.outbox.entries()).reverse();
  const recorded = new Set(entries.map((e) => e.id));
  const own = entries.slice(0, 30).map((e) => {
    const p = payloadOf(e.envelope);
    const s = summary({ id: e.id, type: p.type, time: p.time, seq: e.seq, payload: p });
    const actions = [];
    if (e.status === SET_ASIDE) {
      actions.push(h("a", { class: "button", href: `#fix/${encodeURIComponent(e.id)}`, text: t("Correct") }));
    }
    if (e.status === SET_ASIDE || e.status === BLOCKED) {
      actions.push(h("button", { class: "secondary", onclick: () => drop(e.id), text: t("Drop") }));
    }
    return h("li", { class: `card status-${e.status}`, dataset: { id: e.id, status: e.status, type: p.type } },
      h("div", { class: "lot", text: `${t(p.type)} · ${s.summary}` }),
      h("div", { class: "status", text: t(STATUS[e.status]) + (e.ledger_index != null ? ` #${e.ledger_index}` : "") }),
      e.reason ? h("div", { class: "reason", text: e.reason }) : null,
      h("div", {
        class: "via mono",
        text: `${e.status === SENT || e.status === PENDING ? `seq ${e.seq} · ` : ""}${e.id.slice(7, 19)}…`,
      }),
      ...actions,
    );
  });
  const others = ctx.events.filter((e) => !recorded.has(e.id)).reverse().map((e) =>
    h("li", { class: "card status-sent", dataset: { id: e.id, status: "sent", type: e.type } },
      h("div", { class: "lot", text: `${t(e.type)} · ${e.summary}` }),
      h("div", { class: "status", text: t("landed") }),
      h("div", { class: "via mono", text: `${e.time.slice(0, 16)} · ${e.id.slice(7, 19)}…` }),
    ),
  );
  return h("section", { id: "events" },
    h("h2", { text: t("Recent events") }),
    navigator.onLine ? h("button", { class: "secondary", onclick: () => sync(), text: t("Send now") }) : null,
    h("ul", { class: "cards" }, ...own, ...others),
  );
}

async function drop(id) {
  const left = await ctx.outbox.drop(id);
  ctx.notice = left.length ? t("{n} event(s) stay blocked for good", { n: left.length }) : null;
  await render();
}

function recordMenu() {
  return h("section", { id: "record" },
    h("h2", { text: t("Record") }),
    h("ul", { class: "menu" }, ...FORMS.map((f) => h("li", {}, h("a", { class: "button", href: `#record/${f}`, text: t(f) })))),
  );
}

function recordView(arg, fixing = null) {
  const [type, query] = arg.split("?");
  if (!FORMS.includes(type)) return recordMenu();
  const initial = fixing ? payloadOf(fixing.envelope) : query ? { shipment: decodeURIComponent(query) } : null;
  const form = buildForm(type, ctx, initial);
  const submit = h("button", { type: "submit", id: "sign", text: fixing ? t("Sign the correction") : t("Check and sign") });
  const el = h("form", { class: "capture", dataset: { form: type }, novalidate: true },
    h("h2", { text: fixing ? `${t("Correct")}: ${t(type)}` : t(type) }),
    fixing && !fixing.field ? h("p", { class: "reason", text: fixing.reason }) : null,
    form.el,
    h("div", { class: "form-error", role: "alert", dataset: { field: "" } }),
    submit,
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await record(el, form.body(), fixing);
    } finally {
      submit.disabled = false;
    }
  });
  if (fixing && fixing.field) showProblems(el, [{ field: fixing.field, message: fixing.reason }]);
  return el;
}

async function fixView(id) {
  const entry = (await ctx.outbox.entries(SET_ASIDE)).find((e) => e.id === id);
  if (!entry) return h("p", { text: t("Nothing to correct.") });
  return recordView(payloadOf(entry.envelope).type, entry);
}

/** Check the form (here, then with the ledger's dry run when online), sign it, queue it,
 * send it. A refusal is shown beside the field it names, and nothing is queued. */
async function record(form, body, fixing) {
  showProblems(form, []);
  const local = localProblems(body);
  if (local.length) return showProblems(form, local);
  try {
    if (fixing) {
      await ctx.outbox.replace(fixing.id, body);
    } else {
      const online = navigator.onLine && !ctx.signInProblem;
      await ctx.outbox.sign(body, { ledger: ctx.ledger, party: ctx.party, check: online ? ctx.server : null });
    }
  } catch (e) {
    if (e instanceof RefusedError) {
      const { title, errors } = e.refused.problem;
      const items = (errors || []).map((i) => ({ field: i.field, message: `${title}: ${i.message}` }));
      return showProblems(form, items.length ? items : [{ field: null, message: e.message }]);
    }
    if (e instanceof OutboxError) return showProblems(form, [{ field: null, message: e.message }]);
    throw e;
  }
  ctx.notice = navigator.onLine ? t("Signed; sending.") : t("Signed and kept on this device: it is sent when the connection returns.");
  ctx.noticeFor = "#events";
  location.hash = "#events";
  await render();
  await sync();
}

function showProblems(form, problems) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.textContent = "";
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  for (const p of problems) {
    const target = fieldBox(form, p.field);
    const box = target ? target.querySelector(".field-error") : form.querySelector(".form-error");
    box.textContent = box.textContent ? `${box.textContent} ${p.message}` : p.message;
    if (target) target.classList.add("invalid");
  }
  const first = form.querySelector(".invalid, .form-error:not(:empty)");
  if (first) first.scrollIntoView({ block: "center" });
}

/** The field box a payload path names, or the nearest enclosing one ("lots[0].quantity",
 * then "lots[0]", then "lots"). */
function fieldBox(form, name) {
  let path = name;
  while (path) {
    const control = form.querySelector(`[data-field="${CSS.escape(path)}"], [data-alias="${CSS.escape(path)}"]`);
    if (control) {
      const box = control.closest(".field");
      if (box) return box;
    }
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    path = cut > 0 ? path.slice(0, cut) : "";
  }
  return null;
}

start().catch((e) => {
  view.replaceChildren(h("p", { class: "field-error", text: e.message }));
  console.error(e);
});
