// Benchmarks: every backbone × debias setting × seed, one run folder each, then the table of mean ± std of
// AUROC/AUPRC/ECE on test (and the shift environment) with paired differences against the plain model of the same
// backbone and seed, and the references of the data: the oracle (true risk) and the in-distribution ceiling
// (src/eval/bounds.ts), computed once per benchmark (docs/RUN-FORMAT.md benchmark folder).
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { join, resolve } from 'node:path';
import { prepareDataset } from '../data/build.js';
import { loadSpec } from '../data/spec.js';
import type { PreparedDataset } from '../data/types.js';
import { checkOutDir, setAside } from '../util/outdir.js';
import type { BackboneName, DebiasMode, ModelConfig } from '../models/types.js';
import { defaultModelConfig } from '../models/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { CdmmError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import type { TrainOptions } from './options.js';
import { trainRun } from './run.js';
import { mean, std } from './stats.js';
import { safeCdmmLine, shellLine } from '../util/shell.js';
import { readJsonText } from '../util/files.js';
import { runFiles } from '../run/run-io.js';
import { f3, meanStd, overSeeds, signedMeanStd } from '../eval/format.js';
import { computeBounds, FEW_SHIFT_POSITIVES, type Bounds } from '../eval/bounds.js';
import { formatReferenceTable, summarizeReference, type ReferenceMetrics, type ReferenceSummary } from '../eval/reference.js';

/** Adds the reference summary to each split of a row, when every run of the row has one. */
function attachReference(row: BenchmarkRow, runs: RunScore[]): void {
  for (const split of ['test', 'shift'] as const) {
    const target = row[split];
    const refs = runs.flatMap((r) => (r.reference?.[split] ? [r.reference[split]!] : []));
    if (target && refs.length === runs.length) target.reference = summarizeReference(refs);
  }
}

export interface Scores { auroc_mean: number; auroc_std: number; auprc_mean: number; auprc_std: number }
export interface Summary extends Scores {
  /** Expected calibration error (10 bins) over the runs; null when a run's metrics hold none. */
  ece_mean: number | null; ece_std: number | null;
  /** With spec.reference: the reference score and this configuration on the same patients (src/eval/reference.ts). */
  reference?: ReferenceSummary;
}
export interface Delta extends Scores { n: number }

export interface BenchmarkRow {
  backbone: BackboneName;
  debias: DebiasMode;
  seeds: number;
  test: Summary;
  shift?: Summary;
  /**
   * Validation: plain AUROC and the pattern-balanced one (the same weights for every configuration; what the
   * report's best configuration is picked by). Absent for runs written before these were recorded.
   */
  val?: { auroc_mean: number; auroc_pb_mean: number | null };
  /** Runs of this row whose dual-branch gate was on (separate dual branch only). */
  gate_on?: number;
  /** Runs of this row whose deconfounder was kept by its gate (debias deconfound or full). */
  deconfound_on?: number;
  /** Debiased − plain (same backbone, same seed), mean and std over seeds. */
  delta_vs_plain?: { test: Delta; shift?: Delta };
}

export interface BenchmarkJson {
  dataset: string;
  spec_path: string;
  seeds: number[];
  config: { train: Omit<TrainOptions, 'seed'>; model: Partial<ModelConfig> };
  results: BenchmarkRow[];
  /** The finished runs (what results aggregate). */
  runs: string[];
  /** Every run the benchmark consists of; while some are missing, complete is false (an interrupted benchmark). */
  planned?: string[];
  complete?: boolean;
  /** How to finish an interrupted benchmark (the command that started it, with --resume). */
  resume_command?: string;
  /** Every run's scores (what the table aggregates). */
  per_run: { run: string; backbone: string; debias: string; seed: number; test: SplitScore; shift?: SplitScore; val?: ValScore; gate?: boolean; deconfound?: boolean }[];
  /** The data's references, computed once per benchmark and kept across --resume (src/eval/bounds.ts). */
  bounds?: Bounds;
}

/** One run's validation AUROCs: plain, with its own selection weights, pattern-balanced (run.ts). */
export interface ValScore { auroc: number; auroc_w: number | null; auroc_pb: number | null }

/** One run's scores on one split. */
export interface SplitScore { auroc: number; auprc: number; ece?: number }

/** The scores of one finished run, as the benchmark table needs them. */
export interface RunScore {
  backbone: BackboneName;
  debias: DebiasMode;
  seed: number;
  dir: string;
  test: SplitScore;
  shift?: SplitScore;
  val?: ValScore;
  /** Whether the run's dual-branch gate was on (undefined: no separate dual branch). */
  gate?: boolean;
  /** Whether the run's deconfounder was kept by its gate (undefined: no deconfounder asked for). */
  deconfound?: boolean;
  reference?: Partial<Record<'test' | 'shift', ReferenceMetrics>>;
}

export function runName(backbone: string, debias: string, seed: number): string {
  return `${backbone}-${debias}-s${seed}`;
}

function summary(xs: SplitScore[]): Summary {
  const a = xs.map((x) => x.auroc);
  const p = xs.map((x) => x.auprc);
  const e = xs.every((x) => typeof x.ece === 'number') ? xs.map((x) => x.ece!) : undefined;
  return { auroc_mean: mean(a), auroc_std: std(a), auprc_mean: mean(p), auprc_std: std(p), ece_mean: e ? mean(e) : null, ece_std: e ? std(e) : null };
}

/** Aggregates run scores into table rows (order: backbones, then debias settings, as given). */
export function aggregate(scores: RunScore[], backbones: BackboneName[], debias: DebiasMode[]): BenchmarkRow[] {
  const rows: BenchmarkRow[] = [];
  for (const b of backbones) {
    for (const d of debias) {
      const mine = scores.filter((s) => s.backbone === b && s.debias === d).sort((x, y) => x.seed - y.seed);
      if (!mine.length) continue;
      const row: BenchmarkRow = { backbone: b, debias: d, seeds: mine.length, test: summary(mine.map((s) => s.test)) };
      const withShift = mine.filter((s) => s.shift);
      if (withShift.length === mine.length) row.shift = summary(withShift.map((s) => s.shift!));
      if (mine.every((s) => s.val)) {
        const pb = mine.map((s) => s.val!.auroc_pb);
        row.val = { auroc_mean: mean(mine.map((s) => s.val!.auroc)), auroc_pb_mean: pb.every((x) => typeof x === 'number') ? mean(pb as number[]) : null };
      }
      if (mine.some((s) => s.gate !== undefined)) row.gate_on = mine.filter((s) => s.gate).length;
      if (mine.some((s) => s.deconfound !== undefined)) row.deconfound_on = mine.filter((s) => s.deconfound).length;
      attachReference(row, mine);
      if (d !== 'none') {
        const pairs = mine
          .map((s) => ({ s, plain: scores.find((q) => q.backbone === b && q.debias === 'none' && q.seed === s.seed) }))
          .filter((x) => x.plain);
        if (pairs.length) {
          const diff = (get: (r: RunScore) => { auroc: number; auprc: number } | undefined): Delta | undefined => {
            const ds = pairs.map(({ s, plain }) => ({ a: get(s), b: get(plain!) })).filter((x) => x.a && x.b);
            if (ds.length !== pairs.length) return undefined;
            const da = ds.map((x) => x.a!.auroc - x.b!.auroc);
            const dp = ds.map((x) => x.a!.auprc - x.b!.auprc);
            return { auroc_mean: mean(da), auroc_std: std(da), auprc_mean: mean(dp), auprc_std: std(dp), n: ds.length };
          };
          const test = diff((r) => r.test)!;
          const shift = diff((r) => r.shift);
          row.delta_vs_plain = shift ? { test, shift } : { test };
        }
      }
      rows.push(row);
    }
  }
  return rows;
}


/** The human-readable table. */
export function formatBenchmark(b: BenchmarkJson): string {
  const ref = formatReferenceTable(b.results);
  const bounds = b.bounds ? formatBounds(b.bounds) : '';
  return [formatScores(b), bounds, ref].filter(Boolean).join('\n\n');
}

/** The oracle and the in-distribution ceiling, under the table. */
export function formatBounds(x: Bounds): string {
  const v = (n: number | null) => (n === null ? 'n/a' : f3(n));
  const lines = ['references (computed once, on the splits of the first seed):'];
  lines.push(x.oracle ? `  oracle (AUROC of the true risk): test ${v(x.oracle.test)}, shift ${v(x.oracle.shift)}` : '  oracle: none (the spec declares no true_risk)');
  lines.push(
    x.ceiling_shift === null
      ? '  in-distribution ceiling: n/a (no shift split, or too few patients of a class for the folds)'
      : `  in-distribution ceiling (shift): ${f3(x.ceiling_shift)} (folds ${x.ceiling_folds.map((n) => (Number.isFinite(n) ? f3(n) : 'n/a')).join(', ')}): ${x.ceiling_model}`,
  );
  if (x.shift_n !== undefined && x.shift_positives !== undefined) {
    const few = Math.min(x.shift_positives, x.shift_n - x.shift_positives);
    lines.push(
      `  shift split: ${x.shift_n} patients, ${x.shift_positives} positive` +
        (few < FEW_SHIFT_POSITIVES ? ` — warning: fewer than ${FEW_SHIFT_POSITIVES} of a class, so every shift AUROC here (the ceiling's folds too) is noisy: read differences under ≈ 0.05 as noise` : ''),
    );
  }
  return lines.join('\n');
}

function formatScores(b: BenchmarkJson): string {
  const hasShift = b.results.some((r) => r.shift);
  const head = ['backbone', 'debias', 'seeds', 'test AUROC', 'test AUPRC', 'test ECE', 'Δ test AUROC'];
  if (hasShift) head.push('shift AUROC', 'shift AUPRC', 'shift ECE', 'Δ shift AUROC');
  const lines = b.results.map((r) => {
    const n = r.seeds;
    const ece = (x?: Summary) => (x && x.ece_mean !== null && x.ece_std !== null ? meanStd(x.ece_mean, x.ece_std, n) : '');
    const cells = [r.backbone, r.debias, String(r.seeds), meanStd(r.test.auroc_mean, r.test.auroc_std, n), meanStd(r.test.auprc_mean, r.test.auprc_std, n), ece(r.test),
      r.delta_vs_plain ? signedMeanStd(r.delta_vs_plain.test.auroc_mean, r.delta_vs_plain.test.auroc_std, n) : ''];
    if (hasShift)
      cells.push(r.shift ? meanStd(r.shift.auroc_mean, r.shift.auroc_std, n) : '', r.shift ? meanStd(r.shift.auprc_mean, r.shift.auprc_std, n) : '', ece(r.shift),
        r.delta_vs_plain?.shift ? signedMeanStd(r.delta_vs_plain.shift.auroc_mean, r.delta_vs_plain.shift.auroc_std, n) : '');
    return cells;
  });
  const width = head.map((h, j) => Math.max(h.length, ...lines.map((l) => l[j].length)));
  const fmt = (cells: string[]) => cells.map((c, j) => c.padEnd(width[j])).join('  ').trimEnd();
  return [
    `dataset ${b.dataset}: ${overSeeds(b.seeds)}; Δ = debiased − plain (same backbone and seed)`,
    fmt(head),
    width.map((w) => '-'.repeat(w)).join('  '),
    ...lines.map(fmt),
    ...gateLines(b.results),
  ].join('\n');
}

/**
 * Where the debiasing parts' gates decided differently over the seeds (each seed redraws the split), or were off in
 * every run: a debiased row is then partly or wholly the plain model, which the figures alone do not show.
 */
function gateLines(rows: BenchmarkRow[]): string[] {
  const said: string[] = [];
  for (const r of rows) {
    const parts: string[] = [];
    if (r.deconfound_on !== undefined && r.deconfound_on < r.seeds) parts.push(`deconfounder on in ${r.deconfound_on} of ${r.seeds}`);
    if (r.gate_on !== undefined && r.gate_on < r.seeds) parts.push(`dual branch on in ${r.gate_on} of ${r.seeds}`);
    if (parts.length) said.push(`  ${r.backbone}/${r.debias}: ${parts.join(', ')}`);
  }
  return said.length ? ['gates (a run with both off is the plain model; train and benchmark.json per_run say why):', ...said] : [];
}

export interface BenchmarkRequest {
  specPath: string;
  backbones: BackboneName[];
  debias: DebiasMode[];
  seeds: number[];
  train: Omit<TrainOptions, 'seed'>;
  model: Partial<ModelConfig>;
  out: string;
  cache?: boolean;
  quiet?: boolean;
  /** Continue the benchmark folder at `out`: keep its finished runs, train the missing ones. */
  resume?: boolean;
  /** Replace an existing benchmark folder at `out` (nothing else is ever replaced). */
  overwrite?: boolean;
  /** Read table files outside the spec's folder. */
  allowOutside?: boolean;
  /** The command line that started the benchmark, recorded for the resume hint. */
  command?: string[];
  /** Called with each dataset prepared (the CLI prints its warnings). */
  onDataset?: (ds: PreparedDataset) => void;
}

/** The command that continues the benchmark: the recorded one with --resume (and without --overwrite). */
function resumeCommand(req: BenchmarkRequest): string | undefined {
  if (!req.command) return undefined;
  const args = req.command.filter((a) => a !== '--overwrite' && a !== '--resume');
  return shellLine(['cdmm', ...args, '--resume']);
}

/** What --resume reads of a benchmark.json (untrusted: an edited one gave internal errors). */
const PrevBenchmarkSchema = z
  .object({
    planned: z.array(z.string().max(4096)).max(100_000).optional(),
    config: z.object({ train: z.unknown(), model: z.unknown() }).passthrough().optional(),
    spec_path: z.string().max(4096).optional(),
    resume_command: z.string().max(65536).optional(),
    bounds: z.unknown().optional(),
  })
  .passthrough();

/** A probability-scale metric of a reused run: a number in [0, 1], or null where it is undefined. */
const unit = z.number().min(0).max(1).nullable();
const ScoreSchema = z.object({ auroc: unit, auprc: unit, ece: unit.optional() }).passthrough();
const ReferenceScoreSchema = z.object({ auroc: unit, auprc: unit, brier: unit.optional(), ece: unit.optional() }).passthrough();
/** What a reused run's metrics.json must hold (checked, or the run is trained again). */
const ReusedMetricsSchema = z
  .object({
    splits: z.object({ test: ScoreSchema, shift: ScoreSchema.optional(), val: z.object({ auroc: unit, auroc_w: unit.optional(), auroc_pb: unit.optional() }).passthrough().optional() }).passthrough(),
    reference: z
      .record(z.enum(['test', 'shift']), z.object({ name: z.string().max(200), n: z.number().int().min(0), covered: z.number().int().min(0), probability: z.boolean(), reference: ReferenceScoreSchema, model: ReferenceScoreSchema, delong: z.object({ diff: z.number().finite(), p: z.number().min(0).max(1) }).nullable() }).passthrough())
      .optional(),
  })
  .passthrough();

/** With --resume: the folder's recorded plan and configuration must be this request's, or runs would mix. */
function checkResumable(req: BenchmarkRequest, planned: string[]): Partial<BenchmarkJson> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readJsonText(join(req.out, 'benchmark.json')));
  } catch {
    return undefined; // an older folder without benchmark.json: each run folder is checked by reusable()
  }
  const parsed = PrevBenchmarkSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new CdmmError(`--resume: ${join(req.out, 'benchmark.json')} is damaged (at ${i.path.join('.') || 'the top'}: ${i.message}); start the benchmark again with --overwrite`);
  }
  const prev = parsed.data as Partial<BenchmarkJson>;
  const diffs: string[] = [];
  if (prev.planned && JSON.stringify(prev.planned) !== JSON.stringify(planned)) diffs.push(`runs ${prev.planned.length} planned (${prev.planned.slice(0, 3).join(', ')}…), now ${planned.length}`);
  if (prev.config && JSON.stringify(prev.config.train) !== JSON.stringify(req.train)) diffs.push('training options');
  if (prev.config && JSON.stringify(prev.config.model) !== JSON.stringify(req.model)) diffs.push('model options');
  if (prev.spec_path && resolve(prev.spec_path) !== resolve(req.specPath)) diffs.push(`spec ${prev.spec_path}`);
  if (diffs.length)
    throw new CdmmError(
      `--resume: ${req.out} was started with another configuration (differs: ${diffs.join('; ')}); give the same options as before` +
        `${safeCdmmLine(prev.resume_command, 'benchmark') ? ` (${prev.resume_command})` : ''}, or --overwrite to start it again`,
    );
  return prev;
}

/** The bounds as this version writes them; an AUROC is in [0, 1] (JSON has no NaN: a fold without both classes is null). */
const BoundsSchema = z.object({
  oracle: z.object({ test: unit, shift: unit }).nullable(),
  ceiling_shift: unit,
  ceiling_folds: z.array(unit).max(1000),
  ceiling_model: z.string().max(1000),
  split_seed: z.number().int().nullable(),
  shift_n: z.number().int().min(0).optional(),
  shift_positives: z.number().int().min(0).optional(),
});

/** A recorded bounds field, when it has the shape this version writes (else they are computed again). */
function recordedBounds(prev: Partial<BenchmarkJson> | undefined): Bounds | undefined {
  const b = BoundsSchema.safeParse(prev?.bounds);
  if (!b.success) return undefined;
  return { ...b.data, ceiling_folds: b.data.ceiling_folds.map((x) => (typeof x === 'number' ? x : NaN)) };
}

/** The configuration a run folder must have to be reused with --resume. */
function reusable(dir: string, req: BenchmarkRequest, backbone: string, debias: string, seed: number, splitSeed: number | null): RunScore | undefined {
  try {
    const read = runFiles(dir);
    const man = JSON.parse(read('manifest.json').toString('utf8'));
    // A metrics.json of another shape, or with an AUROC of 1e308, is not reused: the run is trained again.
    const checked = ReusedMetricsSchema.safeParse(JSON.parse(read('metrics.json').toString('utf8')));
    if (!checked.success) return undefined;
    const met = checked.data as Parameters<typeof scoreOf>[0];
    const c = man.config;
    // Runs record their resolved options (train) and what was asked (train_requested, with 'auto' kept).
    const asked = c.train_requested ?? c.train;
    const sameTrain = JSON.stringify({ ...asked, seed: undefined }) === JSON.stringify({ ...req.train, seed: undefined });
    // A default that changed between the runs (the bias network's refinement, added 2026-12-08: absent = 0 in runs
    // before it) must match too, or a resumed benchmark mixes two methods.
    const sameModel = Object.entries(req.model).every(([k, v]) => c.model?.[k] === v)
      && (c.model?.biasRefine ?? 0) === (req.model.biasRefine ?? defaultModelConfig.biasRefine ?? 0);
    if (c.backbone !== backbone || c.debias !== debias || c.seed !== seed || c.split_seed !== splitSeed || !sameTrain || !sameModel) return undefined;
    return scoreOf(met, backbone as BackboneName, debias as DebiasMode, seed, dir, man);
  } catch {
    return undefined;
  }
}

function scoreOf(
  met: { splits: Record<string, { auroc: number | null; auprc: number | null; ece?: number | null }>; reference?: RunScore['reference'] },
  backbone: BackboneName, debias: DebiasMode, seed: number, dir: string,
  man?: { config?: { debias_parts?: Record<string, Record<string, unknown>> } },
): RunScore {
  const pick = (s?: { auroc: number | null; auprc: number | null; ece?: number | null }): SplitScore | undefined =>
    s ? { auroc: s.auroc ?? NaN, auprc: s.auprc ?? NaN, ...(typeof s.ece === 'number' ? { ece: s.ece } : {}) } : undefined;
  const r: RunScore = { backbone, debias, seed, dir, test: pick(met.splits.test)! };
  const sh = pick(met.splits.shift);
  if (sh) r.shift = sh;
  if (met.reference) r.reference = met.reference;
  const v = met.splits.val as { auroc: number | null; auroc_w?: number | null; auroc_pb?: number | null } | undefined;
  if (v && typeof v.auroc === 'number') r.val = { auroc: v.auroc, auroc_w: v.auroc_w ?? null, auroc_pb: v.auroc_pb ?? null };
  const on = man?.config?.debias_parts?.dual?.on;
  if (typeof on === 'boolean') r.gate = on;
  const dec = man?.config?.debias_parts?.deconfound?.on;
  if (typeof dec === 'boolean') r.deconfound = dec;
  return r;
}

export async function runBenchmark(req: BenchmarkRequest): Promise<BenchmarkJson> {
  // Before any work: an --out holding anything but a benchmark folder is never touched.
  const outState = checkOutDir(req.out, 'benchmark', { overwrite: req.overwrite, resume: req.resume });
  const spec = loadSpec(req.specPath);
  const planned = req.seeds.flatMap((seed) => req.backbones.flatMap((b) => req.debias.map((d) => join('runs', runName(b, d, seed)))));
  const prev = outState === 'resume' ? checkResumable(req, planned) : undefined;
  const aside = outState === 'replace' ? setAside(req.out) : undefined;
  try {
    const result = await runAll(req, spec, planned, recordedBounds(prev));
    aside?.commit();
    return result;
  } catch (e) {
    aside?.rollback();
    throw e;
  }
}

async function runAll(req: BenchmarkRequest, spec: ReturnType<typeof loadSpec>, planned: string[], bounds: Bounds | undefined): Promise<BenchmarkJson> {
  // Random and shift splits are re-drawn per seed; a column split is fixed by the data.
  const resplit = spec.split.method !== 'column';
  const combos = req.backbones.flatMap((b) => req.debias.map((d) => [b, d] as const));
  const total = combos.length * req.seeds.length;
  // Said before the first run: training holds the process, so a Ctrl-C ends it with no chance to print this then.
  const resume = req.command ? resumeCommand(req) : undefined;
  // Said with --quiet too (it is no progress): training holds the thread, so a handler for Ctrl-C could only speak
  // once the current run had finished; this line is what an interrupted benchmark has to go on with.
  if (resume) process.stderr.write(`benchmark: ${total} runs into ${req.out}; if it stops, continue with: ${resume}\n`);
  const scores: RunScore[] = [];
  const runs: string[] = [];
  let done = 0;
  let datasetName = spec.name;
  // One prepared dataset per split seed (a column split has one for all seeds).
  let ds: Awaited<ReturnType<typeof prepareDataset>> | undefined;
  let dsSeed: number | null | undefined;
  const prepare = async (splitSeed: number | null) => {
    ds = await prepareDataset(req.specPath, { cache: req.cache ?? true, quiet: true, seed: splitSeed ?? undefined, allowOutside: req.allowOutside });
    dsSeed = splitSeed;
    datasetName = ds.name;
    req.onDataset?.(ds);
    return ds;
  };
  // The references (oracle, in-distribution ceiling) once per benchmark, on the first seed's splits; a resumed
  // benchmark keeps the ones it recorded.
  if (!bounds && req.seeds.length) {
    const first = resplit ? req.seeds[0] : null;
    bounds = computeBounds(await prepare(first), first);
  }
  // Started after the references: their cross-validation is no training epoch, and counted in the first one it made
  // the first ETA ten times the benchmark's time (684 s for a 19 s benchmark). Epochs past early stopping are
  // skipped, so the ETA is an upper bound.
  const bar = progress('benchmark', total * req.train.epochs, { quiet: req.quiet });
  // benchmark.json is written before the first run and after each one: an interrupted benchmark is a folder
  // that `report` renders as incomplete and `--resume` continues.
  const record = (complete: boolean): BenchmarkJson => {
    const result: BenchmarkJson = {
      dataset: datasetName,
      spec_path: req.specPath,
      seeds: req.seeds,
      config: { train: req.train, model: req.model },
      results: aggregate(scores, req.backbones, req.debias),
      runs,
      planned,
      complete,
      ...(req.command ? { resume_command: resumeCommand(req) } : {}),
      per_run: scores.map((s, i) => ({
        run: runs[i], backbone: s.backbone, debias: s.debias, seed: s.seed, test: s.test,
        ...(s.shift ? { shift: s.shift } : {}), ...(s.val ? { val: s.val } : {}), ...(s.gate !== undefined ? { gate: s.gate } : {}), ...(s.deconfound !== undefined ? { deconfound: s.deconfound } : {}),
      })),
      ...(bounds ? { bounds } : {}),
    };
    writeFileAtomic(join(req.out, 'benchmark.json'), JSON.stringify(result, null, 1) + '\n');
    return result;
  };
  record(false);
  try {
    for (const seed of req.seeds) {
      const splitSeed = resplit ? seed : null;
      for (const [backbone, debias] of combos) {
        const name = runName(backbone, debias, seed);
        const rel = join('runs', name);
        const dir = join(req.out, rel);
        const info = () => ({ runs: `${done}/${total}`, run: name });
        let score = req.resume && existsSync(dir) ? reusable(dir, req, backbone, debias, seed, splitSeed) : undefined;
        if (!score) {
          if (!ds || dsSeed !== splitSeed) await prepare(splitSeed);
          datasetName = ds!.name;
          const base = done * req.train.epochs;
          const outcome = await trainRun(ds!, { specPath: req.specPath, spec, splitSeed }, { backbone, debias, model: req.model, train: { ...req.train, seed } }, dir, {
            quiet: true,
            onEpoch: (e) => bar.update(base + e.epoch, { ...info(), epoch: e.epoch, val_auprc: e.val_auprc?.toFixed(3) ?? '-' }),
          });
          score = scoreOf(outcome.metrics as never, backbone, debias, seed, outcome.dir, outcome.manifest as never);
        }
        scores.push(score);
        runs.push(rel);
        done++;
        record(false);
        bar.update(done * req.train.epochs, info());
      }
    }
  } catch (e) {
    // A run that fails (bad data for one split seed, a full disk) keeps the finished ones: say how to go on. Not with
    // --overwrite: there the failure puts the folder that was replaced back (runBenchmark), the new runs go.
    if (e instanceof CdmmError && resume && done > 0 && !req.overwrite)
      throw new CdmmError(`${e.message}\n(${done} of ${total} runs finished and are kept in ${req.out}; once this is fixed, continue with: ${resume})`, e.exitCode);
    throw e;
  } finally {
    bar.stop();
  }
  if (!scores.length) throw new CdmmError('benchmark: nothing to run');
  return record(true);
}
