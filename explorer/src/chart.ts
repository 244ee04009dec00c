// A bar chart in hand-drawn SVG: one bar per epoch (rewards paid, EMC).
import { emc, emcShort, esc } from "./format";

export interface Bar {
  label: string;
  value: bigint;
  /** data-* key for tests. */
  key: string;
}

export function barChart(bars: Bar[], title: string): string {
  if (bars.length === 0) return `<p class="muted">No paid epochs yet.</p>`;
  const w = 640, h = 220, left = 64, bottom = 28, top = 16;
  const max = bars.reduce((m, b) => (b.value > m ? b.value : m), 1n);
  const slot = (w - left - 8) / bars.length;
  const bw = Math.max(4, Math.min(48, slot * 0.7));
  const y = (v: bigint) => top + (h - top - bottom) * (1 - Number((v * 10_000n) / max) / 10_000);
  const ticks = [0n, max / 2n, max];
  let svg = `<svg class="chart" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`;
  for (const t of ticks) {
    svg += `<line x1="${left}" x2="${w - 8}" y1="${y(t)}" y2="${y(t)}" class="grid"/>`;
    svg += `<text x="${left - 6}" y="${y(t) + 4}" class="axis" text-anchor="end">${emcShort(t)}</text>`;
  }
  bars.forEach((b, i) => {
    const x = left + slot * i + (slot - bw) / 2;
    const top_ = y(b.value);
    svg += `<rect class="bar" data-epoch="${esc(b.key)}" data-e8s="${b.value}" x="${x.toFixed(1)}" y="${top_.toFixed(1)}" width="${bw.toFixed(1)}" height="${(h - bottom - top_).toFixed(1)}"><title>${esc(b.label)}: ${emc(b.value)} EMC</title></rect>`;
    svg += `<text x="${(x + bw / 2).toFixed(1)}" y="${h - 10}" class="axis" text-anchor="middle">${esc(b.label)}</text>`;
  });
  return svg + `</svg>`;
}
