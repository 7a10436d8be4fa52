// The calibrated risk is one number everywhere: training's predictions.json and metrics.json, `cdmm predict`,
// POST /v1/predict and `cdmm evaluate` all give σ(a·logit p_do + b) with the (a, b) the run fitted on validation,
// counterfactual copies included; a cdmm-model/2 run (no calibration) is served uncalibrated with a warning.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { ece } from '../src/eval/metrics.js';
import { applyCalibration, type CalibrationRecord } from '../src/models/calibrator.js';
import { assignPatterns } from '../src/models/patterns.js';
import { predictSplit } from '../src/run/predict.js';
import { loadRun } from '../src/run/run-io.js';
import { PREDICTION_TOLERANCE, Predictor, type PatientPrediction } from '../src/serve/predictor.js';
import { buildServer } from '../src/serve/server.js';
import { writeReport } from '../src/report/index.js';
import { runCli as cli } from './helpers/cli.js';
import { copyRunFolder, editManifest } from './helpers/run-folder.js';
import { records, trainTinyRun, vocab } from './serve-fixtures.js';

let root: string;
let run: string;
let spec: string;
let cal: CalibrationRecord;
/** The model's own p_do on the test split, straight from the engine (no calibration). */
let rawTest: Float32Array;
let testIds: string[];
let preds: { ids: string[]; y: number[]; p: number[]; p_raw: number[]; p_factual: number[] };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-serve-calibration-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  // A run that learns something (no weight averaging over its few steps), so that its validation split says what
  // the slope is and Platt does not fall back: then every check below could tell a calibrated risk from a raw one.
  ({ run, spec } = await trainTinyRun(root, { epochs: 8, train: { ema: 0 }, name: 'learned' }));
  const m = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
  cal = m.calibration;
  preds = JSON.parse(readFileSync(join(run, 'predictions.json'), 'utf8')).test;
  const ds = await prepareDataset(spec, { quiet: true });
  const r = loadRun(run);
  try {
    const K = ds.modalities.length;
    rawTest = predictSplit(r.model, ds.splits.test, ds.modalities, assignPatterns(ds.splits.test.mask, K, r.dict), 256).p;
    testIds = ds.splits.test.ids;
  } finally {
    r.model.dispose();
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('one calibrated risk in training, predict, serve and evaluate', () => {
  it('the run holds a Platt map fitted on validation, and it moves the risks (so the checks below can fail)', () => {
    expect(cal.method).toBe('platt');
    if (cal.method !== 'platt') return;
    expect(Number.isFinite(cal.a) && cal.a > 0.01).toBe(true);
    const moved = Math.max(...preds.p.map((p, i) => Math.abs(p - preds.p_raw[i])));
    expect(moved).toBeGreaterThan(1e-3);
    // predictions.json: p is the map applied to p_raw, p_raw the engine's own p_do.
    const again = applyCalibration(cal, Float32Array.from(preds.p_raw));
    preds.p.forEach((p, i) => expect(Math.abs(p - again[i])).toBeLessThanOrEqual(PREDICTION_TOLERANCE));
    preds.p_raw.forEach((p, i) => expect(Math.abs(p - rawTest[i])).toBeLessThanOrEqual(PREDICTION_TOLERANCE));
    // metrics.json: ECE of the served risk, ece_raw of the model's own.
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
    expect(metrics.splits.test.ece).toBeCloseTo(ece(preds.y, preds.p), 6);
    expect(metrics.splits.test.ece_raw).toBeCloseTo(ece(preds.y, preds.p_raw), 6);
    expect(metrics.splits.val.ece_raw).toBeGreaterThanOrEqual(0);
  });

  it('cdmm predict answers the calibrated risk for every test patient, p_factual through the same map', async () => {
    const out = join(root, 'preds.json');
    const r = await cli('predict', run, '--input', spec, '--out', out);
    expect(r.code).toBe(0);
    const got = new Map<string, PatientPrediction>(JSON.parse(readFileSync(out, 'utf8')).predictions.map((p: PatientPrediction) => [p.id, p]));
    const want = applyCalibration(cal, rawTest);
    testIds.forEach((id, i) => {
      expect(Math.abs(got.get(id)!.p_do - want[i])).toBeLessThanOrEqual(PREDICTION_TOLERANCE);
      expect(Math.abs(got.get(id)!.p_do - preds.p[i])).toBeLessThanOrEqual(PREDICTION_TOLERANCE);
      expect(Math.abs(got.get(id)!.p_factual - preds.p_factual[i])).toBeLessThanOrEqual(PREDICTION_TOLERANCE);
    });
  });

  it('POST /v1/predict answers what the Predictor does, counterfactuals calibrated: contribution = p_do − removed p_do', async () => {
    const p = await Predictor.load(run);
    const app = buildServer(p);
    try {
      await app.ready();
      expect(p.summary().calibration).toEqual(cal);
      const recs = records(20, 5, vocab(p.modalities));
      const res = await app.inject({ method: 'POST', url: '/v1/predict', payload: JSON.stringify({ records: recs }), headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(200);
      const served: PatientPrediction[] = res.json().predictions;
      const direct = await p.predictRecords(recs);
      served.forEach((s, i) => {
        expect(Math.abs(s.p_do - direct[i].p_do)).toBeLessThanOrEqual(PREDICTION_TOLERANCE);
        for (const m of Object.values(s.modalities)) {
          if (!m.counterfactual || m.contribution === null) continue;
          expect(m.counterfactual.p_do).toBeGreaterThanOrEqual(0);
          expect(Math.abs(m.contribution - (s.p_do - m.counterfactual.p_do))).toBeLessThanOrEqual(2 * PREDICTION_TOLERANCE + 1e-7);
        }
      });
    } finally {
      await app.close();
      p.dispose();
    }
  });

  it('a plain cdmm-model/2 copy of a run (no calibration) is served the model\'s own risks, with a warning; the /3 run answers them calibrated', async () => {
    const plain = (await trainTinyRun(root, { debias: 'none', epochs: 8, train: { ema: 0 }, name: 'learned-plain' })).run;
    const plainCal: CalibrationRecord = JSON.parse(readFileSync(join(plain, 'manifest.json'), 'utf8')).calibration;
    expect(plainCal.method).toBe('platt');
    const old = copyRunFolder(plain, join(root, 'v2'));
    editManifest(old, (m) => ((m.format = 'cdmm-model/2'), delete m.calibration));
    const [now, raw] = [await Predictor.load(plain), await Predictor.load(old)];
    try {
      expect(now.warnings).toEqual([]);
      expect(raw.warnings.join('\n')).toMatch(/cdmm-model\/2 holds no calibration: its risks are served uncalibrated .*retrain the run/);
      expect(raw.summary().calibration).toEqual({ method: 'none' });
      const recs = records(20, 6, vocab(now.modalities));
      const [calibrated, rawPreds] = [await now.predictRecords(recs), await raw.predictRecords(recs)];
      const recal = applyCalibration(plainCal, Float32Array.from(rawPreds.map((x) => x.p_do)));
      calibrated.forEach((d, i) => expect(Math.abs(d.p_do - recal[i])).toBeLessThanOrEqual(2 * PREDICTION_TOLERANCE));
      expect(Math.max(...calibrated.map((d, i) => Math.abs(d.p_do - rawPreds[i].p_do)))).toBeGreaterThan(1e-4);
    } finally {
      now.dispose();
      raw.dispose();
    }
  });

  it('cdmm evaluate scores the calibrated risk: its test metrics are those training wrote', async () => {
    const r = await cli('evaluate', run, '--json', '--bootstrap', '20');
    expect(r.code).toBe(0);
    const ev = JSON.parse(r.out);
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
    expect(ev.calibration).toEqual(cal);
    expect(ev.splits.test.ece).toBeCloseTo(metrics.splits.test.ece, 6);
    expect(ev.splits.test.ece_raw).toBeCloseTo(metrics.splits.test.ece_raw, 6);
    expect(ev.splits.test.auroc).toBeCloseTo(metrics.splits.test.auroc, 6);
    const text = await cli('evaluate', run, '--bootstrap', '20');
    expect(text.out).toMatch(/calibration of the served risk \(fitted on validation\): platt \(a [\d.]+, b -?[\d.]+\)/);
    expect(text.out).toMatch(/ECE [\d.]+ \(uncalibrated [\d.]+\)/);
  });

  it('cdmm report shows the calibration before and after: the map, ECE per split both ways, a reliability chart with both series', async () => {
    const html = join(root, 'report.html');
    await writeReport(run, html);
    const page = readFileSync(html, 'utf8');
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
    expect(page).toContain('id="run-calibration"');
    expect(page).toMatch(/Platt scaling σ\(a·logit p \+ b\), a = [\d.]+, b = -?[\d.−]+/);
    for (const sp of ['val', 'test']) {
      expect(page).toContain(`<td>${sp}</td><td class="num">${metrics.splits[sp].n}</td><td class="num">${metrics.splits[sp].ece_raw.toFixed(4)}</td><td class="num">${metrics.splits[sp].ece.toFixed(4)}</td>`);
    }
    expect(page).toContain('test before');
    expect(page).toContain('test after');
  });
});
