import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../src/cli/commands/report.js';
import { writeReport } from '../src/report/index.js';
import { CdmmError } from '../src/util/errors.js';
import { writeBenchmarkFolder, writeRunFolder } from './fixtures/report/simulate.js';

const CHROMIUM = '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'cdmm-report-'));
const runDir = join(root, 'run');
const benchDir = join(root, 'bench');
const runHtml = join(root, 'run.html');
const benchHtml = join(root, 'bench.html');
// Hostile names: everything user-controlled must reach the page escaped.
const DATASET = 'icu <img src=x onerror=alert(1)> & co';

/** The inline <svg>…</svg> elements of a page. */
const svgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];

beforeAll(() => {
  writeRunFolder(runDir, { backbone: 'early', debias: 'full', seed: 0, dataset: DATASET, modalities: ['static', 'labs<b>', 'notes', 'image'] });
  writeBenchmarkFolder(benchDir, { backbones: ['early', 'late'], debias: ['none', 'full'], seeds: [0, 1] });
});

describe('cdmm report on a run folder', () => {
  let html = '';
  let charts = 0;
  beforeAll(async () => {
    ({ charts } = await writeReport(runDir, runHtml));
    html = readFileSync(runHtml, 'utf8');
  });

  it('inlines every chart as an SVG with marks', () => {
    const s = svgs(html);
    // ROC, PR, calibration, AUROC per split, pattern map, pattern effects, history
    expect(charts).toBe(7);
    expect(s).toHaveLength(charts);
    for (const svg of s) {
      expect(svg).toMatch(/class="mark-(line|rect|symbol|rule)/);
      expect(svg).toMatch(/<path[^>]* d="M[^"]+"/);
    }
  });

  it('shows header, metrics from metrics.json, patterns and history, and is self-contained', () => {
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
    expect(html).toContain(`${metrics.splits.test.auroc.toFixed(3)} [${metrics.splits.test.auroc_ci[0].toFixed(3)}, ${metrics.splits.test.auroc_ci[1].toFixed(3)}]`);
    expect(html).toContain('backbone early, debias full, seed 0');
    expect(html).toContain('cdmm 0.1.0');
    for (const id of ['run-metrics', 'run-curves', 'run-shift', 'run-patterns', 'run-history']) expect(html).toContain(`id="${id}"`);
    const insights = JSON.parse(readFileSync(join(runDir, 'insights.json'), 'utf8'));
    for (const p of insights.patterns) expect(html).toContain(`<td>${p.mask}</td>`);
    // no scripts, no external resources (the escaped dataset name may contain "src=" as text)
    expect(/<script|<link|<img|<iframe|\ssrc="|href="http/i.exec(html)?.[0] ?? null).toBeNull();
  });

  it('escapes user-controlled text', () => {
    expect(html.includes('<img src=x')).toBe(false);
    expect(html).toContain('icu &lt;img src=x onerror=alert(1)&gt; &amp; co');
    expect(html.includes('labs<b>')).toBe(false);
    expect(html).toContain('labs&lt;b&gt;');
  });

  it('prefixes SVG ids so charts on one page do not share clip paths', () => {
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('cdmm report on a benchmark folder', () => {
  let html = '';
  let charts = 0;
  beforeAll(async () => {
    ({ charts } = await writeReport(benchDir, benchHtml));
    html = readFileSync(benchHtml, 'utf8');
  });

  it('has the benchmark table with mean ± std and deltas from benchmark.json', () => {
    const b = JSON.parse(readFileSync(join(benchDir, 'benchmark.json'), 'utf8'));
    for (const r of b.results) {
      expect(html).toContain(`${r.test.auroc_mean.toFixed(3)} ± ${r.test.auroc_std.toFixed(3)}`);
      expect(html).toContain(`${r.shift.auroc_mean.toFixed(3)} ± ${r.shift.auroc_std.toFixed(3)}`);
      if (r.delta_vs_plain) expect(html).toContain(`${Math.abs(r.delta_vs_plain.shift.auroc_mean).toFixed(3)} ± ${r.delta_vs_plain.shift.auroc_std.toFixed(3)}`);
    }
    // ECE per split, and the references cdmm benchmark prints under its table (oracle, ceiling, shift split)
    for (const r of b.results) expect(html).toContain(`${r.shift.ece_mean.toFixed(3)} ± ${r.shift.ece_std.toFixed(3)}`);
    expect(html).toContain('<th>test ECE</th>');
    expect(html).toContain(`oracle (AUROC of the true risk): test ${b.bounds.oracle.test.toFixed(3)}, shift ${b.bounds.oracle.shift.toFixed(3)}`);
    expect(html).toContain(`in-distribution ceiling (shift): ${b.bounds.ceiling_shift.toFixed(3)}`);
    expect(html).toContain(`shift split: ${b.bounds.shift_n} patients, ${b.bounds.shift_positives} positive`);
    // the highlighted row is the configuration with the best mean pattern-balanced validation AUROC (never test/shift)
    const best = b.results.reduce((a: any, r: any) => (r.val.auroc_pb_mean > a.val.auroc_pb_mean ? r : a));
    expect(html).toMatch(new RegExp(`<tr class="best"><td>${best.backbone}</td><td class="num">${best.debias}</td>`));
    expect(html).toContain(`Best configuration: ${best.backbone} + ${best.debias}`);
  });

  it('inlines every chart as an SVG with marks', () => {
    // AUROC per backbone × debias, shift scatter, per-config ROC, + the 7 charts of the best run
    expect(charts).toBe(10);
    expect(svgs(html)).toHaveLength(10);
    for (const svg of svgs(html)) expect(svg).toMatch(/<path[^>]* d="M[^"]+"/);
    // one point per run in the shift scatter (8 runs)
    const scatter = svgs(html).find((s) => s.includes('AUROC under shift, per run'))!;
    expect(scatter.match(/role-mark[^"]*"[^>]*>/g)).toBeTruthy();
    expect((scatter.match(/aria-roledescription="point"/g) ?? []).length).toBe(8);
  });

  it('the CLI command writes the file and prints JSON', async () => {
    const out = join(root, 'cli', 'bench.html');
    const program = new Command().exitOverride();
    register(program);
    const printed: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
    try {
      await program.parseAsync(['report', benchDir, '--out', out, '--json'], { from: 'user' });
    } finally {
      write.mockRestore();
    }
    expect(printed).toHaveLength(1);
    expect(JSON.parse(printed[0])).toEqual({ out, charts: 10 });
    expect(svgs(readFileSync(out, 'utf8'))).toHaveLength(10);
  });
});

describe('cdmm report errors', () => {
  it('rejects a folder that is neither a run nor a benchmark', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(writeReport(empty, join(root, 'x.html'))).rejects.toThrow(CdmmError);
    await expect(writeReport(empty, join(root, 'x.html'))).rejects.toThrow(/neither a run folder .* nor a benchmark folder/);
    await expect(writeReport(join(root, 'missing'), join(root, 'x.html'))).rejects.toThrow(/is not a folder/);
    expect(existsSync(join(root, 'x.html'))).toBe(false);
  });

  it('names the damaged file and field', async () => {
    const bad = join(root, 'bad');
    writeRunFolder(bad, { backbone: 'early', debias: 'none', seed: 1, nTrain: 200, nEval: 100, epochs: 2, bootstrap: 10 });
    const metrics = readFileSync(join(bad, 'metrics.json'), 'utf8');
    writeFileSync(join(bad, 'metrics.json'), metrics.slice(0, metrics.length / 2));
    await expect(writeReport(bad, join(root, 'bad.html'))).rejects.toThrow(new RegExp(`cannot read .*bad/metrics\\.json`));
    const m = JSON.parse(metrics);
    m.splits.test.auroc = 'high';
    writeFileSync(join(bad, 'metrics.json'), JSON.stringify(m));
    await expect(writeReport(bad, join(root, 'bad.html'))).rejects.toThrow(/metrics\.json is damaged: at splits\.test\.auroc/);
    writeFileSync(join(bad, 'metrics.json'), metrics);
    const preds = JSON.parse(readFileSync(join(bad, 'predictions.json'), 'utf8'));
    preds.test.p[3] = 1.5;
    writeFileSync(join(bad, 'predictions.json'), JSON.stringify(preds));
    await expect(writeReport(bad, join(root, 'bad.html'))).rejects.toThrow(/predictions\.json is damaged: at test\.p\.3/);
    expect(existsSync(join(root, 'bad.html'))).toBe(false);
  });

  it('an edited folder with thousands of patterns or modalities is charted within bounds or refused (vega overflowed its stack)', async () => {
    const many = join(root, 'many');
    writeRunFolder(many, { backbone: 'early', debias: 'none', seed: 2, nTrain: 200, nEval: 2000, epochs: 2, bootstrap: 10 });
    const { rmSync } = await import('node:fs');
    rmSync(join(many, 'insights.json'), { force: true });
    const preds = JSON.parse(readFileSync(join(many, 'predictions.json'), 'utf8'));
    preds.test.mask = preds.test.y.map((_: number, i: number) => i.toString(2).padStart(11, '0'));
    writeFileSync(join(many, 'predictions.json'), JSON.stringify(preds));
    await writeReport(many, join(root, 'many.html'));
    expect(readFileSync(join(root, 'many.html'), 'utf8')).toContain(`the 64 most frequent of ${preds.test.y.length} patterns`);
    const manifest = JSON.parse(readFileSync(join(many, 'manifest.json'), 'utf8'));
    manifest.modalities = Array.from({ length: 65 }, (_, k) => ({ name: `m${k}` }));
    writeFileSync(join(many, 'manifest.json'), JSON.stringify(manifest));
    await expect(writeReport(many, join(root, 'many2.html'))).rejects.toThrow(/manifest\.json is damaged: at modalities: Array must contain at most 64/);
  });

  it('a benchmark listing a missing run folder is an error naming it', async () => {
    const b = join(root, 'bench2');
    mkdirSync(b);
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ dataset: 'd', results: [], runs: ['runs/gone'] }));
    await expect(writeReport(b, join(root, 'b2.html'))).rejects.toThrow(/lists run folder runs\/gone/);
  });
});

describe.skipIf(!existsSync(CHROMIUM))('report in headless Chromium', () => {
  if (!existsSync(CHROMIUM)) console.warn(`skipping browser checks: ${CHROMIUM} not found`);
  const shots = mkdtempSync(join(tmpdir(), 'cdmm-report-shot-'));
  let browser: import('playwright-core').Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 30_000);
  afterAll(async () => browser?.close());

  for (const [name, file, shot] of [
    ['run', runHtml, 'report-run.png'],
    ['benchmark', benchHtml, 'report.png'],
  ] as const) {
    it(`renders every chart of the ${name} report, with no console error and no network request`, async () => {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(file).href;
      await page.goto(url, { waitUntil: 'load' });
      const charts = await page.$$eval('figure.chart > svg', (els) =>
        els.map((svg) => {
          const box = svg.getBoundingClientRect();
          return { w: box.width, h: box.height, marks: svg.querySelectorAll('g[class*="mark-"] path, g[class*="mark-"] rect').length };
        }),
      );
      expect(charts.length).toBe(svgs(readFileSync(file, 'utf8')).length);
      for (const c of charts) {
        expect(c.w).toBeGreaterThan(50);
        expect(c.h).toBeGreaterThan(50);
        expect(c.marks).toBeGreaterThan(0);
      }
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const png = join(shots, shot);
      await page.screenshot({ path: png, fullPage: true });
      mkdirSync('test-output', { recursive: true });
      copyFileSync(png, join('test-output', shot));
      expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
      await page.close();
    }, 30_000);
  }
});
