// npm run bench:databases [-- --scale 0.1] — building the eICU mortality-24h task on synthetic tables of the full
// eICU-CRD 2.0's shape (same files, columns, gzip CSV, key and offsets in minutes) at `scale` × its row counts:
// 200,859 stays, vitalAperiodic 25.1 M rows, medication 7.3 M, diagnosis 2.7 M, lab 39.1 M. Prints one JSON line:
// {"bench":"databases-eicu","scale","stays","rows":{table: n},"bytes","generate_s","build_s","cpu_s","peak_rss_mb",
//  "included","cores","load"}. Generation is not in build_s; peak_rss_mb is the process's high-water mark (DuckDB
// runs in-process, so it includes DuckDB's memory). `--all-columns` loads every column (no tables.NAME.columns).
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { prepareDataset } from '../src/data/build.js';

const FULL = { patient: 200_859, vitalAperiodic: 25_075_074, medication: 7_301_853, diagnosis: 2_710_672, lab: 39_132_531 };

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const peakRssMb = () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.memoryUsage().rss / 2 ** 20);
};

async function generate(dir: string, n: Record<keyof typeof FULL, number>): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await inst.connect();
  const out = (name: string, sql: string) => con.run(`COPY (${sql}) TO '${join(dir, `${name}.csv.gz`)}' (HEADER, COMPRESSION gzip)`);
  const N = n.patient;
  // Stays: ~1.3 stays per patient, 208 hospitals, ages with "> 89", unit stays of 2 h to 10 days, ~9% deaths.
  await out('patient', `SELECT 100000 + i AS patientunitstayid, i AS patienthealthsystemstayid, CASE WHEN hash(i) % 2 = 0 THEN 'Female' ELSE 'Male' END AS gender,
      CASE WHEN hash(i * 3) % 20 = 0 THEN '> 89' ELSE CAST(16 + hash(i * 5) % 74 AS VARCHAR) END AS age, 'Caucasian' AS ethnicity,
      1 + hash(i * 10 // 13) % 208 AS hospitalid, 'Sepsis' AS apacheadmissiondx, 150 + hash(i * 11) % 50 AS admissionheight,
      -(hash(i * 13) % 3000) AS hospitaladmitoffset, 'Emergency Department' AS hospitaladmitsource,
      CASE WHEN hash(i * 17) % 11 = 0 THEN 'Expired' WHEN hash(i * 17) % 97 = 1 THEN NULL ELSE 'Alive' END AS hospitaldischargestatus,
      'Med-Surg ICU' AS unittype, 'Emergency Department' AS unitadmitsource, 1 + CAST(hash(i * 19) % 10 = 0 AS INTEGER) AS unitvisitnumber,
      'admit' AS unitstaytype, 50 + hash(i * 23) % 80 AS admissionweight, 120 + hash(i * 29) % 14000 AS unitdischargeoffset,
      'Alive' AS unitdischargestatus, CAST(i * 10 // 13 AS VARCHAR) AS uniquepid FROM range(${N}) t(i)`);
  const stay = (k: number) => `100000 + hash(i * ${k}) % ${N}`;
  const offset = (k: number) => `CAST(hash(i * ${k}) % 11440 AS BIGINT) - 1000`;
  await out('vitalAperiodic', `SELECT i AS vitalaperiodicid, ${stay(31)} AS patientunitstayid, ${offset(37)} AS observationoffset,
      90 + hash(i * 41) % 80 AS noninvasivesystolic, 40 + hash(i * 43) % 50 AS noninvasivediastolic, 60 + hash(i * 47) % 60 AS noninvasivemean,
      NULL AS paop, NULL AS cardiacoutput, NULL AS cardiacinput, NULL AS svr, NULL AS svri, NULL AS pvr, NULL AS pvri FROM range(${n.vitalAperiodic}) t(i)`);
  await out('medication', `SELECT i AS medicationid, ${stay(53)} AS patientunitstayid, ${offset(59)} AS drugorderoffset, ${offset(61)} AS drugstartoffset,
      'No' AS drugivadmixture, 'No' AS drugordercancelled, 'DRUG ' || CAST(hash(i * 67) % 1000 AS VARCHAR) AS drugname,
      CAST(hash(i * 67) % 1000 AS BIGINT) AS drughiclseqno, '5 3' AS dosage, 'IV' AS routeadmin, 'Q6H' AS frequency, '' AS loadingdose,
      'No' AS prn, ${offset(71)} + 2000 AS drugstopoffset, 0 AS gtc FROM range(${n.medication}) t(i)`);
  await out('diagnosis', `SELECT i AS diagnosisid, ${stay(73)} AS patientunitstayid, CASE WHEN hash(i) % 2 = 0 THEN 'True' ELSE 'False' END AS activeupondischarge,
      ${offset(79)} AS diagnosisoffset, 'system|group|diagnosis ' || CAST(hash(i * 83) % 3000 AS VARCHAR) AS diagnosisstring, '401.9, I10' AS icd9code,
      'Other' AS diagnosispriority FROM range(${n.diagnosis}) t(i)`);
  await out('lab', `SELECT i AS labid, ${stay(89)} AS patientunitstayid, ${offset(97)} AS labresultoffset, 1 AS labtypeid,
      'lab' || CAST(hash(i * 101) % 150 AS VARCHAR) AS labname, CAST(hash(i * 103) % 10000 AS DOUBLE) / 100 AS labresult, '' AS labresulttext,
      'mg/dL' AS labmeasurenamesystem, 'mg/dL' AS labmeasurenameinterface, ${offset(97)} + 30 AS labresultrevisedoffset FROM range(${n.lab}) t(i)`);
  con.closeSync();
  inst.closeSync();
}

const SPEC = `name: eicu-synthetic-mortality-24h
tables:
  patient: { file: patient.csv.gz, id: patientunitstayid, time_unit: minutes, values: { age: { "> 89": 90 } } }
  vitalAperiodic: { file: vitalAperiodic.csv.gz, columns: [noninvasivesystolic, noninvasivediastolic, noninvasivemean], id: patientunitstayid, time: observationoffset, time_unit: minutes }
  diagnosis: { file: diagnosis.csv.gz, columns: [diagnosisstring], id: patientunitstayid, time: diagnosisoffset, time_unit: minutes }
  medication: { file: medication.csv.gz, columns: [drughiclseqno], id: patientunitstayid, time: [drugstartoffset, drugorderoffset], time_unit: minutes }
  lab: { file: lab.csv.gz, columns: [labname, labresult], id: patientunitstayid, time: [labresultoffset, labresultrevisedoffset], time_unit: minutes }
cohort: { table: patient, patient: uniquepid, index_time: 0, index_offset: 1440 min, end_time: unitdischargeoffset, filters: ["unitvisitnumber = 1", "age >= 18"] }
label: { column: hospitaldischargestatus, positive: Expired, negative: Alive }
modalities:
  admission: { type: tabular, table: patient, numeric: [age, admissionheight, admissionweight, hospitaladmitoffset], categorical: [gender, unittype] }
  bp: { type: timeseries, table: vitalAperiodic, columns: [noninvasivesystolic, noninvasivediastolic, noninvasivemean], window: { start: -1, end: 0 }, bins: 4, aggregate: mean }
  diagnoses: { type: codes, table: diagnosis, code: diagnosisstring, min_count: 10 }
  medications: { type: codes, table: medication, code: drughiclseqno, min_count: 10 }
  labs: { type: timeseries, table: lab, variable: labname, value: labresult, variables: [lab0, lab1, lab2, lab3, lab4, lab5, lab6, lab7, lab8, lab9, lab10, lab11], window: { start: -1.25, end: 0 }, bins: 2 }
split: { method: group, column: hospitalid, fractions: { train: 0.6, val: 0.2, test: 0.2 }, seed: 0 }
`;

async function main(): Promise<void> {
  const scale = Number(arg('scale', '0.05'));
  if (!(scale > 0 && scale <= 1)) throw new Error('--scale: expected a number in (0, 1]');
  const dir = join(os.tmpdir(), `cdmm-bench-databases-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const n = Object.fromEntries(Object.entries(FULL).map(([k, v]) => [k, Math.round(v * scale)])) as Record<keyof typeof FULL, number>;
    let t = performance.now();
    await generate(dir, n);
    const generate_s = (performance.now() - t) / 1000;
    const allColumns = process.argv.includes('--all-columns');
    writeFileSync(join(dir, 'spec.yaml'), allColumns ? SPEC.replace(/columns: \[[^\]]*\], /g, '') : SPEC);
    const bytes = Object.keys(FULL).reduce((a, k) => a + statSync(join(dir, `${k}.csv.gz`)).size, 0);
    const c0 = process.cpuUsage();
    t = performance.now();
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { cache: false, quiet: true });
    const build_s = (performance.now() - t) / 1000;
    const u = process.cpuUsage(c0);
    console.log(JSON.stringify({
      bench: 'databases-eicu', scale, columns: allColumns ? 'all' : 'listed', stays: n.patient, rows: n, bytes, generate_s: +generate_s.toFixed(1), build_s: +build_s.toFixed(1),
      cpu_s: +((u.user + u.system) / 1e6).toFixed(1), peak_rss_mb: peakRssMb(), included: ds.cohort.included,
      cores: os.availableParallelism(), load: +os.loadavg()[0].toFixed(1),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
