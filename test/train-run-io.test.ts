import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignPatterns } from '../src/models/patterns.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { predictSplit } from '../src/train/predict.js';
import { loadRun, sha256 } from '../src/train/run-io.js';
import { trainRun, type RunOutcome } from '../src/train/run.js';
import { CdmmError } from '../src/util/errors.js';
import { syntheticDataset } from './train-fixtures.js';

const ds = syntheticDataset({ n: 1200, seed: 9 });
let root: string;
let runDir: string;
let outcome: RunOutcome;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-train-io-'));
  runDir = join(root, 'run');
  outcome = await trainRun(ds, { specPath: join(root, 'spec.yaml'), spec: { name: 'synthetic' }, splitSeed: null }, {
    backbone: 'early', debias: 'full', model: { dim: 16, branchDim: 8 },
    train: { ...defaultTrainOptions, epochs: 3, batchSize: 128, bootstrap: 50, seed: 2 },
  }, runDir, { quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function copyRun(name: string): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ['manifest.json', 'model.safetensors', 'metrics.json']) writeFileSync(join(dir, f), readFileSync(join(runDir, f)));
  return dir;
}

describe('run folder', () => {
  it('has every file of RUN-FORMAT.md with consistent contents', () => {
    const man = JSON.parse(readFileSync(join(runDir, 'manifest.json'), 'utf8'));
    expect(man.format).toBe('cdmm-model/1');
    expect(man.weights.sha256).toBe(sha256(readFileSync(join(runDir, 'model.safetensors'))));
    expect(man.config).toMatchObject({ backbone: 'early', debias: 'full', seed: 2 });
    expect(man.patterns.masks.length).toBe(man.patterns.prior.length);
    expect(man.state).toEqual(ds.state);
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics.splits).sort()).toEqual(['test', 'val']);
    expect(metrics.splits.test.n).toBe(ds.splits.test.ids.length);
    const preds = JSON.parse(readFileSync(join(runDir, 'predictions.json'), 'utf8'));
    expect(preds.test.y).toEqual(Array.from(ds.splits.test.labels));
    expect(preds.test.mask[0]).toMatch(/^[01]{3}$/);
    const hist = JSON.parse(readFileSync(join(runDir, 'history.json'), 'utf8'));
    expect(hist.length).toBe(outcome.history.length);
    const ins = JSON.parse(readFileSync(join(runDir, 'insights.json'), 'utf8'));
    const total = ins.patterns.reduce((s: number, p: { count: number }) => s + p.count, 0);
    expect(total).toBe(ds.splits.train.ids.length);
    const rate = Array.from(ds.splits.train.labels).reduce((a, b) => a + b, 0) / ds.splits.train.ids.length;
    expect(ins.marginal).toBeCloseTo(rate, 10);
    for (const p of ins.patterns) expect(p.observed_effect).toBeCloseTo(p.label_rate - rate, 10);
    // Exact back-door adjustment: p_do = Σ_m π_m σ(h(c, e_m)), so the prior-weighted pattern effects cancel.
    expect(ins.effect_kind).toBe('interventional');
    const weighted = ins.patterns.reduce((s: number, p: { prior: number; model_effect: number }) => s + p.prior * p.model_effect, 0);
    expect(Math.abs(weighted)).toBeLessThan(1e-5);
    expect(ins.patterns.some((p: { model_effect: number }) => Math.abs(p.model_effect) > 1e-4)).toBe(true);
  });

  it('round-trips: loadRun gives a model with the same weights and predictions', () => {
    const run = loadRun(runDir);
    expect(run.model.training).toBe(false);
    expect(run.dict.masks).toEqual(outcome.manifest.patterns.masks);
    const preds = JSON.parse(readFileSync(join(runDir, 'predictions.json'), 'utf8'));
    const test = ds.splits.test;
    const p = predictSplit(run.model, test, ds.modalities, assignPatterns(test.mask, 3, run.dict), 256).p;
    expect(p.length).toBe(preds.test.p.length);
    for (let i = 0; i < p.length; i++) expect(Math.abs(p[i] - preds.test.p[i])).toBeLessThan(1e-6);
    run.model.dispose();
  });

  it('a damaged weights file is refused with a CdmmError naming the file', () => {
    const dir = copyRun('damaged-weights');
    const w = readFileSync(join(dir, 'model.safetensors'));
    w[w.length - 3] ^= 0xff;
    writeFileSync(join(dir, 'model.safetensors'), w);
    expect(() => loadRun(dir)).toThrow(CdmmError);
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: damaged weights: sha256/);
  });

  it('a damaged or foreign manifest is refused with a CdmmError naming manifest.json', () => {
    const dir = copyRun('damaged-manifest');
    const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), text.slice(0, text.length / 2));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: damaged manifest: not valid JSON/);
    const m = JSON.parse(text);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, format: 'cdmm-model/9' }));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: format "cdmm-model\/9" is not supported/);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, patterns: { masks: ['10'], prior: [1] } }));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: damaged manifest: patterns/);
    expect(() => loadRun(join(root, 'nope'))).toThrow(/run folder not found/);
  });

  it('weights that do not fit the described model are refused', () => {
    const dir = copyRun('wrong-model');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.config.model.dim = 32;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: the weights do not fit the model described in manifest\.json/);
  });
});
