// manifest.json as untrusted input (docs/RUN-FORMAT.md, docs/SECURITY.md): one zod schema for all of it, the
// cross-checks between its parts, and the version policy. A run folder from elsewhere reaches DuckDB (the spec's
// SQL, the column types), the file system (spec_path) and the engine (model sizes), so nothing of it is used
// unchecked. Used by writeRun too, so that a run folder that would not load is never written. Unknown fields are
// dropped (RUN-FORMAT.md: readers ignore them), so nothing unchecked is passed on.
import { z } from 'zod';
import { fittedStateProblem, dataStateSchema } from '../data/state.js';
import { formatPath, specSchema, type Spec } from '../data/spec.js';
import type { DataState } from '../data/build.js';
import type { ModalityInfo } from '../data/types.js';
import { CALIBRATION_METHODS, MAX_ISOTONIC_POINTS, MIN_SLOPE } from '../models/calibrator.js';
import { builtDebias } from '../models/types.js';

export const RUN_FORMAT = 'cdmm-model/3';
/** Written before runs held a calibration of the served risk: still read, served uncalibrated, with a warning. */
export const RUN_FORMAT_V2 = 'cdmm-model/2';
/** Written before manifests were covered by SHA256SUMS: still read, with a warning. */
export const RUN_FORMAT_V1 = 'cdmm-model/1';
export const RUN_FORMATS = [RUN_FORMAT, RUN_FORMAT_V2, RUN_FORMAT_V1] as const;

const label = z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$/, 'must not contain control or bidirectional-override characters');
const finite = z.number().finite();
/** A value the model receives as float32 as it is (typical values): beyond ±3.4e38 it would be Infinity there. */
const float32 = finite.refine((x) => Math.abs(x) <= 3.4028234663852886e38, { message: 'beyond the float32 range the model computes in' });
/** Widths the engine allocates: bounded, so that a manifest cannot ask for terabytes before the weights are checked. */
const width = z.number().int().min(1).max(8192);
const primitive = z.union([z.string().max(1000), finite, z.boolean(), z.null()]);

const modelConfigSchema = z
  .object({
    backbone: z.enum(['lr', 'early', 'late', 'transformer', 'm3care', 'muse']),
    debias: z.enum(['none', 'deconfound', 'dual', 'full']),
    dim: width,
    branchDim: width,
    dropout: finite.min(0).max(1),
    seriesEncoder: z.enum(['gru', 'tcn']),
    adjustment: z.enum(['exact', 'nwgm']),
    decorrelation: z.enum(['hsic', 'club']),
    seriesHidden: width.optional(),
    headHidden: width.optional(),
    fusionHeads: z.number().int().min(1).max(64).optional(),
    fusionFf: width.optional(),
  })
  // Loss weights and newer options: plain values only (they set no size).
  .catchall(primitive);

const modalitySchema = z
  .object({
    name: label,
    type: z.enum(['tabular', 'timeseries', 'codes', 'text', 'embedding']),
    // 0 is a width too: a time-series modality whose table is empty in training has no variables (a warning then).
    shape: z.array(z.number().int().min(0).max(1 << 20)).min(1).max(2),
    features: z.array(z.string().max(1000)),
    variables: z.number().int().min(0).optional(),
  })
  ;

/** The calibration map of the served risk (src/models/calibrator.ts): bounded, finite, monotone increasing. */
const probability = finite.min(0).max(1);
export const calibrationSchema = z
  .discriminatedUnion('method', [
    z.object({ method: z.literal('platt'), a: finite.gt(MIN_SLOPE).max(1000), b: finite.min(-1000).max(1000) }).strict(),
    z.object({ method: z.literal('temperature'), t: finite.gt(0).lt(1 / MIN_SLOPE) }).strict(),
    z.object({ method: z.literal('isotonic'), x: z.array(probability).min(1).max(MAX_ISOTONIC_POINTS), y: z.array(probability).min(1).max(MAX_ISOTONIC_POINTS) }).strict(),
    z
      .object({
        method: z.literal('none'),
        requested: z.enum(CALIBRATION_METHODS as [string, ...string[]]).optional(),
        fallback: z.string().max(200).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters').optional(),
      })
      .strict(),
  ])
  .superRefine((c, ctx) => {
    if (c.method !== 'isotonic') return;
    if (c.x.length !== c.y.length) return void ctx.addIssue({ code: 'custom', message: `${c.x.length} x values but ${c.y.length} y values` });
    for (let i = 1; i < c.x.length; i++) {
      if (!(c.x[i] > c.x[i - 1])) return void ctx.addIssue({ code: 'custom', path: ['x', i], message: 'x must be strictly increasing' });
      if (!(c.y[i] >= c.y[i - 1])) return void ctx.addIssue({ code: 'custom', path: ['y', i], message: 'y must not decrease (the map would reverse the ranking)' });
    }
  });

export const manifestSchema = z
  .object({
    format: z.enum(RUN_FORMATS),
    cdmm_version: z.string().max(100),
    libtorch_version: z.string().max(100),
    created: z.string().max(100),
    dataset: z.string().max(1000).regex(/^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$/, 'must not contain control or bidirectional-override characters'),
    spec: z.unknown(),
    spec_path: z.string().min(1).max(4096),
    config: z
      .object({
        backbone: z.string(),
        debias: z.enum(['none', 'deconfound', 'dual', 'full']),
        seed: z.number().int(),
        split_seed: z.number().int().nullable(),
        model: modelConfigSchema,
        train: z.record(primitive),
        train_requested: z.record(primitive).optional(),
        pos_weight: finite,
        best_epoch: z.number().int().min(0),
        stopped_early: z.boolean(),
        /** What each training-time debiasing part decided (gate, do(M) rate): small records of plain values. */
        debias_parts: z.record(z.string().max(64), z.record(z.string().max(64), primitive)).optional(),
      })
      ,
    modalities: z.array(modalitySchema).min(1).max(64),
    patterns: z
      .object({
        // (the pattern dictionary holds at most 64: buildPatternDictionary's maxSize)
        masks: z.array(z.string().regex(/^[01]+$/, 'expected a mask of 0s and 1s')).min(1).max(64),
        prior: z.array(finite.min(0)),
        counts: z.array(z.number().int().min(0)).optional(),
      })
      ,
    state: dataStateSchema,
    typical: z.record(label, z.array(float32)).optional(),
    /** Per time-series modality, each variable's share of training patients with it (absentVariableWarnings). */
    coverage: z.record(label, z.record(z.string().max(1000), z.number().min(0).max(1))).optional(),
    calibration: calibrationSchema.optional(),
    weights: z.object({ file: z.string().min(1).max(255), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  })
  ;

export type ParsedManifest = z.infer<typeof manifestSchema> & { spec: Spec; state: DataState };

/** A field path for a message; a key with control characters is shown quoted, so it cannot forge a line. */
const shownPath = (path: (string | number)[]) => formatPath(path.map((p) => (typeof p === 'string' && /[\u0000-\u001f\u007f]/.test(p) ? JSON.stringify(p) : p)));

/** The manifest fully checked, or the first problem as "field.path: message". */
export function checkManifest(raw: unknown): { ok: true; manifest: ParsedManifest } | { ok: false; problem: string } {
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const iss = r.error.issues[0];
    return { ok: false, problem: `${shownPath(iss.path)}: ${iss.message}` };
  }
  // The spec goes through the data layer's own schema: its SQL-bearing parts (filters, windows, names) are
  // checked as they are for a spec file.
  const spec = specSchema.safeParse(r.data.spec);
  if (!spec.success) {
    const iss = spec.error.issues[0];
    return { ok: false, problem: `${shownPath(['spec', ...iss.path])}: ${iss.message}` };
  }
  const m = { ...r.data, spec: spec.data, state: r.data.state as DataState } as ParsedManifest;
  const problem = crossProblem(m);
  return problem ? { ok: false, problem } : { ok: true, manifest: m };
}

/** What the schema cannot see: the parts must describe the same model. */
function crossProblem(m: ParsedManifest): string | null {
  const K = m.modalities.length;
  const c = m.config;
  const names = Object.keys(m.spec.modalities);
  if (m.modalities.map((x) => x.name).join('\0') !== names.join('\0')) return `modalities: ${JSON.stringify(m.modalities.map((x) => x.name))} differ from the spec's ${JSON.stringify(names)}`;
  // config.debias is what was asked; the model lacks the parts whose gates found nothing (builtDebias).
  const off = { deconfound: c.debias_parts?.deconfound?.on === false, dual: c.debias_parts?.dual?.on === false };
  const built = builtDebias(c.debias, off);
  // Runs trained before 2026-12-07 left only the deconfounder out ('full' → 'dual' even with the dual gate off).
  const before = off.deconfound && c.debias === 'full' ? 'dual' : off.deconfound && c.debias === 'deconfound' ? 'none' : c.debias;
  if (c.backbone !== c.model.backbone || ![c.debias, built, before].includes(c.model.debias as typeof built)) return 'config: backbone/debias differ from config.model';
  if (m.patterns.prior.length !== m.patterns.masks.length || m.patterns.masks.some((s) => s.length !== K))
    return `patterns: do not match the ${K} modalities (one 0/1 character per modality, one prior per mask)`;
  if (new Set(m.patterns.masks).size !== m.patterns.masks.length) return 'patterns.masks: masks must be unique';
  if (m.patterns.counts && m.patterns.counts.length !== m.patterns.masks.length) return 'patterns.counts: one count per mask';
  const total = m.patterns.prior.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-3) return `patterns.prior: sums to ${total}, expected 1`;
  for (const [k, mod] of m.modalities.entries()) {
    const channels = mod.shape[mod.shape.length - 1];
    if (mod.features.length !== channels) return `modalities[${k}].features: ${mod.features.length} names for ${channels} features`;
    if ((mod.type === 'timeseries') !== (mod.shape.length === 2)) return `modalities[${k}].shape: ${mod.type} expects ${mod.type === 'timeseries' ? '[T, C]' : '[D]'}`;
    if (mod.type === 'timeseries' && mod.variables !== undefined && 3 * mod.variables !== channels) return `modalities[${k}].variables: ${mod.variables} variables need ${3 * mod.variables} channels`;
  }
  // Without them, serving would rebuild them from the spec file at spec_path: a path from elsewhere. Format 2
  // always carries them; only old runs rebuild.
  if (m.format !== RUN_FORMAT_V1 && !m.typical) return `typical: missing (a ${m.format} manifest holds each modality's typical values)`;
  // Format 3 always says how its served risk is calibrated (possibly 'none'); older formats never held one.
  if (m.format === RUN_FORMAT && !m.calibration) return `calibration: missing (a ${RUN_FORMAT} manifest records the calibration of its served risk, 'none' included)`;
  if (m.format !== RUN_FORMAT && m.calibration) return `calibration: a ${m.format} manifest has no calibration (it was added in ${RUN_FORMAT})`;
  if (m.typical) {
    for (const [name, v] of Object.entries(m.typical)) {
      const mod = m.modalities.find((x) => x.name === name);
      if (!mod) return `typical.${name}: not a modality of the run`;
      const D = mod.shape.reduce((a, b) => a * b, 1);
      if (v.length !== D) return `typical.${name}: ${v.length} values for ${D} features`;
    }
  }
  const w = m.weights.file;
  if (w.includes('/') || w.includes('\\') || w.startsWith('.')) return `weights.file: must be a plain file name in the run folder, got ${JSON.stringify(w)}`;
  return fittedStateProblem(m.spec, m.state, m.modalities as ModalityInfo[]);
}

const major = (v: string) => /^(\d+)\./.exec(v)?.[1];

/**
 * The README's promise: a run written by another major version of cdmm or libtorch is refused; any other
 * difference is a warning. Returns the error, or the warnings (possibly none).
 */
export function versionProblems(m: { cdmm_version: string; libtorch_version: string }, now: { cdmm: string; libtorch: string }): { error?: string; warnings: string[] } {
  const warnings: string[] = [];
  for (const [what, field, was, is] of [['cdmm', 'cdmm_version', m.cdmm_version, now.cdmm], ['libtorch', 'libtorch_version', m.libtorch_version, now.libtorch]] as const) {
    if (was === is) continue;
    const a = major(was), b = major(is);
    if (a !== undefined && b !== undefined && a !== b)
      return { error: `${field}: written with ${what} ${was}, this is ${what} ${is}: a different major version cannot read it (use ${what} ${a}.x, or retrain)`, warnings };
    warnings.push(`written with ${what} ${was || '(unknown)'}, this is ${what} ${is}: predictions may differ slightly`);
  }
  return { warnings };
}
