// The Predictor: a loaded run folder that turns new patients (JSON records or table files) into predictions with
// the run's fitted preprocessing, pattern dictionary and model. Shared by `cdmm predict` and `cdmm serve`.
// Loading is load.ts, scoring scoring.ts, the /v1/model summary summary.ts; this file routes patients: JSON
// records through the compiled transform (src/data/compiled: no SQL), table files and specs (and records of runs
// the compiler declines) through the SQL path (src/data/transform.ts).
import { dirname } from 'node:path';
import { NO_OBSERVED_MODALITY, type RecordArrays, type RecordTransform } from '../data/compiled/index.js';
import { columnClass } from '../data/compiled/cells.js';
import type { PathPolicy } from '../data/paths.js';
import { own } from '../data/records.js';
import { formatPath, timeColumns, timeUnitsPerDay, type Spec } from '../data/spec.js';
import { transformPatients, unreadableValues, type PatientRecord, type TransformResult, type TransformSource } from '../data/transform.js';
import type { ModalityInfo } from '../data/types.js';
import { coverageWarnings } from '../run/coverage.js';
import type { RunManifest } from '../run/run-io.js';
import { CdmmError } from '../util/errors.js';
import { readPatientInput, type PatientInput } from './input.js';
import { loadServedRun, type ServedRun } from './load.js';
import { Scorer, type PatientArrays } from './scoring.js';
import { buildSummary } from './summary.js';
import { recordNotes } from './notes.js';
import type { Typical } from './typical.js';
import { InputError, type PatientPrediction, type PredictionSet } from './types.js';
import { makeRecordValidator, type RecordValidator } from './validate.js';
import { kindOf } from '../data/db.js';

export { InputError, PREDICTION_TOLERANCE, type Counterfactual, type ModalityPrediction, type PatientPrediction, type PredictionSet } from './types.js';

export interface PredictorOptions {
  /** Most records in one request or call to predictRecords (default 1000). */
  maxRecords?: number;
  /** Patients scored per model call (with their K counterfactual copies each; default 256). */
  chunkSize?: number;
  /** Use typical values (from the manifest, else rebuilt from the training data); false = none (default true). */
  rebuildTypical?: boolean;
}

/** DuckDB messages that mean a value of the input could not be read as its column type. */
const INPUT_SQL_ERROR = /^(Conversion|Invalid Input|Out of Range) Error/;

export class Predictor {
  readonly runDir: string;
  readonly manifest: RunManifest;
  readonly modalities: ModalityInfo[];
  readonly typical: Typical;
  /** What loading the run found worth saying (a version difference, an old format): the commands print it. */
  readonly warnings: string[];
  /** Scored one patient (and one row) per model call: see ServedRun.batchDependent. */
  readonly batchDependent: boolean;
  /**
   * A request's records may be scored in slices (transformed apart): the compiled path without a lookup across
   * records. A lookup matches rows across the records transformed together, and the SQL path takes a request whole.
   */
  get sliceable(): boolean {
    return this.compiled !== null && !this.compiled.crossRecord;
  }
  readonly maxRecords: number;
  private readonly spec: Spec;
  private readonly specDir: string;
  private readonly tableTypes: Record<string, Record<string, string>>;
  private readonly validator: RecordValidator;
  private readonly scorer: Scorer;
  /** The compiled transform for JSON records; null: the SQL path (compiledNote says why). */
  private readonly compiled: RecordTransform | null;
  /** Per table, the columns of a type only DuckDB reads (checked by DuckDB when a record fills one). */
  private readonly duckColumns: [string, string[]][];
  private readonly summaryJson: Record<string, unknown>;
  /** Adds the notes on what of each record the model could not use (notes.ts). */
  private readonly addNotes: ReturnType<typeof recordNotes>;
  private disposed = false;

  private constructor(private readonly run: ServedRun, opts: Required<PredictorOptions>) {
    this.runDir = run.dir;
    this.manifest = run.manifest;
    this.modalities = run.manifest.modalities;
    this.typical = run.typical;
    this.warnings = run.warnings;
    this.batchDependent = run.batchDependent;
    this.maxRecords = opts.maxRecords;
    this.spec = run.spec;
    this.specDir = dirname(run.manifest.spec_path);
    this.tableTypes = run.state.tableTypes;
    const idColumns = Object.fromEntries(Object.entries(this.spec.tables).map(([n, t]) => [n, t.id ?? (t.format === 'meds' ? 'subject_id' : '')]));
    const idx = this.spec.cohort.index_time;
    const indexTime = typeof idx === 'string' ? { table: this.spec.cohort.table, column: idx } : undefined;
    const valueMaps = Object.fromEntries(Object.entries(this.spec.tables).filter(([, t]) => t.values).map(([n, t]) => [n, t.values!]));
    const naValues = Object.fromEntries(Object.entries(this.spec.tables).filter(([, t]) => t.na_values?.length).map(([n, t]) => [n, t.na_values!]));
    const links = Object.fromEntries(Object.entries(this.spec.tables).filter(([, t]) => t.link).map(([n, t]) => [n, t.link!]));
    this.validator = makeRecordValidator(this.tableTypes, idColumns, { maxRecords: opts.maxRecords, indexTime, valueMaps, naValues, links, elapsedTimes: elapsedTimeColumns(this.spec, this.tableTypes), usedTimes: usedTimeColumns(this.spec) });
    this.scorer = new Scorer(run.model, this.modalities, run.dict, run.typical.values, { batchDependent: run.batchDependent, chunkSize: opts.chunkSize }, run.calibration);
    this.compiled = 'unsupported' in run.compiled ? null : run.compiled;
    this.addNotes = recordNotes(this.spec, run.state);
    this.duckColumns = Object.entries(this.tableTypes)
      .map(([t, cols]): [string, string[]] => [t, Object.entries(cols).filter(([, type]) => columnClass(type) === 'duck').map(([c]) => c)])
      .filter(([, cols]) => cols.length > 0);
    this.summaryJson = buildSummary(run.dir, run.manifest, this.spec, run.typical, {
      scoring: run.batchDependent ? 'per-patient' : 'batched',
      transform: 'unsupported' in run.compiled ? { path: 'sql', reason: run.compiled.unsupported } : { path: 'compiled' },
    });
  }

  static async load(runDir: string, opts: PredictorOptions = {}): Promise<Predictor> {
    const full = { maxRecords: opts.maxRecords ?? 1000, chunkSize: opts.chunkSize ?? 256, rebuildTypical: opts.rebuildTypical ?? true };
    return new Predictor(await loadServedRun(runDir, full), full);
  }

  /** What the model is and what it expects (GET /v1/model). */
  summary(): Record<string, unknown> {
    return this.summaryJson;
  }

  /** Checks a list of records against the fitted spec; issues carry paths under `prefix`. */
  validate(input: unknown, prefix: (string | number)[] = ['records']) {
    return this.validator(input, prefix);
  }

  /** Validates and scores records; bad input throws an InputError naming the field paths. */
  async predictRecords(input: unknown): Promise<PatientPrediction[]> {
    const v = this.validate(input);
    if (!v.ok) throw new InputError(v.issues);
    return this.predictValidated(v.records);
  }

  /**
   * Scores several already validated groups of records (one per request): one pass through the transform for
   * all of them, then one model call per chunk of patients across the groups. A group whose records cannot be
   * transformed gets its own error (paths under `records`); the others still get their predictions.
   */
  async predictRecordGroups(groups: PatientRecord[][]): Promise<(PatientPrediction[] | Error)[]> {
    this.assertOpen();
    const results: (PatientPrediction[] | Error | undefined)[] = new Array(groups.length);
    // Cells of a type only DuckDB reads (UUID, DECIMAL, …): DuckDB judges them, as the SQL path's INSERT would.
    for (const [g, recs] of groups.entries()) {
      if (!this.fillsDuckColumn(recs)) continue;
      const bad = await unreadableValues(this.spec, this.tableTypes, recs);
      if (bad.length) results[g] = new InputError(bad.map((b) => ({ path: formatPath(['records', ...b.path]), message: `cannot be read as ${b.type}` })));
    }
    const todo = groups.map((_, g) => g).filter((g) => results[g] === undefined);
    // Transform: every group's records as rows of one set of arrays (the compiled path), or each group through SQL.
    const ids: string[] = [];
    const rows: number[] = [];
    const span = new Map<number, [number, number]>();
    let arrays: PatientArrays | null = null;
    if (this.compiled) {
      const all = todo.flatMap((g) => groups[g]);
      // A lookup matches rows across the records of one request: then each request is transformed on its own.
      const t = this.compiled.crossRecord ? concatArrays(todo.map((g) => this.compiled!.transform(groups[g]))) : this.compiled.transform(all);
      const first = new Int32Array(todo.length + 1);
      todo.forEach((g, j) => (first[j + 1] = first[j] + groups[g].length));
      const issues = new Map<number, { path: string; message: string }[]>();
      for (const p of t.problems) {
        let j = 0;
        while (first[j + 1] <= p.record) j++;
        const list = issues.get(todo[j]) ?? issues.set(todo[j], []).get(todo[j])!;
        list.push({ path: formatPath(['records', p.record - first[j], ...p.path]), message: p.message });
      }
      todo.forEach((g, j) => {
        const list = issues.get(g);
        if (list) return void (results[g] = new InputError(list.slice(0, 20)));
        span.set(g, [ids.length, groups[g].length]);
        for (let r = first[j]; r < first[j + 1]; r++) rows.push(r);
        ids.push(...t.ids.slice(first[j], first[j + 1]));
      });
      arrays = t;
    } else {
      for (const g of todo) {
        try {
          const t = await this.transform({ records: groups[g] });
          checkAllScored(groups[g], t.ids, t.exclusions);
          const byId = new Map(t.ids.map((id, r) => [id, r]));
          // One group at a time: its arrays are scored before the next group's are built.
          results[g] = this.scorer.score(groups[g].map((r) => r.id), t, groups[g].map((r) => byId.get(r.id)!));
        } catch (e) {
          results[g] = asError(e);
        }
      }
    }
    if (arrays && rows.length) {
      try {
        const preds = this.scorer.score(ids, arrays, rows);
        for (const [g, [at, n]] of span) results[g] = preds.slice(at, at + n);
      } catch {
        // One patient's failure (a risk that overflowed) must not fail the requests batched with it, nor show them its
        // id: each request is scored again on its own, and gets its own answer or error.
        for (const [g, [at, n]] of span) {
          try {
            results[g] = this.scorer.score(ids.slice(at, at + n), arrays, rows.slice(at, at + n));
          } catch (e) {
            results[g] = asError(e);
          }
        }
      }
    }
    for (const [g, r] of results.entries()) if (Array.isArray(r)) this.addNotes(groups[g], r);
    return results as (PatientPrediction[] | Error)[];
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
      // As for patients in table files, a record none of whose data reaches a modality is left out and counted
      // (the server answers such a request with a 400 naming it instead: a client sent one patient to score).
      let records = v.records;
      const warnings: string[] = [];
      if (this.compiled) {
        const empty = this.compiled.transform(records).problems.filter((p) => p.message.includes(NO_OBSERVED_MODALITY));
        if (empty.length) {
          const drop = new Set(empty.map((p) => p.record));
          records = records.filter((_, i) => !drop.has(i));
          warnings.push(`${path}: ${drop.size} record${drop.size === 1 ? '' : 's'} left out, no modality observed (e.g. records[${empty[0].record}]: ${empty[0].message})`);
          if (!records.length) throw new CdmmError(`${path}: no patient to predict (left out: ${drop.size} no observed modality)`);
        }
      }
      const predictions = await this.predictValidated(records, `${path}: `);
      return { predictions, ...(warnings.length ? { excluded: { 'no observed modality': v.records.length - records.length }, warnings } : {}) };
    }
    const t = await this.transform(input.kind === 'tables' ? { tables: input.tables, allowOutside: policy.allowOutside } : { specPath: input.specPath, allowOutside: policy.allowOutside }, `${path}: `);
    if (!t.ids.length) throw new CdmmError(`${path}: no patient to predict${t.exclusions ? ` (left out: ${formatCounts(t.exclusions)})` : ''}`);
    const predictions = this.scorer.score(t.ids, t);
    if (t.labels) predictions.forEach((p, i) => (p.label = t.labels![i]));
    const used = new Set(Object.values(this.spec.modalities).map((m) => m.table));
    const missingTables = input.kind === 'tables' ? Object.keys(this.spec.tables).filter((n) => used.has(n) && !Object.hasOwn(input.tables, n)) : [];
    // A table not given is said already (missingTables); a given one that reaches no patient is said here.
    const given = new Set(input.kind === 'tables' ? Object.keys(input.tables) : Object.keys(this.spec.tables));
    // (a variable's warning is for a present modality, whose table was given)
    const warnings = coverageWarnings(this.manifest, t, t.ids.length)
      .filter((w) => given.has(this.spec.modalities[w.modality]?.table ?? '')).map((w) => `${path}: ${w.message}`);
    return { predictions, ...(t.exclusions ? { excluded: t.exclusions } : {}), ...(missingTables.length ? { missingTables } : {}), ...(warnings.length ? { warnings } : {}) };
  }

  /** The engine part: factual and counterfactual scores for patients already as arrays. Synchronous. */
  scoreArrays(ids: string[], arrays: PatientArrays): PatientPrediction[] {
    this.assertOpen();
    return this.scorer.score(ids, arrays);
  }

  /** Frees the model's tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.run.model.dispose();
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error('Predictor was disposed');
  }

  /** One validated list of records; errors name `where` (the input file) before their paths. */
  private async predictValidated(records: PatientRecord[], where = ''): Promise<PatientPrediction[]> {
    const [r] = await this.predictRecordGroups([records]);
    if (!(r instanceof Error)) return r;
    if (!where) throw r;
    if (r instanceof InputError) throw new InputError(r.issues, where);
    if (r instanceof CdmmError) throw new CdmmError(`${where}${r.message}`, r.exitCode);
    throw r;
  }

  private fillsDuckColumn(records: PatientRecord[]): boolean {
    if (!this.duckColumns.length) return false;
    return records.some((rec) =>
      this.duckColumns.some(([t, cols]) => {
        const raw = own(rec, t);
        const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
        return list.some((row) => cols.some((c) => {
          const v = own(row, c);
          return v !== undefined && v !== null && v !== '';
        }));
      }),
    );
  }

  /** The SQL path. */
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
}

/** Several transforms' arrays as one (rows in order; problems renumbered). */
function concatArrays(parts: RecordArrays[]): RecordArrays {
  if (parts.length === 1) return parts[0];
  const out: RecordArrays = { ids: parts.flatMap((p) => p.ids), mask: new Uint8Array(parts.reduce((n, p) => n + p.mask.length, 0)), values: {}, problems: [] };
  let row = 0, at = 0;
  for (const p of parts) {
    out.mask.set(p.mask, at);
    at += p.mask.length;
    for (const q of p.problems) out.problems.push({ ...q, record: q.record + row });
    row += p.ids.length;
  }
  for (const name of Object.keys(parts[0].values)) {
    const v = new Float32Array(parts.reduce((n, p) => n + p.values[name].length, 0));
    let off = 0;
    for (const p of parts) {
      v.set(p.values[name], off);
      off += p.values[name].length;
    }
    out.values[name] = v;
  }
  return out;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
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

/** Per table, its time columns (event, index and end times) that hold numbers (an elapsed "07:10" in a record is read as in a file), with its time unit. */
/** Per table, the columns the run reads as times: each table's row times, the cohort's index and end times, the label's time. */
function usedTimeColumns(spec: Spec): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  const add = (t: string, c: unknown) => { if (typeof c === 'string') (out[t] ??= []).push(c); };
  for (const [name, t] of Object.entries(spec.tables)) for (const c of timeColumns(t)) add(name, c);
  add(spec.cohort.table, spec.cohort.index_time);
  add(spec.cohort.table, spec.cohort.end_time);
  if ('time' in spec.label) add(spec.label.table ?? spec.cohort.table, spec.label.time);
  return out;
}

function elapsedTimeColumns(spec: Spec, tableTypes: Record<string, Record<string, string>>): Record<string, { columns: string[]; unitsPerDay: number }> {
  const out: Record<string, { columns: string[]; unitsPerDay: number }> = {};
  // (the cohort's index and end times too: the file reader reads every time column so)
  const cohortTimes = [spec.cohort.index_time, spec.cohort.end_time].filter((c): c is string => typeof c === 'string');
  for (const [name, t] of Object.entries(spec.tables)) {
    const types = Object.hasOwn(tableTypes, name) ? tableTypes[name] : {};
    const times = [...timeColumns(t), ...(name === spec.cohort.table ? cohortTimes : [])];
    const columns = times.filter((c) => Object.hasOwn(types, c) && kindOf(types[c]) === 'number');
    if (columns.length) out[name] = { columns, unitsPerDay: timeUnitsPerDay(t) };
  }
  return out;
}
