// One training run end to end: train on a prepared dataset, score val/test/shift, compute insights, write the
// run folder (docs/RUN-FORMAT.md).
import { resolve } from 'node:path';
import { assignPatterns } from '../models/patterns.js';
import { defaultModelConfig, type CdmmModel } from '../models/index.js';
import type { BackboneName, DebiasMode, ModelConfig, PatternDictionary } from '../models/types.js';
import type { PreparedDataset, SplitArrays, SplitName } from '../data/types.js';
import { referenceMetrics } from '../eval/reference.js';
import { auroc, weightedAuroc } from '../eval/metrics.js';
import { groupLabelWeights } from '../models/debias/weights.js';
import { computeInsights, type Insights } from './insights.js';
import type { TrainOptions } from './options.js';
import { maskStrings, predictSplit, servedRisks } from '../run/predict.js';
import { fitCalibrator, type CalibrationRecord } from '../models/calibrator.js';
import { calibrationOf } from './options.js';
import { writeRun, type RunManifest } from '../run/run-io.js';
import { fittedIds } from '../run/fitted.js';
import { observedMeans } from '../data/typical.js';
import { variableCoverage } from '../run/coverage.js';
import { predictionsJson, scoreSplit, type RunMetrics, type ScoredSplit, type SplitPredictionsJson } from './scoring.js';
import { CdmmError } from '../util/errors.js';
import { checkModelSize } from './size-check.js';
import { trainModel, type EpochRecord, type TrainHooks } from './trainer.js';

export interface RunRequest {
  backbone: BackboneName;
  debias: DebiasMode;
  /** Model hyper-parameters other than the defaults (dim, dropout, λs, ...). */
  model?: Partial<ModelConfig>;
  train: TrainOptions;
}

export interface DatasetSource {
  specPath: string;
  /** The parsed spec object, recorded in the manifest. */
  spec: unknown;
  /** Split seed given to prepareDataset (null = the spec's own). */
  splitSeed: number | null;
}

export interface RunOutcome {
  dir: string;
  manifest: RunManifest;
  metrics: RunMetrics;
  insights: Insights;
  history: EpochRecord[];
  bestEpoch: number;
  /** Notes of the debiasing parts for the user (gate decisions, nothing to adjust). */
  notes: string[];
}

export function modelConfigFor(req: RunRequest): ModelConfig {
  return { ...defaultModelConfig, ...req.model, backbone: req.backbone, debias: req.debias };
}

const SCORED: SplitName[] = ['val', 'test', 'shift'];

/**
 * Predictions of a trained model on one split, with each patient's own mask: the model's own risks, or with a
 * calibration the served ones (p, pFactual calibrated; pRaw the model's p_do).
 */
export function scoreInputs(model: CdmmModel, ds: PreparedDataset, split: SplitArrays, dict: PatternDictionary, batchSize: number, calibration?: CalibrationRecord): ScoredSplit {
  const K = ds.modalities.length;
  const pat = assignPatterns(split.mask, K, dict);
  const out = predictSplit(model, split, ds.modalities, pat, batchSize);
  const base = { ids: split.ids, labels: split.labels, masks: maskStrings(split.mask, K) };
  if (!calibration) return { ...base, p: out.p, pFactual: out.pFactual };
  const r = servedRisks(out, calibration);
  return { ...base, p: r.pDo, pFactual: r.pFactual, pRaw: r.pDoRaw };
}

/** The calibration of the served risk: fitted on the validation split's p_do and labels (never on test). */
export function fitRunCalibration(model: CdmmModel, ds: PreparedDataset, dict: PatternDictionary, opts: TrainOptions): CalibrationRecord {
  const val = ds.splits.val;
  const method = calibrationOf(opts);
  if (method === 'none') return { method: 'none' };
  if (!val || val.ids.length === 0) return { method: 'none', requested: method, fallback: 'no validation patients' };
  const raw = scoreInputs(model, ds, val, dict, opts.evalBatchSize);
  return fitCalibrator(method, Float32Array.from(raw.p, (v) => Math.min(1, Math.max(0, v))), val.labels);
}

/**
 * Validation AUROC reweighted two ways: auroc_w with this run's own selection weights (its debiasing parts'), and
 * auroc_pb with full pattern–label balancing, the same weights for every configuration of a dataset and seed, so
 * that configurations can be compared (and the report's best one picked) on validation without the testing habit.
 */
export function validationAurocs(split: SplitArrays, p: Float32Array, dict: PatternDictionary, K: number, own: Float32Array | null): { auroc_w: number | null; auroc_pb: number | null } {
  const pat = assignPatterns(split.mask, K, dict);
  const pb = groupLabelWeights(pat, split.labels, dict.masks.length, 1, 1e6);
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  return { auroc_w: fin(own ? weightedAuroc(split.labels, p, own) : auroc(split.labels, p)), auroc_pb: fin(weightedAuroc(split.labels, p, pb)) };
}

/** NaN predictions during training mean the weights overflowed: said as such, with the option to change. */
function trainWithDivergenceMessage(ds: PreparedDataset, cfg: ModelConfig, opts: TrainOptions, hooks: TrainHooks) {
  try {
    return trainModel(ds, cfg, opts, hooks);
  } catch (e) {
    if (e instanceof CdmmError && /prediction \d+ is NaN/.test(e.message))
      throw new CdmmError(`training diverged: the model's predictions became NaN (its weights overflowed); try a lower --lr (now ${opts.lr}) or --clip-norm`);
    throw e;
  }
}

export async function trainRun(ds: PreparedDataset, src: DatasetSource, req: RunRequest, outDir: string, hooks: TrainHooks = {}): Promise<RunOutcome> {
  const cfg = modelConfigFor(req);
  const opts = req.train;
  checkModelSize(ds.modalities, cfg);
  const res = trainWithDivergenceMessage(ds, cfg, opts, hooks);
  const { model, dict } = res;
  try {
    const metrics: RunMetrics = { dataset: ds.name, backbone: cfg.backbone, debias: cfg.debias, seed: opts.seed, splits: {}, per_pattern: {} };
    const predictions: Partial<Record<SplitName, SplitPredictionsJson>> = {};
    const K0 = ds.modalities.length;
    const calibration = fitRunCalibration(model, ds, dict, opts);
    for (const name of SCORED) {
      const split = ds.splits[name];
      if (!split) continue;
      const s = scoreInputs(model, ds, split, dict, opts.evalBatchSize, calibration);
      const { metrics: m, perPattern } = scoreSplit(s, opts.bootstrap, opts.seed);
      if (name === 'val') Object.assign(m, validationAurocs(split, s.p, dict, K0, res.valWeights));
      metrics.splits[name] = m;
      if (name !== 'val') metrics.per_pattern[name] = perPattern;
      const ref = name !== 'val' && ds.reference && split.reference ? referenceMetrics(ds.reference.name, split.labels, split.reference, s.p, opts.bootstrap, opts.seed) : undefined;
      if (ref) (metrics.reference ??= {})[name] = ref;
      predictions[name] = predictionsJson(s);
    }

    const train = ds.splits.train;
    const K = ds.modalities.length;
    const trainPat = assignPatterns(train.mask, K, dict);
    const tout = predictSplit(model, train, ds.modalities, trainPat, opts.evalBatchSize);
    const insights = computeInsights({
      dict,
      labels: train.labels,
      patternIdx: trainPat,
      p: tout.p,
      pPatterns: tout.pPatterns,
      pSpurious: tout.pSpurious,
    });

    const manifest = await writeRun(outDir, {
      manifest: {
        dataset: ds.name,
        spec: src.spec,
        spec_path: resolve(src.specPath),
        config: {
          backbone: cfg.backbone,
          debias: cfg.debias,
          seed: opts.seed,
          split_seed: src.splitSeed,
          model: res.modelConfig,
          train: res.resolved,
          train_requested: opts,
          pos_weight: res.posWeight,
          best_epoch: res.bestEpoch,
          stopped_early: res.stoppedEarly,
          debias_parts: res.parts,
        },
        modalities: ds.modalities,
        patterns: { masks: dict.masks, prior: dict.prior },
        state: ds.state,
        typical: Object.fromEntries(Object.entries(observedMeans(ds.splits.train, ds.modalities)).map(([k, v]) => [k, Array.from(v)])),
        coverage: variableCoverage(ds.modalities, ds.splits.train.values, ds.splits.train.ids.length),
        calibration,
      },
      weights: model.stateDict(),
      metrics,
      insights,
      predictions,
      history: res.history,
      fitted: fittedIds({
        ids: [...ds.splits.train.ids, ...ds.splits.val.ids],
        labels: [...ds.splits.train.labels, ...ds.splits.val.labels],
        mask: [...ds.splits.train.mask, ...ds.splits.val.mask],
        K: ds.modalities.length,
        values: ds.modalities.map((m) => {
          const a = ds.splits.train.values[m.name], b = ds.splits.val.values[m.name];
          const v = new Float32Array(a.length + b.length);
          v.set(a);
          v.set(b, a.length);
          return v;
        }),
      }),
    }, { mayReplace: hooks.mayReplace });
    return { dir: resolve(outDir), manifest, metrics, insights, history: res.history, bestEpoch: res.bestEpoch, notes: [...res.notes, ...calibrationNotes(ds, calibration, metrics.splits.val), ...weakModelNotes(metrics.splits.val?.auroc, res.parts), ...tooGoodNotes(ds, metrics.splits.val?.auroc)] };
  } finally {
    model.dispose();
  }
}

/** A kept model whose validation AUROC is at most this ranks patients little better than chance. */
export const NEAR_CHANCE_AUROC = 0.6;

/**
 * A model that ranks validation patients near chance is said so; where the dual branch's weights were on and its
 * bias network ranked well, those weights are the likely cause (a real risk factor taken for a shortcut: a new
 * user's eICU task fell from validation AUROC 0.705 plain to 0.546, the bias network at 0.759).
 */
export function weakModelNotes(valAuroc: number | null | undefined, parts: Record<string, Record<string, unknown>> | undefined): string[] {
  if (typeof valAuroc !== 'number' || !(valAuroc <= NEAR_CHANCE_AUROC)) return [];
  const dual = parts?.dual;
  const bias = typeof dual?.bias_auroc === 'number' ? dual.bias_auroc : undefined;
  // Well under 0.5 is not "near chance": the ranking is inverted, which a weak signal alone does not do.
  const how = valAuroc < 0.4 ? 'below chance (the ranking is inverted: higher risks went to the patients without the outcome)' : 'near chance';
  if (dual?.on === true && bias !== undefined && bias >= NEAR_CHANCE_AUROC + 0.1)
    return [
      `the model's validation AUROC is ${valAuroc.toFixed(3)}, ${how}, while the dual branch's bias network reached ${bias.toFixed(3)}: its weights may have removed real signal ` +
        `(a discrete risk factor taken for a shortcut); compare with --debias deconfound and --debias none (cdmm benchmark --debias none,deconfound,full) before serving it, or use --gate off`,
    ];
  return [valAuroc < 0.4
    ? `the model's validation AUROC is ${valAuroc.toFixed(3)}, ${how}: check the label (its positive values, event values) and the features before serving it; on a small validation split it may be chance`
    : `the model's validation AUROC is ${valAuroc.toFixed(3)}, near chance: it ranks patients little better than a coin; check the label and the features before serving it`];
}

/** A validation AUROC from this up is rare in clinical data: more often a feature known only after the prediction time. */
export const SUSPICIOUS_AUROC = 0.99;

/**
 * A near-perfect validation AUROC is said, with what most often causes it (a new user's feature `discharge_location`,
 * "DIED" exactly when the label is 1, gave 1.000 with no word) and, on a small split, that it may be chance.
 */
export function tooGoodNotes(ds: PreparedDataset, valAuroc: number | null | undefined): string[] {
  if (typeof valAuroc !== 'number' || !(valAuroc >= SUSPICIOUS_AUROC)) return [];
  let pos = 0;
  for (const v of ds.splits.val.labels) pos += v >= 0.5 ? 1 : 0;
  const few = Math.min(pos, ds.splits.val.labels.length - pos);
  return [
    `the model's validation AUROC is ${valAuroc.toFixed(3)}: that good is rare in clinical data; check that no feature is known only after the prediction time ` +
      `(an outcome recorded with the stay, such as a discharge location or the length of stay, or the admission's own discharge diagnoses; docs/DATABASES.md, leakage traps)` +
      (few < FEW_FOR_CALIBRATION ? `; with ${few} validation patient${few === 1 ? '' : 's'} of the smaller class it may also be chance` : ''),
  ];
}

/** Fewer validation patients of a class than this: the calibration map is fitted on little, and may not help. */
export const FEW_FOR_CALIBRATION = 30;

/** Validation ECE raised by more than this (10 bins, in-sample): worth a word, not noise of the binning. */
const ECE_WORSE_BY = 0.002;

export function calibrationNotes(ds: PreparedDataset, c: CalibrationRecord, val?: { ece?: number | null; ece_raw?: number | null }): string[] {
  if (c.method === 'none') return [];
  const notes: string[] = [];
  const y = ds.splits.val.labels;
  let pos = 0;
  for (const v of y) pos += v >= 0.5 ? 1 : 0;
  const few = Math.min(pos, y.length - pos);
  if (few < FEW_FOR_CALIBRATION)
    notes.push(
      `calibration (${c.method}) was fitted on ${y.length} validation patients, ${pos} of them positive: with fewer than ${FEW_FOR_CALIBRATION} of a class it may not improve the risks; ` +
        `compare ECE with "uncalibrated" below, and consider --calibration none or a larger validation split`,
    );
  // The map minimises log-loss on validation, not ECE: where the raw risks were already calibrated it can bin worse.
  const after = val?.ece, before = val?.ece_raw;
  if (typeof after === 'number' && typeof before === 'number' && after > before + ECE_WORSE_BY)
    notes.push(
      `calibration (${c.method}) raised the validation ECE from ${before.toFixed(3)} (uncalibrated) to ${after.toFixed(3)} (the split it was fitted on): ` +
        `the model's own risks were already calibrated there; consider --calibration none`,
    );
  return notes;
}
