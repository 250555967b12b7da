// Exact quantities and money: rationals of BigInt, shared by verify.js and prices.js.

function gcd(a, b) {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b) [a, b] = [b, a % b];
  return a;
}

export class Q {
  constructor(n, d = 1n) {
    if (d === 0n) throw new Error("division by zero");
    if (d < 0n) [n, d] = [-n, -d];
    const g = gcd(n, d) || 1n;
    this.n = n / g;
    this.d = d / g;
  }
  static parse(text) {
    if (typeof text !== "string" || !/^[0-9]+(\.[0-9]+)?$/.test(text)) {
      throw new Error(`quantity ${JSON.stringify(text)} is not decimal text`);
    }
    const [whole, frac = ""] = text.split(".");
    return new Q(BigInt(whole + frac), 10n ** BigInt(frac.length));
  }
  static fraction(text) {
    const m = /^(-?[0-9]+)\/([0-9]+)$/.exec(String(text));
    if (!m) throw new Error(`${JSON.stringify(text)} is not a fraction`);
    return new Q(BigInt(m[1]), BigInt(m[2]));
  }
  add(o) { return new Q(this.n * o.d + o.n * this.d, this.d * o.d); }
  sub(o) { return new Q(this.n * o.d - o.n * this.d, this.d * o.d); }
  mul(o) { return new Q(this.n * o.n, this.d * o.d); }
  div(o) { return new Q(this.n * o.d, this.d * o.n); }
  cmp(o) { const x = this.n * o.d - o.n * this.d; return x < 0n ? -1 : x > 0n ? 1 : 0; }
  isZero() { return this.n === 0n; }
  text() { return `${this.n}/${this.d}`; }
  /** Rounded down to `places` decimals, as text ("187.5" → "187.500" with 3). */
  floor(places) {
    const scale = 10n ** BigInt(places);
    let units = (this.n * scale) / this.d;
    if (this.n < 0n && (this.n * scale) % this.d !== 0n) units -= 1n;
    const s = (units < 0n ? -units : units).toString().padStart(places + 1, "0");
    const out = places ? `${s.slice(0, -places)}.${s.slice(-places)}` : s;
    return (units < 0n ? "-" : "") + out;
  }
  kgText() {
    const t = this.floor(6).replace(/\.?0+$/, "");
    return `${t} kg`;
  }
}

/** The integer nearest `q`, a tie to the even one (Python's round of a Fraction). */
export function roundHalfEven(q) {
  let whole = q.n / q.d; // BigInt division truncates toward zero
  if (q.n < 0n && whole * q.d !== q.n) whole -= 1n; // floor
  const rest = q.sub(new Q(whole)); // 0 <= rest < 1
  const half = rest.cmp(new Q(1n, 2n));
  if (half > 0 || (half === 0 && whole % 2n !== 0n)) whole += 1n;
  return whole;
}

/** `q` rounded half-even to `places` decimals, written as Python writes that Decimal
 * ("3.10", "-0.58", "37.5", "100.000"). */
export function decimalText(q, places) {
  const units = roundHalfEven(q.mul(new Q(10n ** BigInt(places))));
  const digits = (units < 0n ? -units : units).toString().padStart(places + 1, "0");
  const text = places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
  return (units < 0n ? "-" : "") + text;
}

/** `q` (> 0) rounded half-even to `digits` significant digits, as a Decimal context of
 * that precision rounds a quotient. */
export function roundSignificant(q, digits) {
  if (q.n <= 0n) return q;
  let e = 0; // 10^(e-1) <= q < 10^e
  const pow = (k) => (k >= 0 ? new Q(10n ** BigInt(k)) : new Q(1n, 10n ** BigInt(-k)));
  while (pow(e).cmp(q) <= 0) e++;
  while (pow(e - 1).cmp(q) > 0) e--;
  const scale = pow(digits - e);
  return new Q(roundHalfEven(q.mul(scale))).div(scale);
}
