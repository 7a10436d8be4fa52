import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { z } from 'zod';
import { jsonPosition, runFiles } from '../run/run-io.js';
import { CdmmError } from '../util/errors.js';
import { readJsonText } from '../util/files.js';

/** Reading and validating the run-folder and benchmark-folder files of docs/RUN-FORMAT.md. */

const num = z.number();
const ci = z.tuple([num.nullable(), num.nullable()]);
export const MetricSetSchema = z.object({
  n: num,
  prevalence: num,
  auroc: num.nullable(),
  auroc_ci: ci,
  auprc: num.nullable(),
  auprc_ci: ci,
  brier: num,
  brier_ci: ci,
  ece: num,
  ece_ci: ci,
  /** ECE of the model's own p_do before the run's calibration (cdmm-model/3 runs). */
  ece_raw: num.optional(),
});
/** A missingness pattern: one 0/1 per modality, at most 64 (the dictionary's size, and the masks' width). */
const maskString = z.string().regex(/^[01]{1,64}$/, 'expected a mask of 0s and 1s');
const PatternMetricsSchema = z.object({
  mask: maskString,
  n: num,
  prevalence: num,
  auroc: num.nullable(),
  auprc: num.nullable(),
  brier: num,
  mean_p: num,
});
const ManifestSchema = z
  .object({
    format: z.string().startsWith('cdmm-model/'),
    cdmm_version: z.string().optional(),
    libtorch_version: z.string().optional(),
    created: z.string().optional(),
    spec_path: z.string().optional(),
    config: z.record(z.unknown()).default({}),
    // (each name is a column of the pattern chart: an edited manifest of 1,000 overflowed its sort expression)
    modalities: z.array(z.object({ name: z.string() }).passthrough()).max(64).default([]),
  })
  .passthrough();
const ScoreMetricsSchema = z.object({ auroc: num.nullable(), auroc_ci: ci, auprc: num.nullable(), auprc_ci: ci, brier: num.nullable(), ece: num.nullable(), ece_ci: ci });
const ReferenceMetricsSchema = z.object({
  name: z.string(),
  n: num,
  covered: num,
  probability: z.boolean(),
  reference: ScoreMetricsSchema,
  model: ScoreMetricsSchema,
  delong: z.object({ diff: num, p: num }).nullable(),
});
const RunMetricsSchema = z.object({
  dataset: z.string(),
  backbone: z.string(),
  debias: z.string(),
  seed: z.union([num, z.string()]),
  splits: z.object({ val: MetricSetSchema, test: MetricSetSchema, shift: MetricSetSchema.optional() }),
  per_pattern: z
    .object({ test: z.array(PatternMetricsSchema), shift: z.array(PatternMetricsSchema).optional() })
    .partial()
    .default({}),
  reference: z.record(ReferenceMetricsSchema).optional(),
});
const InsightsSchema = z.object({
  marginal: num,
  // One row per dictionary pattern: at most 64 (its charts' sort order is one generated expression, which
  // overflowed vega's stack at 1,000 rows of an edited file).
  patterns: z.array(
    z.object({
      mask: maskString,
      count: num,
      label_rate: num,
      model_effect: num,
      observed_effect: num,
      spurious_accuracy: num.nullable().optional(),
    }),
  ).max(64),
});
const SplitPredictionsSchema = z
  .object({
    ids: z.array(z.union([z.string(), num])).optional(),
    y: z.array(num),
    p: z.array(num),
    p_factual: z.array(num).optional(),
    /** The model's own p_do before calibration (cdmm-model/3 runs); p is the served, calibrated risk. */
    p_raw: z.array(num).optional(),
    mask: z.array(maskString).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.p.length !== s.y.length) ctx.addIssue({ code: 'custom', message: `p has ${s.p.length} entries but y has ${s.y.length}` });
    if (s.mask && s.mask.length !== s.y.length) ctx.addIssue({ code: 'custom', message: `mask has ${s.mask.length} entries but y has ${s.y.length}` });
    const badY = s.y.findIndex((v) => v !== 0 && v !== 1);
    if (badY >= 0) ctx.addIssue({ code: 'custom', path: ['y', badY], message: `label ${s.y[badY]} is not 0 or 1` });
    const badP = s.p.findIndex((v) => !(v >= 0 && v <= 1));
    if (badP >= 0) ctx.addIssue({ code: 'custom', path: ['p', badP], message: `prediction ${s.p[badP]} is not in [0, 1]` });
    if (s.p_raw) {
      if (s.p_raw.length !== s.y.length) ctx.addIssue({ code: 'custom', message: `p_raw has ${s.p_raw.length} entries but y has ${s.y.length}` });
      const badR = s.p_raw.findIndex((v) => !(v >= 0 && v <= 1));
      if (badR >= 0) ctx.addIssue({ code: 'custom', path: ['p_raw', badR], message: `prediction ${s.p_raw[badR]} is not in [0, 1]` });
    }
  });
const PredictionsSchema = z.record(SplitPredictionsSchema);
const HistorySchema = z.array(
  z
    .object({
      epoch: num,
      train_loss: num.nullable(),
      val_auroc: num.nullable().optional(),
      val_auprc: num.nullable().optional(),
      lr: num.nullable().optional(),
      seconds: num.nullable().optional(),
    })
    .passthrough(),
);
const SummarySchema = z.object({ auroc_mean: num, auroc_std: num, auprc_mean: num, auprc_std: num, ece_mean: num.nullable().optional(), ece_std: num.nullable().optional() });
const ReferenceSummarySchema = z
  .object({
    name: z.string(), auroc_mean: num, auroc_std: num, auprc_mean: num, auprc_std: num, ece_mean: num.nullable(), ece_std: num.nullable(),
    covered_mean: num, coverage_mean: num, model_auroc_mean: num, model_auroc_std: num, model_auprc_mean: num, model_auprc_std: num,
    delta_auroc_mean: num, delta_auroc_std: num,
  });
/** A split's summary with the reference score on the same patients (src/eval/reference.ts), when the spec has one. */
const SplitSummarySchema = SummarySchema.extend({ reference: ReferenceSummarySchema.optional() }).passthrough();
const DeltaSchema = z.object({ auroc_mean: num, auroc_std: num }).passthrough();
const BenchmarkSchema = z.object({
  dataset: z.string(),
  results: z.array(
    z.object({
      backbone: z.string(),
      debias: z.string(),
      seeds: z.union([z.array(num), num]),
      test: SplitSummarySchema,
      shift: SplitSummarySchema.optional(),
      val: z.object({ auroc_mean: num, auroc_pb_mean: num.nullable() }).optional(),
      gate_on: num.optional(),
      deconfound_on: num.optional(),
      delta_vs_plain: z.object({ test: DeltaSchema, shift: DeltaSchema.optional() }).optional(),
    }),
  ),
  runs: z.array(z.string()),
  /** The references next to the table (cdmm benchmark prints them): the oracle, the in-distribution ceiling, the shift split. */
  bounds: z
    .object({
      oracle: z.object({ test: num.nullable().optional(), shift: num.nullable().optional() }).passthrough().nullable().optional(),
      ceiling_shift: num.nullable().optional(),
      ceiling_model: z.string().max(400).optional(),
      shift_n: num.optional(),
      shift_positives: num.optional(),
    })
    .passthrough()
    .nullable()
    .optional(),
  /** Written by benchmarks since the folder is recorded as it goes: false while runs are missing. */
  planned: z.array(z.string()).optional(),
  complete: z.boolean().optional(),
  resume_command: z.string().optional(),
});

export type MetricSetJson = z.infer<typeof MetricSetSchema>;
export type PatternMetricsJson = z.infer<typeof PatternMetricsSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
export type RunMetrics = z.infer<typeof RunMetricsSchema>;
export type Insights = z.infer<typeof InsightsSchema>;
export type SplitPredictions = z.infer<typeof SplitPredictionsSchema>;
export type Predictions = z.infer<typeof PredictionsSchema>;
export type History = z.infer<typeof HistorySchema>;
export type Benchmark = z.infer<typeof BenchmarkSchema>;
export type BenchmarkResult = Benchmark['results'][number];
export type ReferenceMetricsJson = z.infer<typeof ReferenceMetricsSchema>;

export interface RunData {
  dir: string;
  manifest: Manifest;
  metrics: RunMetrics;
  insights?: Insights;
  predictions?: Predictions;
  history?: History;
}

export interface BenchmarkData {
  dir: string;
  benchmark: Benchmark;
  runs: RunData[];
  /** Created time of benchmark.json (the folder format has no timestamp of its own). */
  created: string;
}

/** Parses one JSON file against a schema; any failure names the file and the offending field. */
function readJson<T>(path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, read?: (file: string) => Buffer): T {
  // A run's files are checked against its SHA256SUMS (an edited metrics.json is refused, not rendered).
  const text = read ? read(basename(path)).toString('utf8') : readJsonText(path);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CdmmError(`cannot read ${path}: not valid JSON${jsonPosition(e)}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new CdmmError(`${path} is damaged: at ${where}: ${issue.message}`);
  }
  return r.data;
}

/** history.json holds a line per epoch (about 150 bytes): a tampered one of 65 MB took the report 53 s and 3.3 GB. */
const MAX_HISTORY_BYTES = 16 * 1024 * 1024;

function readOptional<T>(path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, read?: (file: string) => Buffer, maxBytes?: number): T | undefined {
  if (!existsSync(path)) return undefined;
  if (maxBytes !== undefined && statSync(path).size > maxBytes)
    throw new CdmmError(`${path} is ${(statSync(path).size / 2 ** 20).toFixed(0)} MB, more than a run writes there (at most ${maxBytes / 2 ** 20} MB): not a run folder as cdmm writes it`);
  return readJson(path, schema, read);
}

export const isRunDir = (dir: string) => existsSync(join(dir, 'manifest.json'));
export const isBenchmarkDir = (dir: string) => existsSync(join(dir, 'benchmark.json'));

/**
 * Reads a run folder. `predictions: false` defers predictions.json (the largest file) so a benchmark with many
 * runs does not hold every run's predictions; `withPredictions` reads it when needed.
 */
export function loadRun(dir: string, opts: { predictions?: boolean } = {}): RunData {
  for (const f of ['manifest.json', 'metrics.json'])
    if (!existsSync(join(dir, f))) throw new CdmmError(`${dir} is not a complete run folder: ${f} is missing`);
  const read = runFiles(dir);
  return {
    dir,
    manifest: readJson(join(dir, 'manifest.json'), ManifestSchema, read),
    metrics: readJson(join(dir, 'metrics.json'), RunMetricsSchema, read),
    insights: readOptional(join(dir, 'insights.json'), InsightsSchema, read),
    predictions: opts.predictions === false ? undefined : readOptional(join(dir, 'predictions.json'), PredictionsSchema, read),
    history: readOptional(join(dir, 'history.json'), HistorySchema, read, MAX_HISTORY_BYTES),
  };
}

export function loadBenchmark(dir: string): BenchmarkData {
  const file = join(dir, 'benchmark.json');
  const benchmark = readJson(file, BenchmarkSchema);
  // Each run once, and no more than planned: a list repeating one run thousands of times had the report load it
  // each time (6,000 entries: 6 s and 490 MB for "6000 of 2 runs").
  const twice = benchmark.runs.find((r, i) => benchmark.runs.indexOf(r) !== i);
  if (twice !== undefined) throw new CdmmError(`${file} lists run folder ${JSON.stringify(twice)} more than once: not a benchmark.json as cdmm writes it`);
  if (benchmark.planned && benchmark.runs.length > benchmark.planned.length)
    throw new CdmmError(`${file} lists ${benchmark.runs.length} run folders but plans ${benchmark.planned.length}: not a benchmark.json as cdmm writes it`);
  const runs = benchmark.runs.map((r) => {
    // benchmark.json is untrusted: its runs are folders of runs/ in this benchmark folder (as benchmark writes
    // them), never a path elsewhere ('../..', a link out of the folder).
    if (!/^runs\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(r))
      throw new CdmmError(`${file} lists run folder ${JSON.stringify(r)}: expected runs/NAME, a folder in this benchmark folder`);
    const runDir = join(dir, r);
    if (!existsSync(runDir)) throw new CdmmError(`${file} lists run folder ${r}, which does not exist`);
    const root = realpathSync(dir);
    if (!realpathSync(runDir).startsWith(root + sep))
      throw new CdmmError(`${file} lists run folder ${r}, a link out of the benchmark folder: refused`);
    return loadRun(runDir, { predictions: false });
  });
  return { dir, benchmark, runs, created: statSync(file).mtime.toISOString() };
}

/** The run with its predictions.json read (a no-op when already read or absent). */
export function withPredictions(run: RunData): RunData {
  if (run.predictions) return run;
  return { ...run, predictions: readOptional(join(run.dir, 'predictions.json'), PredictionsSchema, runFiles(run.dir)) };
}

export type Loaded = { kind: 'run'; run: RunData } | { kind: 'benchmark'; bench: BenchmarkData };

export function loadInput(dir: string): Loaded {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CdmmError(`${dir} is not a folder`);
  if (isBenchmarkDir(dir)) return { kind: 'benchmark', bench: loadBenchmark(dir) };
  if (isRunDir(dir)) return { kind: 'run', run: loadRun(dir) };
  if (existsSync(join(dir, 'runs')))
    throw new CdmmError(
      `${dir} looks like an interrupted benchmark (run folders under runs/ but no benchmark.json yet): finish it with ` +
        '`cdmm benchmark SPEC --out ' + dir + ' --resume` and the options it was started with, or report one run with `cdmm report ' + join(dir, 'runs', 'NAME') + ' --out FILE`',
    );
  throw new CdmmError(`${dir} is neither a run folder (no manifest.json) nor a benchmark folder (no benchmark.json)`);
}
