// prepareDataset: spec → DuckDB (filtering, windowing, aggregation in SQL) → per-modality typed arrays for
// each split, plus the fitted preprocessing state (fitted on the training split only).
import { basename, dirname, resolve } from 'node:path';
import { CdmmError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { cacheDir, cacheDirProblem, cacheKey, cacheSecret, loadCache, saveCache, DATA_CODE_VERSION } from './cache.js';
import { buildCohort, type Cohort } from './cohort.js';
import { Db, lit, q, tbl, type ColumnKind } from './db.js';
import { builderFor } from './modalities/index.js';
import { folderKind, resolveTableFiles } from './paths.js';
import { COHORT, linkedCohort, type Applied, type Ctx, type Raw } from './modalities/common.js';
import { closest, parseSpec, readSpecText, tableFormat, timeColumns, type Spec } from './spec.js';
import { registerTables, timeUnitNotes } from './tables.js';
import { columnSplit, connectedUnits, groupSplit, requirePatientDisjoint, shiftByValue, shiftTrain, stratifiedSplit, stratifiedUnitSplit, type SplitIndex } from './split.js';
import type { ModalityInfo, PreparedDataset, SplitArrays, SplitName } from './types.js';
import { printable, say } from '../util/say.js';

/** Everything needed to transform new patients exactly like the training ones. JSON-serialisable. */
export interface DataState {
  version: string;
  dataset: string;
  idxKind: ColumnKind;
  /** DuckDB column types of each spec table at training time (records are loaded with the same types). */
  tableTypes: Record<string, Record<string, string>>;
  modalities: { name: string; type: string; state: unknown }[];
}

export interface PrepareOptions {
  cache?: boolean;
  quiet?: boolean;
  seed?: number;
  /** Read table files outside the spec's folder (--allow-outside). */
  allowOutside?: boolean;
}

/** Extra accounting kept with a prepared dataset (for inspect). */
export interface PreparedExtra {
  /** Fraction of included patients (all splits) with each modality. */
  availability: Record<string, number>;
}

export async function prepareDataset(specPath: string, opts: PrepareOptions = {}): Promise<PreparedDataset> {
  const path = resolve(specPath);
  const text = readSpecText(specPath);
  const file = basename(path);
  const spec = parseSpec(text, file);
  const specDir = dirname(path);
  // The folder rule holds for a cached build too (a cache written with --allow-outside is not a permission).
  // (the files found, a folder's shards listed, are what the cache key reads)
  const tableFiles = Object.fromEntries(Object.entries(spec.tables).map(([name, t]) =>
    [name, resolveTableFiles(specDir, t.file, `${file}: tables.${name}.file`, folderKind(t), { allowOutside: opts.allowOutside }).files]));
  const dir = cacheDir(specDir);
  const problem = (opts.cache ?? true) ? cacheDirProblem(dir) : undefined;
  if (problem && !opts.quiet) say('warning', `${problem}`);
  const secret = (opts.cache ?? true) && !problem ? cacheSecret() : undefined;
  const key = secret ? cacheKey(text, tableFiles, opts.seed, secret) : '';
  if (secret) {
    const hit = loadCache(dir, key, secret);
    if (hit) return hit;
  }
  const ds = await buildDataset(spec, specDir, file, opts);
  if (secret) {
    try {
      saveCache(dir, key, ds, secret);
    } catch (e) {
      if (!opts.quiet) say('warning', `could not write the dataset cache in ${dir}: ${(e as Error).message}`);
    }
  }
  return ds;
}

/** Pulls every modality's raw data with SQL, for the patients in __cohort. */
export async function extractModalities(ctx: Ctx, quiet?: boolean): Promise<Raw[]> {
  const names = Object.keys(ctx.spec.modalities);
  const bar = progress('modalities', names.length, { quiet });
  const raws: Raw[] = [];
  for (const [k, name] of names.entries()) {
    bar.update(k, { modality: name });
    raws.push(await builderFor(ctx.spec.modalities[name]).extract(ctx, name));
  }
  bar.update(names.length);
  bar.stop();
  return raws;
}

/** Applies fitted states to raw data; checks that no NaN/Inf reaches an array. */
export function applyModalities(spec: Spec, raws: Raw[], states: unknown[], ids: string[]): Applied[] {
  return Object.keys(spec.modalities).map((name, k) => {
    const applied = builderFor(spec.modalities[name]).apply(raws[k], states[k], name);
    assertFinite(applied.values, name, applied.values.length / Math.max(1, ids.length), ids);
    return applied;
  });
}

/**
 * A modality table with rows none of whose ids is a cohort id is almost always a key mix-up (e.g. an image table
 * keyed by hadm_id while the cohort uses subject_id, or ids written "007" in one file and 7 in another): an error
 * with examples from both sides, instead of a modality that is silently missing for everyone.
 */
async function checkIdsMatch(ctx: Ctx): Promise<{ warnings: string[]; ids: Record<string, { ids: number; in_cohort: number; link?: string }> }> {
  const { db, spec } = ctx;
  const warnings: string[] = [];
  const ids: Record<string, { ids: number; in_cohort: number; link?: string }> = {};
  const ct = db.table(spec.cohort.table);
  const seen = new Set<string>();
  // The modalities' tables, and the label's: an outcome row whose id is written otherwise ("11" for "000011") is a
  // patient without the outcome, silently (a new user's death registry export).
  const checked: [string, string][] = Object.entries(spec.modalities).map(([name, m]) => [m.table, `modalities.${name}.table`]);
  if (spec.label.table) checked.push([spec.label.table, 'label.table']);
  for (const [table, field] of checked) {
    if (table === spec.cohort.table || seen.has(table)) continue;
    seen.add(table);
    const t = db.table(table);
    const idc = `CAST(${q(t.id)} AS VARCHAR)`;
    // The ids this table should hold: the cohort keys, or for a linked table the link column's values of the
    // cohort rows; and every id the cohort table (the link table) holds, excluded rows too.
    const keys = t.link ? `SELECT CAST(__lk AS VARCHAR) AS k FROM (${linkedCohort(ctx, table)})` : `SELECT CAST(key AS VARCHAR) AS k FROM ${COHORT}`;
    const all = t.link
      ? `SELECT CAST(${q(t.link.column)} AS VARCHAR) AS k FROM ${tbl(t.link.table)}`
      : `SELECT CAST(${q(spec.cohort.id ?? ct.id)} AS VARCHAR) AS k FROM ${tbl(spec.cohort.table)}`;
    // The table's distinct ids, how many of them are such keys, and how many are no id of the cohort (link) table
    // at all (only those can be near misses): one pass.
    const [counts] = await db.rows(
      `SELECT count(*) AS total, count(c.k) AS hit, count(*) FILTER (WHERE x.k NOT IN (SELECT k FROM (${all}) WHERE k IS NOT NULL)) AS strangers
       FROM (SELECT DISTINCT ${idc} AS k FROM ${tbl(table)} WHERE ${q(t.id)} IS NOT NULL) x LEFT JOIN (SELECT DISTINCT k FROM (${keys})) c ON x.k = c.k`,
    );
    const total = Number(counts.total), hit = Number(counts.hit);
    if (total === 0) continue;
    ids[table] = { ids: total, in_cohort: hit, ...(t.link ? { link: `${t.link.table}.${t.link.column}` } : {}) };
    const nearMiss = Number(counts.strangers) > 0 ? await nearMissIds(ctx, table, idc, keys, all) : undefined;
    if (hit > 0) {
      if (nearMiss) warnings.push(`${field}: ${nearMiss}`);
      continue;
    }
    const ex = async (sql: string) => (await db.rows(sql)).map((r) => JSON.stringify(String(r.k))).join(', ');
    const theirs = await ex(`SELECT DISTINCT ${idc} AS k FROM ${tbl(table)} WHERE ${q(t.id)} IS NOT NULL ORDER BY 1 LIMIT 3`);
    if (t.link) {
      const l = db.table(t.link.table);
      const ours = await ex(`SELECT DISTINCT CAST(${q(t.link.column)} AS VARCHAR) AS k FROM ${tbl(t.link.table)} WHERE ${q(t.link.column)} IS NOT NULL ORDER BY 1 LIMIT 3`);
      throw new CdmmError(
        `${ctx.specFile}: ${field}: none of the ${total} ids in ${t.label} (column '${t.id}', e.g. ${theirs}) ` +
          `is a value of its link column '${t.link.column}' in ${l.label} for a cohort row (e.g. ${ours}) (tables.${table}.link)${nearMiss ? `; ${nearMiss}` : ''}`,
      );
    }
    const ours = await ex(`SELECT CAST(key AS VARCHAR) AS k FROM ${COHORT} ORDER BY pid LIMIT 3`);
    throw new CdmmError(
      `${ctx.specFile}: ${field}: none of the ${total} ids in ${t.label} (column '${t.id}', e.g. ${theirs}) ` +
        `is a cohort id (${ct.label} column '${spec.cohort.id ?? ct.id}', e.g. ${ours}); every table must key rows by the same patient id ` +
        `(tables.${table}.id, or tables.${table}.link when it is keyed by another id such as subject_id)${nearMiss ? `; ${nearMiss}` : ''}`,
    );
  }
  return { warnings, ids };
}

/**
 * Ids of a table that match no cohort key as written but do once spaces, case and leading zeros are ignored
 * ("12 " for 12, "007" for "7"): their rows would silently not count, so the patient looks untested.
 */
async function nearMissIds(ctx: Ctx, table: string, idc: string, keys: string, allKeys: string): Promise<string | undefined> {
  const { db } = ctx;
  const norm = (e: string) => `ltrim(lower(trim(${e})), '0')`;
  // miss: ids that are no row of the cohort table at all (an id of an excluded row is not a near miss of another).
  const rows = await db.rows(
    `WITH x AS (SELECT DISTINCT ${idc} AS k FROM ${tbl(table)} WHERE ${idc} IS NOT NULL), c AS (SELECT DISTINCT k FROM (${keys}) WHERE k IS NOT NULL), ` +
      `miss AS (SELECT k FROM x WHERE k NOT IN (SELECT k FROM (${allKeys}) WHERE k IS NOT NULL)) ` +
      `SELECT m.k AS k, min(c.k) AS ck, count(*) OVER () AS n FROM miss m JOIN c ON ${norm('m.k')} = ${norm('c.k')} GROUP BY m.k ORDER BY m.k LIMIT 3`,
  );
  if (!rows.length) return undefined;
  const n = Number(rows[0].n);
  const ex = rows.map((r) => `${JSON.stringify(String(r.k))} for ${JSON.stringify(String(r.ck))}`).join(', ');
  return `${n} id${n === 1 ? '' : 's'} of ${db.table(table).label} match a cohort id only when spaces, case and leading zeros are ignored (e.g. ${ex}): their rows are not used; clean the ids so both tables write them the same way`;
}

function assertFinite(a: Float32Array, modality: string, width: number, ids: string[]): void {
  for (let j = 0; j < a.length; j++)
    if (!Number.isFinite(a[j])) throw new CdmmError(`internal check failed: modality '${modality}' has a non-finite value for patient ${ids[Math.floor(j / width)]}`);
}

/** Distinct patients among the cohort rows `groups` hold: by cohort.patient where given, else one per row. */
function distinctPatients(groups: Int32Array[], patients: (string | null)[] | undefined): number {
  if (!patients) return groups.reduce((a, g) => a + g.length, 0);
  const seen = new Set<string>();
  for (const g of groups) for (const i of g) seen.add(patients[i] ?? `\0row${i}`);
  return seen.size;
}

/**
 * Categorical columns whose training categories are about as many as the training patients (a person_id or an
 * admission id listed as a category): one feature per patient, which says nothing about a new one.
 */
function idLikeCategories(names: string[], states: unknown[], trainPatients: number): string[] {
  // (trainPatients: distinct patients, cohort.patient, when a patient has several cohort rows: a person_id listed
  // as a category in a cohort of visits takes one value per person, not per visit)
  const out: string[] = [];
  names.forEach((name, k) => {
    const cats = (states[k] as { categorical?: { column: string; categories: string[] }[] } | undefined)?.categorical;
    for (const c of cats ?? [])
      if (c.categories.length > 50 && c.categories.length >= trainPatients / 2)
        out.push(`modalities.${name}.categorical: column '${c.column}' takes ${c.categories.length} distinct values over ${trainPatients} training patients, about one each: an id? each value becomes a feature that says nothing about a new patient; leave it out of the modality`);
  });
  return out;
}

/**
 * For listed time-series variables that no training patient has: the table's variable names that differ only in
 * case or by a typo, as "did you mean" (one scan of the variable column, only when such a variable exists).
 */
async function unseenVariableHints(db: Db, spec: Spec, names: string[], states: unknown[]): Promise<string[]> {
  const out: string[] = [];
  for (let k = 0; k < names.length; k++) {
    const m = spec.modalities[names[k]];
    const unseen = (states[k] as { unseen?: string[] } | undefined)?.unseen;
    if (m.type !== 'timeseries' || !m.variable || !unseen?.length) continue;
    const col = `CAST(${q(m.variable)} AS VARCHAR)`;
    const asked = unseen.slice(0, 20);
    // One scan: the asked names that are in the table (only not in a training patient's window), and the names of
    // about their length (a typo is at most 2 edits away) as candidates; item ids (digits) get no "near" one.
    const words = asked.filter((u) => !/^\d+$/.test(u));
    const lengths = words.map((u) => u.length);
    const near = words.length ? `length(${col}) BETWEEN ${Math.max(1, Math.min(...lengths) - 2)} AND ${Math.max(...lengths) + 2}` : 'FALSE';
    const isAsked = `${col} IN (${asked.map(lit).join(', ')})`;
    const rows = await db.columns(
      `SELECT v, bool_or(asked) AS asked FROM (SELECT DISTINCT ${col} AS v, ${isAsked} AS asked FROM ${tbl(m.table)} ` +
        `WHERE ${isAsked} OR ${near}) GROUP BY v ORDER BY asked DESC LIMIT ${20_000 + asked.length}`,
    );
    const found = rows.v.map(String);
    const have = new Set(found.filter((_, i) => rows.asked[i] === true));
    for (const u of words) {
      if (have.has(u)) continue;
      const cands = found.filter((v) => Math.abs(v.length - u.length) <= 2);
      const hit = cands.find((v) => v.toLowerCase() === u.toLowerCase()) ?? closest(u, cands);
      if (hit) out.push(`modalities.${names[k]}.variables: ${JSON.stringify(u)} is not a value of '${m.variable}' in table '${m.table}': did you mean ${JSON.stringify(hit)}? (variable names are compared exactly)`);
    }
  }
  return out;
}

async function buildDataset(spec: Spec, specDir: string, file: string, opts: PrepareOptions): Promise<PreparedDataset> {
  const db = await Db.open(file);
  try {
    await registerTables(db, spec, specDir, opts.quiet, { allowOutside: opts.allowOutside });
    await db.lockDown();
    const cohort = await buildCohort(db, spec, { withLabels: true });
    const ctx: Ctx = { db, spec, specFile: file, n: cohort.ids.length, idxKind: cohort.idxKind, shared: new Map() };
    const { warnings: idWarnings, ids: tableIds } = await checkIdsMatch(ctx);
    const raws = await extractModalities(ctx, opts.quiet);
    const names = Object.keys(spec.modalities);
    const n = cohort.ids.length;
    const labels = cohort.labels!;

    // A patient with no observed modality has nothing to predict from: counted and left out.
    const eligible = new Uint8Array(n);
    for (let i = 0; i < n; i++) eligible[i] = raws.some((r) => r.present[i]) ? 1 : 0;
    const exclusions = { ...cohort.exclusions };
    const none = n - eligible.reduce((a, b) => a + b, 0);
    if (none) exclusions['no modality observed'] = none;

    let split = makeSplit(spec, cohort, labels, eligible, raws, names, opts.seed, exclusions, file);
    const builders = names.map((nm) => builderFor(spec.modalities[nm]));
    const states = builders.map((b, k) => {
      try {
        return b.fit(raws[k], split.train, names[k]);
      } catch (e) {
        // fit knows the modality, not the file: its input errors name the spec too
        throw e instanceof CdmmError && e.message.startsWith('modalities.') ? new CdmmError(`${file}: ${e.message}`) : e;
      }
    });
    const applied = applyModalities(spec, raws, states, cohort.ids);
    // Fitting can leave a patient with nothing (e.g. only time-series variables never seen in training).
    let emptied = 0;
    split = Object.fromEntries(
      Object.entries(split).map(([s, idx]) => {
        const keep = (idx as Int32Array).filter((i) => applied.some((a) => a.present[i]));
        emptied += (idx as Int32Array).length - keep.length;
        return [s, keep];
      }),
    ) as SplitIndex;
    if (emptied) exclusions['no modality observed after fitting'] = emptied;
    // The whole cohort may hold both classes while the training split holds one (one positive in 2,092 eICU stays,
    // its times read as days): nothing to learn, said now rather than after a model of constants is written.
    const trainPos = split.train.reduce((a, i) => a + labels[i], 0);
    if (split.train.length === 0) {
      // Not "all 0 patients have label 0": say where the patients went (most often: no modality observed).
      const left = Object.entries(exclusions).filter(([, v]) => v > 0).map(([k, v]) => `${k}: ${v}`);
      throw new CdmmError(`${file}: split: the training split is empty${left.length ? ` (left out: ${left.join('; ')})` : ''}; a patient needs a label and at least one modality observed at the prediction time (check the modalities' tables, ids and windows)`);
    }
    if (trainPos === 0 || trainPos === split.train.length) {
      const allPos = Object.values(split).reduce((a, idx) => a + (idx as Int32Array).reduce((b, i) => b + labels[i], 0), 0);
      const included = Object.values(split).reduce((a, idx) => a + (idx as Int32Array).length, 0);
      const units = timeUnitNotes(db.warnings);
      throw new CdmmError(`${file}: split: all ${split.train.length} patients of the training split have label ${trainPos ? 1 : 0} (${allPos} of the ${included} included patients have the outcome): a model cannot learn from one class; check the label (its horizon, the time units of its columns) or give more patients${units.map((w) => `; ${w}`).join('')}`);
    }

    const state: DataState = {
      version: DATA_CODE_VERSION,
      dataset: spec.name,
      idxKind: cohort.idxKind,
      tableTypes: Object.fromEntries(
        Object.keys(spec.tables).map((t) => [t, Object.fromEntries(db.table(t).columns)]),
      ),
      modalities: names.map((name, k) => ({ name, type: spec.modalities[name].type, state: states[k] })),
    };
    const modalities: ModalityInfo[] = applied.map((a) => a.info);
    const splits = {} as PreparedDataset['splits'];
    for (const [s, idx] of Object.entries(split) as [SplitName, Int32Array][])
      splits[s] = sliceSplit(idx, cohort, applied);
    const included = Object.values(split).reduce((a, idx) => a + idx.length, 0);
    const availability: Record<string, number> = {};
    names.forEach((nm, k) => {
      let c = 0;
      for (const idx of Object.values(split)) for (const i of idx) c += applied[k].present[i];
      availability[nm] = included ? c / included : 0;
    });
    const cohortInfo: PreparedDataset['cohort'] = { candidates: cohort.candidates, included, exclusions };
    const nearWarnings = [...(await unseenVariableHints(db, spec, names, states)), ...idLikeCategories(names, states, distinctPatients([split.train], cohort.patients)), ...mixedZones(spec, state.tableTypes), ...untimedOwnRows(spec), ...sameDayDates(spec, state.tableTypes)];
    const tableWarnings = db.warnings;
    if (tableWarnings.length || cohort.warnings.length || idWarnings.length || nearWarnings.length) cohortInfo.warnings = [...tableWarnings, ...cohort.warnings, ...idWarnings, ...nearWarnings];
    if (Object.keys(tableIds).length) cohortInfo.table_ids = tableIds;
    if (spec.cohort.patient && cohort.patients) {
      cohortInfo.patient_key = { column: spec.cohort.patient, distinct: distinctPatients(Object.values(split), cohort.patients) };
    }
    const ds: PreparedDataset & { extra: PreparedExtra } = {
      name: spec.name,
      modalities,
      splits,
      state,
      cohort: cohortInfo,
      extra: { availability },
    };
    if (spec.reference) ds.reference = { name: spec.reference.name ?? spec.reference.column, column: spec.reference.column };
    return ds;
  } catch (e) {
    // The warnings gathered before an input error often explain it (a per-patient column varying within an id, a
    // time unit): shown, not lost with the build. Those the error already says are not repeated.
    if (e instanceof CdmmError && !opts.quiet)
      for (const w of db.warnings) if (!e.message.includes(w)) process.stderr.write(`warning: ${printable(w)}\n`);
    throw e;
  } finally {
    db.close();
  }
}

/**
 * Every split is by patient: rows of one patient (cohort.patient, else each row is its own patient) never fall
 * on two sides. Group splits also keep each group whole; a shift environment chosen by value is taken out first.
 */
function makeSplit(
  spec: Spec, cohort: Cohort, labels: Float32Array, eligible: Uint8Array, raws: Raw[], names: string[],
  seedOverride: number | undefined, exclusions: Record<string, number>, file: string,
): SplitIndex {
  const s = spec.split;
  const patients = cohort.patients;
  if (s.method === 'column') {
    const { split, unassigned } = columnSplit(cohort.splitValues!, eligible, s.values, `${file}: split.column '${s.column}'`);
    if (unassigned) exclusions['no split value'] = unassigned;
    if (patients) requirePatientDisjoint(split, patients, cohort.ids, `${file}: split.column '${s.column}'`);
    return split;
  }
  const seed = seedOverride ?? s.seed;
  let pool = eligible;
  let shift: Int32Array | undefined;
  if ((s.method === 'random' || s.method === 'group') && s.shift && cohort.inShift) {
    const picked = shiftByValue(eligible, cohort.inShift, patients);
    if (picked.shift.length === 0) throw new CdmmError(`${file}: split.shift: no included patient has ${s.shift.column} in ${JSON.stringify(s.shift.values)}`);
    if (picked.dropped) exclusions['patient also in the shift environment'] = picked.dropped;
    pool = picked.rest;
    shift = picked.shift;
  }
  let split: SplitIndex;
  if (s.method === 'group') {
    const groups = cohort.groups!;
    let none = 0;
    pool = Uint8Array.from(pool, (e, i) => (e && (groups[i] === null || groups[i] === undefined) ? (none++, 0) : e));
    if (none) exclusions[`no split group (${s.column})`] = none;
    split = groupSplit(connectedUnits(pool, patients ? [groups, patients] : [groups]), s.fractions, seed, `${file}: split (method group, column '${s.column}')`);
  } else {
    split = patients ? stratifiedUnitSplit(labels, connectedUnits(pool, [patients]), s.fractions, seed) : stratifiedSplit(labels, pool, s.fractions, seed);
  }
  if (shift) split.shift = shift;
  if (s.method !== 'shift') return split;
  const k = names.indexOf(s.modality);
  const shifted = shiftTrain(split, labels, raws[k].present, s.strength, seed);
  exclusions[`shift: dropped from train (${s.modality} availability vs label)`] = shifted.dropped;
  return shifted.split;
}

/** Gathers one split's rows from the all-patient arrays. */
export function sliceSplit(idx: Int32Array, cohort: Pick<Cohort, 'ids' | 'labels' | 'trueRisk' | 'reference'>, applied: Applied[]): SplitArrays {
  const K = applied.length;
  const n = idx.length;
  const mask = new Uint8Array(n * K);
  const values: Record<string, Float32Array> = {};
  applied.forEach((a, k) => {
    const D = a.info.shape.reduce((x, y) => x * y, 1);
    const out = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      const i = idx[r];
      if (a.present[i]) {
        mask[r * K + k] = 1;
        out.set(a.values.subarray(i * D, (i + 1) * D), r * D);
      }
    }
    values[a.info.name] = out;
  });
  const out: SplitArrays = {
    ids: Array.from(idx, (i) => cohort.ids[i]),
    labels: cohort.labels ? Float32Array.from(idx, (i) => cohort.labels![i]) : new Float32Array(n),
    mask,
    values,
  };
  if (cohort.trueRisk) out.trueRisk = Float32Array.from(idx, (i) => cohort.trueRisk![i]);
  if (cohort.reference) out.reference = Float32Array.from(idx, (i) => cohort.reference![i]);
  return out;
}

/**
 * `untimed: true` on a table without times: every row of the patient counts as known at the prediction time, which
 * for the stay's own later records is a leak (MIMIC-IV's diagnoses_icd of the admission are coded at discharge: a new
 * user's early fusion gained 0.06 test AUROC from them, unwarned), and through a patient-level link for later stays' too.
 */
function untimedOwnRows(spec: Spec): string[] {
  const out: string[] = [];
  for (const [name, m] of Object.entries(spec.modalities)) {
    const t = spec.tables[m.table];
    if (!('untimed' in m) || m.untimed !== true || m.table === spec.cohort.table || !t || t.time) continue;
    out.push(`modalities.${name}.untimed: table '${m.table}' has no time, so every one of its rows for a patient counts as known at the prediction time; right for data recorded before it (a problem list at admission), a leak for records made later (an admission's discharge diagnoses, a later stay's rows): give the table a time, or a lookup of a time it is known by (docs/SPEC.md, lookup)`);
  }
  return out;
}

/**
 * A window ending at the prediction time over a table timed by dates: a row dated the index's day counts, though it
 * may have been recorded after the prediction time that day (MIMIC-IV's omr chartdate); SPEC says end: -1.
 */
function sameDayDates(spec: Spec, types: Record<string, Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [name, m] of Object.entries(spec.modalities)) {
    if (!('window' in m) || ('untimed' in m && m.untimed === true) || !(m.window.end > -1)) continue;
    const t = spec.tables[m.table];
    const dates = (t ? timeColumns(t) : []).filter((c) => types[m.table]?.[c] === 'DATE');
    if (dates.length)
      out.push(`modalities.${name}.window.end: ${m.window.end} days, over ${m.table}.${dates[0]}, a date without a time of day: a row dated the prediction day counts although it may be recorded after the prediction time that day; end the window at -1 to use whole days before it`);
  }
  return out;
}

/**
 * Times with a zone (the index) compared with times without one (a table's events): the zoneless ones are read
 * as UTC, so a hospital exporting local wall-clock times moves its rows by the zone's offset, across the
 * prediction time too. Said once, naming both sides.
 */
function mixedZones(spec: Spec, types: Record<string, Record<string, string>>): string[] {
  const zoned = (t: string) => /WITH TIME ZONE|TIMESTAMPTZ/i.test(t);
  const naive = (t: string) => /^TIMESTAMP(_[A-Z]+)?$/i.test(t);
  const timeCols: { at: string; type: string }[] = [];
  const idx = spec.cohort.index_time;
  if (typeof idx === 'string') timeCols.push({ at: `${spec.cohort.table}.${idx}`, type: types[spec.cohort.table]?.[idx] ?? '' });
  for (const name of new Set(Object.values(spec.modalities).map((m) => m.table))) {
    const t = spec.tables[name];
    for (const c of t ? timeColumns(t) : []) timeCols.push({ at: `${name}.${c}`, type: types[name]?.[c] ?? '' });
  }
  const z = timeCols.filter((c) => zoned(c.type)), n = timeCols.filter((c) => naive(c.type));
  if (!z.length || !n.length) return [];
  return [`times with a zone (${z.slice(0, 3).map((c) => c.at).join(', ')}) are compared with times without one (${n.slice(0, 3).map((c) => c.at).join(', ')}), which are read as UTC: if those hold local wall-clock times, rows move by the zone's offset, across the prediction time too; write their zone (or convert them to UTC) in the export`];
}
