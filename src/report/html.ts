/** HTML page assembly: escaping, number formatting, tables, figures and the page shell. */

export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Fixed decimals; null/NaN shown as an em dash. */
export function fmt(x: number | null | undefined, digits = 3): string {
  return x == null || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

export function fmtSigned(x: number | null | undefined, digits = 3): string {
  return x == null || !Number.isFinite(x) ? '—' : (x < 0 ? '−' : '+') + Math.abs(x).toFixed(digits);
}

export function fmtCi(x: number | null, ci: [number | null, number | null], digits = 3): string {
  if (x == null) return '—';
  return ci[0] == null || ci[1] == null ? fmt(x, digits) : `${fmt(x, digits)} [${fmt(ci[0], digits)}, ${fmt(ci[1], digits)}]`;
}

/** "mean ± std"; with fewer than two seeds no spread was measured, so none is shown. */
export function fmtMeanStd(mean: number | null | undefined, std: number | null | undefined, digits = 3, seeds = 2): string {
  return mean == null ? '—' : seeds < 2 ? fmt(mean, digits) : `${fmt(mean, digits)} ± ${fmt(std, digits)}`;
}

/** A table from plain-text cells (every cell is escaped). Numeric-looking columns are right-aligned by CSS. */
export function table(headers: string[], rows: (string | number)[][], opts: { highlightRow?: number; caption?: string } = {}): string {
  const th = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((r, i) => `<tr${i === opts.highlightRow ? ' class="best"' : ''}>${r.map((c, j) => `<td${j > 0 ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const cap = opts.caption ? `<caption>${escapeHtml(opts.caption)}</caption>` : '';
  return `<table>${cap}<thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A rendered chart (trusted SVG from vega, which escapes its own text) with an escaped caption. */
export function figure(svg: string, caption: string): string {
  return `<figure class="chart">${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

export const paragraph = (text: string) => `<p>${escapeHtml(text)}</p>`;
export const note = (text: string) => `<p class="note">${escapeHtml(text)}</p>`;

export interface Section {
  id: string;
  title: string;
  /** Trusted HTML built from the helpers above. */
  body: string;
}

export interface PageInput {
  title: string;
  /** Label → value pairs shown under the title. */
  header: [string, string][];
  sections: Section[];
}

const CSS = `
:root { --fg:#1a202c; --muted:#4a5568; --line:#e2e8f0; --accent:#2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: #f7fafc; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 20px 32px; }
header h1 { margin: 0 0 8px; font-size: 22px; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; color: var(--muted); }
header dt { font-weight: 600; }
header dd { margin: 0; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 16px 32px 48px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px 20px; margin: 16px 0; }
section h2 { margin: 0 0 12px; font-size: 18px; }
section h3 { font-size: 15px; margin: 16px 0 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure.chart { margin: 0; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; max-width: 520px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; white-space: nowrap; }
th { background: #edf2f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafcfe; }
tr.best { background: #ebf8ff !important; font-weight: 600; }
p.note { color: var(--muted); font-style: italic; }
`;

export function page(p: PageInput): string {
  const header = p.header.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  const nav = p.sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('');
  const sections = p.sections.map((s) => `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>\n${s.body}\n</section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(p.title)}</h1><dl>${header}</dl></header>
<nav>${nav}</nav>
<main>
${sections}
</main>
</body>
</html>
`;
}
