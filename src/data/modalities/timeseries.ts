// Time-series modality: rows (id, time, variable, value) inside a window before the index time, put into
// T bins with a per-variable aggregate (last or mean). Output per patient is [T, 3V]: V standardised values
// (forward-filled from earlier bins, 0 before the first observation), V observation masks, V times since the
// last observation (log1p(days) / log1p(window length), 1 when never observed). Missing when the window holds
// no row.
import { CdmmError } from '../../util/errors.js';
import { lit, q, tbl } from '../db.js';
import type { TimeseriesSpec } from '../spec.js';
import { numericColumns, prefixed, windowedRows, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface TimeseriesRaw extends Raw {
  varNames: string[];
  /** Dense [N, T, V] cells (V = varNames.length): the aggregate, NaN where the bin holds no observation. */
  value: Float32Array;
  /** Same layout: days from the index to the cell's latest observation. */
  tlast: Float32Array;
  edges: number[];
}
export interface TimeseriesState {
  variables: { name: string; mean: number; std: number }[];
  edges: number[];
}

/** Largest [N, T, V] grid accepted (the output tensor is three times this). */
const MAX_CELLS = 400_000_000;

/**
 * Per-cell aggregate over rows already windowed and binned by SQL: last (latest time; ties → larger value, so
 * the result never depends on row order) or mean; plus each cell's latest time. One pass over dense arrays,
 * several times faster than a hash aggregation over millions of small groups in DuckDB.
 */
export function aggregateCells(cell: Float64Array, rel: Float64Array, val: Float64Array, cells: number, how: 'last' | 'mean') {
  const tlast = new Float32Array(cells).fill(-Infinity);
  const value = new Float32Array(cells).fill(NaN);
  if (how === 'last') {
    for (let r = 0; r < cell.length; r++) {
      const c = cell[r], t = rel[r], v = val[r];
      if (t > tlast[c] || (t === tlast[c] && !(v <= value[c]))) { tlast[c] = t; value[c] = v; }
    }
  } else {
    const sum = new Float64Array(cells), cnt = new Uint32Array(cells);
    for (let r = 0; r < cell.length; r++) {
      const c = cell[r], t = rel[r];
      sum[c] += val[r]; cnt[c]++;
      if (t > tlast[c]) tlast[c] = t;
    }
    for (let c = 0; c < cells; c++) if (cnt[c]) value[c] = sum[c] / cnt[c];
  }
  return { value, tlast };
}

/** Bin of each row's time (edges[k] <= t < edges[k+1]; the last bin includes its end), then (pid, bin, var) → cell. */
export function cellIndex(pid: Float64Array, vi: Float64Array, rel: Float64Array, edges: number[], V: number): Float64Array {
  const T = edges.length - 1;
  const cell = new Float64Array(pid.length);
  const e0 = edges[0];
  const width = (edges[T] - e0) / T;
  const uniform = edges.every((e, k) => Math.abs(e - (e0 + k * width)) <= 1e-9 * Math.max(1, Math.abs(e)));
  for (let r = 0; r < pid.length; r++) {
    let b: number;
    if (uniform) {
      b = Math.floor((rel[r] - e0) / width);
      if (b > T - 1) b = T - 1;
      if (b < 0) b = 0;
    } else {
      b = T - 1;
      for (let k = 1; k < T; k++) if (rel[r] < edges[k]) { b = k - 1; break; }
    }
    cell[r] = (pid[r] * T + b) * V + vi[r];
  }
  return cell;
}

export function binEdges(m: TimeseriesSpec): number[] {
  if (m.edges) return m.edges;
  const start = m.window.start!;
  const w = (m.window.end - start) / m.bins;
  return Array.from({ length: m.bins + 1 }, (_, k) => (k === m.bins ? m.window.end : start + k * w));
}

export function timeseriesBuilder(m: TimeseriesSpec): ModalityBuilder<TimeseriesRaw, TimeseriesState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const db = ctx.db;
      const field = `modalities.${name}`;
      const edges = binEdges(m);
      const T = edges.length - 1;
      const win = { start: edges[0], end: edges[T], allow_after_index: m.window.allow_after_index };
      let long: string; // SELECT pid, rel, var, value
      const isMeds = !m.columns && !m.variable;
      if (m.columns) {
        for (const [i, c] of m.columns.entries()) await db.requireNumeric(m.table, c, `${field}.columns[${i}]`);
        const rows = windowedRows(ctx, m.table, win, field);
        const cols = m.columns.map((c) => `CAST(${q(c)} AS DOUBLE) AS ${q(c)}`).join(', ');
        long = `SELECT pid, rel, var, value FROM (UNPIVOT (SELECT __pid AS pid, __rel AS rel, ${cols} FROM (${rows})) ON ${m.columns.map(q).join(', ')} INTO NAME var VALUE value)`;
      } else {
        const variable = m.variable ?? 'code';
        const valueCol = m.value ?? (isMeds ? 'numeric_value' : undefined);
        if (!valueCol) throw new CdmmError(`${ctx.specFile}: ${field}.value: expected the name of the value column`);
        db.requireColumn(m.table, variable, `${field}.${m.variable ? 'variable' : 'prefix'}`);
        await db.requireNumeric(m.table, valueCol, `${field}.value`);
        const p = prefixed(variable, m.prefix);
        const px = prefixed(variable, m.prefix, 'x.');
        const where = [...px.where, `x.${q(valueCol)} IS NOT NULL`];
        if (m.variables) where.push(`${px.expr} IN (${m.variables.map(lit).join(', ')})`);
        const rows = windowedRows(ctx, m.table, win, field, where);
        long = `SELECT __pid AS pid, __rel AS rel, ${p.expr} AS var, CAST(${q(valueCol)} AS DOUBLE) AS value FROM (${rows})`;
      }
      // The variable dictionary: the listed variables, or every name in the table (fit keeps those seen in
      // training windows). A scan without the join is cheap.
      let varNames = m.variables;
      if (!varNames) {
        const p = prefixed(m.variable ?? 'code', m.prefix);
        varNames = m.columns ?? ((await db.columns(`SELECT DISTINCT ${p.expr} AS var FROM ${tbl(m.table)} ${p.where.length ? 'WHERE ' + p.where.join(' AND ') : ''} ORDER BY var`)).var as string[]).filter((v) => v !== null);
      }
      const V = varNames.length;
      await db.run(`CREATE OR REPLACE TEMP TABLE __ts_vars (var VARCHAR, vi INTEGER)`);
      if (V) await db.run(`INSERT INTO __ts_vars VALUES ${varNames.map((v, i) => `(${lit(v)}, ${i})`).join(', ')}`);
      const TV = T * V;
      if (ctx.n * TV > MAX_CELLS)
        throw new CdmmError(`${ctx.specFile}: ${field}: ${ctx.n} patients × ${T} bins × ${V} variables is too large; list fewer \`variables\` or bins`);
      // SQL windows the rows and names the variable; the bin and the cell are plain arithmetic, done here.
      const [pid, vi, rel, val] = await numericColumns(db, `SELECT l.pid, v.vi, rel, value FROM (${long}) l JOIN __ts_vars v ON l.var = v.var`);
      const cell = cellIndex(pid, vi, rel, edges, V);
      await db.run(`DROP TABLE __ts_vars`);
      const { value, tlast } = aggregateCells(cell, rel, val, ctx.n * TV, m.aggregate);
      const present = new Uint8Array(ctx.n);
      for (let r = 0; r < cell.length; r++) present[Math.floor(cell[r] / TV)] = 1;
      return { present, varNames, value, tlast, edges };
    },

    fit(raw, train) {
      const V = raw.varNames.length;
      const T = raw.edges.length - 1;
      const n = new Float64Array(V), s = new Float64Array(V), s2 = new Float64Array(V);
      for (const i of train) {
        for (let c = i * T * V, end = c + T * V, v = 0; c < end; c++, v = v + 1 === V ? 0 : v + 1) {
          const x = raw.value[c];
          if (x === x) { n[v]++; s[v] += x; s2[v] += x * x; } // x === x: not NaN
        }
      }
      // Long form without a variable list: keep the variables seen in training, in name order.
      const keep = raw.varNames.map((_, v) => v).filter((v) => m.variables || n[v] > 0);
      return {
        edges: raw.edges,
        variables: keep.map((v) => {
          const mean = n[v] ? s[v] / n[v] : 0;
          const std = n[v] ? Math.sqrt(Math.max(0, s2[v] / n[v] - mean * mean)) : 1;
          return { name: raw.varNames[v], mean, std: std > 1e-12 ? std : 1 };
        }),
      };
    },

    apply(raw, st, name) {
      const T = st.edges.length - 1;
      const V = st.variables.length;
      const C = 3 * V;
      const N = raw.present.length;
      // State variable k ← raw column src[k] (matched by name: new data may list variables differently).
      const rawIndex = new Map(raw.varNames.map((nm, j) => [nm, j]));
      const src = st.variables.map((v) => rawIndex.get(v.name) ?? -1);
      const RV = raw.varNames.length;
      const present = new Uint8Array(N);
      for (let i = 0; i < N; i++) {
        if (!raw.present[i]) continue;
        for (let b = 0; b < T && !present[i]; b++) for (const j of src) if (j >= 0 && raw.value[(i * T + b) * RV + j] === raw.value[(i * T + b) * RV + j]) { present[i] = 1; break; }
      }
      raw.present = present; // a patient with only variables unknown to the fitted state has no observation
      const values = new Float32Array(N * T * C);
      const scale = Math.log1p(st.edges[T] - st.edges[0]);
      for (let i = 0; i < N; i++) {
        if (!present[i]) continue;
        for (let k = 0; k < V; k++) {
          let ff = 0;
          let lastT = NaN;
          const j = src[k];
          for (let b = 0; b < T; b++) {
            const cell = (i * T + b) * RV + j;
            const out = (i * T + b) * C;
            if (j >= 0 && raw.value[cell] === raw.value[cell]) {
              ff = (raw.value[cell] - st.variables[k].mean) / st.variables[k].std;
              lastT = raw.tlast[cell];
              values[out + V + k] = 1;
            }
            values[out + k] = ff;
            values[out + 2 * V + k] = Number.isNaN(lastT) ? 1 : Math.min(1, Math.log1p(Math.max(0, st.edges[b + 1] - lastT)) / scale);
          }
        }
      }
      const features: string[] = [];
      for (const v of st.variables) features.push(v.name);
      for (const v of st.variables) features.push(`${v.name}:observed`);
      for (const v of st.variables) features.push(`${v.name}:days_since`);
      return { info: { name, type: 'timeseries', shape: [T, C], features, variables: V }, values };
    },
  };
}
