// The capture forms: harvest, transform, ship, receive, dispose, void. Each builds the body
// of one event (type-specific fields only: the outbox adds the common ones) from inputs
// that name their payload field (data-field, e.g. "lots[0].quantity"), so the ledger's
// answer is shown beside the field it names.

import { t } from "./i18n.js";

const QUANTITY = /^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?$/; // ledger/tables.py _QUANTITY

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c);
  }
  return el;
}

function field(label, control, name, hint = null) {
  control.dataset.field = name;
  control.id = control.id || `f-${name.replace(/[^a-z0-9]/gi, "-")}`;
  return h(
    "div",
    { class: "field", dataset: { for: name } },
    h("label", { for: control.id, text: label }),
    control,
    hint ? h("div", { class: "hint", text: hint }) : null,
    h("div", { class: "field-error", role: "alert" }),
  );
}

function select(options, value = null) {
  const el = h("select");
  for (const o of options) {
    const opt = h("option", { value: o.value, text: o.label });
    if (o.data) Object.assign(opt.dataset, o.data);
    el.append(opt);
  }
  if (value !== null && value !== undefined) el.value = value;
  return el;
}

function text(value = "", attrs = {}) {
  return h("input", { type: "text", value, autocomplete: "off", ...attrs });
}

function quantity(value = "") {
  return text(value, { inputmode: "decimal", class: "qty" });
}

function units(ctx, value = "kg") {
  return select(
    Object.keys(ctx.tables.units.units).map((u) => ({ value: u, label: u })),
    value,
  );
}

export function kgOf(ctx, qty, unit) {
  const factor = ctx.tables.units.units[unit];
  const n = Number(qty);
  if (!factor || !QUANTITY.test(String(qty))) return null;
  return n * Number(factor.kg);
}

function stamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`;
  return `${day}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function holdingOptions(ctx) {
  return [
    { value: "", label: t("choose a lot") },
    ...ctx.holdings.map((x, i) => ({
      value: String(i),
      label: `${x.lot} · ${x.form} · ${fmtKg(x.kg)} kg${x.outbox ? " ⏳" : ""}`,
      data: { lot: x.lot, via: x.via },
    })),
  ];
}

export function fmtKg(kg) {
  const n = Number(kg);
  return Number.isFinite(n) ? String(Math.round(n * 1e6) / 1e6) : String(kg);
}

function holdingSelect(ctx, name, initial) {
  const el = select(holdingOptions(ctx));
  el.dataset.field = name;
  el.dataset.alias = name.replace(/event$/, "lot"); // the ledger may name either
  if (initial) {
    const i = ctx.holdings.findIndex((x) => x.lot === initial.lot && x.via === initial.event);
    if (i >= 0) el.value = String(i);
  }
  return el;
}

function chosenHolding(ctx, el) {
  return el.value === "" ? null : ctx.holdings[Number(el.value)];
}

/** Rows of holding lines: a lot from the holdings, a quantity and a unit. */
function holdingLines(ctx, name, initial, onchange) {
  const box = h("div", { class: "rows", dataset: { field: name } });
  const rows = [];
  const add = (line = null) => {
    const i = rows.length;
    const pick = holdingSelect(ctx, `${name}[${i}].event`, line);
    const qty = quantity(line ? line.quantity : "");
    const unit = units(ctx, line ? line.unit : "kg");
    pick.addEventListener("change", () => {
      const held = chosenHolding(ctx, pick);
      if (held && !qty.value) {
        qty.value = fmtKg(held.kg);
        unit.value = "kg";
      }
      onchange && onchange();
    });
    qty.addEventListener("input", () => onchange && onchange());
    unit.addEventListener("change", () => onchange && onchange());
    const row = h(
      "fieldset",
      { class: "row" },
      h("legend", { text: `${t("lot")} ${i + 1}` }),
      field(t("lot"), pick, `${name}[${i}].event`),
      h(
        "div",
        { class: "pair" },
        field(t("quantity"), qty, `${name}[${i}].quantity`),
        field(t("unit"), unit, `${name}[${i}].unit`),
      ),
    );
    rows.push({ pick, qty, unit });
    box.append(row);
  };
  for (const line of initial || [null]) add(line);
  const more = h("button", { type: "button", class: "secondary", text: t("+ another lot") });
  more.addEventListener("click", () => add());
  return {
    el: h("div", {}, box, more),
    rows,
    lines() {
      return rows
        .filter((r) => r.pick.value !== "" || r.qty.value)
        .map((r) => {
          const held = chosenHolding(ctx, r.pick);
          return {
            lot: held ? held.lot : "",
            event: held ? held.via : "",
            quantity: r.qty.value.trim(),
            unit: r.unit.value,
          };
        });
    },
  };
}

// --- the yield limit, as the quantities are typed ------------------------------------------

/** The maximum yield of a move from one form to another (product of the steps' yields on
 * the one-way path; 1 within a form; null when no path leads there). */
export function maxYield(product, from, to) {
  if (from === to) return 1;
  const steps = product.steps || [];
  const walk = (form, seen) => {
    for (const s of steps) {
      if (s.from !== form || seen.has(s.to)) continue;
      if (s.to === to) return Number(s.max_yield);
      const rest = walk(s.to, new Set([...seen, s.to]));
      if (rest !== null) return Number(s.max_yield) * rest;
    }
    return null;
  };
  return walk(from, new Set([from]));
}

// --- the forms -----------------------------------------------------------------------------

export const FORMS = ["harvest", "transform", "ship", "receive", "dispose", "void"];

export function buildForm(type, ctx, initial = null) {
  return BUILDERS[type](ctx, initial || {});
}

function harvest(ctx, init) {
  const products = ctx.tables.products.products;
  const product = select(
    Object.keys(products).map((p) => ({ value: p, label: t(p) })),
    init.product || "coffee",
  );
  const form = select([]);
  const fillForms = () => {
    form.replaceChildren(
      ...products[product.value].forms.map((f) => h("option", { value: f, text: t(f) })),
    );
  };
  fillForms();
  if (init.form) form.value = init.form;
  product.addEventListener("change", fillForms);
  const lot = text(init.lot || `${ctx.party}:h-${stamp()}`);
  const qty = quantity(init.quantity || "");
  const unit = units(ctx, init.unit || "kg");
  const members = ctx.members || [];
  const member = select(
    [
      { value: "", label: t("no member (own harvest)") },
      ...members.map((m) => ({ value: m.member, label: m.member })),
    ],
    init.member || (members[0] ? members[0].member : ""),
  );
  if (init.member && !members.some((m) => m.member === init.member)) {
    // the member the event named is no longer enrolled: shown, so the reason makes sense
    member.append(h("option", { value: init.member, text: `${init.member} ✕` }));
    member.value = init.member;
  }
  const plot = select([]);
  const fillPlots = () => {
    const m = members.find((x) => x.member === member.value);
    plot.replaceChildren(
      ...(m ? m.plots : []).map((p) =>
        h("option", { value: p.plot, text: `${p.plot} (${p.area_ha} ha)` }),
      ),
    );
    plot.disabled = !m;
  };
  fillPlots();
  if (init.plot) plot.value = init.plot;
  member.addEventListener("change", fillPlots);
  const el = h(
    "div",
    {},
    field(t("member"), member, "member"),
    field(t("plot"), plot, "plot"),
    h("div", { class: "pair" }, field(t("product"), product, "product"), field(t("form"), form, "form")),
    h("div", { class: "pair" }, field(t("quantity"), qty, "quantity"), field(t("unit"), unit, "unit")),
    field(t("lot id"), lot, "lot", t("a new lot: starts with your party id")),
  );
  return {
    el,
    body() {
      const body = {
        type: "harvest",
        lot: lot.value.trim(),
        product: product.value,
        form: form.value,
        quantity: qty.value.trim(),
        unit: unit.value,
      };
      if (member.value) Object.assign(body, { member: member.value, plot: plot.value });
      return body;
    },
  };
}

function transform(ctx, init) {
  const processes = Object.keys(ctx.tables.products.processes);
  const process = select(
    processes.map((p) => ({ value: p, label: t(p) })),
    init.process || "dry-mill",
  );
  const limit = h("div", { class: "yield", role: "status", dataset: { field: "outputs" } });
  const limitBox = h(
    "div",
    { class: "field", dataset: { for: "outputs" } },
    limit,
    h("div", { class: "field-error", role: "alert" }),
  );
  const update = () => showYield(ctx, inputs, outputs, limit);
  const inputs = holdingLines(ctx, "inputs", init.inputs, update);
  const outputs = outputLines(ctx, init.outputs, update, () => inputProduct(ctx, inputs));
  const el = h(
    "div",
    {},
    field(t("process"), process, "process"),
    h("h3", { text: t("inputs") }),
    inputs.el,
    h("h3", { text: t("outputs") }),
    outputs.el,
    limitBox,
  );
  update();
  return {
    el,
    body() {
      return {
        type: "transform",
        process: process.value,
        inputs: inputs.lines(),
        outputs: outputs.lines(),
      };
    },
  };
}

function inputProduct(ctx, inputs) {
  const held = inputs.rows.map((r) => chosenHolding(ctx, r.pick)).find((x) => x);
  return held ? held.product : "coffee";
}

function outputLines(ctx, initial, onchange, productOf) {
  const box = h("div", { class: "rows" });
  const rows = [];
  const add = (line = null) => {
    const i = rows.length;
    const product = ctx.tables.products.products[productOf()] || { forms: [] };
    const form = select(
      product.forms.map((f) => ({ value: f, label: t(f) })),
      line ? line.form : product.forms.includes("green") ? "green" : product.forms[0],
    );
    const lot = text(line ? line.lot : `${ctx.party}:${form.value || "lot"}-${stamp()}-${i + 1}`);
    const qty = quantity(line ? line.quantity : "");
    const unit = units(ctx, line ? line.unit : "kg");
    for (const c of [form, qty, unit]) c.addEventListener("input", onchange);
    form.addEventListener("change", onchange);
    box.append(
      h(
        "fieldset",
        { class: "row" },
        h("legend", { text: `${t("output")} ${i + 1}` }),
        field(t("form"), form, `outputs[${i}].form`),
        h(
          "div",
          { class: "pair" },
          field(t("quantity"), qty, `outputs[${i}].quantity`),
          field(t("unit"), unit, `outputs[${i}].unit`),
        ),
        field(t("lot id"), lot, `outputs[${i}].lot`),
      ),
    );
    rows.push({ form, lot, qty, unit });
  };
  for (const line of initial || [null]) add(line);
  const more = h("button", { type: "button", class: "secondary", text: t("+ another output") });
  more.addEventListener("click", () => add());
  return {
    el: h("div", {}, box, more),
    rows,
    lines() {
      return rows
        .filter((r) => r.qty.value)
        .map((r) => ({
          lot: r.lot.value.trim(),
          product: productOf(),
          form: r.form.value,
          quantity: r.qty.value.trim(),
          unit: r.unit.value,
        }));
    },
  };
}

/** The most each output form may weigh: the inputs times the maximum yield of their form
 * step, plus the product's tolerance (the ledger decides exactly; this is a guide). */
function showYield(ctx, inputs, outputs, box) {
  const name = inputProduct(ctx, inputs);
  const product = ctx.tables.products.products[name];
  if (!product) return;
  const tolerance = Number(product.tolerance || 0);
  const outForms = [...new Set(outputs.rows.map((r) => r.form.value))];
  const lines = [];
  let over = false;
  for (const outForm of outForms) {
    let allowed = 0;
    let possible = false;
    for (const r of inputs.rows) {
      const held = chosenHolding(ctx, r.pick);
      const kg = held ? kgOf(ctx, r.qty.value.trim(), r.unit.value) : null;
      if (!held || kg === null) continue;
      const y = maxYield(product, held.form, outForm);
      if (y === null) continue;
      possible = true;
      allowed += kg * y;
    }
    allowed *= 1 + tolerance;
    const made = outputs.rows
      .filter((r) => r.form.value === outForm)
      .reduce((sum, r) => sum + (kgOf(ctx, r.qty.value.trim(), r.unit.value) || 0), 0);
    if (!possible) {
      lines.push(t("no input can become {form}", { form: t(outForm) }));
      continue;
    }
    const pass = made <= allowed + 1e-9;
    over = over || !pass;
    lines.push(
      t("at most {kg} kg of {form}; now {made} kg", {
        kg: fmtKg(Math.floor(allowed * 1000) / 1000),
        form: t(outForm),
        made: fmtKg(made),
      }),
    );
  }
  box.replaceChildren(...lines.map((l) => h("div", { text: l })));
  box.classList.toggle("over", over);
}

function ship(ctx, init) {
  const parties = (ctx.parties || []).filter((p) => p.id !== ctx.party);
  const to = select(
    [
      { value: "", label: t("choose a party") },
      ...parties.map((p) => ({ value: p.id, label: `${p.name} (${p.id})` })),
    ],
    init.to || "",
  );
  const lots = holdingLines(ctx, "lots", init.lots);
  const schemes = ["SPP", "FT", "ORG"];
  const claims = schemes.map((s) =>
    h("input", { type: "checkbox", value: s, checked: (init.claims || []).includes(s) }),
  );
  const claimBox = h(
    "div",
    { class: "field", dataset: { for: "claims" } },
    h("span", { class: "label", text: t("claims") }),
    h("div", { class: "checks", dataset: { field: "claims" } }, ...claims.map((c) => h("label", {}, c, ` ${c.value}`))),
    h("div", { class: "field-error", role: "alert" }),
  );
  const txBox = h("div", { class: "rows" });
  const txs = [];
  const addTx = (tx = null) => {
    const i = txs.length;
    const kind = select(
      ["invoice", "po", "bol", "contract"].map((k) => ({ value: k, label: t(k) })),
      tx ? tx.type : "invoice",
    );
    const id = text(tx ? tx.id : "");
    txBox.append(
      h(
        "div",
        { class: "pair" },
        field(t("document"), kind, `transactions[${i}].type`),
        field(t("number"), id, `transactions[${i}].id`),
      ),
    );
    txs.push({ kind, id });
  };
  for (const tx of init.transactions || [null]) addTx(tx);
  const more = h("button", { type: "button", class: "secondary", text: t("+ another document") });
  more.addEventListener("click", () => addTx());
  return {
    el: h(
      "div",
      {},
      field(t("to"), to, "to"),
      h("h3", { text: t("lots") }),
      lots.el,
      claimBox,
      h("h3", { text: t("documents") }),
      txBox,
      more,
    ),
    body() {
      const body = {
        type: "ship",
        to: to.value,
        lots: lots.lines(),
        claims: claims.filter((c) => c.checked).map((c) => c.value),
      };
      const transactions = txs
        .filter((x) => x.id.value.trim())
        .map((x) => ({ type: x.kind.value, id: x.id.value.trim() }));
      if (transactions.length) body.transactions = transactions;
      return body;
    },
  };
}

function receive(ctx, init) {
  const inbound = (ctx.inbound || []).filter((s) => s.status === "in-transit");
  const shipment = select(
    [
      { value: "", label: t("choose a shipment") },
      ...inbound.map((s) => ({
        value: s.shipment,
        label: `${s.shipper} · ${s.time.slice(0, 10)} · ${s.lots.map((l) => `${fmtKg(l.kg)} kg`).join(" + ")}`,
      })),
    ],
    init.shipment || "",
  );
  const lines = h("div", { class: "rows" });
  let rows = [];
  const fill = () => {
    const s = inbound.find((x) => x.shipment === shipment.value);
    rows = [];
    lines.replaceChildren();
    (s ? s.lots : init.lots || []).forEach((l, i) => {
      const given = (init.lots || []).find((x) => x.lot === l.lot);
      const qty = quantity(given ? given.quantity : fmtKg(l.kg));
      const unit = units(ctx, given ? given.unit : "kg");
      lines.append(
        h(
          "fieldset",
          { class: "row" },
          h("legend", { text: l.lot }),
          h(
            "div",
            { class: "pair" },
            field(
              t("quantity accepted"),
              qty,
              `lots[${i}].quantity`,
              l.kg ? t("shipped: {kg} kg", { kg: fmtKg(l.kg) }) : null,
            ),
            field(t("unit"), unit, `lots[${i}].unit`),
          ),
        ),
      );
      rows.push({ lot: l.lot, qty, unit });
    });
  };
  shipment.addEventListener("change", fill);
  fill();
  return {
    el: h("div", {}, field(t("shipment"), shipment, "shipment"), lines),
    body() {
      return {
        type: "receive",
        shipment: shipment.value,
        lots: rows.map((r) => ({ lot: r.lot, quantity: r.qty.value.trim(), unit: r.unit.value })),
      };
    },
  };
}

function dispose(ctx, init) {
  const pick = holdingSelect(ctx, "event", init.lot ? init : null);
  const qty = quantity(init.quantity || "");
  const unit = units(ctx, init.unit || "kg");
  const reason = text(init.reason || "");
  return {
    el: h(
      "div",
      {},
      field(t("lot"), pick, "event"),
      h("div", { class: "pair" }, field(t("quantity"), qty, "quantity"), field(t("unit"), unit, "unit")),
      field(t("reason"), reason, "reason"),
    ),
    body() {
      const held = chosenHolding(ctx, pick);
      return {
        type: "dispose",
        lot: held ? held.lot : "",
        event: held ? held.via : "",
        quantity: qty.value.trim(),
        unit: unit.value,
        reason: reason.value.trim(),
      };
    },
  };
}

function voidForm(ctx, init) {
  const own = (ctx.events || []).filter((e) => e.type !== "void");
  const event = select(
    [
      { value: "", label: t("choose an event") },
      ...own.map((e) => ({
        value: e.id,
        label: `${t(e.type)} · ${e.summary || ""} · ${e.id.slice(7, 19)}`,
      })),
    ],
    init.event || "",
  );
  const reason = text(init.reason || "");
  return {
    el: h("div", {}, field(t("event"), event, "event"), field(t("reason"), reason, "reason")),
    body() {
      return { type: "void", event: event.value, reason: reason.value.trim() };
    },
  };
}

const BUILDERS = { harvest, transform, ship, receive, dispose, void: voidForm };

/** Checks the console makes before anything is signed: required values, quantities as
 * the ledger writes them. Returns [{field, message}]. */
export function localProblems(body) {
  const found = [];
  const need = (value, name) => {
    if (value === "" || value === undefined || value === null) {
      found.push({ field: name, message: t("required") });
    }
  };
  const qty = (value, name) => {
    if (value && !QUANTITY.test(value)) {
      found.push({ field: name, message: t("a quantity such as 46 or 36.5") });
    }
  };
  // a holding's lot and event come from one choice, whose control names the event
  const named = (item, key) => (key === "lot" && "event" in item ? "event" : key);
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === "string" && key !== "type" && named(body, key) === key) need(value, key);
    if (key === "quantity") qty(value, key);
    if (!Array.isArray(value) || key === "claims") continue;
    if (!value.length && key !== "transactions") need("", key);
    value.forEach((item, i) => {
      for (const [k, v] of Object.entries(item)) {
        if (named(item, k) === k) need(v, `${key}[${i}].${k}`);
        if (k === "quantity") qty(v, `${key}[${i}].quantity`);
      }
    });
  }
  return found;
}
