// transformPatients: new patients → arrays, with the preprocessing state fitted at training time (no refitting;
// unseen codes and categories go to their '<other>' features). Same SQL path as training.
import type { PathPolicy } from './paths.js';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CdmmError } from '../util/errors.js';
import { applyModalities, extractModalities, type DataState } from './build.js';
import { buildCohort } from './cohort.js';
import { Db, q, tbl } from './db.js';
import type { Ctx } from './modalities/common.js';
import { loadRecords, parseRecords, recordTableTypes, type PatientRecord } from './records.js';
import { loadSpec, type Spec } from './spec.js';
import { finishTables, registerTable, registerTables } from './tables.js';

export type { PatientRecord } from './records.js';
export { ownRecords, patientRecordSchema, patientRecordSchemaFor, parseRecords, unreadableValues } from './records.js';

/** `allowOutside`: a spec's (or a mapping's) table files may lie outside its folder (--allow-outside). */
export type TransformSource = { specPath: string; allowOutside?: boolean } | { tables: Record<string, string>; allowOutside?: boolean } | { records: PatientRecord[] };

export interface TransformResult {
  ids: string[];
  /** Present when the source is a spec that defines a label (external validation). */
  labels?: Float32Array;
  /** Row-major N×K, modalities in the training spec's order. */
  mask: Uint8Array;
  values: Record<string, Float32Array>;
  /** Patients left out (no observed modality, or no determinable label), with counts by reason. */
  exclusions?: Record<string, number>;
  /** When the source spec has a reference score: its name and value per patient (NaN = missing). */
  reference?: { name: string; values: Float32Array };
}

function checkState(state: unknown, spec: Spec, where: string): DataState {
  const st = state as DataState;
  if (!st || !Array.isArray(st.modalities) || !st.tableTypes) throw new CdmmError(`${where}: the fitted preprocessing state is missing or malformed`);
  const names = Object.keys(spec.modalities);
  const fitted = st.modalities.map((m) => m.name);
  if (names.join('\0') !== fitted.join('\0'))
    throw new CdmmError(`${where}: modalities [${names.join(', ')}] differ from the fitted ones [${fitted.join(', ')}]`);
  for (const m of st.modalities)
    if (!Object.hasOwn(spec.modalities, m.name) || spec.modalities[m.name].type !== m.type) throw new CdmmError(`${where}: modalities.${m.name}.type is ${spec.modalities[m.name].type}, fitted as ${m.type}`);
  return st;
}

/**
 * What defines a modality's features beyond its fitted state, per type ('*': compared as a set). Where to read
 * them (table, column names, prefixes) may differ in another hospital's spec; these may not.
 */
const FEATURE_FIELDS: Record<string, string[]> = {
  tabular: ['numeric*', 'categorical*', 'missing_indicators'],
  timeseries: ['window', 'bins', 'edges', 'aggregate', 'variables*', 'columns*'],
  codes: ['window', 'untimed', 'encoding', 'split', 'truncate'],
  text: ['window', 'untimed', 'width', 'hash_seed'],
  embedding: [],
};

/** Differences between another spec's modality definitions and the run's in what defines their features. */
function featureDifferences(run: Spec, other: Spec): string[] {
  const out: string[] = [];
  for (const [name, m] of Object.entries(run.modalities)) {
    const o = Object.hasOwn(other.modalities, name) ? other.modalities[name] : undefined;
    if (!o || o.type !== m.type) continue; // checkState names these
    for (const f of FEATURE_FIELDS[m.type] ?? []) {
      const key = f.replace('*', '');
      const norm = (v: unknown) => JSON.stringify(f.endsWith('*') && Array.isArray(v) ? [...v].map(String).sort() : v ?? null);
      const a = (m as Record<string, unknown>)[key], b = (o as Record<string, unknown>)[key];
      if (norm(a) !== norm(b)) out.push(`modalities.${name}.${key}: ${JSON.stringify(b ?? null)} here, ${JSON.stringify(a ?? null)} in the run's spec`);
    }
  }
  return out;
}

/**
 * How another spec's outcome or prediction time differs from the run's (column names may differ, as in another
 * hospital's files): scored there, the figures are for another task than the model was trained for.
 */
export function outcomeDifferences(run: Spec, other: Spec): string[] {
  const out: string[] = [];
  const show = (v: unknown) => JSON.stringify(v ?? null);
  const values = (v: unknown) => (Array.isArray(v) ? [...v].map((x) => String(x).trim().toLowerCase()).sort() : v ?? null);
  const a = run.label as Record<string, unknown>, b = other.label as Record<string, unknown>;
  const form = (l: Record<string, unknown>) => ('column' in l ? 'column' : 'event');
  if (form(a) !== form(b)) out.push(`label: an outcome ${form(b) === 'column' ? 'column' : 'event within a horizon'} here, ${form(a) === 'column' ? 'a column' : 'an event within a horizon'} in the run's spec`);
  else
    for (const k of form(a) === 'column' ? ['positive', 'negative', 'above'] : ['horizon', 'event_values', 'from', 'censored']) {
      // (the horizon starts at the index, and a short follow-up is excluded, unless said)
      const dflt: Record<string, string> = { from: 'index', censored: 'excluded' };
      const [x, y] = k in dflt ? [a[k] ?? dflt[k], b[k] ?? dflt[k]] : [a[k], b[k]];
      if (JSON.stringify(values(x)) !== JSON.stringify(values(y))) out.push(`label.${k}: ${show(y)} here, ${show(x)} in the run's spec`);
    }
  if ((run.cohort.index_offset ?? 0) !== (other.cohort.index_offset ?? 0))
    out.push(`cohort.index_offset: ${show(other.cohort.index_offset)} here, ${show(run.cohort.index_offset)} in the run's spec (another prediction time)`);
  return out;
}

export async function transformPatients(spec: Spec, specDir: string, state: unknown, source: TransformSource): Promise<TransformResult> {
  let useSpec = spec;
  let dir = specDir;
  let file = `spec '${spec.name}'`;
  let withLabels = false;
  if ('specPath' in source) {
    // External validation: the other spec's tables, cohort and label; the fitted state of this one.
    useSpec = loadSpec(source.specPath);
    dir = dirname(resolve(source.specPath));
    file = basename(source.specPath);
    withLabels = true;
  }
  const st = checkState(state, useSpec, file);
  if ('specPath' in source) {
    const diff = featureDifferences(spec, useSpec);
    if (diff.length)
      throw new CdmmError(`${file}: ${diff.slice(0, 3).join('; ')}${diff.length > 3 ? `; and ${diff.length - 3} more` : ''}: the run's preprocessing is applied as fitted, so each modality must be defined as in training: the columns and variables that name its features (tabular numeric and categorical columns, a series' wide columns or listed variables) keep their names, while tables, ids, times and a long table's variable and value columns may be named otherwise; rename such a column in the file (or in a view of it) to the run's name`);
  }
  const db = await Db.open(file);
  try {
    // Columns that were text in training stay text in new files (a file of only "F" would read as BOOLEAN).
    db.textColumns = new Map(Object.entries(st.tableTypes).map(([t, cols]) => [t, new Set(Object.entries(cols).filter(([, ty]) => ty === 'VARCHAR').map(([c]) => c))]));
    db.trainedTypes = new Map(Object.entries(st.tableTypes));
    if ('specPath' in source) {
      await registerTables(db, useSpec, dir, true, { allowOutside: source.allowOutside });
    } else if ('tables' in source) {
      await registerGivenTables(db, useSpec, st, source.tables, { allowOutside: source.allowOutside });
    } else {
      const types = recordTableTypes(useSpec, st.tableTypes);
      await loadRecords(db, useSpec, types, parseRecords(source.records, types));
    }
    await db.lockDown();
    // Table files of new patients are a cohort too: its filters and end_time hold (left out, counted). JSON records
    // are scored as given: a request names its patients.
    const cohort = await buildCohort(db, useSpec, { withLabels, filters: withLabels || 'tables' in source });
    const ctx: Ctx = { db, spec: useSpec, specFile: file, n: cohort.ids.length, idxKind: cohort.idxKind, shared: new Map() };
    if (cohort.idxKind !== st.idxKind) throw new CdmmError(`${file}: cohort.index_time is ${cohort.idxKind === 'time' ? 'a timestamp' : 'a number of days'}, but was ${st.idxKind === 'time' ? 'a timestamp' : 'a number of days'} in training`);
    const raws = await extractModalities(ctx, true);
    const applied = applyModalities(useSpec, raws, st.modalities.map((m) => m.state), cohort.ids);
    const K = applied.length;
    const keep: number[] = [];
    const noData: number[] = [];
    for (let i = 0; i < cohort.ids.length; i++) (applied.some((a) => a.present[i]) ? keep : noData).push(i);
    if ('records' in source && noData.length) {
      // Named by its place in the request, as the compiled path names it.
      const at = source.records.findIndex((r) => String(r.id) === cohort.ids[noData[0]]);
      const more = noData.length > 1 ? ` (and ${noData.slice(1, 5).map((i) => JSON.stringify(cohort.ids[i])).join(', ')}${noData.length > 5 ? ', …' : ''})` : '';
      throw new CdmmError(`records${at >= 0 ? `[${at}]` : ''}: patient ${JSON.stringify(cohort.ids[noData[0]])} has no observed modality (no data in any modality's tables and windows)${more}`);
    }
    const n = keep.length;
    const mask = new Uint8Array(n * K);
    const values: Record<string, Float32Array> = {};
    applied.forEach((a, k) => {
      const D = a.info.shape.reduce((x, y) => x * y, 1);
      const out = new Float32Array(n * D);
      keep.forEach((i, r) => {
        if (!a.present[i]) return;
        mask[r * K + k] = 1;
        out.set(a.values.subarray(i * D, (i + 1) * D), r * D);
      });
      values[a.info.name] = out;
    });
    const result: TransformResult = { ids: keep.map((i) => cohort.ids[i]), mask, values };
    const exclusions = { ...cohort.exclusions };
    if (noData.length) exclusions['no modality observed'] = noData.length;
    if (Object.keys(exclusions).length) result.exclusions = exclusions;
    if (cohort.labels) result.labels = Float32Array.from(keep, (i) => cohort.labels![i]);
    if (cohort.reference && useSpec.reference)
      result.reference = { name: useSpec.reference.name ?? useSpec.reference.column, values: Float32Array.from(keep, (i) => cohort.reference![i]) };
    return result;
  } finally {
    db.close();
  }
}

/** Registers the given table files; a spec table not given becomes an empty table with the training types. */
async function registerGivenTables(db: Db, spec: Spec, st: DataState, files: Record<string, string>, policy: PathPolicy): Promise<void> {
  // Own keys only: a table named `constructor` in the mapping is not a spec table.
  for (const name of Object.keys(files))
    if (!Object.hasOwn(spec.tables, name)) throw new CdmmError(`tables.${name}: not a table of spec '${spec.name}' (tables: ${Object.keys(spec.tables).join(', ')})`);
  for (const [name, t] of Object.entries(spec.tables)) {
    if (Object.hasOwn(files, name)) {
      // Chosen by the user on the command line (a folder or a mapping checked in src/serve/input.ts).
      const path = resolve(files[name]);
      const file = /[\\/]$/.test(files[name]) ? join(path, '/') : path; // a trailing slash: a folder of Parquet shards
      await registerTable(db, name, { ...t, file }, dirname(path), policy);
      continue;
    }
    const types = st.tableTypes[name];
    await db.run(`CREATE TABLE ${tbl(name)} (${Object.entries(types).map(([c, ty]) => `${q(c)} ${ty}`).join(', ')})`);
    await db.describe(name, t, `(table ${name} not given)`, false, false);
  }
  await finishTables(db, spec);
  // Without the cohort table, the patients are those found in the given tables, at the constant index time.
  const ct = spec.cohort.table;
  if (!Object.hasOwn(files, ct)) {
    if (typeof spec.cohort.index_time === 'string')
      throw new CdmmError(`tables.${ct}: the cohort table is needed: it holds the index time column '${spec.cohort.index_time}'`);
    const cohortT = db.table(ct);
    const idType = st.tableTypes[ct][cohortT.id];
    const unions = Object.keys(files).map((n) => `SELECT DISTINCT CAST(${q(db.table(n).id)} AS ${idType}) AS id FROM ${tbl(n)}`);
    await db.run(`INSERT INTO ${tbl(ct)} (${q(cohortT.id)}) SELECT DISTINCT id FROM (${unions.join(' UNION ')}) WHERE id IS NOT NULL`);
  }
}
