// Formatting and small DOM helpers.

export const E8S = 100_000_000n;

/** e8s as EMC with 4 decimals, thousands separated. */
export function emc(e8s: bigint): string {
  const neg = e8s < 0n;
  const v = neg ? -e8s : e8s;
  const whole = v / E8S;
  const frac = ((v % E8S) / 10_000n).toString().padStart(4, "0");
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}.${frac}`;
}

/** e8s as EMC for a headline figure: 2 decimals, compact above a million. */
export function emcShort(e8s: bigint): string {
  const v = Number(e8s) / 1e8;
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toLocaleString("en-US", { maximumFractionDigits: 3 })}M`;
  return v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function hex(bytes: Uint8Array | number[]): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function unhex(s: string): Uint8Array | null {
  if (!/^([0-9a-f]{2})+$/i.test(s)) return null;
  return Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

export function short(h: string): string {
  return h.length > 14 ? `${h.slice(0, 8)}…${h.slice(-4)}` : h;
}

/** A fixed-point value with 4 decimals (PoC E, multipliers). */
export function fixed4(v: bigint): string {
  return (Number(v) / 1e4).toFixed(4);
}

export function pct(num: bigint, den: bigint): string {
  if (den === 0n) return "–";
  return `${(Number((num * 100_000n) / den) / 1000).toFixed(1)}%`;
}

/** ns since the epoch as a UTC date-time. */
export function when(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** How long ago `ns` was (or how far ahead). */
export function age(ns: bigint): string {
  const s = Math.round((Date.now() - Number(ns / 1_000_000n)) / 1000);
  const abs = Math.abs(s);
  const text =
    abs < 90 ? `${abs}s` : abs < 5400 ? `${Math.round(abs / 60)}m` : abs < 172800 ? `${(abs / 3600).toFixed(1)}h` : `${(abs / 86400).toFixed(1)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function variant(v: object): string {
  return Object.keys(v)[0] ?? "?";
}

export function opt<T>(v: [] | [T]): T | undefined {
  return v.length ? v[0] : undefined;
}
