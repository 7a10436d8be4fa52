// cdmm predict on a tiny trained run: table, spec and JSON-record inputs give the same numbers as training's own
// scoring; counterfactual "removed" equals predicting without that modality; CSV and JSON outputs; clear errors.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as cli } from './helpers/cli.js';
import { PREDICTION_TOLERANCE, Predictor, type PatientPrediction } from '../src/serve/predictor.js';
import { expectSamePredictions } from './helpers/predictions.js';
import { trainTinyRun } from './serve-fixtures.js';

let root: string;
let run: string;
let spec: string;
let runPreds: { ids: string[]; y: number[]; p: number[]; p_factual: number[]; mask: string[] };


/** A small CSV reader for the simulator's files (quoted fields, no embedded newlines). */
function readCsv(path: string): Record<string, string>[] {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const split = (l: string) => [...l.matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)].slice(0, -1).map((m) => m[1].replace(/^"|"$/g, '').replace(/""/g, '"'));
  const head = split(lines[0]);
  return lines.slice(1).map((l) => Object.fromEntries(split(l).map((v, i) => [head[i], v])));
}

/** The simulated patients' rows as JSON patient records (all tables, or only `tables`). */
function recordsFromTables(ids: string[], tables = ['patients', 'labs', 'diagnoses', 'notes', 'imaging']): Record<string, unknown>[] {
  const want = new Set(ids);
  const rows = Object.fromEntries(tables.map((t) => [t, readCsv(join(root, 'sim', `${t}.csv`)).filter((r) => want.has(r.id))]));
  return ids.map((id) => {
    const rec: Record<string, unknown> = { id };
    for (const t of tables) {
      const mine = rows[t].filter((r) => r.id === id).map(({ id: _, ...rest }) => rest);
      if (mine.length) rec[t] = t === 'patients' || t === 'imaging' ? mine[0] : mine;
    }
    return rec;
  });
}

function byId(preds: PatientPrediction[]): Map<string, PatientPrediction> {
  return new Map(preds.map((p) => [p.id, p]));
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-predict-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  ({ run, spec } = await trainTinyRun(root));
  runPreds = JSON.parse(readFileSync(join(run, 'predictions.json'), 'utf8')).test;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cdmm predict', () => {
  it("reproduces the run's own test predictions from the spec's tables (JSON output, labels kept)", async () => {
    const out = join(root, 'spec-preds.json');
    const r = await cli('predict', run, '--input', spec, '--out', out, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ out, typical_values: 'manifest' });
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    const preds = byId(doc.predictions);
    runPreds.ids.forEach((id, i) => {
      const p = preds.get(id)!;
      expect(p.p_do).toBeCloseTo(runPreds.p[i], 5);
      expect(p.p_factual).toBeCloseTo(runPreds.p_factual[i], 5);
      expect(p.mask).toBe(runPreds.mask[i]);
      expect(p.label).toBe(runPreds.y[i]);
    });
    // No temporary file left next to the output (atomic write).
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('an --input folder whose table file is a folder or a FIFO says so (it read as "the cohort table is needed")', async () => {
    const dir = join(root, 'odd-input');
    mkdirSync(join(dir, 'patients.csv'), { recursive: true });
    const r = await cli('predict', run, '--input', dir, '--out', join(root, 'never-odd.json'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/odd-input\/patients\.csv: not a file \(a folder\); table patients of spec '.*' is read from a file of that name/);
    expect(existsSync(join(root, 'never-odd.json'))).toBe(false);
    // and a key beside "records" in a JSON input is named, as the server names it
    const extra = join(root, 'extra.json');
    writeFileSync(extra, JSON.stringify({ records: [{ id: 'a' }], threshold: 0.5 }));
    const r2 = await cli('predict', run, '--input', extra, '--out', join(root, 'never-extra.json'));
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/extra\.json: "threshold": unknown field beside "records"/);
  });

  it('gives the same predictions for the same patients as JSONL records, written as CSV', async () => {
    const ids = runPreds.ids.slice(0, 25);
    const file = join(root, 'recs.jsonl');
    writeFileSync(file, recordsFromTables(ids).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(root, 'recs.csv');
    const r = await cli('predict', run, '--input', file, '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`25 patient(s) → ${out}`);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const head = lines[0].split(',');
    expect(head.slice(0, 6)).toEqual(['id', 'p_do', 'p_factual', 'mask', 'pattern', 'modalities_used']);
    expect(head).toContain('labs:contribution');
    expect(lines.length).toBe(26);
    lines.slice(1).forEach((line, i) => {
      const cells = line.split(',');
      const k = runPreds.ids.indexOf(cells[0]);
      expect(cells[0]).toBe(ids[i]);
      expect(Number(cells[1])).toBeCloseTo(runPreds.p[k], 5);
      expect(cells[3]).toBe(runPreds.mask[k]);
    });
  });

  it("--out - prints the predictions on stdout (JSON, or CSV with --format csv), the count on stderr, and writes no file", async () => {
    const ids = runPreds.ids.slice(0, 5);
    const file = join(root, 'recs-stdout.json');
    writeFileSync(file, JSON.stringify(recordsFromTables(ids)));
    const before = readdirSync(root).sort();
    const j = await cli('predict', run, '--input', file, '--out', '-');
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out);
    expect(doc.predictions.map((p: { id: string }) => p.id)).toEqual(ids);
    doc.predictions.forEach((p: { p_do: number }, i: number) => expect(p.p_do).toBeCloseTo(runPreds.p[runPreds.ids.indexOf(ids[i])], 5));
    expect(j.err).toContain('5 patient(s)');
    const c = await cli('predict', run, '--input', file, '--out', '-', '--format', 'csv');
    expect(c.code).toBe(0);
    const lines = c.out.trim().split('\n');
    expect(lines[0].startsWith('id,p_do,p_factual,mask')).toBe(true);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(ids);
    expect(readdirSync(root).sort()).toEqual(before);
    // the two stdout outputs together, or --format with a file, are refused before anything runs
    const both = await cli('predict', run, '--input', file, '--out', '-', '--json');
    expect(both.code).toBe(2);
    expect(both.err).toContain('--json with --out -');
    const fmt = await cli('predict', run, '--input', file, '--out', join(root, 'y.json'), '--format', 'csv');
    expect(fmt.code).toBe(2);
    expect(fmt.err).toContain('--format: only with --out -');
    const bad = await cli('predict', run, '--input', file, '--out', '-', '--format', 'xml');
    expect(bad.err).toContain('--format xml: expected json or csv');
  });

  it('--out - through a pipe that is read slowly still gets every byte (the process waits for stdout to drain)', async () => {
    const { spawn } = await import('node:child_process');
    const bin = join(import.meta.dirname, '..', 'bin', 'cdmm.js');
    const child = spawn(process.execPath, [bin, 'predict', run, '--input', spec, '--out', '-'], { stdio: ['ignore', 'pipe', 'ignore'], env: process.env });
    const chunks: Buffer[] = [];
    // the reader is late: what the command writes past the pipe's 64 KiB buffer waits in the process meanwhile
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 1500);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code).toBe(0);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.length).toBeGreaterThan(70_000);
    const doc = JSON.parse(text);
    expect(doc.predictions.length).toBe(doc.n);
  }, 60_000);

  it('JSON records none of whose data reaches a modality are left out and counted, as patients in files are', async () => {
    const ids = runPreds.ids.slice(0, 3);
    const file = join(root, 'recs-empty.json');
    writeFileSync(file, JSON.stringify([...recordsFromTables(ids), { id: 'nobody', index_time: 300 }, { id: 'late', index_time: 300, labs: [{ day: 10_000, variable: 'crp', value: 1 }] }]));
    const r = await cli('predict', run, '--input', file, '--out', '-');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.predictions.map((p: { id: string }) => p.id)).toEqual(ids);
    expect(doc.excluded).toEqual({ 'no observed modality': 2 });
    expect(r.err).toContain(`${file}: 2 records left out, no modality observed (e.g. records[3]: patient "nobody" has no observed modality`);
    // only such records: nothing to predict is an error, and nothing is written
    writeFileSync(file, JSON.stringify([{ id: 'nobody', index_time: 300 }]));
    const none = await cli('predict', run, '--input', file, '--out', join(root, 'none.json'));
    expect(none.code).toBe(2);
    expect(none.err).toContain('no patient to predict (left out: 1 no observed modality)');
    expect(existsSync(join(root, 'none.json'))).toBe(false);
  });

  it('a folder with some of the tables equals records with the same tables', async () => {
    const ids = runPreds.ids.slice(0, 10);
    const dir = join(root, 'folder');
    mkdirSync(dir);
    const want = new Set(ids);
    for (const t of ['patients', 'labs']) {
      const text = readFileSync(join(root, 'sim', `${t}.csv`), 'utf8').trim().split('\n');
      writeFileSync(join(dir, `${t}.csv`), [text[0], ...text.slice(1).filter((l) => want.has(l.split(',')[0]))].join('\n') + '\n');
    }
    const out = join(root, 'folder.json');
    const r = await cli('predict', run, '--input', dir, '--out', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain('cdmm: note: no file for table(s) diagnoses, notes, imaging in');
    const fromFolder = byId(JSON.parse(readFileSync(out, 'utf8')).predictions);
    const predictor = await Predictor.load(run);
    try {
      const fromRecords = await predictor.predictRecords(recordsFromTables(ids, ['patients', 'labs']));
      expect(fromRecords.map((p) => p.id)).toEqual(ids);
      for (const p of fromRecords) {
        expect(p.mask.slice(2)).toBe('000');
        // Notes on the rows a record gives (e.g. labs all outside the window) are for JSON records only; the rest of
        // the answer, and the notes on the features, are the same from both.
        const { notes: recordNotes, ...rest } = p;
        const { notes: fileNotes, ...fromFile } = fromFolder.get(p.id) as typeof p;
        expect(recordNotes ?? []).toEqual(expect.arrayContaining(fileNotes ?? []));
        expectSamePredictions(fromFile, rest); // other batches, so the README's tolerance
      }
    } finally {
      predictor.dispose();
    }
  });

  it('the "removed" counterfactual equals predicting the patient without that modality', async () => {
    const predictor = await Predictor.load(run);
    try {
      const ids = runPreds.ids.filter((_, i) => runPreds.mask[i].slice(1).includes('1')).slice(0, 12);
      const recs = recordsFromTables(ids);
      const full = await predictor.predictRecords(recs);
      const names = ['labs', 'diagnoses', 'notes', 'imaging'];
      let checked = 0;
      for (const name of names) {
        const having = full.filter((p) => p.modalities[name].observed);
        if (!having.length) continue;
        const without = await predictor.predictRecords(recs.filter((r) => having.some((p) => p.id === r.id)).map(({ [name]: _, ...rest }) => rest));
        having.forEach((p, i) => {
          const cf = p.modalities[name].counterfactual!;
          expect(cf.change).toBe('removed');
          expect(cf.mask).toBe(without[i].mask);
          expect(cf.pattern).toBe(without[i].pattern);
          // Scored in another batch: within the README's tolerance (contribution: two rounded risks apart).
          expect(Math.abs(cf.p_do - without[i].p_do)).toBeLessThanOrEqual(PREDICTION_TOLERANCE);
          expect(Math.abs(p.modalities[name].contribution! - (p.p_do - without[i].p_do))).toBeLessThanOrEqual(2 * PREDICTION_TOLERANCE);
          checked++;
        });
      }
      expect(checked).toBeGreaterThan(5);
      // A missing modality's counterfactual makes it observed, at the training mean of its features.
      const missing = full.find((p) => !p.modalities.imaging.observed)!;
      expect(missing.modalities.imaging.counterfactual).toMatchObject({ change: 'observed', mask: missing.mask.slice(0, 4) + '1' });
      expect(missing.modalities.imaging.contribution).toBeNull();
      expect(missing.modalities_used).toEqual(names.concat('demographics').filter((n) => missing.modalities[n].observed).sort((a, b) => predictor.modalities.findIndex((m) => m.name === a) - predictor.modalities.findIndex((m) => m.name === b)));
    } finally {
      predictor.dispose();
    }
  });

  it('--no-typical leaves the "observed" counterfactuals out, says why, and keeps the rest', async () => {
    const file = join(root, 'three.json');
    writeFileSync(file, JSON.stringify(recordsFromTables(runPreds.ids.slice(0, 3))));
    const out = join(root, 'three.json.out.json');
    const r = await cli('predict', run, '--input', file, '--out', out, '--no-typical');
    expect(r.code).toBe(0);
    expect(r.err).toContain('no counterfactuals for missing modalities');
    const preds: PatientPrediction[] = JSON.parse(readFileSync(out, 'utf8')).predictions;
    const all = preds.flatMap((p) => Object.values(p.modalities));
    expect(all.filter((m) => !m.observed).every((m) => m.counterfactual === null)).toBe(true);
    expect(all.some((m) => m.observed && m.counterfactual?.change === 'removed')).toBe(true);
  });

  it('names the file, record and field of bad input, and the accepted --out formats', async () => {
    const bad = join(root, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ id: 'a', patients: { age: 50 } }, { id: 'b', labs: [{ day: 1, variable: 'crp', value: 'high' }] }]));
    const r = await cli('predict', run, '--input', bad, '--out', join(root, 'x.json'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}: records[1].labs[0].value: expected number`);
    expect(existsSync(join(root, 'x.json'))).toBe(false);

    const badl = join(root, 'bad.jsonl');
    writeFileSync(badl, '{"id":"a","patients":{"age":50}}\n{"id":"b","vitals":[]}\n');
    const r2 = await cli('predict', run, '--input', badl, '--out', join(root, 'x.json'));
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`${badl}: line 2: vitals: unknown table 'vitals'`);

    const r3 = await cli('predict', run, '--input', bad, '--out', join(root, 'x.txt'));
    expect(r3.err).toContain('--out must end in .json or .csv');
    const r4 = await cli('predict', join(root, 'nope'), '--input', bad, '--out', join(root, 'x.json'));
    expect(r4.code).toBe(2);
    expect(r4.err).toContain('run folder not found');

    // A FIFO named as input is refused at once (it used to wait for a writer forever).
    const fifo = join(root, 'records.json');
    execFileSync('mkfifo', [fifo]);
    const r5 = await cli('predict', run, '--input', fifo, '--out', join(root, 'x.json'));
    expect(r5.code).toBe(2);
    expect(r5.err).toContain(`${fifo}: not a regular file`);
  }, 60_000);
});
