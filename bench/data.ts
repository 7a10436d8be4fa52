// npm run bench:data [-- --max-rows 1e8] — rows/s and memory of the data layer. Prints what it measures to stderr
// and one JSON line to stdout:
//   {"bench":"data","nafld_rows_per_s","nafld_s","long_rows_per_s","long_s","scale":[{"rows","patients","s","cpu_s",
//    "peak_rss_mb"},…],"cores","load"}
//  1. nafld: building the bundled NAFLD dataset from its three gzipped CSVs (no cache): all rows / build time, the
//     median of 3 builds after a warm-up.
//  2. scale: a generated long table (100 rows a patient, 10 variables, times over three years around each index,
//     about a third outside the window) → [T=4, 3V] time-series tensors (window, variable dictionary, cells,
//     standardisation), at 1 M, 10 M and 100 M rows, each in a process of its own so that peak_rss_mb is its
//     high-water mark (DuckDB runs in-process and holds the table: the figure includes it). Generating the table
//     is not in s. long_rows_per_s is the 10-M-row run's rows / s.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { prepareDataset } from '../src/data/build.js';
import { buildCohort } from '../src/data/cohort.js';
import { Db } from '../src/data/db.js';
import type { Ctx } from '../src/data/modalities/common.js';
import { timeseriesBuilder } from '../src/data/modalities/timeseries.js';
import { parseSpec } from '../src/data/spec.js';

const NAFLD_ROWS = 17_549 + 400_123 + 34_340;
const ROWS_PER_PATIENT = 100;
const V = 10;

const log = (s: string) => process.stderr.write(`${s}\n`);
const cpuSince = (from: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
};
const peakRssMb = () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.memoryUsage().rss / 2 ** 20);
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchNafld(): Promise<{ s: number; cpu: number }> {
  await prepareDataset('datasets/nafld/nafld.yaml', { cache: false, quiet: true }); // warm-up (file cache, JIT)
  const runs: { s: number; cpu: number }[] = [];
  for (let k = 0; k < 3; k++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await prepareDataset('datasets/nafld/nafld.yaml', { cache: false, quiet: true });
    runs.push({ s: (performance.now() - t0) / 1000, cpu: cpuSince(c0) });
  }
  return { s: median(runs.map((r) => r.s)), cpu: median(runs.map((r) => r.cpu)) };
}

/** One scale point, in this process: generate the table, then time extract + fit + apply. */
async function scalePoint(rows: number) {
  const N = Math.max(1, Math.round(rows / ROWS_PER_PATIENT));
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
      'lab' || CAST(hash(i * 7) % ${V} AS VARCHAR) AS variable, CAST(hash(i * 13) % 10000 AS DOUBLE) / 100 AS value FROM range(${rows}) t(i)`);
    await db.describe('patients', spec.tables.patients, 'patients', false);
    await db.describe('labs', spec.tables.labs, 'labs', false);
    const cohort = await buildCohort(db, spec, { withLabels: true });
    const ctx: Ctx = { db, spec, specFile: 'bench.yaml', n: cohort.ids.length, idxKind: cohort.idxKind, shared: new Map() };
    const m = spec.modalities.labs;
    if (m.type !== 'timeseries') throw new Error('unreachable');
    const b = timeseriesBuilder(m);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const raw = await b.extract(ctx, 'labs');
    const train = Int32Array.from({ length: Math.floor(N * 0.7) }, (_, i) => i);
    const out = b.apply(raw, b.fit(raw, train, 'labs'), 'labs');
    const s = (performance.now() - t0) / 1000;
    return { rows, patients: N, shape: out.info.shape, s: +s.toFixed(3), cpu_s: +cpuSince(c0).toFixed(3), peak_rss_mb: peakRssMb() };
  } finally {
    db.close();
  }
}

const child = process.argv.indexOf('--child');
if (child >= 0) {
  process.stdout.write(JSON.stringify(await scalePoint(Number(process.argv[child + 1]))) + '\n');
  process.exit(0);
}

const maxIdx = process.argv.indexOf('--max-rows');
const maxRows = maxIdx >= 0 ? Number(process.argv[maxIdx + 1]) : 1e8;
const nafld = await benchNafld();
log(`NAFLD build (${NAFLD_ROWS.toLocaleString()} rows in 3 gzipped CSV tables): ${nafld.s.toFixed(2)} s, ${(NAFLD_ROWS / nafld.s / 1e6).toFixed(2)} M rows/s (CPU ${nafld.cpu.toFixed(2)} s, median of 3)`);
const scale: Record<string, unknown>[] = [];
for (const rows of [1e6, 1e7, 1e8].filter((r) => r <= maxRows)) {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', String(rows)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench:data: the ${rows}-row run failed: ${r.stderr}`);
  const p = JSON.parse(r.stdout.trim().split('\n').pop()!);
  log(`long table ${rows.toLocaleString()} rows (${p.patients.toLocaleString()} patients × 4 bins × ${V} variables): ${p.s.toFixed(2)} s, ${(rows / p.s / 1e6).toFixed(2)} M rows/s, CPU ${p.cpu_s.toFixed(2)} s, peak RSS ${p.peak_rss_mb} MB`);
  scale.push({ rows, patients: p.patients, s: p.s, cpu_s: p.cpu_s, peak_rss_mb: p.peak_rss_mb });
}
const ten = scale.find((p) => p.rows === 1e7) as { s: number } | undefined;
process.stdout.write(
  JSON.stringify({
    bench: 'data',
    nafld_rows_per_s: Math.round(NAFLD_ROWS / nafld.s),
    nafld_s: +nafld.s.toFixed(3),
    long_rows_per_s: ten ? Math.round(1e7 / ten.s) : null,
    long_s: ten ? ten.s : null,
    scale,
    cores: os.availableParallelism(),
    load: +os.loadavg()[0].toFixed(1),
  }) + '\n',
);
process.exit(0);
