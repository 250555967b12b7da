// The price section of a lot recomputed in the browser: a second implementation of
// graph/prices.py (which figures) and ledger/prices.py (which list applies, the stated
// rate, a price per unit of one form as a price per unit of another), written apart
// from them and held to them by the differential test (tests/api/test_verify_browser.py).
//
// Only disclosed payments count: a `payment` its payer signed with "disclose": true and
// the paid SPO confirmed with "disclose": true, for receipts in the lot's custody
// ancestry of goods that SPO shipped; the scheme's price list in force at the contract
// date; the SPO's disclosed `member.payment` events for harvests in the ancestry. Money is
// exact (rationals of BigInt), rounded half-even only where a figure is written.
//
// The readers below read the fields of the five price types as their rule modules do
// (ledger/rules/price_list.py, payment.py, payment_confirm.py, payment_dispute.py,
// member_payment.py) and throw on a value those rules refuse; verify.js's ledger state
// runs the rules themselves over the bundle.

import { Q, decimalText, roundSignificant } from "./exact.js";

export const PRICE_TYPES = new Set(["price.list", "payment", "payment.confirm", "payment.dispute", "member.payment"]);

const MONEY = /^(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?$/;
const RATE = /^(0|[1-9][0-9]{0,14})(\.[0-9]{1,12})?$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const CLASS = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SCHEME_CODE = /^[A-Z][A-Z0-9-]{0,31}$/;
const EVENT_ID = /^sha256:[0-9a-f]{64}$/;
// ISO 4217 active alphabetic codes, as ledger/prices.py lists them (a test holds the two equal).
export const CURRENCIES = new Set(`
  AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
  BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
  FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
  KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
  MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
  RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
  TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
  ZWG
`.trim().split(/\s+/));
const BASES = new Set(["FOB", "FCA", "EXW", "CIF", "CFR", "DAP", "DDP", "farmgate"]);
const PARTS = new Set(["price", "second-payment", "premium"]);

class FieldError extends Error {
  constructor(message, field) {
    super(`${message} (field ${field})`);
  }
}

function bad(message, field) {
  throw new FieldError(message, field);
}

function has(b, name) {
  return Object.prototype.hasOwnProperty.call(b, name);
}

function money(b, name, { positive = false, optional = false, where = "" } = {}) {
  if (optional && !has(b, name)) return new Q(0n);
  const value = b[name];
  if (typeof value !== "string" || !MONEY.test(value)) bad(`must be a decimal string such as "2.52", got ${JSON.stringify(value)}`, where + name);
  const q = Q.parse(value);
  if (positive && q.isZero()) bad("must be greater than zero", where + name);
  return q;
}

function currency(b, name, where = "") {
  const value = b[name];
  if (typeof value !== "string" || !CURRENCIES.has(value)) bad(`must be an ISO 4217 currency code such as USD, EUR or PEN, got ${JSON.stringify(value)}`, where + name);
  return value;
}

function day(b, name) {
  const value = b[name];
  if (typeof value !== "string" || !DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))
    || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    bad(`must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`, name);
  }
  return value;
}

function unit(b, name, tables, where = "") {
  const value = b[name];
  if (typeof value !== "string" || !tables.units[value]) bad(`unknown unit ${JSON.stringify(value)}`, where + name);
  return value;
}

function quality(b, where = "") {
  if (!has(b, "class")) return null;
  if (typeof b.class !== "string" || !CLASS.test(b.class)) bad(`must be a class such as washed-arabica, got ${JSON.stringify(b.class)}`, `${where}class`);
  return b.class;
}

function scheme(b, optional) {
  if (optional && !has(b, "scheme")) return null;
  if (typeof b.scheme !== "string" || !SCHEME_CODE.test(b.scheme)) bad("a scheme is an upper-case code such as SPP", "scheme");
  return b.scheme;
}

function disclose(b) {
  const value = has(b, "disclose") ? b.disclose : false;
  if (typeof value !== "boolean") bad("must be true or false", "disclose");
  return value;
}

function rate(b, own) {
  if (!has(b, "rate")) return null;
  const r = b.rate;
  if (!r || typeof r !== "object" || Array.isArray(r)) bad("must be an object", "rate");
  for (const key of Object.keys(r)) if (key !== "currency" && key !== "value") bad("unknown member", `rate.${key}`);
  if (typeof r.value !== "string" || !RATE.test(r.value) || Q.parse(r.value).isZero()) bad("must be a positive decimal string", "rate.value");
  const to = currency(r, "currency", "rate.");
  if (to === own) bad(`a rate from ${own} to itself`, "rate.currency");
  return { currency: to, value: Q.parse(r.value) };
}

function eventIds(b, name, max) {
  const value = b[name];
  if (!Array.isArray(value) || !value.length || value.length > max) bad(`must be a list of 1 to ${max} event ids`, name);
  value.forEach((id, n) => { if (typeof id !== "string" || !EVENT_ID.test(id)) bad("must be an event id 'sha256:<64 hex>'", `${name}[${n}]`); });
  if (new Set(value).size !== value.length) bad("names an event twice", name);
  return value;
}

function eventRef(b, name) {
  if (typeof b[name] !== "string" || !EVENT_ID.test(b[name])) bad("must be an event id 'sha256:<64 hex>'", name);
  return b[name];
}

export function termKey(scheme_, product, form, quality_) {
  return `${scheme_}|${product}|${form}|${quality_ ?? ""}`;
}

/** A `price.list` body as its terms (one per item), each knowing the event and signer. */
export function readPriceList(b, id, party, tables) {
  if (typeof b.list !== "string" || !b.list) bad("must be a price list id", "list");
  const scheme_ = scheme(b, false);
  const currency_ = currency(b, "currency");
  if (!BASES.has(b.basis)) bad(`must be one of ${[...BASES].sort().join(", ")}`, "basis");
  const validFrom = day(b, "valid_from");
  const validUntil = day(b, "valid_until");
  if (validUntil < validFrom) bad(`valid_until ${validUntil} is before valid_from ${validFrom}`, "valid_until");
  if (!Array.isArray(b.items) || !b.items.length || b.items.length > 100) bad("must be a list of 1 to 100 items", "items");
  const seen = new Set();
  return b.items.map((item, n) => {
    const where = `items[${n}].`;
    if (!item || typeof item !== "object" || Array.isArray(item)) bad("must be an object", `items[${n}]`);
    const product = tables.products[item.product];
    if (!product) bad(`unknown product ${JSON.stringify(item.product)}`, `${where}product`);
    if (!product.forms.includes(item.form)) bad(`${item.product} has no form ${JSON.stringify(item.form)}`, `${where}form`);
    const q = quality(item, where);
    const key = termKey(scheme_, item.product, item.form, q);
    if (seen.has(key)) bad("listed twice", `${where}class`);
    seen.add(key);
    return {
      list: b.list, event: id, party, scheme: scheme_, product: item.product, form: item.form, quality: q, key,
      minimum: money(item, "minimum", { positive: true, where }),
      premium: money(item, "premium", { optional: true, where }),
      organic: money(item, "organic", { optional: true, where }),
      unit: unit(item, "unit", tables, where), currency: currency_, basis: b.basis, validFrom, validUntil,
    };
  });
}

/** A `payment` body, read as ledger/rules/payment.py reads it. */
export function readPayment(b, party, tables) {
  if (typeof b.to !== "string" || !b.to) bad("must be a party id", "to");
  if (b.to === party) bad("a party does not pay itself", "to");
  const currency_ = currency(b, "currency");
  if (!BASES.has(b.basis)) bad(`must be one of ${[...BASES].sort().join(", ")}`, "basis");
  return {
    to: b.to, receipts: eventIds(b, "receipts", 100), contractDate: day(b, "contract_date"),
    scheme: scheme(b, true), quality: quality(b), price: money(b, "price", { positive: true }),
    premium: money(b, "premium", { optional: true }), unit: unit(b, "unit", tables), currency: currency_,
    basis: b.basis, amount: money(b, "amount", { positive: true }), rate: rate(b, currency_),
    date: day(b, "date"), disclose: disclose(b),
  };
}

/** A `payment.confirm` or `payment.dispute` body: the payment it answers. */
export function readAnswer(type, b) {
  const payment = eventRef(b, "payment");
  if (type === "payment.dispute") {
    if (typeof b.reason !== "string" || !b.reason.trim()) bad("must be a text", "reason");
    return { payment, disclose: false };
  }
  return { payment, disclose: disclose(b) };
}

/** A `member.payment` body, read as ledger/rules/member_payment.py reads it. */
export function readMemberPayment(b, party, tables) {
  if (typeof b.member !== "string" || !b.member.startsWith(`${party}:`) || b.member.length === party.length + 1) {
    bad(`must start with the SPO's id and a colon (${party}:…)`, "member");
  }
  if (!PARTS.has(b.part)) bad(`must be one of ${[...PARTS].sort().join(", ")}`, "part");
  const currency_ = currency(b, "currency");
  return {
    member: b.member, harvests: eventIds(b, "harvests", 1000), part: b.part,
    price: money(b, "price", { positive: true }), unit: unit(b, "unit", tables), currency: currency_,
    amount: money(b, "amount", { positive: true }), rate: rate(b, currency_), date: day(b, "date"),
    disclose: disclose(b),
  };
}

/** The term in force on `day_` for `scheme_` `product` `form` of class `quality_`: the
 * class's own term, else the scheme's term without a class (ledger.prices.applicable). */
export function applicable(terms, { scheme: scheme_, product, form, quality: quality_, day: day_ }) {
  const wanted = [termKey(scheme_, product, form, quality_)];
  if (quality_ !== null && quality_ !== undefined) wanted.push(termKey(scheme_, product, form, null));
  const inForce = terms.filter((t) => t.validFrom <= day_ && day_ <= t.validUntil);
  for (const key of wanted) {
    const found = inForce.filter((t) => t.key === key).sort((a, b) => (a.event < b.event ? -1 : a.event > b.event ? 1 : 0));
    if (found.length) return found[0];
  }
  return null;
}

const CENT = new Q(1n, 100n);
const AMOUNT_TOLERANCE = new Q(1n, 200n);

/** Refuses `amount` unless it is what `price` per `unit` comes to for `kg` kilograms, to
 * 0.5 % and never less than a cent (ledger.prices.check_amount): the per-unit figures are
 * the money that changed hands, and a premium stated on its own is not inside the price. */
export function checkAmount(amount, price, kg, unit_, tables, what = "price") {
  const due = price.mul(kg).div(Q.parse(tables.units[unit_].kg));
  const off = amount.cmp(due) >= 0 ? amount.sub(due) : due.sub(amount);
  const tolerance = due.mul(AMOUNT_TOLERANCE);
  if (off.cmp(tolerance.cmp(CENT) > 0 ? tolerance : CENT) > 0) {
    bad(`${decimalText(amount, 2)} is not what ${what} per ${unit_} comes to for the ${decimalText(kg, 3)} kg paid for (${decimalText(due, 2)}, to 0.5 %)`, "amount");
  }
}

class NoRate extends Error {}

/** Reference-form kg per kg of `form` (ledger.tables.Product.conversion_factor): the
 * maximum yield to the reference form, or 1 over the yield from it (28 digits). */
function conversionFactor(tables, product, form) {
  const p = tables.product(product);
  if (!p.forms.includes(form)) throw new Error(`${product} has no form ${JSON.stringify(form)}`);
  if (form === p.reference_form) return new Q(1n);
  const up = tables.maxYield(product, form, p.reference_form);
  if (up) return roundSignificant(up, 28);
  const down = tables.maxYield(product, p.reference_form, form);
  if (!down) throw new Error(`${product}: no path between ${form} and ${p.reference_form}`);
  return roundSignificant(new Q(1n).div(down), 28);
}

/** A per-unit figure of a payment or member payment (`value` per `body.unit` of `form`,
 * in `body.currency`) in the term's currency, per the term's unit of the term's form. */
function convert(value, body, form, term, tables) {
  let v = value;
  if (body.currency !== term.currency) {
    if (!body.rate || body.rate.currency !== term.currency) throw new NoRate(`no rate from ${body.currency} to ${term.currency}`);
    v = v.mul(body.rate.value);
  }
  let perKg = v.div(Q.parse(tables.units[body.unit].kg));
  if (form !== term.form) {
    perKg = perKg.div(conversionFactor(tables, term.product, form)).mul(conversionFactor(tables, term.product, term.form));
  }
  return perKg.mul(Q.parse(tables.units[term.unit].kg));
}

/**
 * The disclosed price figures of a lot, from `records` (in ledger order). `ancestry`: the
 * ids of the lot's creating event and every event it builds on; `createdBy(lot)`: {line}
 * of the harvest or transform output that created a lot, or null. Returns {figures: [one
 * object per SPO, shaped as graph/prices.py's PriceFigures.to_dict], events: Set of ids}.
 */
export function priceSection(records, tables, ancestry, createdBy) {
  const read = new Map();
  const typed = (r) => {
    if (!read.has(r.id)) {
      let body = null;
      try {
        body = readBody(r, tables);
      } catch (e) {
        body = null; // a body the rules refuse states nothing (they report it)
      }
      read.set(r.id, body);
    }
    return read.get(r.id);
  };
  const byId = new Map(records.map((r) => [r.id, r]));
  const roles = new Map();
  for (const r of records) if (r.type === "party.register" && r.body.subject) roles.set(r.body.subject, r.body.roles || []);
  const voided = new Set(records.filter((r) => r.type === "void" && typeof r.body.event === "string").map((r) => r.body.event));
  const terms = [];
  for (const r of records) if (r.type === "price.list" && !voided.has(r.id) && typed(r)) terms.push(...typed(r));
  const confirmations = new Map();
  for (const r of records) if (r.type === "payment.confirm" && typed(r) && typed(r).disclose) confirmations.set(typed(r).payment, r);

  const receipts = new Map(); // receipt id → {spo, kg, claims}
  for (const id of ancestry) {
    const r = byId.get(id);
    if (voided.has(id) || !r || r.type !== "receive") continue;
    const shipment = byId.get(r.body.shipment);
    if (!shipment || shipment.type !== "ship" || !(roles.get(shipment.party) || []).includes("spo")) continue;
    try {
      const kg = (r.body.lots || []).reduce((a, line) => a.add(tables.kg(line, "quantity")), new Q(0n));
      receipts.set(id, { spo: shipment.party, kg, claims: shipment.body.claims || [] });
    } catch (e) {
      continue;
    }
  }

  const goods = (ids) => {
    const found = new Set();
    for (const id of ids) {
      for (const line of byId.get(id).body.lots || []) {
        const made = createdBy(line.lot);
        if (!made) return null;
        found.add(JSON.stringify([made.line.product, made.line.form]));
      }
    }
    return found.size === 1 ? JSON.parse([...found][0]) : null;
  };

  const spos = new Map(); // spo → [paid]
  for (const r of records) {
    if (r.type !== "payment") continue;
    const body = typed(r);
    const confirmation = confirmations.get(r.id);
    if (!body || !body.disclose || !confirmation || confirmation.party !== body.to) continue;
    const mine = body.receipts.filter((id) => receipts.has(id));
    const covered = mine.map((id) => receipts.get(id));
    if (!covered.length || covered.some((c) => c.spo !== body.to)) continue;
    const made = goods(mine);
    if (!made) continue;
    const [product, form] = made;
    const term = applicable(terms, { scheme: body.scheme ?? "", product, form, quality: body.quality, day: body.contractDate });
    if (!term) continue;
    let price;
    let premium;
    try {
      price = convert(body.price, body, form, term, tables);
      premium = convert(body.premium, body, form, term, tables);
    } catch (e) {
      if (e instanceof NoRate) continue;
      throw e;
    }
    const organic = covered.some((c) => c.claims.includes("ORG"));
    const kg = covered.reduce((a, c) => a.add(c.kg), new Q(0n));
    if (!spos.has(body.to)) spos.set(body.to, []);
    spos.get(body.to).push({ payment: r, confirmation, term, kg, price, premium, minimum: organic ? term.minimum.add(term.organic) : term.minimum });
  }

  const figures = [...spos.keys()].sort().map((spo) => figuresOf(spo, spos.get(spo)));
  const events = new Set(figures.flatMap((f) => Object.values(f.events).flat()));
  return { figures, events };

  function figuresOf(spo, paid) {
    paid.sort((a, b) => a.payment.index - b.payment.index);
    const ref = paid[0].term;
    const comparable = paid.filter((p) => p.term.currency === ref.currency && p.term.unit === ref.unit
      && p.term.form === ref.form && p.term.basis === ref.basis);
    const total = comparable.reduce((a, p) => a.add(p.kg), new Q(0n));
    const mean = (value) => comparable.reduce((a, p) => a.add(value(p).mul(p.kg)), new Q(0n)).div(total);
    const price = mean((p) => p.price);
    const minimum = mean((p) => p.minimum);
    const farm = farmgate(spo, ref);
    return {
      spo,
      buyers: [...new Set(comparable.map((p) => p.payment.party))].sort(),
      scheme: ref.scheme, standard: ref.party, basis: ref.basis, currency: ref.currency, unit: ref.unit, form: ref.form,
      kg: decimalText(total, 3),
      price: decimalText(price, 2),
      minimum: decimalText(minimum, 2),
      above_minimum: decimalText(price.sub(minimum), 2),
      premium_paid: decimalText(mean((p) => p.premium), 2),
      premium_due: decimalText(mean((p) => p.term.premium), 2),
      farmgate: farm.average === null ? null : decimalText(farm.average, 2),
      farmgate_percent: farm.average === null ? null : decimalText(farm.average.div(price).mul(new Q(100n)), 1),
      farmgate_kg: decimalText(farm.kg, 3),
      events: {
        payments: comparable.map((p) => p.payment.id),
        confirmations: comparable.map((p) => p.confirmation.id),
        price_lists: [...new Set(comparable.map((p) => p.term.event))].sort(),
        member_payments: farm.used,
      },
    };
  }

  /** What the SPO paid its members per unit for the coffee of its harvests in the ancestry
   * (price and second payments, not premium: the FOB price it is compared with excludes
   * premium), averaged over their kilograms, in `term`'s currency, unit and form. */
  function farmgate(spo, term) {
    const harvests = new Map();
    for (const id of ancestry) {
      const r = byId.get(id);
      if (!r || r.type !== "harvest" || r.party !== spo) continue;
      try {
        harvests.set(id, { form: r.body.form, kg: tables.kg(r.body, "quantity") });
      } catch (e) {
        continue;
      }
    }
    const paid = new Map();
    const used = [];
    for (const r of records) {
      const body = r.type === "member.payment" && r.party === spo ? typed(r) : null;
      if (!body || !body.disclose || body.part === "premium") continue;
      const mine = body.harvests.filter((h) => harvests.has(h));
      if (!mine.length) continue;
      const byForm = new Map();
      try {
        for (const h of mine) {
          const form = harvests.get(h).form;
          if (!byForm.has(form)) byForm.set(form, convert(body.price, body, form, term, tables));
        }
      } catch (e) {
        continue;
      }
      for (const h of mine) paid.set(h, (paid.get(h) || new Q(0n)).add(byForm.get(harvests.get(h).form)));
      used.push(r.id);
    }
    if (!paid.size) return { average: null, kg: new Q(0n), used: [] };
    let total = new Q(0n);
    let sum = new Q(0n);
    for (const [h, value] of paid) {
      const kg = harvests.get(h).kg;
      total = total.add(kg);
      sum = sum.add(value.mul(kg));
    }
    return { average: sum.div(total), kg: total, used };
  }
}

/** The typed body of one of the price types (throws on a value its rule refuses). */
export function readBody(r, tables) {
  switch (r.type) {
    case "price.list": return readPriceList(r.body, r.id, r.party, tables);
    case "payment": return readPayment(r.body, r.party, tables);
    case "payment.confirm":
    case "payment.dispute": return readAnswer(r.type, r.body);
    case "member.payment": return readMemberPayment(r.body, r.party, tables);
    default: throw new Error(`${r.type} is not a price type`);
  }
}

/** Where the claimed price figures differ from the recomputed ones, each as "path: claimed
 * …, recomputed …" (graph/verify.py `_differences` over `verdict.prices`). */
export function priceDifferences(claimed, figures) {
  const out = [];
  const walk = (a, b, path) => {
    if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[key], b[key], `${path}.${key}`);
    } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`));
    } else if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null)) {
      out.push(`${path}: claimed ${JSON.stringify(a ?? null).slice(0, 80)}, recomputed ${JSON.stringify(b ?? null).slice(0, 80)}`);
    }
  };
  walk(claimed, figures.length ? figures : undefined, "verdict.prices");
  return out;
}
