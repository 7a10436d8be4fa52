// Loading a run for serving: the run folder (src/run, every check of loading), its typical values, whether its
// backbone's output depends on the batch, and its fitted state compiled for JSON records (or why not).
import { join } from 'node:path';
import type { DataState } from '../data/build.js';
import { tryCompileRecordTransform, type RecordTransform } from '../data/compiled/index.js';
import type { Spec } from '../data/spec.js';
import { recordTableTypes } from '../data/records.js';
import type { ModalityInfo } from '../data/types.js';
import { assignPatterns } from '../models/patterns.js';
import type { CdmmModel } from '../models/index.js';
import type { PatternDictionary } from '../models/types.js';
import { predictSplit } from '../run/predict.js';
import { loadRun, type LoadedRun } from '../run/run-io.js';
import { CdmmError } from '../util/errors.js';
import { loadTypical, type Typical } from './typical.js';

export interface ServedRun extends LoadedRun {
  spec: Spec;
  state: DataState;
  typical: Typical;
  /**
   * True when the model's output for a patient depends on the other patients in its batch (M3Care imputes from
   * similar patients in the batch, MUSE passes messages over the batch's graph): each patient is then scored
   * alone, so that an answer never depends on who else was in the request.
   */
  batchDependent: boolean;
  /** JSON records → arrays without SQL, or why the run takes the SQL path. */
  compiled: RecordTransform | { unsupported: string };
}

export async function loadServedRun(runDir: string, opts: { rebuildTypical: boolean }): Promise<ServedRun> {
  const run = loadRun(runDir);
  try {
    const typical = await loadTypical(run.manifest, run.manifest.modalities, { rebuild: opts.rebuildTypical });
    const trained = run.manifest.state as DataState;
    if (!trained?.tableTypes) throw new CdmmError(`${join(run.dir, 'manifest.json')}: the fitted state has no table column types`);
    const spec = run.manifest.spec as Spec;
    // Records are read with these types (numeric value columns as DOUBLE), by the validator and both transforms.
    const state: DataState = { ...trained, tableTypes: recordTableTypes(spec, trained.tableTypes) };
    return {
      ...run,
      spec,
      state,
      typical,
      batchDependent: probeBatchDependence(run.model, run.manifest.modalities, run.dict),
      compiled: tryCompileRecordTransform(spec, state, run.manifest.modalities),
    };
  } catch (e) {
    run.model.dispose();
    throw e;
  }
}

/** Scores a patient alone and next to a different one: any change means the batch matters. */
function probeBatchDependence(model: CdmmModel, modalities: ModalityInfo[], dict: PatternDictionary): boolean {
  const K = modalities.length;
  const mask = new Uint8Array(2 * K).fill(1);
  mask.fill(0, K + 1);
  const values: Record<string, Float32Array> = {};
  for (const m of modalities) {
    const D = m.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(2 * D);
    for (let d = 0; d < D; d++) v[d] = Math.sin(d + 1);
    for (let d = 0; d < D; d++) v[D + d] = m === modalities[0] ? -2 * Math.cos(d) : 0;
    values[m.name] = v;
  }
  const pat = assignPatterns(mask, K, dict);
  const both = predictSplit(model, { ids: ['a', 'b'], mask, values }, modalities, pat, 2).p;
  // Patient a is fully observed, b misses all but one modality: imputation from the batch shows in b.
  return [0, 1].some((i) => {
    const one = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.subarray((i * v.length) / 2, ((i + 1) * v.length) / 2)]));
    const alone = predictSplit(model, { ids: ['x'], mask: mask.subarray(i * K, (i + 1) * K), values: one }, modalities, pat.subarray(i, i + 1), 1).p[0];
    return Math.abs(both[i] - alone) > 1e-5;
  });
}
