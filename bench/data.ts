// npm run bench:data — rows/s of the data layer:
//  1. building the bundled NAFLD dataset from its CSV.gz files (no cache): all three tables' rows / build time;
//  2. a generated 10-million-row long table (100,000 patients × 10 variables) into [T=4, 3V] time-series tensors:
//     windowing, binning and aggregation in DuckDB, then the dense tensors (generation time not counted).
import { statSync } from 'node:fs';
import os from 'node:os';
import { prepareDataset } from '../src/data/build.js';
import { buildCohort } from '../src/data/cohort.js';
import { Db } from '../src/data/db.js';
import type { Ctx } from '../src/data/modalities/common.js';
import { timeseriesBuilder } from '../src/data/modalities/timeseries.js';
import { parseSpec } from '../src/data/spec.js';

const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M rows/s`;
/** CPU seconds of this process (all threads, DuckDB's included) since `from`: shows how much of the wall
 *  time was spent waiting for a shared machine's cores. */
const cpuSince = (from: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
};

async function benchNafld(): Promise<void> {
  const rows = 17_549 + 400_123 + 34_340;
  await prepareDataset('datasets/nafld/nafld.yaml', { cache: false, quiet: true }); // warm-up (file cache, JIT)
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ds = await prepareDataset('datasets/nafld/nafld.yaml', { cache: false, quiet: true });
  const s = (performance.now() - t0) / 1000;
  const cpu = cpuSince(c0);
  const bytes = ['nafld1', 'nafld2', 'nafld3'].reduce((a, f) => a + statSync(`datasets/nafld/${f}.csv.gz`).size, 0);
  console.log(`NAFLD build (${rows.toLocaleString()} rows in 3 gzipped CSV tables, ${(bytes / 1e6).toFixed(1)} MB): ${s.toFixed(2)} s, ${fmt(rows / s)} (CPU ${cpu.toFixed(2)} s on ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(1)}), ${ds.cohort.included} patients`);
}

async function benchLongTable(): Promise<void> {
  const N = 100_000, ROWS = 10_000_000, V = 10;
  const spec = parseSpec(
    `name: bench
tables:
  patients: { file: none.csv, id: id }
  labs: { file: none.csv, id: id, time: day }
cohort: { table: patients, index_time: index_day }
label: { column: y }
modalities:
  labs: { type: timeseries, table: labs, variable: variable, value: value, window: { start: -730, end: 0 }, bins: 4, aggregate: last }
`,
    'bench.yaml',
  );
  const db = await Db.open('bench.yaml');
  try {
    await db.run(`CREATE TABLE t_patients AS SELECT range AS id, 1000.0 + (range % 500) AS index_day, CAST(range % 7 = 0 AS INTEGER) AS y FROM range(${N})`);
    // Times spread over three years around the index: about a third fall outside the window (before or after).
    await db.run(`CREATE TABLE t_labs AS SELECT i % ${N} AS id, CAST(1000 + (i % 500) - (hash(i) % 1000) + 100 AS DOUBLE) AS day,
      'lab' || CAST(hash(i * 7) % ${V} AS VARCHAR) AS variable, CAST(hash(i * 13) % 10000 AS DOUBLE) / 100 AS value FROM range(${ROWS}) t(i)`);
    await db.describe('patients', spec.tables.patients, 'patients', false);
    await db.describe('labs', spec.tables.labs, 'labs', false);
    const cohort = await buildCohort(db, spec, { withLabels: true });
    const ctx: Ctx = { db, spec, specFile: 'bench.yaml', n: cohort.ids.length, idxKind: cohort.idxKind };
    const m = spec.modalities.labs;
    if (m.type !== 'timeseries') throw new Error('unreachable');
    const b = timeseriesBuilder(m);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const raw = await b.extract(ctx, 'labs');
    const t1 = performance.now();
    const train = Int32Array.from({ length: Math.floor(N * 0.7) }, (_, i) => i);
    const st = b.fit(raw, train, 'labs');
    const out = b.apply(raw, st, 'labs');
    const t2 = performance.now();
    const s = (t2 - t0) / 1000;
    console.log(
      `long table → time-series tensors (${ROWS.toLocaleString()} rows, ${N.toLocaleString()} patients, ${V} variables, shape ${out.info.shape.join('×')}): ` +
        `${s.toFixed(2)} s (SQL + transfer ${((t1 - t0) / 1000).toFixed(2)} s, tensors ${((t2 - t1) / 1000).toFixed(2)} s), ${fmt(ROWS / s)} ` +
        `(CPU ${cpuSince(c0).toFixed(2)} s on ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(1)})`,
    );
  } finally {
    db.close();
  }
}

await benchNafld();
await benchLongTable();
process.exit(0);
