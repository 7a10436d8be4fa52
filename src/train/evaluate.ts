// Scoring a saved run: on its own test (and shift) split, re-prepared from the manifest's spec and split seed
// and checked against the fitted preprocessing state; or on another spec's patients (external validation)
// transformed with the run's fitted state and assigned to the run's pattern dictionary.
import { dirname, join, resolve } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { prepareDataset } from '../data/build.js';
import { outcomeDifferences, transformPatients } from '../data/transform.js';
import { loadSpec, type Spec } from '../data/spec.js';
import type { SplitArrays } from '../data/types.js';
import type { PatternMetrics } from '../eval/patterns.js';
import { referenceMetrics, type ReferenceMetrics } from '../eval/reference.js';
import { assignPatterns } from '../models/patterns.js';
import { coverageWarnings } from '../run/coverage.js';
import { scaleShiftWarnings, shiftSplitWarnings, unseenCategoryWarnings } from '../data/drift.js';
export { scaleShiftWarnings, unseenCategoryWarnings };
import { CdmmError } from '../util/errors.js';
import { maskStrings, predictSplit, servedRisks } from '../run/predict.js';
import { jsonPosition, runFiles, type LoadedRun } from '../run/run-io.js';
import { countFitted, FittedSchema, FITTED_FILE, type FittedIds } from '../run/fitted.js';
import { scoreSplit, type ScoredMetricSet } from './scoring.js';
import type { CalibrationRecord } from '../models/calibrator.js';

export interface EvaluationResult {
  run: string;
  dataset: string;
  /** The spec whose patients were scored. */
  spec_path: string;
  source: 'run-splits' | 'external';
  /** Metrics of the served (calibrated) risk, with ece_raw for the model's own p_do. */
  splits: Record<string, ScoredMetricSet>;
  /** The calibration applied (the run's; 'none' for runs before cdmm-model/3). */
  calibration: CalibrationRecord;
  per_pattern: Record<string, PatternMetrics[]>;
  /** External validation: patients left out, by reason. */
  exclusions?: Record<string, number>;
  /** With spec.reference: the reference score and the model on the same patients, per split. */
  reference?: Record<string, ReferenceMetrics>;
  /** What makes the figures less than they seem (e.g. an external spec reading the training cohort's file). */
  warnings?: string[];
}

export interface EvaluateOptions {
  /** Another spec: external validation on its patients. */
  specPath?: string;
  bootstrap?: number;
  cache?: boolean;
  quiet?: boolean;
  /** Read table files outside the spec's folder. */
  allowOutside?: boolean;
}

function scoreArrays(run: LoadedRun, split: SplitArrays, bootstrap: number, referenceName?: string) {
  const K = run.manifest.modalities.length;
  const pat = assignPatterns(split.mask, K, run.dict);
  const out = predictSplit(run.model, split, run.manifest.modalities, pat, 1024);
  // The risk predict and serve would give these patients: through the run's calibration.
  const r = servedRisks(out, run.calibration);
  // A risk that is not a probability (non-finite, or outside [0, 1]) is a damaged run or data far outside training:
  // named with the patient, not as the metrics' "prediction 0 is NaN".
  const bad = r.pDo.findIndex((p) => !(p >= 0 && p <= 1));
  if (bad >= 0)
    throw new CdmmError(`${join(run.dir, run.manifest.weights.file)}: the model gives patient ${JSON.stringify(split.ids[bad])} a risk of ${r.pDo[bad]}, not a probability: the run's weights are damaged, or the patient's values lie far outside training`);
  const scored = scoreSplit({ ids: split.ids, labels: split.labels, p: r.pDo, pFactual: r.pFactual, pRaw: r.pDoRaw, masks: maskStrings(split.mask, K) }, bootstrap, run.manifest.config.seed);
  const reference = referenceName && split.reference ? referenceMetrics(referenceName, split.labels, split.reference, r.pDo, bootstrap, run.manifest.config.seed) : undefined;
  return { ...scored, reference };
}

export async function evaluateRun(run: LoadedRun, o: EvaluateOptions = {}): Promise<EvaluationResult> {
  const m = run.manifest;
  const bootstrap = o.bootstrap ?? 1000;
  const result = (specPath: string, source: EvaluationResult['source']): EvaluationResult => ({
    run: run.dir, dataset: m.dataset, spec_path: specPath, source, splits: {}, per_pattern: {}, calibration: run.calibration,
  });

  if (o.specPath) {
    const t = await transformPatients(m.spec as Spec, dirname(m.spec_path), m.state, { specPath: o.specPath, allowOutside: o.allowOutside });
    if (!t.labels) throw new CdmmError(`${o.specPath}: the spec defines no label, so its patients cannot be scored`);
    if (t.ids.length === 0) throw new CdmmError(`${o.specPath}: no patient to score after the cohort and modality checks`);
    const split: SplitArrays = { ids: t.ids, labels: t.labels, mask: t.mask, values: t.values, ...(t.reference ? { reference: t.reference.values } : {}) };
    const s = scoreArrays(run, split, bootstrap, t.reference?.name);
    const r = result(o.specPath, 'external');
    r.splits.external = s.metrics;
    r.per_pattern.external = s.perPattern;
    if (s.reference) r.reference = { external: s.reference };
    if (t.exclusions) r.exclusions = t.exclusions;
    const unseen = [
      ...unseenCategoryWarnings(run.manifest.modalities, t.values, t.ids.length),
      ...scaleShiftWarnings(run.manifest.modalities, t.values, t.mask, t.ids.length),
      ...coverageWarnings(run.manifest, t, t.ids.length).map((w) => w.message),
    ].map((w) => `${o.specPath}: ${w}`);
    const fitted = readFitted(run.dir);
    if (fitted) {
      // By id, label, modality mask and features, whatever file the patients come from (a renamed copy of the
      // training file too). Ids shared by chance (another source numbering patients 1, 2, …) differ in the rest.
      const c = countFitted(fitted, { ids: t.ids, labels: t.labels, mask: t.mask, K: run.manifest.modalities.length, values: run.manifest.modalities.map((mod) => t.values[mod.name]) });
      const by = 'version' in fitted ? 'id, label, missing modalities and features' : 'id, label and missing modalities';
      const byRow = c.rows > 0 && c.rows >= 0.5 * c.ids
        ? `${c.rows} of its ${t.ids.length} patients are, by ${by}, training or validation patients of the run, so these figures are not an external validation (without --spec, evaluate scores the run's held-out test split)`
        : undefined;
      // The same patients at another prediction time (or with other features) differ in all but their ids: from
      // the run's own cohort file, the ids are checked against the rebuilt training patients (exact), and the
      // by-row count stands where that rebuild cannot be done.
      const same = sameCohortFile(m.spec as Spec, m.spec_path, o.specPath);
      const byId = same ? await trainingOverlap(run, t.ids, o, same) : undefined;
      const w = byId && (!byRow || byId.n > c.rows) ? byId.text : byRow;
      if (w) r.warnings = [`${o.specPath}: ${w}`];
    } else {
      // A run folder from before fitted.json: only the run's own cohort file can be checked, by rebuilding it.
      const same = sameCohortFile(m.spec as Spec, m.spec_path, o.specPath);
      if (same) {
        const w = await trainingOverlap(run, t.ids, o, same);
        if (w) r.warnings = [`${o.specPath}: ${w.text}`];
      }
    }
    if (unseen.length) r.warnings = [...(r.warnings ?? []), ...unseen];
    const outcome = outcomeDifferences(m.spec as Spec, loadSpec(o.specPath));
    if (outcome.length)
      r.warnings = [...(r.warnings ?? []), `${o.specPath}: ${outcome.join('; ')}: these figures score another task than the one the model was trained for`];
    return r;
  }

  const ds = await runDataset(run, o);
  const r = result(m.spec_path, 'run-splits');
  for (const name of ['test', 'shift'] as const) {
    const split = ds.splits[name];
    if (!split) continue;
    const s = scoreArrays(run, split, bootstrap, ds.reference?.name);
    r.splits[name] = s.metrics;
    r.per_pattern[name] = s.perPattern;
    if (s.reference) (r.reference ??= {})[name] = s.reference;
  }
  const drift = shiftSplitWarnings(m.modalities, ds.splits.shift);
  if (drift.length) r.warnings = drift;
  return r;
}

/** The dataset the run was trained on, rebuilt from its spec (cached); an error when that spec or its tables changed. */
async function runDataset(run: LoadedRun, o: EvaluateOptions) {
  const m = run.manifest;
  if (!existsSync(m.spec_path))
    throw new CdmmError(`${m.spec_path}: the run's spec file is gone; pass --spec to score another spec's patients`);
  // spec_path comes from the run folder (untrusted): it must hold the spec the run was trained with, and what else
  // it holds is not quoted back (a parse error would list the keys of whatever file it names).
  let same = false;
  try {
    same = JSON.stringify(loadSpec(m.spec_path)) === JSON.stringify(m.spec);
  } catch {
    same = false;
  }
  if (!same)
    throw new CdmmError(`${m.spec_path}: is not the spec this run was trained with (it was changed, or the run folder names another file); score other data with --spec`);
  const ds = await prepareDataset(m.spec_path, { cache: o.cache ?? true, quiet: o.quiet, seed: m.config.split_seed ?? undefined, allowOutside: o.allowOutside });
  // The data code's version is compared apart: a build that is the same but for it is the same preprocessing.
  const versionOf = (st: unknown) => (st as { version?: unknown }).version;
  const rest = (st: unknown) => JSON.stringify({ ...(st as object), version: undefined });
  if (rest(ds.state) !== rest(m.state) || JSON.stringify(ds.modalities) !== JSON.stringify(m.modalities)) {
    const was = versionOf(m.state), now = versionOf(ds.state);
    throw new CdmmError(
      was !== now
        ? `${m.spec_path}: the run was built by cdmm's data code ${JSON.stringify(was)} and this cdmm builds ${JSON.stringify(now)}, whose dataset differs from the run's fitted preprocessing, so the run's test split cannot be rebuilt as it was: retrain the run, or score the patients as external data with --spec`
        : `${m.spec_path}: the dataset built from this spec no longer matches the run's fitted preprocessing (the spec or its tables changed since training); ` +
          `score it as external data with --spec instead`,
    );
  }
  return ds;
}

/**
 * When an "external" spec reads the run's own cohort file, how many of its patients the run was fitted on: its
 * training and validation splits (validation chose the epoch and fitted the calibration). The spec's filters may
 * select other patients of the same file, e.g. another hospital. Undefined when none were fitted on.
 */
async function trainingOverlap(run: LoadedRun, ids: string[], o: EvaluateOptions, file: string): Promise<{ n: number; text: string } | undefined> {
  let fitted: Set<string>;
  try {
    // The run's own spec, rebuilt as evaluate rebuilds its test split: with the user's --allow-outside, which a run
    // trained on files outside its spec's folder needs (without it the check failed and warned of an overlap that
    // a tester's disjoint hospitals did not have).
    const ds = await runDataset(run, { ...o, quiet: true });
    fitted = new Set([...ds.splits.train.ids, ...ds.splits.val.ids]);
  } catch {
    // (n 0: any count found by row says more)
    return { n: 0, text: `its cohort table is the file the run was trained on (${file}) and the run's training patients could not be rebuilt to check, so its patients may include them: these figures may not be an external validation` };
  }
  const n = ids.filter((id) => fitted.has(id)).length;
  if (n === 0) return undefined;
  return { n, text: `${n} of its ${ids.length} patients are training or validation patients of the run (its cohort table is the file the run was trained on, ${file}), so these figures are not an external validation (without --spec, evaluate scores the run's held-out test split)` };
}

/** The run's fitted.json (checked against SHA256SUMS), or undefined for a run folder written before it existed. */
function readFitted(dir: string): FittedIds | undefined {
  if (!existsSync(join(dir, FITTED_FILE))) return undefined;
  const bytes = runFiles(dir)(FITTED_FILE);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    // The parser's message quotes the text: not for a file of a run folder (it may be a link to something else).
    throw new CdmmError(`${join(dir, FITTED_FILE)}: not valid JSON${jsonPosition(e)}`);
  }
  const r = FittedSchema.safeParse(doc);
  if (!r.success) throw new CdmmError(`${join(dir, FITTED_FILE)}: not a list of fitted patients as cdmm writes it`);
  return r.data;
}

/** The cohort table file both specs read, when they read the same one (compared by real path). */
function sameCohortFile(runSpec: Spec, runSpecPath: string, otherSpecPath: string): string | undefined {
  const real = (dir: string, spec: Spec) => {
    const f = spec.tables[spec.cohort.table]?.file;
    const p = f === undefined ? undefined : resolve(dir, f);
    return p && existsSync(p) ? realpathSync(p) : undefined;
  };
  const ours = real(dirname(runSpecPath), runSpec);
  const theirs = real(dirname(resolve(otherSpecPath)), loadSpec(otherSpecPath));
  return ours !== undefined && ours === theirs ? ours : undefined;
}
