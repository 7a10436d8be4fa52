// Time-series modality: rows (id, time, variable, value) inside a window before the index time, put into
// T bins with a per-variable aggregate (last or mean). Output per patient is [T, 3V]: V standardised values
// (forward-filled from earlier bins, 0 before the first observation), V observation masks, V times since the
// last observation (log1p(days) / log1p(window length), 1 when never observed). Missing when the window holds
// no row.
import { CdmmError } from '../../util/errors.js';
import { lit, q, tbl } from '../db.js';
import type { TimeseriesSpec } from '../spec.js';
import type { DuckDBMaterializedResult } from '@duckdb/node-api';
import { blockOrder, prefixed, readNumericChunks, readNumericColumns, windowedRows, type Ctx, type ModalityBuilder, type Raw } from './common.js';

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
  /** Listed variables that no training patient has in the window (inspect and train warn of them). */
  unseen?: string[];
}

/** Largest output accepted, in float32 values: the [N, T, 3V] array (values, masks, times), as MAX_DENSE_CELLS (1.6 GB). */
const MAX_CELLS = 400_000_000;
/**
 * Table rows per SQL query over a long table (its result is read in patient ranges beyond this). Smaller ranges
 * keep DuckDB's result small and overlap more of its work with this thread's; each range scans the table again.
 * `npm run bench:data` (2 cores): 100 M rows in 19.1 s at 10 M a range, 14.6 s at 5 M, 12.5 s at 2 M, 18.1 s at 1 M.
 */
const ROWS_PER_BATCH = 2_500_000;
/** From this many table rows the scan is split in two or more ranges that overlap DuckDB's work with this thread's. */
const PIPELINE_ROWS = 2_000_000;
/** From this many bytes of cells, rows are aggregated a block of patients at a time, each block's cells this large. */
const GROUPING = { fromBytes: 4 << 20, blockBytes: 256 << 10 };

/**
 * Per-cell aggregate, fed row by row: last (latest time; ties → larger value, so the result never depends on
 * row order), mean, min or max (the worst value of a bin, as severity scores take it); plus each cell's latest time. Dense arrays, several times faster than a hash aggregation
 * over millions of small groups in DuckDB.
 */
export class CellAggregate {
  readonly tlast: Float32Array;
  readonly value: Float32Array;
  private readonly sum?: Float64Array;
  private readonly cnt?: Uint32Array;
  /** Bytes held per cell (value and time; the running sum and count for mean). */
  readonly bytesPerCell: number;
  constructor(cells: number, private readonly how: 'last' | 'mean' | 'min' | 'max') {
    // Times held in float32, compared as held (the compiled request path does the same).
    this.tlast = new Float32Array(cells).fill(-Infinity);
    this.value = new Float32Array(cells).fill(NaN);
    if (how === 'mean') { this.sum = new Float64Array(cells); this.cnt = new Uint32Array(cells); }
    this.bytesPerCell = how === 'mean' ? 20 : 8;
  }
  add(c: number, time: number, v: number): void {
    const tlast = this.tlast;
    // Compared at the precision held: a float64 time against its own float32 copy made "same time" depend on
    // which row came first (12:30 is not a float32 number of days). Times within float32's resolution (about a
    // second a year before the index, a minute twenty years before) count as the same time.
    const t = Math.fround(time);
    if (this.how === 'last') {
      if (t > tlast[c] || (t === tlast[c] && !(v <= this.value[c]))) { tlast[c] = t; this.value[c] = v; }
    } else if (this.how !== 'mean') {
      // (NaN, the empty cell, compares false: the first value is taken)
      if (this.how === 'min' ? !(v >= this.value[c]) : !(v <= this.value[c])) this.value[c] = v;
      if (t > tlast[c]) tlast[c] = t;
    } else {
      this.sum![c] += v; this.cnt![c]++;
      if (t > tlast[c]) tlast[c] = t;
    }
  }
  finish(): { value: Float32Array; tlast: Float32Array } {
    if (this.how === 'mean') for (let c = 0; c < this.value.length; c++) if (this.cnt![c]) this.value[c] = this.sum![c] / this.cnt![c];
    return { value: this.value, tlast: this.tlast };
  }
}

/** The bin of a time: edges[k] <= t < edges[k+1]; the last bin includes its end. */
export function binOf(edges: number[]): (t: number) => number {
  const T = edges.length - 1;
  const e0 = edges[0];
  const width = (edges[T] - e0) / T;
  const uniform = edges.every((e, k) => Math.abs(e - (e0 + k * width)) <= 1e-9 * Math.max(1, Math.abs(e)));
  if (uniform)
    return (t) => {
      const b = Math.floor((t - e0) / width);
      return b > T - 1 ? T - 1 : b < 0 ? 0 : b;
    };
  return (t) => {
    for (let k = 1; k < T; k++) if (t < edges[k]) return k - 1;
    return T - 1;
  };
}

export function binEdges(m: TimeseriesSpec): number[] {
  if (m.edges) return m.edges;
  const start = m.window.start!;
  const w = (m.window.end - start) / m.bins;
  return Array.from({ length: m.bins + 1 }, (_, k) => (k === m.bins ? m.window.end : start + k * w));
}

/**
 * Modalities that read one long table the same way (table, variable column, prefix, value column) share one
 * scan of it; the wide form (`columns`) scans on its own.
 */
function scanKey(m: TimeseriesSpec): string | undefined {
  return m.columns ? undefined : JSON.stringify(['timeseries', m.table, m.variable ?? null, m.prefix ?? null, m.value ?? null]);
}

/**
 * One pass over a long table for every modality in `members`: SQL joins the rows to the cohort inside the union
 * of their windows and names the variable; each modality then keeps the rows of its own variables and window
 * and aggregates them into its cells: chunk by chunk where the cells fit the CPU caches, else each range's rows whole,
 * grouped by patient block (32 bytes a row beside DuckDB's result; ranges are sized by result rows to bound both).
 */
async function scanTable(ctx: Ctx, members: { name: string; m: TimeseriesSpec }[]): Promise<Map<string, TimeseriesRaw>> {
  const db = ctx.db;
  const { name: firstName, m: first } = members[0];
  const field = `modalities.${firstName}`;
  const parts = members.map(({ name, m }) => ({ name, m, edges: binEdges(m) }));
  const lo = Math.min(...parts.map((p) => p.edges[0]));
  const hi = Math.max(...parts.map((p) => p.edges[p.edges.length - 1]));
  const win = { start: lo, end: hi, allow_after_index: parts.some((p) => p.m.window.allow_after_index) };
  let long: (extra: string[]) => string; // SELECT pid, rel, var, value, with extra conditions on the joined rows
  let names: string[]; // the scan's variable dictionary
  if (first.columns) {
    for (const [i, c] of first.columns.entries()) await db.requireNumeric(first.table, c, `${field}.columns[${i}]`);
    const cols = first.columns.map((c) => `CAST(${q(c)} AS DOUBLE) AS ${q(c)}`).join(', ');
    const on = first.columns.map(q).join(', ');
    long = (extra) => `SELECT pid, rel, var, value FROM (UNPIVOT (SELECT __pid AS pid, __rel AS rel, ${cols} FROM (${windowedRows(ctx, first.table, win, field, extra)})) ON ${on} INTO NAME var VALUE value)`;
    names = first.columns;
  } else {
    const isMeds = !first.variable;
    const variable = first.variable ?? 'code';
    const valueCol = first.value ?? (isMeds ? 'numeric_value' : undefined);
    if (!valueCol) throw new CdmmError(`${ctx.specFile}: ${field}.value: expected the name of the value column`);
    db.requireColumn(first.table, variable, `${field}.${first.variable ? 'variable' : 'prefix'}`);
    // For the error's hint: the variables read from this table, when these modalities are all that read it.
    const alone = Object.values(ctx.spec.modalities).filter((x) => x.table === first.table).length === members.length;
    const listedVars = alone && members.every(({ m }) => m.variables) ? [...new Set(members.flatMap(({ m }) => m.variables!.map((v) => `${m.prefix ?? ''}${v}`)))] : undefined;
    await db.requireNumeric(first.table, valueCol, `${field}.value`, { variable, variables: listedVars });
    const p = prefixed(variable, first.prefix);
    const px = prefixed(variable, first.prefix, 'x.');
    const where = [...px.where, `x.${q(valueCol)} IS NOT NULL`];
    const listed = parts.every((pt) => pt.m.variables);
    // The variable dictionary: the listed variables, or every name in the table (fit keeps those seen in
    // training windows). A scan without the join is cheap.
    names = listed
      ? [...new Set(parts.flatMap((pt) => pt.m.variables!))]
      : ((await db.columns(`SELECT DISTINCT ${p.expr} AS var FROM ${tbl(first.table)} ${p.where.length ? 'WHERE ' + p.where.join(' AND ') : ''} ORDER BY var`)).var as string[]).filter((v) => v !== null);
    if (listed) where.push(`${px.expr} IN (${names.map(lit).join(', ')})`);
    long = (extra) => `SELECT __pid AS pid, __rel AS rel, ${p.expr} AS var, CAST(${q(valueCol)} AS DOUBLE) AS value FROM (${windowedRows(ctx, first.table, win, field, [...where, ...extra])})`;
  }
  const global = new Map(names.map((v, i) => [v, i]));
  const sinks = parts.map(({ name, m, edges }) => {
    const varNames = m.variables ?? names;
    const V = varNames.length;
    const T = edges.length - 1;
    const TV = T * V;
    if (ctx.n * TV * 3 > MAX_CELLS)
      throw new CdmmError(`${ctx.specFile}: modalities.${name}: ${ctx.n.toLocaleString('en-US')} patients × ${T} bins × ${V} variables × 3 (values, masks, times) is too large for the model's dense input (at most ${MAX_CELLS.toLocaleString('en-US')} values); list fewer \`variables\` or bins`);
    const local = new Int32Array(names.length).fill(-1); // scan variable → this modality's variable
    varNames.forEach((v, k) => {
      const g = global.get(v);
      if (g !== undefined) local[g] = k;
    });
    return { name, varNames, edges, T, V, local, bin: binOf(edges), lo: edges[0], hi: edges[T], cells: new CellAggregate(ctx.n * TV, m.aggregate), present: new Uint8Array(ctx.n) };
  });
  await db.run(`CREATE OR REPLACE TEMP TABLE __ts_vars (var VARCHAR, vi INTEGER)`);
  if (names.length) await db.run(`INSERT INTO __ts_vars VALUES ${names.map((v, i) => `(${lit(v)}, ${i})`).join(', ')}`);
  // SQL windows the rows and names the variable; the bin and the cell are plain arithmetic, done here. A large
  // table is read in patient ranges so that DuckDB's result (24 bytes a row) stays small; pid follows the
  // cohort key's order, so each range's join prunes the other patients' rows by key before probing. From
  // PIPELINE_ROWS up, the table is read in at least two ranges and DuckDB runs the next range's query while
  // this thread aggregates the current one's rows (at 10 M rows the query was a quarter of the scan's time).
  const tableRows = Number(await db.scalar(`SELECT count(*) FROM ${tbl(first.table)}`));
  const perBatch = ctx.rowsPerBatch ?? ROWS_PER_BATCH;
  // A wide table gives a row per column: the ranges are sized by the rows of the query's result.
  const ranges = Math.ceil((tableRows * (first.columns?.length ?? 1)) / perBatch);
  const batches = Math.max(1, Math.min(ctx.n, tableRows >= PIPELINE_ROWS ? Math.max(2, ranges) : ranges));
  const rangeSql = (b: number) => {
    const range = batches === 1 ? [] : [`c.pid >= ${Math.floor((ctx.n * b) / batches)}`, `c.pid < ${Math.floor((ctx.n * (b + 1)) / batches)}`];
    return `SELECT l.pid, v.vi, rel, value FROM (${long(range)}) l JOIN __ts_vars v ON l.var = v.var`;
  };
  // `order`: the rows' order (all of them in result order without it).
  const aggregate = ([pid, vi, rel, val]: Float64Array[], rows: number, order?: Int32Array) => {
    for (const s of sinks) {
      const { local, bin, lo, hi, T, V, cells, present } = s;
      for (let q = 0; q < rows; q++) {
        const r = order ? order[q] : q;
        const k = local[vi[r]];
        const t = rel[r];
        if (k < 0 || t < lo || t > hi) continue;
        const i = pid[r];
        cells.add((i * T + bin(t)) * V + k, t, val[r]);
        present[i] = 1;
      }
    }
  };
  // Where the cells outgrow the CPU's caches, a range's rows are aggregated a block of patients at a time, each
  // block's cells about 256 KB (see blockOrder); this holds the range's rows whole (32 bytes a row).
  const grouping = ctx.grouping ?? GROUPING;
  const cellBytes = sinks.reduce((a, s) => a + s.T * s.V * s.cells.bytesPerCell, 0); // a patient's
  const shift = Math.max(0, Math.floor(Math.log2(Math.max(1, grouping.blockBytes / Math.max(1, cellBytes)))));
  let buffers: Float64Array[] = [];
  let order: Int32Array | undefined;
  const read = (res: DuckDBMaterializedResult) => {
    if (ctx.n * cellBytes <= grouping.fromBytes) return void readNumericChunks(res, aggregate);
    const cols = readNumericColumns(res, buffers);
    const rows = cols[0].length;
    order = blockOrder(cols[0], rows, shift, order);
    aggregate(cols, rows, order);
    // the whole arrays, for the next range
    buffers = cols.map((c) => new Float64Array(c.buffer));
    order = new Int32Array(order.buffer);
  };
  let next = await db.started(rangeSql(0));
  let inFlight = false;
  try {
    for (let b = 0; b < batches; b++) {
      const res = await next.pending;
      inFlight = false;
      if (b + 1 < batches) { next = await db.started(rangeSql(b + 1)); inFlight = true; }
      read(res);
    }
  } finally {
    // A failure while the next range's query runs: let it finish before the connection is closed.
    if (inFlight) await next.pending.catch(() => undefined);
  }
  await db.run(`DROP TABLE __ts_vars`);
  return new Map(sinks.map((s) => [s.name, { present: s.present, varNames: s.varNames, edges: s.edges, ...s.cells.finish() }]));
}

export function timeseriesBuilder(m: TimeseriesSpec): ModalityBuilder<TimeseriesRaw, TimeseriesState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const key = scanKey(m);
      // Shared only for the spec's own modality (a builder made from another spec scans on its own).
      if (!key || !ctx.shared || ctx.spec.modalities[name] !== m) return (await scanTable(ctx, [{ name, m }])).get(name)!;
      let job = ctx.shared.get(key) as Promise<Map<string, TimeseriesRaw>> | undefined;
      if (!job) {
        const members = Object.entries(ctx.spec.modalities)
          .filter((e): e is [string, TimeseriesSpec] => e[1].type === 'timeseries' && scanKey(e[1] as TimeseriesSpec) === key)
          .map(([n, s]) => ({ name: n, m: s }));
        job = scanTable(ctx, members);
        ctx.shared.set(key, job);
      }
      return (await job).get(name)!;
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
      const unseen = m.variables ? raw.varNames.filter((_, v) => n[v] === 0) : [];
      return {
        edges: raw.edges,
        variables: keep.map((v) => {
          const mean = n[v] ? s[v] / n[v] : 0;
          const std = n[v] ? Math.sqrt(Math.max(0, s2[v] / n[v] - mean * mean)) : 1;
          return { name: raw.varNames[v], mean, std: std > 1e-12 ? std : 1 };
        }),
        ...(unseen.length ? { unseen } : {}),
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
      const present = new Uint8Array(N); // a patient with only variables unknown to the fitted state has no observation
      for (let i = 0; i < N; i++) {
        if (!raw.present[i]) continue;
        for (let b = 0; b < T && !present[i]; b++) for (const j of src) if (j >= 0 && raw.value[(i * T + b) * RV + j] === raw.value[(i * T + b) * RV + j]) { present[i] = 1; break; }
      }
      const values = new Float32Array(N * T * C);
      const scale = Math.log1p(st.edges[T] - st.edges[0]);
      const mean = Float64Array.from(st.variables, (v) => v.mean);
      const std = Float64Array.from(st.variables, (v) => v.std);
      const ends = Float64Array.from({ length: T }, (_, b) => st.edges[b + 1]);
      const rv = raw.value, rt = raw.tlast;
      for (let i = 0; i < N; i++) {
        if (!present[i]) continue;
        const rowIn = i * T * RV, rowOut = i * T * C;
        for (let k = 0; k < V; k++) {
          const j = src[k];
          if (j < 0) { for (let b = 0; b < T; b++) values[rowOut + b * C + 2 * V + k] = 1; continue; }
          let ff = 0;
          let lastT = NaN;
          for (let b = 0; b < T; b++) {
            const cell = rowIn + b * RV + j;
            const out = rowOut + b * C;
            const x = rv[cell];
            if (x === x) { // observed in this bin (not NaN)
              ff = (x - mean[k]) / std[k];
              lastT = rt[cell];
              values[out + V + k] = 1;
            }
            values[out + k] = ff;
            values[out + 2 * V + k] = lastT !== lastT ? 1 : Math.min(1, Math.log1p(Math.max(0, ends[b] - lastT)) / scale);
          }
        }
      }
      const features: string[] = [];
      for (const v of st.variables) features.push(v.name);
      for (const v of st.variables) features.push(`${v.name}:observed`);
      for (const v of st.variables) features.push(`${v.name}:days_since`);
      return { info: { name, type: 'timeseries', shape: [T, C], features, variables: V }, values, present };
    },
  };
}
