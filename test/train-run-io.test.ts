// A run folder on a small simulated cohort: the real data layer's spec and fitted state, as train writes them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { simulate } from '../src/data/simulate.js';
import { loadSpec } from '../src/data/spec.js';
import type { PreparedDataset } from '../src/data/types.js';
import { libtorchVersion } from '../src/engine/index.js';
import { assignPatterns } from '../src/models/patterns.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { predictSplit, servedRisks } from '../src/run/predict.js';
import { fitCalibrator } from '../src/models/calibrator.js';
import { loadRun, runFiles, sha256 } from '../src/run/run-io.js';
import { trainRun, type RunOutcome } from '../src/train/run.js';
import { cdmmVersion } from '../src/run/version.js';
import { CdmmError } from '../src/util/errors.js';
import { editManifest, resum } from './helpers/run-folder.js';

let ds: PreparedDataset;
let K: number;
let root: string;
let runDir: string;
/** A plain (debias none) run: of the formats before cdmm-model/3, only plain models still load. */
let plainDir: string;
let outcome: RunOutcome;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-train-io-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  const spec = join(root, 'sim', 'spec.yaml');
  await simulate({ out: join(root, 'sim'), n: 800, seed: 9 });
  ds = await prepareDataset(spec, { quiet: true });
  K = ds.modalities.length;
  runDir = join(root, 'run');
  outcome = await trainRun(ds, { specPath: spec, spec: loadSpec(spec), splitSeed: null }, {
    backbone: 'early', debias: 'full', model: { dim: 16, branchDim: 8, seriesHidden: 8, headHidden: 8 },
    train: { ...defaultTrainOptions, epochs: 3, batchSize: 128, bootstrap: 50, seed: 2 },
  }, runDir, { quiet: true });
  plainDir = join(root, 'plain');
  await trainRun(ds, { specPath: spec, spec: loadSpec(spec), splitSeed: null }, {
    backbone: 'early', debias: 'none', model: { dim: 16, branchDim: 8, seriesHidden: 8, headHidden: 8 },
    train: { ...defaultTrainOptions, epochs: 3, batchSize: 128, bootstrap: 20, seed: 2 },
  }, plainDir, { quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the run folder (every file, SHA256SUMS included). */
function copyRun(name: string, from = runDir): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(from)) writeFileSync(join(dir, f), readFileSync(join(from, f)));
  return dir;
}

describe('run folder', () => {
  it('has every file of RUN-FORMAT.md with consistent contents', () => {
    const man = JSON.parse(readFileSync(join(runDir, 'manifest.json'), 'utf8'));
    expect(man.format).toBe('cdmm-model/3');
    expect(man.weights.sha256).toBe(sha256(readFileSync(join(runDir, 'model.safetensors'))));
    expect(man.config).toMatchObject({ backbone: 'early', debias: 'full', seed: 2 });
    expect(man.patterns.masks.length).toBe(man.patterns.prior.length);
    expect(man.state).toEqual(ds.state);
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics.splits).sort()).toEqual(Object.keys(ds.splits).filter((x) => x !== 'train').sort());
    expect(metrics.splits.test.n).toBe(ds.splits.test.ids.length);
    for (const sp of ['val', 'test'] as const) expect(metrics.splits[sp].ece_raw).toBeGreaterThanOrEqual(0);
    const preds = JSON.parse(readFileSync(join(runDir, 'predictions.json'), 'utf8'));
    expect(preds.test.y).toEqual(Array.from(ds.splits.test.labels));
    expect(preds.test.p_raw).toHaveLength(preds.test.p.length);
    // The served risk's calibration is the one Platt (the default) fits on the validation split's own p_do and labels.
    const refit = fitCalibrator('platt', preds.val.p_raw, preds.val.y);
    expect(man.calibration.method).toBe(refit.method);
    if (refit.method === 'platt') {
      // predictions.json rounds p: the refit agrees to ~1e-4
      expect(man.calibration.a).toBeCloseTo(refit.a, 3);
      expect(man.calibration.b).toBeCloseTo(refit.b, 3);
    } else expect(man.calibration).toEqual(refit);
    expect(preds.test.mask[0]).toMatch(new RegExp(`^[01]{${K}}$`));
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

  it('round-trips: loadRun gives a model with the same weights and predictions (p_raw the model\'s own, p through the calibration)', () => {
    const run = loadRun(runDir);
    expect(run.calibration).toEqual(outcome.manifest.calibration);
    expect(run.model.training).toBe(false);
    expect(run.dict.masks).toEqual(outcome.manifest.patterns.masks);
    const preds = JSON.parse(readFileSync(join(runDir, 'predictions.json'), 'utf8'));
    const test = ds.splits.test;
    const p = predictSplit(run.model, test, ds.modalities, assignPatterns(test.mask, K, run.dict), 256).p;
    expect(p.length).toBe(preds.test.p.length);
    for (let i = 0; i < p.length; i++) expect(Math.abs(p[i] - preds.test.p_raw[i])).toBeLessThan(1e-6);
    const served = servedRisks({ p, pFactual: p }, run.calibration).pDo;
    for (let i = 0; i < p.length; i++) expect(Math.abs(served[i] - preds.test.p[i])).toBeLessThan(1e-6);
    run.model.dispose();
  });

  it('a damaged weights file is refused with a CdmmError naming the file', () => {
    const dir = copyRun('damaged-weights');
    const w = readFileSync(join(dir, 'model.safetensors'));
    w[w.length - 3] ^= 0xff;
    writeFileSync(join(dir, 'model.safetensors'), w);
    expect(() => loadRun(dir)).toThrow(CdmmError);
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: damaged weights: its sha256 does not match the manifest's$/);
  });

  it('weights holding NaN (checksums made to match) are refused naming the tensor', () => {
    const dir = copyRun('nan-weights');
    const w = readFileSync(join(dir, 'model.safetensors'));
    const headerLen = Number(w.readBigUInt64LE(0));
    w.writeUInt32LE(0x7fc00000, 8 + headerLen + 4 * 3); // a NaN in the first tensor's data
    writeFileSync(join(dir, 'model.safetensors'), w);
    editManifest(dir, (m) => (m.weights.sha256 = sha256(w)));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: damaged weights: tensor "[^"]+" holds a non-finite value/);
  });

  it("a pattern prior in the weights other than the manifest's is refused (an edited prior of 10s served risks of 14.8)", () => {
    const dir = copyRun('prior-weights');
    const w = readFileSync(join(dir, 'model.safetensors'));
    const headerLen = Number(w.readBigUInt64LE(0));
    const header = JSON.parse(w.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const name = Object.keys(header).find((n) => /(^|\.)prior$/.test(n));
    expect(name, 'a prior tensor in the weights').toBeDefined();
    const [from, to] = header[name!].data_offsets;
    for (let o = 8 + headerLen + from; o < 8 + headerLen + to; o += 4) w.writeFloatLE(10, o);
    writeFileSync(join(dir, 'model.safetensors'), w);
    editManifest(dir, (m) => (m.weights.sha256 = sha256(w)));
    expect(() => loadRun(dir)).toThrow(new RegExp(`model\\.safetensors: damaged weights: tensor "${name!.replace(/\./g, '\\.')}" differs from the pattern prior in manifest\\.json`));
  });

  it('a file of the folder that is a link to a device or a FIFO is refused at once, without reading it', () => {
    for (const file of ['model.safetensors', 'manifest.json', 'SHA256SUMS']) {
      const dir = copyRun(`dev-zero-${file}`);
      rmSync(join(dir, file));
      symlinkSync('/dev/zero', join(dir, file));
      expect(() => loadRun(dir)).toThrow(new RegExp(`${file.replace('.', '\\.')}: not a regular file`));
      rmSync(join(dir, file));
      execFileSync('mkfifo', [join(dir, file)]);
      expect(() => loadRun(dir)).toThrow(/not a regular file/);
    }
    // a manifest that is a link to another file: its text is not quoted in the error
    const dir = copyRun('linked-manifest');
    const secret = join(root, 'secret.txt');
    writeFileSync(secret, 'secret-line: hunter2\n');
    rmSync(join(dir, 'manifest.json'));
    symlinkSync(secret, join(dir, 'manifest.json'));
    resum(dir);
    expect(() => loadRun(dir)).toThrow(/manifest\.json: damaged manifest: not valid JSON( \((at byte \d+|it ends early)\))?$/);
    expect(() => loadRun(dir)).not.toThrow(/hunter2|secret-line/);
  });

  it('an edited file far larger than cdmm writes is refused before it is parsed (V8 aborted on a 270 MB array)', () => {
    // manifest.json: capped at 64 MB by name (a real one is kilobytes; 2 MB with a 5,000-code vocabulary)
    const dir = copyRun('huge-manifest');
    const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), text.replace(/}\s*$/, `, "pad": [${'0,'.repeat(34 << 20)}0]}`));
    resum(dir);
    expect(() => loadRun(dir)).toThrow(/manifest\.json: \d+ bytes is more than such a file may hold \(67108864\)/);
    // predictions.json may be large (a row per test patient) but not hold more values than V8 can take
    const big = copyRun('huge-predictions');
    writeFileSync(join(big, 'predictions.json'), `{"test": {"y": [${'0,'.repeat(40_000_001)}0], "p": []}}`);
    resum(big);
    expect(() => runFiles(big)('predictions.json')).toThrow(/predictions\.json: holds more than 40,000,000 values, far more than cdmm writes/);
    // nor more objects than memory takes (each empty object about 88 bytes parsed: 99 M of them filled 9 GB)
    writeFileSync(join(big, 'predictions.json'), `{"test": {"y": [${'{'.repeat(2_000_001)}], "p": []}}`);
    resum(big);
    expect(() => runFiles(big)('predictions.json')).toThrow(/predictions\.json: holds more than 2,000,000 objects and arrays, far more than cdmm writes/);
    // a dataset name with a control character (it is printed as serve starts) is refused
    const ansi = copyRun('ansi-dataset');
    editManifest(ansi, (m) => (m.dataset = 'sim\u001b[2J\ncdmm: note: all good'));
    expect(() => loadRun(ansi)).toThrow(/manifest\.json: damaged manifest: dataset: must not contain control or bidirectional-override characters/);
  });

  it('a damaged or foreign manifest is refused with a CdmmError naming manifest.json', () => {
    const dir = copyRun('damaged-manifest');
    const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), text.slice(0, text.length / 2));
    resum(dir);
    expect(() => loadRun(dir)).toThrow(/manifest\.json: damaged manifest: not valid JSON/);
    writeFileSync(join(dir, 'manifest.json'), text);
    editManifest(dir, (m) => (m.format = 'cdmm-model/9'));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: format "cdmm-model\/9" is not supported/);
    writeFileSync(join(dir, 'manifest.json'), text);
    editManifest(dir, (m) => (m.patterns = { masks: ['10'], prior: [1] }));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: damaged manifest: patterns/);
    expect(() => loadRun(join(root, 'nope'))).toThrow(/run folder not found/);
  });

  it("a model without the deconfounder passes the manifest check only where the deconfounder's gate said so", () => {
    const man = JSON.parse(readFileSync(join(runDir, 'manifest.json'), 'utf8'));
    expect(man.config.debias_parts.deconfound.on).toBe(true); // MNAR testing in the simulator: the gate is on
    const dir = copyRun('gated-model');
    editManifest(dir, (m) => (m.config.model.debias = 'dual'));
    expect(() => loadRun(dir)).toThrow(/config: backbone\/debias differ from config\.model/);
    // Said off: the check passes, and these weights (of a deconfounding model) no longer fit.
    editManifest(dir, (m) => (m.config.debias_parts.deconfound.on = false));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: the weights do not fit the model described in manifest\.json/);
    // The plain model passes only where the dual branch's gate was off too (builtDebias).
    editManifest(dir, (m) => ((m.config.model.debias = 'none'), (m.config.debias_parts.dual = { ...m.config.debias_parts.dual, on: true })));
    expect(() => loadRun(dir)).toThrow(/config: backbone\/debias differ from config\.model/);
    editManifest(dir, (m) => (m.config.debias_parts.dual = { ...m.config.debias_parts.dual, on: false }));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: the weights do not fit the model described in manifest\.json/);
  });

  it('weights that do not fit the described model are refused', () => {
    const dir = copyRun('wrong-model');
    editManifest(dir, (m) => (m.config.model.dim = 32));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: the weights do not fit the model described in manifest\.json/);
    // A model far larger than the weights is refused before it is built, with its size (dim 8192 with a wide modality
    // took 4.5 GB and 11 s to build, then failed in loadStateDict).
    editManifest(dir, (m) => (m.config.model.dim = 8192));
    expect(() => loadRun(dir)).toThrow(/model\.safetensors: the weights do not fit the model described in manifest\.json: it needs at least [\d.e+]+ parameters, the file holds [\d,]+ values/);
  });
});

describe('SHA256SUMS and versions', () => {
  it('lists every file of the run folder with its sha256, in sha256sum format', () => {
    const lines = readFileSync(join(runDir, 'SHA256SUMS'), 'utf8').trim().split('\n');
    const listed = lines.map((l) => {
      const [hex, file] = l.split('  ');
      expect(hex).toBe(sha256(readFileSync(join(runDir, file))));
      return file;
    });
    expect(listed.sort()).toEqual(readdirSync(runDir).filter((f) => f !== 'SHA256SUMS').sort());
  });

  it('one changed digit of a fitted mean in manifest.json is detected, naming the file', () => {
    const dir = copyRun('one-digit');
    const path = join(dir, 'manifest.json');
    const text = readFileSync(path, 'utf8');
    const mean = /"mean": (\d)/.exec(text)!;
    writeFileSync(path, text.replace(mean[0], `"mean": ${(Number(mean[1]) + 1) % 10}`));
    expect(() => loadRun(dir)).toThrow(CdmmError);
    expect(() => loadRun(dir)).toThrow(new RegExp(`${path.replace(/[/.]/g, '\\$&')}: changed or damaged since it was written: its sha256 does not match SHA256SUMS$`));
  });

  it('one changed digit of the Platt slope a in manifest.json is detected, naming the file', () => {
    const dir = copyRun('one-digit-calibration');
    // A Platt map as training writes it (whatever this tiny run fitted), checksummed: it loads; then one digit of a.
    editManifest(dir, (m) => (m.calibration = { method: 'platt', a: 1.2345678, b: -0.5 }));
    loadRun(dir).model.dispose();
    const path = join(dir, 'manifest.json');
    const text = readFileSync(path, 'utf8');
    const a = /("a": -?\d+\.)(\d)/.exec(text)!;
    expect(a).not.toBeNull();
    writeFileSync(path, text.replace(a[0], `${a[1]}${(Number(a[2]) + 1) % 10}`));
    expect(() => loadRun(dir)).toThrow(new RegExp(`${path.replace(/[/.]/g, '\\$&')}: changed or damaged since it was written`));
  });

  it('a cdmm-model/3 or /2 folder without SHA256SUMS is refused; a plain cdmm-model/1 one loads with a warning', () => {
    const dir = copyRun('no-sums', plainDir);
    rmSync(join(dir, 'SHA256SUMS'));
    expect(() => loadRun(dir)).toThrow(/SHA256SUMS: not found: a cdmm-model\/3 run folder/);
    editManifest(dir, (m) => ((m.format = 'cdmm-model/2'), delete m.calibration), { resum: false });
    expect(() => loadRun(dir)).toThrow(/SHA256SUMS: not found: a cdmm-model\/2 run folder/);
    editManifest(dir, (m) => (m.format = 'cdmm-model/1'), { resum: false });
    const run = loadRun(dir);
    expect(run.warnings.join('\n')).toMatch(/cdmm-model\/1 has no SHA256SUMS/);
    expect(run.calibration).toEqual({ method: 'none' });
    run.model.dispose();
  });

  it('a debiased run of an older format is refused (v1 method); a plain one loads', () => {
    for (const f of ['cdmm-model/2', 'cdmm-model/1']) {
      const dir = copyRun(`old-full-${f.slice(-1)}`);
      editManifest(dir, (m) => ((m.format = f), delete m.calibration));
      expect(() => loadRun(dir)).toThrow(new RegExp(`format ${f.replace('/', '\\/')} holds a 'full' model of the v1 debiasing method.*retrain the run`));
    }
  });

  it('a plain cdmm-model/2 run (before calibration) loads uncalibrated with a "retrain the run" warning; a /3 one must say its calibration', () => {
    const dir = copyRun('format-2', plainDir);
    editManifest(dir, (m) => ((m.format = 'cdmm-model/2'), delete m.calibration));
    const run = loadRun(dir);
    expect(run.calibration).toEqual({ method: 'none' });
    expect(run.warnings).toHaveLength(1);
    expect(run.warnings[0]).toMatch(/format cdmm-model\/2 holds no calibration: its risks are served uncalibrated .*retrain the run to calibrate them/);
    run.model.dispose();
    editManifest(dir, (m) => (m.calibration = { method: 'platt', a: 1, b: 0 }));
    expect(() => loadRun(dir)).toThrow(/damaged manifest: calibration: a cdmm-model\/2 manifest has no calibration/);
    editManifest(dir, (m) => ((m.format = 'cdmm-model/3'), delete m.calibration));
    expect(() => loadRun(dir)).toThrow(/damaged manifest: calibration: missing/);
  });

  it('another major version of cdmm or libtorch is refused; another minor or patch is a warning', () => {
    const dir = copyRun('versions');
    const bump = (v: string, i: number) => v.split('.').map((x, j) => (j === i ? String(Number(x) + 1) : x)).join('.');
    editManifest(dir, (m) => (m.cdmm_version = bump(cdmmVersion(), 0)));
    expect(() => loadRun(dir)).toThrow(/manifest\.json: cdmm_version: written with cdmm \d+\.\d+\.\d+, this is cdmm .*a different major version/);
    editManifest(dir, (m) => ((m.cdmm_version = cdmmVersion()), (m.libtorch_version = bump(libtorchVersion(), 0))));
    expect(() => loadRun(dir)).toThrow(/libtorch_version: written with libtorch .*a different major version/);
    editManifest(dir, (m) => ((m.cdmm_version = bump(cdmmVersion(), 2)), (m.libtorch_version = bump(libtorchVersion(), 1))));
    const run = loadRun(dir);
    expect(run.warnings).toHaveLength(2);
    expect(run.warnings[0]).toMatch(/written with cdmm .*this is cdmm/);
    expect(run.warnings[1]).toMatch(/written with libtorch .*this is libtorch/);
    run.model.dispose();
    const clean = loadRun(runDir);
    expect(clean.warnings).toEqual([]);
    clean.model.dispose();
  });
});
