// Simulator properties: the missingness strength controls the pattern–label association; the true risk gives
// a high oracle AUROC; the shift environment changes the missingness mechanism and the confounder.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { simulate } from '../src/data/simulate.js';
import type { PreparedDataset, SplitArrays } from '../src/data/types.js';
import { auroc, tempDir } from './fixtures/data/helpers.js';
import { runCli } from './helpers/cli.js';

async function build(opts: Parameters<typeof simulate>[0] extends infer O ? Omit<O & object, 'out'> : never): Promise<PreparedDataset> {
  const out = join(tempDir(), 'sim');
  await simulate({ out, n: 2000, ...opts });
  return prepareDataset(join(out, 'spec.yaml'), { quiet: true, cache: false });
}

/** Mean over modalities (those that can be missing) of |P(Y | observed) − P(Y | missing)|. */
function patternAssociation(s: SplitArrays, K: number): number {
  let total = 0, count = 0;
  for (let k = 0; k < K; k++) {
    let nObs = 0, yObs = 0, nMis = 0, yMis = 0;
    for (let i = 0; i < s.ids.length; i++) {
      if (s.mask[i * K + k]) { nObs++; yObs += s.labels[i]; } else { nMis++; yMis += s.labels[i]; }
    }
    if (nObs && nMis) { total += Math.abs(yObs / nObs - yMis / nMis); count++; }
  }
  return total / count;
}

/** Signed version for one modality: P(Y | observed) − P(Y | missing). */
function obsGap(s: SplitArrays, K: number, k: number): number {
  let nObs = 0, yObs = 0, nMis = 0, yMis = 0;
  for (let i = 0; i < s.ids.length; i++) {
    if (s.mask[i * K + k]) { nObs++; yObs += s.labels[i]; } else { nMis++; yMis += s.labels[i]; }
  }
  return yObs / nObs - yMis / nMis;
}

describe('simulator', () => {
  it('higher MNAR strength gives a stronger pattern–label association; MCAR gives almost none', async () => {
    const weak = await build({ seed: 1, missingness: 'mnar', missingnessStrength: 0.5 });
    const strong = await build({ seed: 1, missingness: 'mnar', missingnessStrength: 3 });
    const mcar = await build({ seed: 1, missingness: 'mcar', missingnessStrength: 3 });
    const K = weak.modalities.length;
    const a = (d: PreparedDataset) => patternAssociation(d.splits.train, K);
    expect(a(strong)).toBeGreaterThan(a(weak) + 0.05);
    expect(a(mcar)).toBeLessThan(a(weak));
    expect(a(mcar)).toBeLessThan(0.05);
  }, 60_000);

  it('the true risk P(Y | U) gives a high oracle AUROC, and the shift environment reverses the missingness', async () => {
    const d = await build({ seed: 2 });
    const test = d.splits.test;
    const oracle = auroc(test.labels, test.trueRisk!);
    expect(oracle).toBeGreaterThan(0.75);
    const shift = d.splits.shift!;
    expect(auroc(shift.labels, shift.trueRisk!)).toBeGreaterThan(0.75);
    // Mean true risk tracks the label rate (the label is drawn from it).
    const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(Math.abs(mean(d.splits.train.trueRisk!) - mean(d.splits.train.labels))).toBeLessThan(0.03);
    // MNAR: in training, sicker patients have labs more often; in the shift environment, less often.
    const K = d.modalities.length;
    expect(obsGap(d.splits.train, K, 1)).toBeGreaterThan(0.05);
    expect(obsGap(shift, K, 1)).toBeLessThan(-0.05);
  }, 60_000);

  it('the confounder tracks the label in training but not in the shift environment', async () => {
    const d = await build({ seed: 4, confounding: 2 });
    const demo = d.modalities[0];
    const D = demo.shape[0];
    const siteA = demo.features.indexOf('site=A');
    const gap = (s: SplitArrays) => {
      let n1 = 0, a1 = 0, n0 = 0, a0 = 0;
      for (let i = 0; i < s.ids.length; i++) {
        const a = s.values.demographics[i * D + siteA];
        if (s.labels[i]) { n1++; a1 += a; } else { n0++; a0 += a; }
      }
      return a1 / n1 - a0 / n0;
    };
    expect(gap(d.splits.train)).toBeGreaterThan(0.4);
    expect(Math.abs(gap(d.splits.shift!))).toBeLessThan(0.15);
  }, 60_000);

  it('is deterministic for a seed', async () => {
    const a = join(tempDir(), 'a'), b = join(tempDir(), 'b');
    await simulate({ out: a, n: 300, seed: 9 });
    await simulate({ out: b, n: 300, seed: 9 });
    for (const f of ['patients.csv', 'labs.csv', 'notes.csv', 'spec.yaml']) expect(readFileSync(join(a, f), 'utf8')).toBe(readFileSync(join(b, f), 'utf8'));
  });
});

/** Pearson correlation (point-biserial for 0/1 variables). */
function corr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { const a = x[i] - mx, b = y[i] - my; sxy += a * b; sxx += a * a; syy += b * b; }
  return sxy / Math.sqrt(sxx * syy);
}

/** corr(observed_k, true_risk) for each modality that can be missing (k ≥ 1; demographics are always observed). */
function obsRiskCorr(s: SplitArrays, K: number): number[] {
  const out: number[] = [];
  for (let k = 1; k < K; k++) out.push(corr(Array.from({ length: s.ids.length }, (_, i) => s.mask[i * K + k]), s.trueRisk!));
  return out;
}

/** The confounder column of patients.csv against y, per environment. */
function confounderCorr(dir: string): { source: number; shift: number } {
  const lines = readFileSync(join(dir, 'patients.csv'), 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  const [iy, ic, is] = ['y', 'confounder', 'split'].map((c) => head.indexOf(c));
  const env = { source: { c: [] as number[], y: [] as number[] }, shift: { c: [] as number[], y: [] as number[] } };
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    const e = f[is] === 'shift' ? env.shift : env.source;
    e.c.push(Number(f[ic])); e.y.push(Number(f[iy]));
  }
  return { source: corr(env.source.c, env.source.y), shift: corr(env.shift.c, env.shift.y) };
}

describe('simulator scenarios (--scenario)', () => {
  // n = 3000: ~2400 source patients (SE of a correlation ≈ 0.02) and ~600 shift patients (SE ≈ 0.04);
  // "no dependence" is asserted as |corr| < 0.12 (≥ 3 SE), "dependence" as |corr| > 0.15 or 0.3.
  const made = new Map<string, { dir: string; ds: PreparedDataset }>();
  async function scenario(name: 'none' | 'missingness' | 'confounding' | 'both') {
    if (!made.has(name)) {
      const dir = join(tempDir(), name);
      await simulate({ out: dir, n: 3000, seed: 5, scenario: name });
      made.set(name, { dir, ds: await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false }) });
    }
    return made.get(name)!;
  }

  it('none: the observation rate of every modality does not depend on the true risk, and C does not track Y', async () => {
    const { dir, ds } = await scenario('none');
    const K = ds.modalities.length;
    for (const s of [ds.splits.train, ds.splits.shift!]) for (const r of obsRiskCorr(s, K)) expect(Math.abs(r)).toBeLessThan(0.12);
    const c = confounderCorr(dir);
    expect(Math.abs(c.source)).toBeLessThan(0.12);
    expect(Math.abs(c.shift)).toBeLessThan(0.12);
    expect(readFileSync(join(dir, 'spec.yaml'), 'utf8')).toMatch(/^# Scenario: none \(MCAR missingness, no confounding/m);
  }, 60_000);

  it('missingness: the dependence of observation on the true risk reverses sign at shift; no confounding', async () => {
    const { dir, ds } = await scenario('missingness');
    const K = ds.modalities.length;
    for (const r of obsRiskCorr(ds.splits.train, K)) expect(r).toBeGreaterThan(0.15);
    for (const r of obsRiskCorr(ds.splits.shift!, K)) expect(r).toBeLessThan(-0.15);
    const c = confounderCorr(dir);
    expect(Math.abs(c.source)).toBeLessThan(0.12);
    expect(Math.abs(c.shift)).toBeLessThan(0.12);
  }, 60_000);

  it('confounding: corr(C, Y) is positive in the source and negative at shift; missingness is MCAR', async () => {
    const { dir, ds } = await scenario('confounding');
    const c = confounderCorr(dir);
    expect(c.source).toBeGreaterThan(0.3);
    expect(c.shift).toBeLessThan(-0.3);
    const K = ds.modalities.length;
    for (const s of [ds.splits.train, ds.splits.shift!]) for (const r of obsRiskCorr(s, K)) expect(Math.abs(r)).toBeLessThan(0.12);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/the confounder correlation flipped/);
  }, 60_000);

  it('both: MNAR reversed at shift and C tracks Y in the source only; the confounder column is never a feature', async () => {
    const { dir, ds } = await scenario('both');
    const K = ds.modalities.length;
    for (const r of obsRiskCorr(ds.splits.train, K)) expect(r).toBeGreaterThan(0.15);
    for (const r of obsRiskCorr(ds.splits.shift!, K)) expect(r).toBeLessThan(-0.15);
    const c = confounderCorr(dir);
    expect(c.source).toBeGreaterThan(0.3);
    expect(Math.abs(c.shift)).toBeLessThan(0.12);
    expect(ds.modalities.flatMap((m) => m.features).filter((f) => /confounder/.test(f))).toEqual([]);
    expect(ds.modalities[0].features.filter((f) => !/:missing|=<other>|=<missing>/.test(f))).toEqual(['age', 'bmi', 'sex=F', 'sex=M', 'site=A', 'site=B']);
    expect(readFileSync(join(dir, 'spec.yaml'), 'utf8')).not.toMatch(/^[^#]*confounder/m);
  }, 60_000);

  it('both is the default, and draws exactly what the simulator drew before scenarios existed', async () => {
    const a = join(tempDir(), 'a'), b = join(tempDir(), 'b');
    await simulate({ out: a, n: 500, seed: 9 });
    await simulate({ out: b, n: 500, seed: 9, scenario: 'both' });
    for (const f of ['patients.csv', 'labs.csv', 'diagnoses.csv', 'notes.csv', 'imaging.csv', 'spec.yaml', 'README.md'])
      expect(readFileSync(join(b, f), 'utf8')).toBe(readFileSync(join(a, f), 'utf8'));
    // sha256 of the files written by the simulator before --scenario (commit ebc3201, n 500, seed 9); patients.csv
    // gained the last column (confounder) since, so its first 10 columns are compared.
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const read = (f: string) => readFileSync(join(a, f), 'utf8');
    expect(sha(read('labs.csv'))).toBe('c42d298e8c8dd4caae717643b3284cb36d3aebb8f11cf5151145b2fe326f371c');
    expect(sha(read('diagnoses.csv'))).toBe('7c620c1177c64d01a3b0f705517c1bebc824bbdf413a19253e1db8173bc953dc');
    expect(sha(read('notes.csv'))).toBe('97dbeaeb8d0add4b5f389bc0402220978eeddad692232e00ebd19883d3ab7008');
    expect(sha(read('imaging.csv'))).toBe('6ec94555d711d636fd6c68724262417527fe494e333d79994ea96debbe775069');
    const first10 = read('patients.csv').split('\n').map((l) => l.split(',').slice(0, 10).join(',')).join('\n');
    expect(sha(first10)).toBe('a95712e52e908401042a53855bc6aab1f970d78efb62ce703946b8f782481abb');
  });

  it('explicit --missingness / --confounding override the scenario, and the header says so', async () => {
    const dir = join(tempDir(), 'o');
    await simulate({ out: dir, n: 3000, seed: 5, scenario: 'none', confounding: 2 });
    const c = confounderCorr(dir);
    expect(c.source).toBeGreaterThan(0.3);
    expect(readFileSync(join(dir, 'spec.yaml'), 'utf8')).toMatch(/^# Scenario: none .*, overridden by --confounding 2\./m);
  });

  it('refuses an unknown scenario, from the API and the CLI', async () => {
    await expect(simulate({ out: join(tempDir(), 'x'), n: 200, scenario: 'weird' as never })).rejects.toThrow(/--scenario must be one of none, missingness, confounding, both \(got "weird"\)/);
    const out = join(tempDir(), 'y');
    const r = await runCli('simulate', '--out', out, '--n', '200', '--scenario', 'weird');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--scenario: expected one of none, missingness, confounding, both, got "weird"/);
    expect(existsSync(out)).toBe(false);
  });
});
