// The Predictor: a loaded run folder that turns new patients (JSON records or table files) into predictions
// with the run's fitted preprocessing, pattern dictionary and model: the debiased risk p_do, the factual risk,
// the missingness pattern, and per modality the counterfactual risk and the contribution. Shared by
// `cdmm predict` and `cdmm serve`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { transformPatients, unreadableValues, type PatientRecord, type TransformResult, type TransformSource } from '../data/transform.js';
import type { PathPolicy } from '../data/paths.js';
import { formatPath, type Spec } from '../data/spec.js';
import type { ModalityInfo } from '../data/types.js';
import { assignPatterns } from '../models/patterns.js';
import type { CdmmModel } from '../models/index.js';
import type { PatternDictionary } from '../models/types.js';
import { predictSplit } from '../train/predict.js';
import { loadRun, type RunManifest } from '../train/run-io.js';
import { CdmmError } from '../util/errors.js';
import { readPatientInput, type PatientInput } from './input.js';
import { loadTypical, type Typical } from './typical.js';
import { makeRecordValidator, type InputIssue, type RecordValidator } from './validate.js';
import { maskString, stackVariants, type Change } from './variants.js';

export interface Counterfactual {
  /** 'observed': the missing modality made observed at typical values; 'removed': the present one made missing. */
  change: Change;
  mask: string;
  pattern: string;
  p_do: number;
  p_factual: number;
}

export interface ModalityPrediction {
  observed: boolean;
  /** null when undefined: removing the only observed modality, or no typical values for a missing one. */
  counterfactual: Counterfactual | null;
  /** Present modalities: p_do − p_do with the modality removed (null when it is the only one). Missing: null. */
  contribution: number | null;
}

export interface PatientPrediction {
  id: string;
  /** The debiased risk (back-door adjusted p_do; σ(logit) for runs without deconfounding). */
  p_do: number;
  /** The factual risk σ(h(c, e_{m_i})) for the patient's own pattern. */
  p_factual: number;
  /** Observed modalities as 0/1 in the run's modality order. */
  mask: string;
  /** The dictionary pattern the mask was assigned to (rare masks merge into the nearest frequent one). */
  pattern: string;
  modalities_used: string[];
  modalities: Record<string, ModalityPrediction>;
  /** Outcome label, when the input was a spec that defines one (external validation). */
  label?: number;
}

export interface PredictionSet {
  predictions: PatientPrediction[];
  /** Patients of the input left out by the data layer, by reason. */
  excluded?: Record<string, number>;
  /** Table files input: the spec's tables that were not found (their modalities count as missing). */
  missingTables?: string[];
}

/** A bad request or input file; `issues` name the field paths. */
export class InputError extends CdmmError {
  constructor(readonly issues: InputIssue[], where = '') {
    super(issues.map((i) => `${where}${i.path}: ${i.message}`).join('\n'));
    this.name = 'InputError';
  }
}

export interface PredictorOptions {
  /** Most records in one request or call to predictRecords (default 1000). */
  maxRecords?: number;
  /** Patients scored per model call (with their K counterfactual copies each). */
  chunkSize?: number;
  /** Use typical values (from the manifest, else rebuilt from the training data); false = none (default true). */
  rebuildTypical?: boolean;
}

/** DuckDB messages that mean a value of the input could not be read as its column type. */
const INPUT_SQL_ERROR = /^(Conversion|Invalid Input|Out of Range) Error/;
const sig = (x: number) => Number(x.toPrecision(7));

/**
 * How far a patient's numbers (risks, counterfactual risks, contributions) may move with the rest of the request:
 * libtorch's float32 CPU kernels sum in an order that depends on the batch size and the CPU, so a patient scored
 * alone and in a batch agree to about 1e-7, not bit for bit. The README states this bound; tests use it.
 */
export const PREDICTION_TOLERANCE = 1e-6;

export class Predictor {
  readonly modalities: ModalityInfo[];
  private readonly K: number;
  private readonly spec: Spec;
  private readonly specDir: string;
  private readonly validator: RecordValidator;
  private readonly tableTypes: Record<string, Record<string, string>>;
  private readonly summaryJson: Record<string, unknown>;
  /**
   * True when the model's output for a patient depends on the other patients in its batch (M3Care imputes from
   * similar patients in the batch, MUSE passes messages over the batch's graph): each patient is then scored
   * alone, so that an answer never depends on who else was in the request.
   */
  readonly batchDependent: boolean;
  private disposed = false;

  private constructor(
    readonly runDir: string,
    readonly manifest: RunManifest,
    private readonly model: CdmmModel,
    private readonly dict: PatternDictionary,
    readonly typical: Typical,
    private readonly opts: Required<PredictorOptions>,
    /** What loading the run found worth saying (a version difference, an old format): the commands print it. */
    readonly warnings: string[] = [],
  ) {
    this.modalities = manifest.modalities;
    this.K = this.modalities.length;
    this.spec = manifest.spec as Spec;
    this.specDir = dirname(manifest.spec_path);
    const st = manifest.state as { tableTypes?: Record<string, Record<string, string>> };
    if (!st?.tableTypes) throw new CdmmError(`${join(runDir, 'manifest.json')}: the fitted state has no table column types`);
    this.tableTypes = st.tableTypes;
    const idColumns = Object.fromEntries(Object.entries(this.spec.tables).map(([n, t]) => [n, t.id ?? (t.format === 'meds' ? 'subject_id' : '')]));
    const idx = this.spec.cohort.index_time;
    const indexTime = typeof idx === 'string' ? { table: this.spec.cohort.table, column: idx } : undefined;
    this.validator = makeRecordValidator(st.tableTypes, idColumns, { maxRecords: opts.maxRecords, indexTime });
    this.batchDependent = this.probeBatchDependence();
    this.summaryJson = { ...buildSummary(runDir, manifest, this.spec, typical), scoring: this.batchDependent ? 'per-patient' : 'batched' };
  }

  /** Scores a patient alone and next to a different one: any change means the batch matters. */
  private probeBatchDependence(): boolean {
    const K = this.K;
    const mask = new Uint8Array(2 * K).fill(1);
    mask.fill(0, K + 1);
    const values: Record<string, Float32Array> = {};
    for (const m of this.modalities) {
      const D = m.shape.reduce((a, b) => a * b, 1);
      const v = new Float32Array(2 * D);
      for (let d = 0; d < D; d++) v[d] = Math.sin(d + 1);
      for (let d = 0; d < D; d++) v[D + d] = m === this.modalities[0] ? -2 * Math.cos(d) : 0;
      values[m.name] = v;
    }
    const pat = assignPatterns(mask, K, this.dict);
    const both = predictSplit(this.model, { ids: ['a', 'b'], mask, values }, this.modalities, pat, 2).p;
    // Patient a is fully observed, b misses all but one modality: imputation from the batch shows in b.
    return [0, 1].some((i) => {
      const one = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.subarray((i * v.length) / 2, ((i + 1) * v.length) / 2)]));
      const alone = predictSplit(this.model, { ids: ['x'], mask: mask.subarray(i * K, (i + 1) * K), values: one }, this.modalities, pat.subarray(i, i + 1), 1).p[0];
      return Math.abs(both[i] - alone) > 1e-5;
    });
  }

  static async load(runDir: string, opts: PredictorOptions = {}): Promise<Predictor> {
    const run = loadRun(runDir);
    try {
      const typical = await loadTypical(run.manifest, run.manifest.modalities, { rebuild: opts.rebuildTypical ?? true });
      const full = { maxRecords: opts.maxRecords ?? 1000, chunkSize: opts.chunkSize ?? 256, rebuildTypical: opts.rebuildTypical ?? true };
      return new Predictor(run.dir, run.manifest, run.model, run.dict, typical, full, run.warnings);
    } catch (e) {
      run.model.dispose();
      throw e;
    }
  }

  /** What the model is and what it expects (GET /v1/model). */
  summary(): Record<string, unknown> {
    return this.summaryJson;
  }

  get maxRecords(): number {
    return this.opts.maxRecords;
  }

  /** Checks a list of records against the fitted spec; issues carry paths under `prefix`. */
  validate(input: unknown, prefix: (string | number)[] = ['records']) {
    return this.validator(input, prefix);
  }

  /** Validates and scores records; bad input throws an InputError naming the field paths. */
  async predictRecords(input: unknown): Promise<PatientPrediction[]> {
    const v = this.validate(input);
    if (!v.ok) throw new InputError(v.issues);
    const [r] = await this.predictRecordGroups([v.records]);
    if (r instanceof Error) throw r;
    return r;
  }

  /**
   * Scores several already validated groups of records (one per request) with one pass through the data layer
   * for all of them (a DuckDB build costs the same for 1 or 100 patients); the model then scores each group on
   * its own, so a group's answer never depends on the others. A group whose records the data layer rejects gets
   * its own error; the others still get their predictions.
   */
  async predictRecordGroups(groups: PatientRecord[][]): Promise<(PatientPrediction[] | Error)[]> {
    this.assertOpen();
    if (groups.length === 1) return [await this.predictGroup(groups[0]).catch((e: unknown) => asError(e))];
    const merged = groups.flatMap((recs, g) => recs.map((r) => ({ ...r, id: `${g}:${r.id}` })));
    let t: TransformResult;
    try {
      t = await this.transform({ records: merged });
    } catch {
      // One group's records broke the shared pass: each group alone, so the error reaches only its sender.
      const out: (PatientPrediction[] | Error)[] = [];
      for (const recs of groups) out.push(await this.predictGroup(recs).catch((e: unknown) => asError(e)));
      return out;
    }
    const rowsOf = groups.map(() => [] as number[]);
    const idsOf = groups.map(() => [] as string[]);
    t.ids.forEach((id, row) => {
      const sep = id.indexOf(':');
      const g = Number(id.slice(0, sep));
      rowsOf[g].push(row);
      idsOf[g].push(id.slice(sep + 1));
    });
    return groups.map((recs, g) => {
      try {
        checkAllScored(recs, idsOf[g], t.exclusions);
        return inRecordOrder(recs, this.scoreArrays(idsOf[g], takeRows(t, rowsOf[g], this.modalities)));
      } catch (e) {
        return asError(e);
      }
    });
  }

  /** Patients in table files, a dataset spec, or JSON/JSONL records (see input.ts). */
  /** `policy.allowOutside`: table files named by a spec or mapping may lie outside its folder (--allow-outside). */
  async predictFiles(path: string, policy: PathPolicy = {}): Promise<PredictionSet> {
    this.assertOpen();
    const input: PatientInput = readPatientInput(path, this.spec, policy);
    if (input.kind === 'records') {
      const v = this.validate(input.records);
      if (!v.ok) {
        // JSONL: say the line, not the position in the list.
        const lines = input.lines;
        const issues = lines ? v.issues.map((i) => ({ ...i, path: i.path.replace(/^records\[(\d+)\](\.?)/, (_, k: string, dot: string) => `line ${lines[Number(k)]}${dot ? ': ' : ''}`) })) : v.issues;
        throw new InputError(issues, `${path}: `);
      }
      return { predictions: await this.predictGroup(v.records, `${path}: `) };
    }
    const t = await this.transform(input.kind === 'tables' ? { tables: input.tables } : { specPath: input.specPath, allowOutside: policy.allowOutside }, `${path}: `);
    if (!t.ids.length) throw new CdmmError(`${path}: no patient to predict${t.exclusions ? ` (left out: ${formatCounts(t.exclusions)})` : ''}`);
    const predictions = this.scoreArrays(t.ids, t);
    if (t.labels) predictions.forEach((p, i) => (p.label = t.labels![i]));
    const used = new Set(Object.values(this.spec.modalities).map((m) => m.table));
    const missingTables = input.kind === 'tables' ? Object.keys(this.spec.tables).filter((n) => used.has(n) && !Object.hasOwn(input.tables, n)) : [];
    return { predictions, ...(t.exclusions ? { excluded: t.exclusions } : {}), ...(missingTables.length ? { missingTables } : {}) };
  }

  /** Frees the model's tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error('Predictor was disposed');
  }

  private async predictGroup(records: PatientRecord[], where = ''): Promise<PatientPrediction[]> {
    const t = await this.transform({ records }, where);
    checkAllScored(records, t.ids, t.exclusions);
    return inRecordOrder(records, this.scoreArrays(t.ids, t));
  }

  private async transform(source: TransformSource, where = ''): Promise<TransformResult> {
    try {
      return await transformPatients(this.spec, this.specDir, this.manifest.state, source);
    } catch (e) {
      if (e instanceof CdmmError) throw where ? new CdmmError(`${where}${e.message}`, e.exitCode) : e;
      const msg = (e as Error)?.message ?? String(e);
      if (!INPUT_SQL_ERROR.test(msg)) throw e;
      // Name the cells DuckDB could not read (validation lets few through, e.g. a type it does not check).
      const bad = 'records' in source ? await unreadableValues(this.spec, this.tableTypes, source.records).catch(() => []) : [];
      if (bad.length) throw new InputError(bad.map((b) => ({ path: formatPath(['records', ...b.path]), message: `cannot be read as ${b.type}` })), where);
      throw new InputError([{ path: 'records', message: `a value cannot be read as its column's type (${msg.split('\n')[0]})` }], where);
    }
  }

  /** The engine part: factual and counterfactual scores for patients already as arrays. Synchronous. */
  scoreArrays(ids: string[], arrays: Pick<TransformResult, 'mask' | 'values'>): PatientPrediction[] {
    this.assertOpen();
    const { K, modalities, dict } = this;
    const out: PatientPrediction[] = [];
    const chunkSize = this.batchDependent ? 1 : this.opts.chunkSize;
    for (let start = 0; start < ids.length; start += chunkSize) {
      const n = Math.min(chunkSize, ids.length - start);
      const rows = Array.from({ length: n }, (_, i) => start + i);
      const chunk = takeRows(arrays, rows, modalities);
      const st = stackVariants(n, chunk.mask, chunk.values, modalities, this.typical.values);
      const pat = assignPatterns(st.mask, K, dict);
      // One model call per block of n rows (batch size n): each block is the factual or one flipped copy.
      const res = predictSplit(this.model, { ids: new Array<string>(st.mask.length / K).fill(''), mask: st.mask, values: st.values }, modalities, pat, n);
      for (let i = 0; i < n; i++) {
        const p = res.p[i];
        const mods: Record<string, ModalityPrediction> = {};
        const used: string[] = [];
        modalities.forEach((m, k) => {
          const observed = chunk.mask[i * K + k] === 1;
          if (observed) used.push(m.name);
          const row = (k + 1) * n + i;
          const defined = st.defined[k * n + i] === 1;
          mods[m.name] = {
            observed,
            counterfactual: defined
              ? { change: observed ? 'removed' : 'observed', mask: maskString(st.mask, K, row), pattern: dict.masks[pat[row]], p_do: sig(res.p[row]), p_factual: sig(res.pFactual[row]) }
              : null,
            contribution: defined && observed ? sig(p - res.p[row]) : null,
          };
        });
        out.push({
          id: ids[start + i],
          p_do: sig(p),
          p_factual: sig(res.pFactual[i]),
          mask: maskString(chunk.mask, K, i),
          pattern: dict.masks[pat[i]],
          modalities_used: used,
          modalities: mods,
        });
      }
    }
    return out;
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Predictions in the order of the records that asked for them (the data layer may order patients otherwise). */
function inRecordOrder(records: PatientRecord[], preds: PatientPrediction[]): PatientPrediction[] {
  const byId = new Map(preds.map((p) => [p.id, p]));
  return records.map((r) => byId.get(r.id)!);
}

function formatCounts(c: Record<string, number>): string {
  return Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ');
}

/** Every record must come back scored; the data layer may leave patients out (e.g. no modality observed). */
function checkAllScored(records: PatientRecord[], ids: string[], exclusions?: Record<string, number>): void {
  if (ids.length === records.length) return;
  const got = new Set(ids);
  const issues = records.flatMap((r, i) => (got.has(r.id) ? [] : [{ path: `records[${i}]`, message: `patient ${JSON.stringify(r.id)} was left out${exclusions ? ` (${formatCounts(exclusions)})` : ''}` }]));
  throw new InputError(issues.slice(0, 20));
}

/** The given rows of mask and values, as a new compact set of arrays. */
function takeRows(a: Pick<TransformResult, 'mask' | 'values'>, rows: number[], modalities: ModalityInfo[]): Pick<TransformResult, 'mask' | 'values'> {
  const K = modalities.length;
  const mask = new Uint8Array(rows.length * K);
  const values: Record<string, Float32Array> = {};
  rows.forEach((r, i) => mask.set(a.mask.subarray(r * K, (r + 1) * K), i * K));
  for (const m of modalities) {
    const D = m.shape.reduce((x, y) => x * y, 1);
    const src = a.values[m.name];
    const dst = new Float32Array(rows.length * D);
    rows.forEach((r, i) => dst.set(src.subarray(r * D, (r + 1) * D), i * D));
    values[m.name] = dst;
  }
  return { mask, values };
}

function buildSummary(runDir: string, m: RunManifest, spec: Spec, typical: Typical): Record<string, unknown> {
  const metricsPath = join(runDir, 'metrics.json');
  let metrics: unknown = null;
  if (existsSync(metricsPath)) {
    try {
      metrics = (JSON.parse(readFileSync(metricsPath, 'utf8')) as { splits?: unknown }).splits ?? null;
    } catch {
      metrics = null;
    }
  }
  const st = m.state as { tableTypes: Record<string, Record<string, string>> };
  return {
    format: m.format,
    dataset: m.dataset,
    created: m.created,
    versions: { cdmm: m.cdmm_version, libtorch: m.libtorch_version },
    config: { backbone: m.config.backbone, debias: m.config.debias, seed: m.config.seed, model: m.config.model, best_epoch: m.config.best_epoch },
    modalities: m.modalities.map((x) => ({ name: x.name, type: x.type, shape: x.shape, features: x.features, input: spec.modalities[x.name] })),
    input: {
      tables: Object.fromEntries(Object.entries(spec.tables).map(([n, t]) => [n, { id: t.id ?? null, time: t.time ?? null, columns: st.tableTypes[n] }])),
      cohort_table: spec.cohort.table,
      index_time: spec.cohort.index_time,
    },
    patterns: m.patterns,
    metrics,
    // Not the note itself to HTTP clients: a failed rebuild's message may quote the file at spec_path.
    typical_values: typical.note ? { source: typical.source, note: typical.reason ?? typical.note } : { source: typical.source },
  };
}
