import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { simulate } from '../src/data/simulate.js';
import { aggregate, formatBenchmark, type RunScore } from '../src/train/benchmark.js';

const score = (backbone: 'early' | 'late', debias: 'none' | 'full', seed: number, t: number, s: number): RunScore => ({
  backbone, debias, seed, dir: `runs/${backbone}-${debias}-s${seed}`,
  test: { auroc: t, auprc: t / 2, ece: t / 10 }, shift: { auroc: s, auprc: s / 2, ece: s / 10 },
});

describe('benchmark aggregation', () => {
  it('gives mean ± sample std per setting and paired differences against plain of the same seed', () => {
    const scores = [
      score('early', 'none', 0, 0.80, 0.60), score('early', 'none', 1, 0.84, 0.64), score('early', 'none', 2, 0.82, 0.62),
      score('early', 'full', 0, 0.79, 0.70), score('early', 'full', 2, 0.81, 0.66), score('early', 'full', 1, 0.83, 0.71),
    ];
    const rows = aggregate(scores, ['early'], ['none', 'full']);
    expect(rows.map((r) => r.debias)).toEqual(['none', 'full']);
    const [plain, full] = rows;
    expect(plain.seeds).toBe(3);
    expect(plain.test.auroc_mean).toBeCloseTo(0.82, 12);
    expect(plain.test.auroc_std).toBeCloseTo(0.02, 12);
    expect(plain.test.auprc_mean).toBeCloseTo(0.41, 12);
    expect(plain.test.ece_mean).toBeCloseTo(0.082, 12); // ece = auroc / 10 in score()
    expect(plain.test.ece_std).toBeCloseTo(0.002, 12);
    expect(plain.delta_vs_plain).toBeUndefined();
    // Paired by seed: shift deltas are 0.10, 0.07, 0.04 → mean 0.07, std 0.03.
    expect(full.delta_vs_plain!.shift!.auroc_mean).toBeCloseTo(0.07, 12);
    expect(full.delta_vs_plain!.shift!.auroc_std).toBeCloseTo(0.03, 12);
    // Test deltas are -0.01, -0.01, -0.01: no spread.
    expect(full.delta_vs_plain!.test.auroc_mean).toBeCloseTo(-0.01, 12);
    expect(full.delta_vs_plain!.test.auroc_std).toBeCloseTo(0, 12);
    expect(full.delta_vs_plain!.test.n).toBe(3);
    const table = formatBenchmark({ dataset: 'd', spec_path: 's', seeds: [0, 1, 2], config: {} as never, results: rows, runs: [], per_run: [] });
    expect(table).toMatch(/early\s+full\s+3\s+0\.810 ± 0\.020/);
    expect(table).toMatch(/\+0\.070 ± 0\.030/);
    // one seed: no spread to show, so no "± 0.000"
    const one = formatBenchmark({ dataset: 'd', spec_path: 's', seeds: [0], config: {} as never, results: aggregate(scores.filter((x) => x.seed === 0), ['early'], ['none', 'full']), runs: [], per_run: [] });
    expect(one).toMatch(/early\s+full\s+1\s+0\.790\s/);
    expect(one.split('\n').filter((l) => /^\s*early/.test(l)).join('\n')).not.toContain('±');
    expect(one.split('\n')[0]).toMatch(/one seed \(0\), so no spread is shown/);
    expect(table.split('\n')[0]).toMatch(/mean ± std over seeds \[0, 1, 2\]/);
  });

  it("says where the debiasing gates differed over the seeds (a row that is partly the plain model)", () => {
    const runs = [score('early', 'none', 0, 0.8, 0.6), score('early', 'none', 1, 0.8, 0.6),
      { ...score('early', 'full', 0, 0.8, 0.7), deconfound: true, gate: false }, { ...score('early', 'full', 1, 0.8, 0.6), deconfound: false, gate: false }];
    const rows = aggregate(runs, ['early'], ['none', 'full']);
    expect(rows[1]).toMatchObject({ deconfound_on: 1, gate_on: 0 });
    const table = formatBenchmark({ dataset: 'd', spec_path: 's', seeds: [0, 1], config: {} as never, results: rows, runs: [], per_run: [] });
    expect(table).toMatch(/gates \(a run with both off is the plain model.*\n  early\/full: deconfounder on in 1 of 2, dual branch on in 0 of 2/);
    // every gate on in every run: nothing to say
    const on = aggregate([runs[0], runs[1], { ...runs[2], gate: true }, { ...runs[3], deconfound: true, gate: true }], ['early'], ['none', 'full']);
    expect(formatBenchmark({ dataset: 'd', spec_path: 's', seeds: [0, 1], config: {} as never, results: on, runs: [], per_run: [] })).not.toMatch(/gates \(/);
  });

  it('leaves shift out when a run has none', () => {
    const s = score('late', 'none', 0, 0.8, 0.6);
    delete s.shift;
    const rows = aggregate([s], ['late'], ['none']);
    expect(rows[0].shift).toBeUndefined();
    expect(rows[0].test.auroc_std).toBe(0);
  });

  it('gives ece_mean null when a run has no ece (an older run folder)', () => {
    const s = score('late', 'none', 0, 0.8, 0.6);
    delete s.test.ece;
    const rows = aggregate([s, score('late', 'none', 1, 0.8, 0.6)], ['late'], ['none']);
    expect(rows[0].test.ece_mean).toBeNull();
    expect(rows[0].shift!.ece_mean).toBeCloseTo(0.06, 12);
  });
});

describe('cdmm benchmark', () => {
  const root = mkdtempSync(join(tmpdir(), 'cdmm-bench-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('runs every combination and writes benchmark.json with run folders', async () => {
    process.env.CDMM_CACHE_DIR = join(root, 'cache');
    await simulate({ out: join(root, 'sim'), n: 700, seed: 4 });
    const args = ['benchmark', join(root, 'sim', 'spec.yaml'), '--backbones', 'early', '--debias', 'none,full', '--seeds', '2',
      '--epochs', '1', '--dim', '16', '--branch-dim', '8', '--bootstrap', '0', '--out', join(root, 'bench'), '--json', '--quiet'];
    const { code, out } = await runCli(...args);
    expect(code).toBe(0);
    const b = JSON.parse(out);
    expect(b).toEqual(JSON.parse(readFileSync(join(root, 'bench', 'benchmark.json'), 'utf8')));
    expect(b.runs).toEqual(['runs/early-none-s0', 'runs/early-full-s0', 'runs/early-none-s1', 'runs/early-full-s1']);
    for (const r of b.runs) expect(existsSync(join(root, 'bench', r, 'model.safetensors'))).toBe(true);
    expect(b.results.map((r: { debias: string }) => r.debias)).toEqual(['none', 'full']);
    const m0 = JSON.parse(readFileSync(join(root, 'bench', 'runs/early-none-s0/metrics.json'), 'utf8'));
    const m1 = JSON.parse(readFileSync(join(root, 'bench', 'runs/early-none-s1/metrics.json'), 'utf8'));
    expect(b.results[0].test.auroc_mean).toBeCloseTo((m0.splits.test.auroc + m1.splits.test.auroc) / 2, 12);
    expect(b.results[0].shift.auroc_mean).toBeCloseTo((m0.splits.shift.auroc + m1.splits.shift.auroc) / 2, 12);
    expect(b.results[1].delta_vs_plain.shift.n).toBe(2);
    expect(b.per_run[2]).toMatchObject({ run: 'runs/early-none-s1', seed: 1, test: { auroc: m1.splits.test.auroc, ece: m1.splits.test.ece } });
    // ece_mean / ece_std per split: the runs' metrics.json ece, averaged (sample std over the two seeds).
    for (const split of ['test', 'shift'] as const) {
      const e = [m0.splits[split].ece, m1.splits[split].ece];
      expect(typeof e[0]).toBe('number');
      expect(b.results[0][split].ece_mean).toBeCloseTo((e[0] + e[1]) / 2, 12);
      expect(b.results[0][split].ece_std).toBeCloseTo(Math.abs(e[0] - e[1]) / Math.SQRT2, 12);
    }
    // The references: computed once, on the first seed's splits (a column split here: split_seed null).
    expect(b.bounds.split_seed).toBeNull();
    expect(b.bounds.oracle.test).toBeGreaterThan(0.7);
    expect(b.bounds.oracle.shift).toBeGreaterThan(0.7);
    expect(b.bounds.ceiling_folds).toHaveLength(5);
    expect(b.bounds.ceiling_shift).toBeCloseTo(b.bounds.ceiling_folds.reduce((x: number, y: number) => x + y, 0) / 5, 12);
    const table = formatBenchmark(b);
    expect(table).toMatch(/test ECE/);
    expect(table).toContain(`oracle (AUROC of the true risk): test ${b.bounds.oracle.test.toFixed(3)}, shift ${b.bounds.oracle.shift.toFixed(3)}`);
    expect(table).toContain(`in-distribution ceiling (shift): ${b.bounds.ceiling_shift.toFixed(3)}`);

    // --resume keeps the recorded bounds (not recomputed): a marked value survives a resume of the finished folder.
    const file = join(root, 'bench', 'benchmark.json');
    const marked = { ...b, bounds: { ...b.bounds, ceiling_shift: 0.123 } };
    writeFileSync(file, JSON.stringify(marked));
    const again = await runCli(...args.filter((a) => a !== '--json'), '--resume');
    expect(again.code).toBe(0);
    expect(again.out).toContain('in-distribution ceiling (shift): 0.123');
    expect(JSON.parse(readFileSync(file, 'utf8')).bounds.ceiling_shift).toBe(0.123);
    // Without --quiet the command that continues it is said before the first run (a Ctrl-C leaves no time to say it).
    const loud = await runCli(...args.filter((a) => a !== '--json' && a !== '--quiet'), '--resume');
    expect(loud.code).toBe(0);
    expect(loud.err).toContain(`benchmark: 4 runs into ${join(root, 'bench')}; if it stops, continue with: cdmm benchmark `);
    expect(loud.err).toMatch(/continue with: cdmm benchmark .*--resume\n/);
  });
});
