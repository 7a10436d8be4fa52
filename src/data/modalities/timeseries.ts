// Time-series modality: rows (id, time, variable, value) inside a window before the index time, put into
// T bins with a per-variable aggregate (last or mean). Output per patient is [T, 3V]: V standardised values
// (forward-filled from earlier bins, 0 before the first observation), V observation masks, V times since the
// last observation (log1p(days) / log1p(window length), 1 when never observed). Missing when the window holds
// no row.
import { CdmmError } from '../../util/errors.js';
import { lit, q } from '../db.js';
import type { TimeseriesSpec } from '../spec.js';
import { numericColumns, prefixed, windowedRows, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface TimeseriesRaw extends Raw {
  varNames: string[];
  pid: Float64Array;
  bin: Float64Array;
  vi: Float64Array;
  value: Float64Array;
  tlast: Float64Array;
  edges: number[];
}
export interface TimeseriesState {
  variables: { name: string; mean: number; std: number }[];
  edges: number[];
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
        long = `SELECT pid, rel, var, value FROM (UNPIVOT (SELECT pid, rel, ${cols} FROM (${rows})) ON ${m.columns.map(q).join(', ')} INTO NAME var VALUE value)`;
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
        long = `SELECT pid, rel, ${p.expr} AS var, CAST(${q(valueCol)} AS DOUBLE) AS value FROM (${rows})`;
      }
      await db.run(`CREATE OR REPLACE TEMP TABLE __ts_long AS ${long}`);
      const varNames = m.variables ?? ((await db.columns(`SELECT DISTINCT var FROM __ts_long ORDER BY var`)).var as string[]);
      await db.run(`CREATE OR REPLACE TEMP TABLE __ts_vars (var VARCHAR, vi INTEGER)`);
      if (varNames.length)
        await db.run(`INSERT INTO __ts_vars VALUES ${varNames.map((v, i) => `(${lit(v)}, ${i})`).join(', ')}`);
      const binExpr = edges.length === 2 ? '0' : `CASE ${edges.slice(1, -1).map((e, k) => `WHEN rel < ${e} THEN ${k}`).join(' ')} ELSE ${T - 1} END`;
      const agg = m.aggregate === 'last' ? 'arg_max(value, rel)' : 'avg(value)';
      const [pid, bin, vi, value, tlast] = await numericColumns(
        db,
        `SELECT pid, bin, vi, ${agg} AS value, max(rel) AS tlast FROM
           (SELECT l.pid, ${binExpr} AS bin, v.vi, l.value, l.rel FROM __ts_long l JOIN __ts_vars v ON l.var = v.var)
         GROUP BY pid, bin, vi`,
      );
      await db.run(`DROP TABLE __ts_long; DROP TABLE __ts_vars`);
      const present = new Uint8Array(ctx.n);
      for (let r = 0; r < pid.length; r++) present[pid[r]] = 1;
      return { present, varNames, pid, bin, vi, value, tlast, edges };
    },

    fit(raw, train) {
      const isTrain = new Uint8Array(raw.present.length);
      for (const i of train) isTrain[i] = 1;
      const V = raw.varNames.length;
      const n = new Float64Array(V), s = new Float64Array(V), s2 = new Float64Array(V);
      for (let r = 0; r < raw.pid.length; r++) {
        if (!isTrain[raw.pid[r]]) continue;
        const v = raw.vi[r], x = raw.value[r];
        n[v]++; s[v] += x; s2[v] += x * x;
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
      const byName = new Map(st.variables.map((v, k) => [v.name, k]));
      const map = raw.varNames.map((nm) => byName.get(nm) ?? -1);
      // Dense observed aggregates and last-observation times, NaN where no observation.
      const obs = new Float64Array(N * T * V).fill(NaN);
      const last = new Float64Array(N * T * V).fill(NaN);
      const present = new Uint8Array(N);
      for (let r = 0; r < raw.pid.length; r++) {
        const k = map[raw.vi[r]];
        if (k < 0) continue;
        const cell = (raw.pid[r] * T + raw.bin[r]) * V + k;
        obs[cell] = (raw.value[r] - st.variables[k].mean) / st.variables[k].std;
        last[cell] = raw.tlast[r];
        present[raw.pid[r]] = 1;
      }
      raw.present = present;
      const values = new Float32Array(N * T * C);
      const scale = Math.log1p(st.edges[T] - st.edges[0]);
      for (let i = 0; i < N; i++) {
        if (!present[i]) continue;
        for (let k = 0; k < V; k++) {
          let ff = 0;
          let lastT = NaN;
          for (let b = 0; b < T; b++) {
            const cell = (i * T + b) * V + k;
            const out = (i * T + b) * C;
            if (!Number.isNaN(obs[cell])) {
              ff = obs[cell];
              lastT = last[cell];
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
