// Decimal strings as scaled BigInts: amounts are never computed in floating point.
// (Floats are used only to draw: chart coordinates and bar widths.)

export const SCALE = 18;
const ONE = 10n ** BigInt(SCALE);

/** "1.2300" -> 1230000000000000000n (at SCALE decimals); "" or junk -> null. */
export function units(s: string): bigint | null {
  const m = /^\s*(\d*)(?:\.(\d*))?\s*$/.exec(s);
  if (!m || (m[1] === "" && (m[2] ?? "") === "")) return null;
  const frac = (m[2] ?? "").slice(0, SCALE).padEnd(SCALE, "0");
  return BigInt(m[1] || "0") * ONE + BigInt(frac || "0");
}

/** The number of decimals a step such as "0.00100000" allows (3). */
export function decimalsOf(step: string): number {
  const frac = (step.split(".")[1] ?? "").replace(/0+$/, "");
  return frac.length;
}

/** Units back to a string with exactly `decimals` decimals (truncated, not rounded). */
export function format(u: bigint, decimals: number): string {
  const neg = u < 0n;
  const abs = neg ? -u : u;
  const whole = abs / ONE;
  let frac = (abs % ONE).toString().padStart(SCALE, "0").slice(0, decimals);
  frac = decimals > 0 ? "." + frac : "";
  return (neg ? "-" : "") + whole.toString() + frac;
}

/** `s` (a decimal string) shown with `decimals` decimals; "" stays "". */
export function fixed(s: string, decimals: number): string {
  const u = units(s);
  return u === null ? s : format(u, decimals);
}

export function mul(a: bigint, b: bigint): bigint {
  return (a * b) / ONE;
}

export function div(a: bigint, b: bigint): bigint {
  return b === 0n ? 0n : (a * ONE) / b;
}

/** `u` rounded down to a multiple of `step` (units). */
export function floorTo(u: bigint, step: bigint): bigint {
  return step === 0n ? u : (u / step) * step;
}

/** A price step ten, a hundred... times the tick, for grouping the book. */
export function timesTen(step: string, power: number): string {
  const u = units(step) ?? 0n;
  return format(u * 10n ** BigInt(power), Math.max(decimalsOf(step) - power, 0));
}

/** The percentage change from `open` to `last`, as text with a sign ("+1.25%"). */
export function changePct(open: string, last: string): string {
  const o = units(open) ?? 0n;
  const l = units(last) ?? 0n;
  if (o === 0n) return "0.00%";
  const bp = ((l - o) * 10000n) / o; // basis points, truncated
  const sign = bp > 0n ? "+" : bp < 0n ? "-" : "";
  const abs = bp < 0n ? -bp : bp;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}%`;
}
