// Who the patients are: the cohort table's rows that pass the inclusion filters, have an index time and a
// determinable label. Creates the DuckDB table __cohort(pid, key, idx) that every modality joins against;
// idx is DOUBLE days (since 1970 for timestamps), so the per-row window test is plain arithmetic.
import { CdmmError } from '../util/errors.js';
import { duckdbReason, kindOf, lit, q, relDaysExpr, sqlNum, tbl, type ColumnKind, type Db } from './db.js';
import { compileFilter, filterColumns, KEYWORDS, parseFilter, shownFilter } from './filter.js';
import { tableFormat, writtenAsBareNumber, type Spec } from './spec.js';
import { COHORT, COHORT_IDX, linkKeyColumn, sameKey } from './modalities/common.js';
import { someValues, timeUnitNotes, valueMatch } from './tables.js';

export interface Cohort {
  ids: string[];
  /** 0/1 per patient, or undefined when the label is not computed (prediction). */
  labels?: Float32Array;
  /** Split name per patient from a split column, when the spec uses one. */
  splitValues?: (string | null)[];
  trueRisk?: Float32Array;
  /** The patient of each row (cohort.patient), so that splits keep a patient's rows together. */
  patients?: (string | null)[];
  /** The group of each row for split.method group (e.g. its hospital). */
  groups?: (string | null)[];
  /** 1 for rows in the shift environment chosen by value (split.shift). */
  inShift?: Uint8Array;
  /** The reference score of each row (spec.reference), NaN where it is missing. */
  reference?: Float32Array;
  candidates: number;
  exclusions: Record<string, number>;
  idxKind: ColumnKind;
  /** What the cohort's rules did that a user may not expect (a filter leaving out rows with missing values). */
  warnings: string[];
}

export interface CohortOptions {
  /** Apply the inclusion filters and compute labels (training, external validation). */
  withLabels: boolean;
  /** Apply the inclusion filters and end_time without labels (new patients from table files); default withLabels. */
  filters?: boolean;
}

export async function buildCohort(db: Db, spec: Spec, opts: CohortOptions): Promise<Cohort> {
  const f = db.specFile;
  const ct = spec.cohort.table;
  const t = db.table(ct);
  const idCol = spec.cohort.id ?? t.id;
  db.requireColumn(ct, idCol, spec.cohort.id ? 'cohort.id' : `tables.${ct}.id`);
  // Several rows per patient with an index time column: several prediction times (a MEDS label table), which the
  // cohort takes keyed by row, the event tables linked to it and the patient kept for the splits.
  const several = typeof spec.cohort.index_time === 'string' && !spec.cohort.id
    ? `; for several prediction times per patient, key the table by row (tables.${ct}.id: _row), give each table keyed by ${t.id} \`link: { table: ${ct}, column: ${t.id} }\` and set cohort.patient: ${t.id} (splits keep a patient's rows together; docs/SPEC.md, MEDS)`
    : '';
  await db.requireUniqueIds(ct, 'cohort.table', several);
  const line = t.hasLine ? '__line' : 'NULL';

  // Index time: a column (days or timestamp) or a constant number of days.
  let idxSql: string;
  let idxKind: ColumnKind;
  if (typeof spec.cohort.index_time === 'string') {
    await db.requireTime(ct, spec.cohort.index_time, 'cohort.index_time');
    idxKind = kindOf(t.columns.get(spec.cohort.index_time)!);
    idxSql = idxKind === 'number' ? COHORT_IDX('number', `x.${q(spec.cohort.index_time)}`, t.unitsPerDay) : `x.${q(spec.cohort.index_time)}`;
  } else {
    idxSql = `CAST(${sqlNum(spec.cohort.index_time, `${f}: cohort.index_time`)} AS DOUBLE)`;
    idxKind = 'number';
  }
  // index_offset (days) moves the prediction time, e.g. admittime + 1 day: for a timestamp column the
  // offset is added as an interval so that both clocks (the label's and the modalities') see the same time.
  const off = spec.cohort.index_offset ?? 0;
  if (off !== 0) {
    const o = sqlNum(off, `${f}: cohort.index_offset`);
    idxSql = idxKind === 'time'
      ? `(CAST(${idxSql} AS TIMESTAMP) + to_microseconds(CAST(round(${o} * 86400e6) AS BIGINT)))`
      : `(CAST(${idxSql} AS DOUBLE) + ${o})`;
  }

  // The cohort table's other times are read (time_format) before the filters, as its index time is: a filter on
  // discharge_time then compares times, and each filter's count sees the values the selection later sees (counted on
  // the text, a US-format end time gave negative exclusion counts).
  if ((opts.filters ?? opts.withLabels) && spec.cohort.end_time) await db.requireTime(ct, spec.cohort.end_time, 'cohort.end_time');
  const lbl = spec.label as { table?: string; time?: unknown };
  if ((opts.filters ?? opts.withLabels) && (lbl.table ?? ct) === ct && typeof lbl.time === 'string' && t.columns.has(lbl.time)) await db.requireTime(ct, lbl.time, 'label.time');

  const conds: string[] = [];
  const exclusions: Record<string, number> = {};
  const warnings: string[] = [];
  const candidates = Number(await db.scalar(`SELECT count(*) FROM ${tbl(ct)}`));
  let kept = candidates; // rows the filters keep (end_time counts from there)
  // A row without an id is no patient's: left out and counted (it used to read as "no modality observed", and two
  // of them as one repeated id).
  const noId = Number(await db.scalar(`SELECT count(*) FROM ${tbl(ct)} WHERE ${q(idCol)} IS NULL`));
  if (noId) {
    conds.push(`x.${q(idCol)} IS NOT NULL`);
    exclusions['no id'] = noId;
    kept -= noId;
    warnings.push(`${t.label}: ${noId} row${noId === 1 ? '' : 's'} without an id ('${idCol}' empty) left out of the cohort`);
  }
  const countWhere = async (w: string[]) => Number(await db.scalar(`SELECT count(*) FROM ${tbl(ct)} x ${w.length ? 'WHERE ' + w.map((c) => `(${c})`).join(' AND ') : ''}`));

  if (opts.filters ?? opts.withLabels) {
    let before = kept;
    // Each filter is parsed and its SQL written from the parse tree (src/data/filter.ts): never the text itself.
    const columns = [...t.columns.keys()];
    for (const [k, expr] of spec.cohort.filters.entries()) {
      const sql = compileFilter(expr, k, columns, 'x', { specFile: f, table: ct, label: t.label });
      let after: number;
      try {
        after = await countWhere([...conds, sql]);
      } catch (e) {
        throw new CdmmError(`${f}: cohort.filters[${k}]: invalid filter ${JSON.stringify(expr)}: ${duckdbReason(e)}`);
      }
      exclusions[`filter: ${expr}`] = before - after;
      // A comparison with a missing value is neither true nor false: such rows are left out, which "age >= 18"
      // does not say. Counted, so a blank age does not silently read as "a minor".
      if (before > after) {
        const unknown = await countWhere([...conds, `(${sql}) IS NULL`]);
        if (unknown > 0) {
          const cols = [...new Set(filterColumns(parseFilter(expr)).map((c) => c.name))];
          warnings.push(
            `cohort.filters[${k}] ${shownFilter(expr)} left out ${before - after} rows, ${unknown} of them because ${cols.join(' or ') || 'a value'} is missing there ` +
              `(the filter is neither true nor false for them); to keep them, write "(${expr.length > 80 ? '…' : expr}) OR ${cols.length ? cols.map((c) => `${c} IS NULL`).join(' OR ') : 'col IS NULL'}"`,
          );
        }
      }
      conds.push(sql);
      before = after;
    }
    kept = before;
  }
  // Every row the filters keep needs its index time (a row they leave out may lack it).
  if (typeof spec.cohort.index_time === 'string') {
    const col = q(spec.cohort.index_time);
    const filtered = conds.map((c) => `(${c})`).join(' AND ');
    const missing = await db.rows(`SELECT ${line} AS line, CAST(x.${q(idCol)} AS VARCHAR) AS id FROM ${tbl(ct)} x WHERE x.${col} IS NULL${filtered ? ` AND ${filtered}` : ''} ORDER BY 1 LIMIT 1`);
    if (missing.length) {
      const bare = /^[A-Za-z_][A-Za-z0-9_]*$/.test(spec.cohort.index_time) && !KEYWORDS.has(spec.cohort.index_time.toUpperCase());
      const filter = JSON.stringify(`${bare ? spec.cohort.index_time : col} IS NOT NULL`);
      throw new CdmmError(
        `${t.label}: ${missing[0].line !== null ? `${await db.at(ct, missing[0].line)} ` : ''}(id ${missing[0].id}): index time '${spec.cohort.index_time}' is missing (${f}: cohort.index_time${t.hasLine ? `; to leave such rows out, add the filter ${filter} to cohort.filters` : '; give it as the record\'s index_time'})`,
      );
    }
  }
  if (opts.filters ?? opts.withLabels) {
    const before = kept;
    // A stay that ends by the prediction time (discharge or death before it) has nothing to predict.
    if (spec.cohort.end_time) {
      const end = spec.cohort.end_time; // read as a time before the filters (above)
      const kind = kindOf(t.columns.get(end)!);
      const endSql = kind === 'number' ? COHORT_IDX('number', `x.${q(end)}`, t.unitsPerDay) : `x.${q(end)}`;
      const rel = relDaysExpr(endSql, kind, idxSql, idxKind, 'cohort.end_time', f);
      const cond = `(x.${q(end)} IS NULL OR ${rel} > 0)`;
      const after = await countWhere([...conds, cond]);
      exclusions['stay ended at or before the index time'] = before - after;
      // Most stays over before the prediction time: often an offset meant in hours, written as a bare number (days).
      const off = spec.cohort.index_offset ?? 0;
      if (before > 0 && (before - after) / before > 0.5 && off >= 1 && writtenAsBareNumber(spec, 'cohort.index_offset'))
        warnings.push(
          `cohort.end_time: ${before - after} of ${before} stays end at or before the prediction time (the index + cohort.index_offset ${off} day${off === 1 ? '' : 's'}), so they are left out; ` +
            `a bare number there is days: for hours write it as "${off} h"`,
        );
      conds.push(cond);
    }
  }

  // The label, as SQL: 1, 0, or NULL with the reason for exclusion.
  let labelSql = 'NULL';
  let reasonSql = 'NULL';
  let labelJoin = '';
  let noEventSql = 'FALSE';
  let noOrigin: LabelRule[] = []; // label.from: end_time: a row without the end time has no label
  const label = spec.label;
  if (opts.withLabels) {
    const lt = label.table ?? ct;
    const la = lt === ct ? 'x' : 'l';
    // The event form from another table reads all of a cohort row's rows there (an event log, or one row); the
    // column form needs one row per id.
    const eventLog = lt !== ct && !('column' in label);
    const labelJoins: string[] = [];
    if (lt !== ct) {
      // Keyed by the cohort id, or reached through its link (OMOP's death by person_id for a cohort of visits).
      await perRowJoin(db, spec, idCol, lt, 'label.table', 'l', labelJoins, !eventLog);
      labelJoin = labelJoins.join(' ');
    }
    if ('column' in label && label.above !== undefined) {
      // A threshold on a number (length of stay > 3 days): above it 1, at or below 0, blank excluded.
      await db.requireNumeric(lt, label.column, 'label.column');
      const col = `CAST(${la}.${q(label.column)} AS DOUBLE)`;
      const t = sqlNum(label.above, `${f}: label.above`);
      ({ labelSql, reasonSql } = labelCase([[`${col} IS NULL`, 'NULL', 'label missing']], [`CASE WHEN ${col} > ${t} THEN 1 ELSE 0 END`, null]));
    } else if ('column' in label && label.positive) {
      let note: string | undefined;
      ({ labelSql, reasonSql, note } = await valueLabel(db, spec, lt, la));
      if (note) warnings.push(note);
    } else if ('column' in label) {
      const type = db.requireColumn(lt, label.column, 'label.column');
      const col = `${la}.${q(label.column)}`;
      const v = kindOf(type) === 'text' ? `lower(trim(${col}))` : `CAST(${col} AS VARCHAR)`;
      const blank = kindOf(type) === 'text' ? `(${col} IS NULL OR trim(${col}) = '')` : `${col} IS NULL`;
      const bad = await db.rows(`SELECT ${db.lineExpr(lt) === 'NULL' ? 'NULL' : `${la}.__line`} AS line, ${col} AS v FROM ${tbl(ct)} x ${labelJoin} WHERE NOT ${blank} AND ${v} NOT IN ('0','1','true','false','0.0','1.0','yes','no','y','n','t','f') LIMIT 1`);
      if (bad.length)
        throw new CdmmError(
          `${db.table(lt).label}: ${await db.at(lt, bad[0].line)}, column '${label.column}': label value ${JSON.stringify(String(bad[0].v))} is not binary (0/1, true/false, yes/no, y/n) ` +
            `(${f}: label.column; for a text outcome name its values, e.g. label.positive: ${JSON.stringify(String(bad[0].v))}; ` +
            `if it means "outcome unknown", make it missing: tables.${lt}.values: { ${label.column}: { ${JSON.stringify(String(bad[0].v))}: null } }` +
            `${spec.tables[lt] && tableFormat(spec.tables[lt]) === 'csv' ? ` or tables.${lt}.na_values: [${JSON.stringify(String(bad[0].v))}]` : ''})`,
        );
      ({ labelSql, reasonSql } = labelCase([[blank, 'NULL', 'label missing']], [`CASE WHEN ${v} IN ('1','true','1.0','yes','y','t') THEN 1 ELSE 0 END`, null]));
    } else {
      db.requireColumn(lt, label.event, 'label.event');
      await db.requireTime(lt, label.time, 'label.time');
      const timeKind = kindOf(db.table(lt).columns.get(label.time)!);
      const timeSql = timeKind === 'number' ? COHORT_IDX('number', `${la}.${q(label.time)}`, db.table(lt).unitsPerDay) : `${la}.${q(label.time)}`;
      // label.from: end_time starts the horizon at the stay's end (a 30-day readmission counts from discharge): rows
      // up to it (the stay's own admission, its discharge codes) are passed over, not read as an outcome before it.
      const fromEnd = label.from === 'end_time';
      let originSql = idxSql;
      let originKind = idxKind;
      if (fromEnd) {
        const end = spec.cohort.end_time;
        if (!end) throw new CdmmError(`${f}: label.from: end_time needs cohort.end_time (the time the horizon starts from, such as the discharge time)`);
        await db.requireTime(ct, end, 'cohort.end_time');
        originKind = kindOf(t.columns.get(end)!);
        originSql = originKind === 'number' ? COHORT_IDX('number', `x.${q(end)}`, t.unitsPerDay) : `x.${q(end)}`;
      }
      const rel = relDaysExpr(timeSql, timeKind, originSql, originKind, 'label.time', f);
      // DuckDB reads a yes/no (or true/false, t/f) column as BOOLEAN: then the event values are compared as
      // booleans, so that `event_values: ["yes"]` and `[1]` and `[true]` all mean TRUE.
      const evType = db.table(lt).columns.get(label.event)!;
      const evCol = `${la}.${q(label.event)}`;
      let ev: string;
      if (label.event_values === 'any') {
        ev = `${evCol} IS NOT NULL`;
      } else if (evType === 'BOOLEAN') {
        const truthy = (x: string | number | boolean) => ['1', 'true', 't', 'yes', 'y'].includes(String(x).trim().toLowerCase());
        const falsy = (x: string | number | boolean) => ['0', 'false', 'f', 'no', 'n'].includes(String(x).trim().toLowerCase());
        const bad = label.event_values.find((x) => !truthy(x) && !falsy(x));
        if (bad !== undefined)
          throw new CdmmError(`${f}: label.event_values: ${JSON.stringify(bad)} cannot match column '${label.event}', which holds yes/no (true/false) values`);
        const vals = [...new Set(label.event_values.map((x) => (truthy(x) ? 'TRUE' : 'FALSE')))];
        ev = `${evCol} IN (${vals.join(', ')})`;
      } else {
        ev = `CAST(${evCol} AS VARCHAR) IN (${label.event_values.map((x) => lit(String(x))).join(', ')})`;
        // An event value that never occurs (e.g. "Yes" for a column holding "yes", or 1 for "dead") would
        // silently make every patient negative: an error listing the values that do occur.
        const hits = Number(await db.scalar(`SELECT count(*) FROM ${tbl(lt)} ${la} WHERE ${ev}`));
        if (hits === 0) {
          const seen = (await db.rows(`SELECT DISTINCT CAST(${evCol} AS VARCHAR) AS v FROM ${tbl(lt)} ${la} WHERE ${evCol} IS NOT NULL ORDER BY 1 LIMIT 6`)).map((r) => JSON.stringify(r.v));
          throw new CdmmError(
            `${f}: label.event_values: none of ${JSON.stringify(label.event_values)} occurs in column '${label.event}' of ${db.table(lt).label} (values there: ${seen.join(', ')}${seen.length === 6 ? ', …' : ''})`,
          );
        }
      }
      const H = sqlNum(label.horizon, `${f}: label.horizon`);
      // A date without a time of day (OMOP's death_date) on the index's own day is not before the index: the day
      // may end after it (a patient still in hospital at the prediction time who dies that evening is positive).
      // From the end time, a row at it is the stay's own (its discharge), not a later event; a date is passed over
      // on the end's day too (a same-day stay's own admission is dated that day: a same-day readmission is lost).
      const before = fromEnd ? `${rel} <= 0` : db.table(lt).columns.get(label.time) === 'DATE' ? `${rel} + 1 <= 0` : `${rel} < 0`;
      // A stay without an end time has no horizon to count from.
      noOrigin = fromEnd ? [[`${originSql} IS NULL`, 'NULL', 'label missing']] : [];
      if (eventLog) {
        // All of a cohort row's rows in the label table, counted. Each row is an event or a time the patient was
        // followed to: an event before the index, or every row before it, leaves the patient out; an event
        // within the horizon is positive; a row at or beyond its end (followed that long) without one negative; else
        // censored (for one row per id, the single-row rule below); an event without a time is "label missing".
        const time = `${la}.${q(label.time)}`;
        const valid = `${time} IS NOT NULL AND ${la}.${q(label.event)} IS NOT NULL`;
        const n = (w: string) => `count(*) FILTER (WHERE ${w})`;
        labelJoin = `LEFT JOIN (SELECT x.${q(idCol)} AS __lk, count(${la}.${q(db.table(lt).id)}) AS n, ${n(valid)} AS valid,
          ${n(`${ev} AND ${time} IS NULL`)} AS ev_untimed, ${n(`${valid} AND ${ev} AND ${before}`)} AS ev_before,
          ${n(`${valid} AND NOT (${before})`)} AS after, ${n(`${valid} AND NOT (${before}) AND ${ev} AND ${rel} <= ${H}`)} AS ev_in,
          ${n(`${valid} AND ${rel} >= ${H}`)} AS past, ${n(ev)} AS ev_any FROM ${tbl(ct)} x ${labelJoin} GROUP BY x.${q(idCol)}) lg ON lg.__lk = x.${q(idCol)}`;
        // absent: negative only says what no row at all means (a death table lists the dead): rows there are
        // read as without it, so one row per id gives the single-row rule exactly.
        // From the end time, rows up to it are passed over, and absent: negative means no event in the horizon
        // (a table of admissions lists the readmissions; none within 30 days of discharge is negative).
        const absentNegative = label.absent === 'negative';
        ({ labelSql, reasonSql } = labelCase([
          ...noOrigin,
          absentNegative ? ['lg.n = 0', '0', null] : ['lg.n = 0', 'NULL', 'label missing'],
          ['lg.valid = 0 OR lg.ev_untimed > 0', 'NULL', 'label missing'],
          ...(fromEnd ? [] : [['lg.ev_before > 0', 'NULL', 'outcome time before index'], ['lg.after = 0', 'NULL', 'no row after the index']] as LabelRule[]),
          ['lg.ev_in > 0', '1', null],
          ['lg.past > 0', '0', null],
        ], (fromEnd && absentNegative) || label.censored === 'negative' ? ['0', null] : ['NULL', 'censored before horizon']));
        // Rows none of which is an event (other diagnoses in a full diagnosis list) are read as follow-up times:
        // the patients they leave out are counted below, with the filter that makes the table a list of outcomes.
        noEventSql = '(lg.n > 0 AND lg.ev_any = 0)';
      } else {
        ({ labelSql, reasonSql } = labelCase([
          ...noOrigin,
          [`${la}.${q(label.time)} IS NULL OR ${la}.${q(label.event)} IS NULL`, 'NULL', 'label missing'],
          [before, 'NULL', fromEnd ? 'outcome time before end_time' : 'outcome time before index'],
          [`${ev} AND ${rel} <= ${H}`, '1', null],
          [`${rel} >= ${H}`, '0', null],
        ], label.censored === 'negative' ? ['0', null] : ['NULL', 'censored before horizon']));
      }
    }
    if (label.absent === 'negative' && !eventLog) {
      if (lt === ct) throw new CdmmError(`${f}: label.absent: negative needs label.table, another table than the cohort's (a cohort row without a row there is then negative)`);
      // No row in the label table (alias l, joined above): negative, whatever the label's own columns would say.
      const none = `l.${q(db.table(lt).id)} IS NULL`;
      ({ labelSql, reasonSql } = labelCase([...noOrigin, [none, '0', null]], [`(${labelSql})`, `(${reasonSql})`], true));
    }
  }

  let splitSql = 'NULL';
  let splitJoin = '';
  if (opts.withLabels && spec.split.method === 'column') {
    const st = spec.split.table ?? ct;
    db.requireColumn(st, spec.split.column, 'split.column');
    if (st !== ct) {
      const joins: string[] = [];
      await perRowJoin(db, spec, idCol, st, 'split.table', 's', joins);
      splitJoin = joins.join(' ');
    }
    splitSql = `CAST(${st === ct ? 'x' : 's'}.${q(spec.split.column)} AS VARCHAR)`;
  }
  let riskSql = 'NULL';
  let riskJoin = '';
  if (spec.true_risk) {
    const rt = spec.true_risk.table;
    await db.requireNumeric(rt, spec.true_risk.column, 'true_risk.column');
    if (rt !== ct) {
      const joins: string[] = [];
      await perRowJoin(db, spec, idCol, rt, 'true_risk.table', 'r', joins);
      riskJoin = joins.join(' ');
    }
    riskSql = `CAST(${rt === ct ? 'x' : 'r'}.${q(spec.true_risk.column)} AS DOUBLE)`;
  }

  const extra = opts.withLabels ? await splitAndReference(db, spec, idCol) : { select: 'NULL AS patient, NULL AS grp, NULL AS in_shift, NULL AS ref', joins: '' };
  await db.run(`CREATE OR REPLACE TEMP TABLE __cand AS
    SELECT x.${q(idCol)} AS key, ${idxSql} AS idx, ${labelSql} AS y, ${reasonSql} AS reason, ${noEventSql} AS no_event, ${splitSql} AS split, ${riskSql} AS risk, ${extra.select}
    FROM ${tbl(ct)} x ${labelJoin} ${splitJoin} ${riskJoin} ${extra.joins}
    ${conds.length ? 'WHERE ' + conds.map((c) => `(${c})`).join(' AND ') : ''}`);
  if (opts.withLabels) {
    for (const r of await db.rows(`SELECT reason, count(*) AS n FROM __cand WHERE y IS NULL GROUP BY reason ORDER BY reason`))
      exclusions[String(r.reason)] = Number(r.n);
    // One row per patient with the event's time as label.time: the patients without the event have no time there
    // (a death table's survivors), so they are "label missing", not negatives or censored: said, with the fix (a new
    // user's 1,925 of 2,170 admissions were left out so, with the label rate jumping to 44%).
    const missing = exclusions['label missing'] ?? 0;
    const lt = label.table ?? ct;
    if ('event' in label && typeof label.time === 'string' && missing > 0 && missing >= 0.1 * candidates && label.absent !== 'negative') {
      const la = db.table(lt);
      // Of the cohort rows left out so: how many have a label row without a time, how many no label row at all
      // (a linked label table through its link: a subject's death row for each of its admissions).
      const lid = lt === ct ? null : q(la.id);
      const link = la.link;
      const via = link
        ? `LEFT JOIN ${tbl(link.table)} l ON CAST(l.${q(linkKeyColumn(db, spec, link.table))} AS VARCHAR) = CAST(c.key AS VARCHAR) LEFT JOIN ${tbl(lt)} x ON CAST(x.${lid} AS VARCHAR) = CAST(l.${q(link.column)} AS VARCHAR)`
        : `LEFT JOIN ${tbl(lt)} x ON CAST(x.${lid} AS VARCHAR) = CAST(c.key AS VARCHAR)`;
      const [row] = lid
        ? await db.rows(`SELECT count(DISTINCT c.key) FILTER (WHERE x.${lid} IS NOT NULL AND x.${q(label.time)} IS NULL) AS untimed, count(DISTINCT c.key) FILTER (WHERE x.${lid} IS NULL) AS no_row
            FROM __cand c ${via} WHERE c.reason = 'label missing'`)
        : [{ untimed: missing, no_row: 0 }];
      const untimed = Number(row?.untimed ?? 0), noRow = Number(row?.no_row ?? 0);
      const head = `label: ${missing} of ${candidates} cohort rows are left out as "label missing"`;
      if (untimed >= 0.5 * missing)
        warnings.push(
          `${head}: ${untimed} of them have a row in ${la.label} without a time (label.time: ${label.time}), which reads as "outcome unknown". ` +
            `label.time must be, for every patient, the event's time or, without the event, the end of follow-up (a last contact, a discharge): ` +
            `with a death time and a last-seen time in separate columns, give label.time a column holding the death time where there is one and the last-seen time otherwise (a column of the file)`,
        );
      else if (noRow >= 0.5 * missing)
        warnings.push(
          `${head}: ${noRow} of them have no row in ${la.label}. If ${lt} lists only the patients with the event (a death table lists the dead), ` +
            `label.absent: negative makes a patient without a row negative; otherwise give every patient a row, with the end of follow-up as its time`,
        );
    }
    // Only an event label can have such rows, and only where the event column holds more than a flag's two values
    // (codes, not an hourly 0/1 whose 0 rows are the follow-up times they are read as).
    if ('event' in label && label.event_values !== 'any') {
      const left = Number(await db.scalar(`SELECT count(*) FROM __cand WHERE y IS NULL AND no_event`));
      if (left > 0 && Number(await db.scalar(`SELECT count(DISTINCT ${q(label.event)}) FROM ${tbl(lt)}`)) > 2) {
        const vals = JSON.stringify(label.event_values);
        warnings.push(
          `label: ${left} patient${left === 1 ? '' : 's'} left out have rows in ${lt} but none with an event value (${label.event}: ${vals}): each such row is read as a time the patient was followed to, so rows only before the index or within the horizon leave them out. ` +
            `That is right for follow-up rows (a last contact: the patient is then censored there). If ${lt} lists other events that say nothing of follow-up (a full diagnosis list), keep only the outcome's rows, tables.${lt}.where: { ${label.event}: ${vals} }${label.absent === 'negative' ? ': a patient without one is then negative (absent: negative)' : ''}; ` +
            `filtering out follow-up rows, or absent: negative, would make censored patients negatives`,
        );
      }
    }
  }
  await db.run(`CREATE OR REPLACE TABLE ${COHORT} AS
    SELECT CAST(row_number() OVER (ORDER BY key) - 1 AS INTEGER) AS pid, key, ${COHORT_IDX(idxKind, 'idx')} AS idx, y, split, risk, patient, grp, in_shift, ref FROM __cand
    ${opts.withLabels ? 'WHERE y IS NOT NULL' : ''} ORDER BY key`);
  await db.run(`DROP TABLE __cand`);
  await db.describe(COHORT, { file: '', id: 'key' }, 'cohort', false);

  const cols = await db.columns(`SELECT CAST(key AS VARCHAR) AS id, y, split, risk, patient, grp, in_shift, ref FROM ${COHORT} ORDER BY pid`);
  const ids = cols.id as string[];
  if (ids.length === 0) {
    const why = Object.entries(exclusions).map(([k, v]) => `${k}: ${v}`).join('; ');
    // A bare number is days: `index_offset: 24` meant as hours puts the index past most stays' end.
    const off = spec.cohort.index_offset;
    const days = typeof off === 'number' && off >= 2 && writtenAsBareNumber(spec, 'cohort.index_offset') && Object.keys(exclusions).some((k) => /stay ended/.test(k)) ? `; cohort.index_offset is ${off} days (a bare number is days): if hours were meant, write "${off} h"` : '';
    throw new CdmmError(`${f}: cohort: no patient left (${candidates} in ${t.label}${why ? '; excluded: ' + why : ''})${days}`);
  }
  if (opts.withLabels && !spec.cohort.patient && spec.split.method !== 'column' && spec.split.method !== 'group') {
    const shared = await sharedLinkPatients(db, spec);
    if (shared) warnings.push(shared);
  }
  const out: Cohort = { ids, candidates, exclusions, idxKind, warnings };
  if (opts.withLabels) {
    out.labels = Float32Array.from(cols.y as number[]);
    const pos = out.labels.reduce((a, b) => a + b, 0);
    if (pos === 0 || pos === ids.length)
      throw new CdmmError(`${f}: label: only one class among the ${ids.length} included patients (all ${pos === 0 ? 0 : 1}); a binary outcome needs both${oneClassHints(spec, exclusions, db.warnings)}`);
    if (spec.split.method === 'column') out.splitValues = cols.split as (string | null)[];
    if (spec.cohort.patient) out.patients = cols.patient as (string | null)[];
    if (spec.split.method === 'group') out.groups = cols.grp as (string | null)[];
    if ((spec.split.method === 'random' || spec.split.method === 'group') && spec.split.shift) out.inShift = Uint8Array.from(cols.in_shift as number[]);
    if (spec.reference) out.reference = Float32Array.from(cols.ref as (number | null)[], (v) => (v === null ? NaN : v));
  }
  if (spec.true_risk) out.trueRisk = Float32Array.from(cols.risk as number[], (v) => (v === null ? 0 : v));
  return out;
}

/**
 * Cohort rows that share a patient through a table's link (admissions of one subject_id) while cohort.patient is not
 * set: the splits are drawn by row, so one patient's rows can fall on both sides of train and test. Said, with the fix.
 */
async function sharedLinkPatients(db: Db, spec: Spec): Promise<string | undefined> {
  const seen = new Set<string>();
  // A table the split groups or shifts by (a hospital's) is a grouping of the rows, not their patient.
  const sp = spec.split as { table?: string; shift?: { table?: string } };
  const grouping = new Set([sp.table, sp.shift?.table].filter((x): x is string => typeof x === 'string'));
  for (const [name, t] of Object.entries(spec.tables)) {
    if (!t.link || grouping.has(name) || seen.has(`${t.link.table}\0${t.link.column}`)) continue;
    seen.add(`${t.link.table}\0${t.link.column}`);
    // the link table's rows are keyed by the cohort id
    const key = linkKeyColumn(db, spec, t.link.table);
    const [r] = await db.rows(
      `SELECT count(*) AS n, count(DISTINCT CAST(x.${q(t.link.column)} AS VARCHAR)) AS p FROM ${COHORT} c JOIN ${tbl(t.link.table)} x ON CAST(x.${q(key)} AS VARCHAR) = CAST(c.key AS VARCHAR) WHERE x.${q(t.link.column)} IS NOT NULL`,
    );
    const n = Number(r.n), p = Number(r.p);
    // A few rows a value, as a patient's admissions; a link to a hospital's table has tens to hundreds a value.
    if (p > 0 && p < n && n <= 5 * p) {
      const fix = t.link.table === spec.cohort.table ? `cohort.patient: ${t.link.column}` : `cohort.patient (the cohort table's column naming the patient)`;
      return `cohort: the ${n.toLocaleString('en-US')} included rows share ${p.toLocaleString('en-US')} distinct ${t.link.table}.${t.link.column} values (the link of tables.${name}) and cohort.patient is not set, so the splits are drawn by row: if ${t.link.column} names the patient, one patient's rows can fall in both training and test (optimistic test figures); set ${fix} to keep them in one split`;
    }
  }
  return undefined;
}

/** A second one-row-per-patient table none of whose ids is in the cohort table: a key mix-up, said with examples. */
async function requireIdOverlap(db: Db, ct: string, idCol: string, other: string, field: string): Promise<void> {
  const o = db.table(other);
  const k = (t: string, c: string) => `SELECT DISTINCT CAST(${q(c)} AS VARCHAR) AS k FROM ${tbl(t)} WHERE ${q(c)} IS NOT NULL`;
  const total = Number(await db.scalar(`SELECT count(*) FROM (${k(other, o.id)})`));
  if (total === 0) return;
  const hit = Number(await db.scalar(`SELECT count(*) FROM (${k(other, o.id)}) a JOIN (${k(ct, idCol)}) b ON a.k = b.k`));
  if (hit > 0) return;
  const ex = async (t: string, c: string) => (await db.rows(`${k(t, c)} ORDER BY 1 LIMIT 3`)).map((r) => JSON.stringify(String(r.k))).join(', ');
  throw new CdmmError(
    `${db.specFile}: ${field}: none of the ${total} ids in ${o.label} (column '${o.id}', e.g. ${await ex(other, o.id)}) is an id of the cohort table ` +
      `${db.table(ct).label} (column '${idCol}', e.g. ${await ex(ct, idCol)}); every table must key rows by the same patient id`,
  );
}

/**
 * The label and the reason a row has none, from one list of rules (first match wins): each rule's condition, its
 * label (SQL) and its reason (null: none), then what every other row gets. Both CASEs come from the same
 * conditions, so the label and its reason cannot disagree. `sqlReason`: the otherwise-reason is SQL, not text.
 */
type LabelRule = [when: string, label: string, reason: string | null];
function labelCase(rules: LabelRule[], otherwise: [label: string, reason: string | null], sqlReason = false): { labelSql: string; reasonSql: string } {
  const reason = (r: string | null) => (r === null ? 'NULL' : lit(r));
  const whens = (pick: (r: LabelRule) => string) => rules.map((r) => `WHEN ${r[0]} THEN ${pick(r)}`).join(' ');
  return {
    labelSql: `CASE ${whens((r) => r[1])} ELSE ${otherwise[0]} END`,
    reasonSql: `CASE ${whens((r) => reason(r[2]))} ELSE ${sqlReason ? otherwise[1] : reason(otherwise[1])} END`,
  };
}

/** What may have left one class: the patients left out and why, a horizon given as a bare number (days), a table's time unit. */
function oneClassHints(spec: Spec, exclusions: Record<string, number>, tableNotes: string[]): string {
  const out: string[] = [];
  const left = Object.entries(exclusions).map(([k, v]) => `${k}: ${v}`);
  if (left.length) out.push(`left out: ${left.join('; ')}`);
  if ('event' in spec.label) {
    const h = spec.label.horizon;
    if (exclusions['censored before horizon'] || exclusions['label missing'])
      out.push(`label.time must be the event's time or, without the event, the end of follow-up (a time for every patient): a patient with neither is censored or missing`);
    else if (Number.isInteger(h) && h >= 2 && writtenAsBareNumber(spec, 'label.horizon')) out.push(`label.horizon is ${h} days (a bare number is days): if hours were meant, write "${h} h"`);
  }
  out.push(...timeUnitNotes(tableNotes));
  return out.length ? `; ${out.join('; ')}` : '';
}

/**
 * A label from values of a column (label.positive / label.negative): positive values → 1, negative ones (by
 * default every other non-blank value) → 0; blank → excluded as "label missing", anything else → excluded as
 * "label neither positive nor negative".
 */
async function valueLabel(db: Db, spec: Spec, lt: string, la: string): Promise<{ labelSql: string; reasonSql: string; note?: string }> {
  const f = db.specFile;
  const label = spec.label as Extract<Spec['label'], { column: string }>;
  const type = db.requireColumn(lt, label.column, 'label.column');
  const col = `${la}.${q(label.column)}`;
  const pos = valueMatch(col, type, label.positive!, `${f}: label.positive`);
  const neg = label.negative ? valueMatch(col, type, label.negative, `${f}: label.negative`) : 'TRUE';
  const norm = (v: string | number | boolean) => String(v).trim().toLowerCase();
  const both = label.negative?.find((v) => label.positive!.some((p) => norm(p) === norm(v)));
  if (both !== undefined) throw new CdmmError(`${f}: label.negative: ${JSON.stringify(both)} is also listed in label.positive`);
  // A positive value that never occurs (a typo, another spelling) would make every patient negative.
  const hits = Number(await db.scalar(`SELECT count(*) FROM ${tbl(lt)} ${la} WHERE ${pos}`));
  if (hits === 0)
    throw new CdmmError(`${f}: label.positive: none of ${JSON.stringify(label.positive)} occurs in column '${label.column}' of ${db.table(lt).label} (values there: ${await someValues(db, lt, label.column)})`);
  const blank = `(${col} IS NULL OR trim(CAST(${col} AS VARCHAR)) = '')`;
  // Without label.negative every other value is 0: said when that is several values ("no" and "unknown"), one of
  // which may well mean "not known" rather than "no".
  let note: string | undefined;
  if (!label.negative) {
    const others = await db.rows(`SELECT CAST(${col} AS VARCHAR) AS v, count(*) AS n FROM ${tbl(lt)} ${la} WHERE NOT ${blank} AND NOT (${pos}) GROUP BY 1 ORDER BY n DESC, v LIMIT 6`);
    if (others.length > 1)
      note = `label: without label.negative every value but ${JSON.stringify(label.positive)} counts as 0, here ${others.slice(0, 5).map((o) => `${JSON.stringify(String(o.v))} (${Number(o.n)} row${Number(o.n) === 1 ? '' : 's'} of ${db.table(lt).label})`).join(', ')}${others.length > 5 ? ', …' : ''}; ` +
        `list the negative values in label.negative to leave the others out (a value such as "unknown" is then excluded, not 0)`;
  }
  return {
    ...labelCase([[blank, 'NULL', 'label missing'], [pos, '1', null], [neg, '0', null]], ['NULL', 'label neither positive nor negative']),
    note,
  };
}

/**
 * SQL for column `column` of `table` per cohort row (alias x): the cohort table itself, a one-row-per-patient
 * table keyed by the cohort id, or a table reached through its link (e.g. hospital by hospitalid, via
 * patient.hospitalid). Adds its LEFT JOINs to `joins`.
 */
async function perRowColumn(db: Db, spec: Spec, idCol: string, table: string, column: string, field: string, alias: string, joins: string[]): Promise<string> {
  db.requireColumn(table, column, field);
  if (table === spec.cohort.table) return `x.${q(column)}`;
  await perRowJoin(db, spec, idCol, table, field.replace(/\.column$/, '.table'), alias, joins);
  return `${alias}.${q(column)}`;
}

/**
 * The LEFT JOINs (added to `joins`) that give each cohort row (alias x) its row of `table` (alias `alias`): a table
 * keyed by the cohort id, or keyed by another id and reached through its link (a person's death row for each of
 * the person's visits, a hospital's row through patient.hospitalid). `table` must hold one row per its id.
 */
async function perRowJoin(db: Db, spec: Spec, idCol: string, table: string, field: string, alias: string, joins: string[], unique = true): Promise<void> {
  const ct = spec.cohort.table;
  const t = db.table(table);
  if (unique) await db.requireUniqueIds(table, field);
  const cohortT = db.table(ct);
  if (!t.link) {
    await requireIdOverlap(db, ct, idCol, table, field);
    joins.push(`LEFT JOIN ${tbl(table)} ${alias} ON ${sameKey(`${alias}.${q(t.id)}`, t.columns.get(t.id)!, `x.${q(idCol)}`, cohortT.columns.get(idCol)!)}`);
  } else if (t.link.table === ct) {
    joins.push(`LEFT JOIN ${tbl(table)} ${alias} ON ${sameKey(`${alias}.${q(t.id)}`, t.columns.get(t.id)!, `x.${q(t.link.column)}`, cohortT.columns.get(t.link.column)!)}`);
  } else {
    const l = db.table(t.link.table);
    const la = `${alias}_l`;
    joins.push(`LEFT JOIN ${tbl(t.link.table)} ${la} ON ${sameKey(`${la}.${q(l.id)}`, l.columns.get(l.id)!, `x.${q(idCol)}`, cohortT.columns.get(idCol)!)}`);
    joins.push(`LEFT JOIN ${tbl(table)} ${alias} ON ${sameKey(`${alias}.${q(t.id)}`, t.columns.get(t.id)!, `${la}.${q(t.link.column)}`, l.columns.get(t.link.column)!)}`);
  }
}

/** The patient key, split group, shift flag and reference score per cohort row, as SQL columns and joins. */
async function splitAndReference(db: Db, spec: Spec, idCol: string): Promise<{ select: string; joins: string }> {
  const f = db.specFile;
  const ct = spec.cohort.table;
  const joins: string[] = [];
  const sel: string[] = [];
  if (spec.cohort.patient) {
    db.requireColumn(ct, spec.cohort.patient, 'cohort.patient');
    sel.push(`CAST(x.${q(spec.cohort.patient)} AS VARCHAR) AS patient`);
  } else sel.push('NULL AS patient');
  const sp = spec.split;
  if (sp.method === 'group') {
    const g = await perRowColumn(db, spec, idCol, sp.table ?? ct, sp.column, 'split.column', 'g', joins);
    sel.push(`CAST(${g} AS VARCHAR) AS grp`);
  } else sel.push('NULL AS grp');
  if ((sp.method === 'random' || sp.method === 'group') && sp.shift) {
    const st = sp.shift.table ?? ct;
    const v = await perRowColumn(db, spec, idCol, st, sp.shift.column, 'split.shift.column', 'sh', joins);
    const match = valueMatch(v, db.table(st).columns.get(sp.shift.column)!, sp.shift.values, `${f}: split.shift.values`);
    // The check reads the shift table itself (alias sh); `v` may name the cohort table's own alias x.
    const own = valueMatch(`sh.${q(sp.shift.column)}`, db.table(st).columns.get(sp.shift.column)!, sp.shift.values, `${f}: split.shift.values`);
    const hits = Number(await db.scalar(`SELECT count(*) FROM ${tbl(st)} sh WHERE ${own}`));
    if (hits === 0)
      throw new CdmmError(`${f}: split.shift.values: none of ${JSON.stringify(sp.shift.values)} occurs in column '${sp.shift.column}' of ${db.table(st).label} (values there: ${await someValues(db, st, sp.shift.column)})`);
    sel.push(`CASE WHEN ${match} THEN 1 ELSE 0 END AS in_shift`);
  } else sel.push('NULL AS in_shift');
  if (spec.reference) {
    const r = spec.reference;
    await db.requireNumeric(r.table, r.column, 'reference.column');
    const v = await perRowColumn(db, spec, idCol, r.table, r.column, 'reference.column', 'rf', joins);
    const missing = r.missing ?? [];
    sel.push(missing.length
      ? `CASE WHEN CAST(${v} AS DOUBLE) IN (${missing.map((m) => String(m)).join(', ')}) THEN NULL ELSE CAST(${v} AS DOUBLE) END AS ref`
      : `CAST(${v} AS DOUBLE) AS ref`);
  } else sel.push('NULL AS ref');
  return { select: sel.join(', '), joins: joins.join(' ') };
}
