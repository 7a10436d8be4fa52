// The request path without SQL: a run's fitted state (spec, column types, vocabularies, statistics, windows, bins,
// hash settings) compiled into a plain TypeScript transform from validated JSON records to the model's input arrays.
// It follows the modality builders' contract: compiling is the fit step (it learns nothing from data, it derives
// from the fitted state, once, every lookup a record needs), and `transform` is pure (records in, arrays out, no
// I/O, nothing shared is changed). The SQL path (src/data/transform.ts) stays for files and specs and is the
// oracle: test/data-compiled.test.ts checks that both give the same arrays. What the compiler does not know
// (a spec or state field it was not written for, a column type only DuckDB reads) makes it decline with the
// reason, and the run is then served through the SQL path.
import type { DataState } from '../build.js';
import { patientKey, type PatientRecord } from '../records.js';
import type { Spec } from '../spec.js';
import type { ModalityInfo } from '../types.js';
import { codesEncoder, embeddingEncoder, tabularEncoder, textEncoder, timeseriesEncoder, type Encoder, type EncoderContext } from './encoders.js';
import { indexReader, isProblem, TableView, Unsupported, type IndexReader, type Problem } from './records.js';

export { Unsupported } from './records.js';
export type { Problem } from './records.js';
/** The problem of a record none of whose data reaches a modality: `cdmm predict` leaves such records out. */
export const NO_OBSERVED_MODALITY = 'has no observed modality';

/** The arrays of a list of records, one row per record in their order; rows of records with a problem are zeros. */
export interface RecordArrays {
  ids: string[];
  /** Row-major N×K, modalities in the spec's order. */
  mask: Uint8Array;
  values: Record<string, Float32Array>;
  /** Records that cannot be scored (no observed modality, several rows in a one-row table, …), by index. */
  problems: (Problem & { record: number })[];
}

export interface RecordTransform {
  readonly modalities: { name: string; width: number }[];
  /**
   * True when a record's arrays may depend on the other records of the call (tables.NAME.lookup matches rows
   * across the records of the same patient, as the SQL path does within a request): call it once per request then.
   */
  readonly crossRecord: boolean;
  transform(records: PatientRecord[]): RecordArrays;
}

/** The encoder registry: one per modality type (a type without one is served through the SQL path). */
const ENCODERS: { [T in Spec['modalities'][string]['type']]: (m: Extract<Spec['modalities'][string], { type: T }>, st: never, c: EncoderContext) => Encoder } = {
  tabular: tabularEncoder as never,
  timeseries: timeseriesEncoder as never,
  codes: codesEncoder as never,
  text: textEncoder as never,
  embedding: embeddingEncoder as never,
};

/** The fields this compiler was written for; any other (a newer spec or state feature) sends the run to the SQL path. */
const KNOWN: Record<string, string[]> = {
  // label, split, reference and true_risk do not reach a prediction; cohort.patient and end_time neither.
  spec: ['name', 'description', 'tables', 'cohort', 'label', 'modalities', 'split', 'true_risk', 'reference'],
  // (file_column: a column of the files' names, which records give like any other column, or as their id)
  table: ['file', 'format', 'id', 'time', 'time_format', 'time_unit', 'na_values', 'decimal', 'encoding', 'delimiter', 'columns', 'where', 'values', 'link', 'lookup', 'file_column', 'first_row'],
  cohort: ['table', 'id', 'patient', 'index_time', 'index_offset', 'end_time', 'filters'],
  window: ['start', 'end', 'allow_after_index'],
  tabular: ['type', 'table', 'numeric', 'categorical', 'missing_indicators'],
  timeseries: ['type', 'table', 'window', 'prefix', 'variable', 'value', 'columns', 'variables', 'bins', 'edges', 'aggregate'],
  codes: ['type', 'table', 'window', 'prefix', 'code', 'split', 'truncate', 'fold_case', 'untimed', 'min_count', 'encoding', 'max_vocab'],
  text: ['type', 'table', 'window', 'prefix', 'text', 'untimed', 'width', 'hash_seed', 'min_df'],
  embedding: ['type', 'table', 'columns', 'column_prefix', 'standardize'],
  state: ['version', 'dataset', 'idxKind', 'tableTypes', 'modalities'],
  'state.tabular': ['numeric', 'categorical', 'missingIndicators'],
  'state.timeseries': ['edges', 'variables'],
  'state.codes': ['vocabulary', 'encoding'],
  'state.text': ['width', 'hashSeed', 'idf'],
  'state.embedding': ['columns', 'mean', 'std'],
};

function onlyKnown(obj: unknown, kind: string, where: string): void {
  if (obj === null || typeof obj !== 'object') return;
  const extra = Object.keys(obj).filter((k) => !KNOWN[kind].includes(k));
  if (extra.length) throw new Unsupported(`${where}: ${extra.join(', ')} (not known to the compiled transform)`);
}

/**
 * Compiles a fitted state for JSON records. Throws Unsupported (with the reason) for what only the SQL path can
 * do; `modalities` (the run's) are checked to have the widths the state gives.
 */
export function compileRecordTransform(spec: Spec, state: DataState, modalities?: ModalityInfo[]): RecordTransform {
  onlyKnown(spec, 'spec', 'spec');
  onlyKnown(spec.cohort, 'cohort', 'cohort');
  onlyKnown(state, 'state', 'state');
  for (const [name, t] of Object.entries(spec.tables)) {
    onlyKnown(t, 'table', `tables.${name}`);
    if (t.id?.startsWith('_')) throw new Unsupported(`tables.${name}.id: ${t.id}`);
  }
  const names = Object.keys(spec.modalities);
  if (names.join('\0') !== state.modalities.map((m) => m.name).join('\0')) throw new Unsupported('the fitted modalities differ from the spec\'s');
  const ct = spec.cohort.table;
  const cohortId = spec.tables[ct]?.id ?? (spec.tables[ct]?.format === 'meds' ? 'subject_id' : undefined);
  if (spec.cohort.id !== undefined && spec.cohort.id !== cohortId) throw new Unsupported('cohort.id differs from the cohort table\'s id column');

  const views = new Map<string, TableView>();
  const indexColumn = typeof spec.cohort.index_time === 'string' ? spec.cohort.index_time : undefined;
  const table = (name: string): TableView => {
    let v = views.get(name);
    if (!v) {
      const types = state.tableTypes[name];
      if (!types || !Object.hasOwn(spec.tables, name)) throw new Unsupported(`tables.${name}: no fitted column types`);
      v = new TableView(name, new Map(Object.entries(types)), spec, name === ct ? indexColumn : undefined, table);
      views.set(name, v);
    }
    return v;
  };
  const cohort = table(ct);
  const index: IndexReader = indexReader(spec, cohort, state.idxKind);
  const encoders = names.map((name, k) => {
    const m = spec.modalities[name];
    const st = state.modalities[k];
    if (st.type !== m.type) throw new Unsupported(`modalities.${name}: fitted as ${st.type}`);
    onlyKnown(m, m.type, `modalities.${name}`);
    if ('window' in m) onlyKnown(m.window, 'window', `modalities.${name}.window`);
    onlyKnown(st.state, `state.${m.type}`, `state.modalities[${k}].state`);
    const make = ENCODERS[m.type] as (m: unknown, st: unknown, c: EncoderContext) => Encoder;
    return make(m, st.state, { spec, name, table });
  });
  modalities?.forEach((info, k) => {
    const D = info.shape.reduce((a, b) => a * b, 1);
    if (info.name !== encoders[k].name || D !== encoders[k].width)
      throw new Unsupported(`modalities[${k}]: ${info.name} has ${D} features, the fitted state gives ${encoders[k].width}`);
  });
  const K = encoders.length;
  const linked = [...views.values()].filter((v) => v.link);
  const lookups = [...views.values()].filter((v) => v.lookup);

  // Whose records may share lookup rows: the records of one patient (cohort.patient), else each record alone.
  const patientColumn = spec.cohort.patient;
  const patientOf = (rec: PatientRecord, i: number): string => {
    const row = patientColumn ? cohort.kept(rec)[0] : undefined;
    return patientKey(row ? cohort.cell(rec, row, patientColumn!) : undefined, `record ${i}`);
  };

  function transform(records: PatientRecord[]): RecordArrays {
    const n = records.length;
    const mask = new Uint8Array(n * K);
    const out = encoders.map((e) => new Float32Array(n * e.width));
    const problems: RecordArrays['problems'] = [];
    const fail = (record: number, p: Problem) => problems.push({ record, path: p.path, message: p.message });
    // The lookup rows of this call's records, found once (and forgotten when the call ends).
    const lookupProblems = new Map<number, Problem>();
    try {
      for (const v of lookups) for (const [i, p] of v.lookupIndex(records, patientOf)) if (!lookupProblems.has(i)) lookupProblems.set(i, p);
      for (let i = 0; i < n; i++) {
        const rec = records[i];
        const lp = lookupProblems.get(i);
        if (lp) {
          fail(i, lp);
          continue;
        }
        const rows = cohort.rows(rec);
        if (rows.length > 1) {
          fail(i, { path: [ct], message: `${rows.length} rows, but the cohort table (cohort.table) needs one row per patient` });
          continue;
        }
        const idx = index(rec, rows);
        if (isProblem(idx)) {
          fail(i, idx);
          continue;
        }
        const linkProblem = linked.map((v) => v.linkProblem(rec)).find((p) => p !== null);
        if (linkProblem) {
          fail(i, linkProblem);
          continue;
        }
        let any = false;
        let failed = false;
        for (let k = 0; k < K && !failed; k++) {
          const e = encoders[k];
          const at = i * e.width;
          const r = e.encode(rec, idx, out[k], at);
          if (isProblem(r)) {
            fail(i, r);
            failed = true;
          } else if (r) {
            mask[i * K + k] = 1;
            any = true;
            // assertFinite in build.ts: a value too large for float32 (or for standardising) is an input error here.
            for (let d = at; d < at + e.width; d++)
              if (!Number.isFinite(out[k][d])) {
                fail(i, { path: [], message: `modality '${e.name}' has a non-finite feature (a value too large for float32 once standardised)` });
                failed = true;
                break;
              }
          }
        }
        if (!failed && !any) {
          // Rows given but none used reads differently from no rows at all: say which tables had some.
          const given = [...views.values()].filter((v) => v.name !== ct).map((v) => [v.name, v.rows(rec).length] as const).filter(([, c]) => c > 0);
          const why = given.length
            ? `its rows (${given.map(([t, c]) => `${t}: ${c}`).join(', ')}) were all unused: outside the modality windows, variables or codes the model does not read, or values missing`
            : "no data in any modality's tables";
          fail(i, { path: [], message: `patient ${JSON.stringify(rec.id)} ${NO_OBSERVED_MODALITY} (${why})` });
        }
        if (failed || !any) {
          mask.fill(0, i * K, (i + 1) * K);
          encoders.forEach((e, k) => out[k].fill(0, i * e.width, (i + 1) * e.width));
        }
      }
    } finally {
      for (const v of lookups) v.matches = null;
    }
    const values: Record<string, Float32Array> = {};
    encoders.forEach((e, k) => (values[e.name] = out[k]));
    return { ids: records.map((r) => r.id), mask, values, problems };
  }

  return { modalities: encoders.map((e) => ({ name: e.name, width: e.width })), crossRecord: lookups.length > 0, transform };
}

/** compileRecordTransform, or the reason it declined. */
export function tryCompileRecordTransform(spec: Spec, state: DataState, modalities?: ModalityInfo[]): RecordTransform | { unsupported: string } {
  try {
    return compileRecordTransform(spec, state, modalities);
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
}
