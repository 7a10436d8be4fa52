// Run folders (docs/RUN-FORMAT.md): writing one atomically with SHA256SUMS over its files, and loading one back
// as a ready model with its checks (checksums of manifest and weights, the whole manifest against its schema,
// versions, weights matching the described model), each failure a CdmmError naming the file. A run folder may
// come from elsewhere: see docs/SECURITY.md.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { checkJsonValues, jsonCap, MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, readBounded, readBoundedText, readJsonText } from '../util/files.js';
import { join, resolve } from 'node:path';
import { decodeSafetensors, encodeSafetensors, libtorchVersion, tidy, type Tensor } from '../engine/index.js';
import { createModel, type CdmmModel } from '../models/index.js';
import { minEncoderParameters } from '../models/size.js';
import type { ModelConfig, PatternDictionary } from '../models/types.js';
import { FITTED_FILE, type FittedIds } from './fitted.js';
import type { ModalityInfo } from '../data/types.js';
import { writeDirAtomic } from '../util/atomic.js';
import { replaceProblem } from '../util/outdir.js';
import { CdmmError } from '../util/errors.js';
import type { CalibrationRecord } from '../models/calibrator.js';
import { checkManifest, RUN_FORMAT, RUN_FORMAT_V1, RUN_FORMATS, versionProblems } from './run-schema.js';
import { cdmmVersion } from './version.js';

export { RUN_FORMAT } from './run-schema.js';
export const WEIGHTS_FILE = 'model.safetensors';
/** `sha256sum` format: one "<hex>  <file>" line per file of the run folder (`sha256sum -c SHA256SUMS` checks it). */
export const CHECKSUMS_FILE = 'SHA256SUMS';

export interface RunConfig {
  backbone: ModelConfig['backbone'];
  debias: ModelConfig['debias'];
  /** Model seed (initial weights, dropout, batch order). */
  seed: number;
  /** Seed of the patient split passed to prepareDataset; null = the spec's own. */
  split_seed: number | null;
  model: ModelConfig;
  /** The training options used (src/train/options.ts, every 'auto' resolved): a record of primitives. */
  train: object;
  /** The training options as asked ('auto' kept): what `benchmark --resume` compares. */
  train_requested?: object;
  /** Resolved weight of a positive patient in the loss. */
  pos_weight: number;
  best_epoch: number;
  stopped_early: boolean;
  /** What each training-time debiasing part decided (src/train/debias/): gate, do(M) rate, ... */
  debias_parts?: Record<string, Record<string, number | string | boolean | null>>;
}

export interface RunManifest {
  format: (typeof RUN_FORMATS)[number];
  cdmm_version: string;
  libtorch_version: string;
  created: string;
  dataset: string;
  /** The parsed spec object. */
  spec: unknown;
  /** Absolute path of the spec file at training time. */
  spec_path: string;
  config: RunConfig;
  modalities: ModalityInfo[];
  patterns: PatternDictionary;
  /** The data layer's fitted preprocessing state. */
  state: unknown;
  /** Per modality, the mean input features of training patients who have it (counterfactuals when serving). */
  typical?: Record<string, number[]>;
  /** Per time-series modality, each variable's share of training patients who have it (run/coverage.ts). */
  coverage?: Record<string, Record<string, number>>;
  /** The calibration of the served risk, fitted on validation (src/models/calibrator.ts); absent before cdmm-model/3. */
  calibration?: CalibrationRecord;
  weights: { file: string; sha256: string };
}

export interface LoadedRun {
  dir: string;
  manifest: RunManifest;
  /** The trained model, in eval mode. */
  model: CdmmModel;
  dict: PatternDictionary;
  /** The calibration every served risk goes through: the manifest's, or 'none' for a run older than cdmm-model/3. */
  calibration: CalibrationRecord;
  /** Loading went through, but the caller should say this (a version difference, an old format). */
  warnings: string[];
}

/** Everything of a run folder except the weights' checksum, which writeRun computes. */
export interface RunContents {
  manifest: Omit<RunManifest, 'weights' | 'format' | 'cdmm_version' | 'libtorch_version' | 'created'>;
  weights: Map<string, Tensor>;
  metrics: unknown;
  insights: unknown;
  predictions: unknown;
  history: unknown;
  /** The fitted patients' hashed ids (src/run/fitted.ts). */
  fitted?: FittedIds;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes a run folder atomically (a temporary sibling renamed into place); returns the manifest written. */
export async function writeRun(dir: string, c: RunContents, o: { mayReplace?: boolean } = {}): Promise<RunManifest> {
  const bytes = encodeSafetensors(c.weights, { format: RUN_FORMAT });
  const manifest: RunManifest = {
    format: RUN_FORMAT,
    cdmm_version: cdmmVersion(),
    libtorch_version: libtorchVersion(),
    created: new Date().toISOString(),
    ...c.manifest,
    weights: { file: WEIGHTS_FILE, sha256: sha256(bytes) },
  };
  // The checks of loading, before anything is written: a run folder that would not load is never written.
  const checked = checkManifest(JSON.parse(JSON.stringify(manifest)));
  if (!checked.ok) throw new CdmmError(`${join(dir, 'manifest.json')}: the run to be written does not pass its own checks: ${checked.problem}`);
  await writeDirAtomic(dir, (tmp) => {
    chmodSync(tmp, 0o755); // mkdtemp makes it private; a run folder is shared like any other output
    const files: [string, Uint8Array | string][] = [
      [WEIGHTS_FILE, bytes],
      ...(['manifest', 'metrics', 'insights', 'predictions', 'history'] as const).map((n): [string, string] => [`${n}.json`, JSON.stringify(n === 'manifest' ? manifest : c[n], null, 1) + '\n']),
      ...(c.fitted ? [[FITTED_FILE, JSON.stringify(c.fitted) + '\n'] as [string, string]] : []),
    ];
    for (const [name, data] of files) writeFileSync(join(tmp, name), data);
    writeFileSync(join(tmp, CHECKSUMS_FILE), files.map(([name, data]) => `${sha256(typeof data === 'string' ? Buffer.from(data) : data)}  ${name}\n`).join(''));
  }, { replaceable: (d) => replaceProblem(d, 'run'), mayReplace: o.mayReplace });
  return manifest;
}

/** SHA256SUMS of a run folder: file name → sha256; null when the file is absent. */
function readChecksums(dir: string): Map<string, string> | null {
  const path = join(dir, CHECKSUMS_FILE);
  if (!existsSync(path)) return null;
  const sums = new Map<string, string>();
  readBoundedText(path, 1 << 20).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^([0-9a-f]{64}) [ *]([^/\\]+)$/.exec(line);
    if (!m) throw new CdmmError(`${path}: line ${i + 1}: expected "<sha256>  <file name>"`);
    sums.set(m[2], m[1]);
  });
  return sums;
}

/** A file's bytes, checked against its SHA256SUMS line when there is one. */
function checkedBytes(dir: string, file: string, sums: Map<string, string> | null): Buffer {
  const path = join(dir, file);
  const bytes = readBounded(path, file.endsWith('.json') ? jsonCap(file) : MAX_JSON_BYTES);
  const want = sums?.get(file);
  if (sums && !want) throw new CdmmError(`${path}: not listed in ${join(dir, CHECKSUMS_FILE)}`);
  const got = sha256(bytes);
  if (want && got !== want)
    // The digest of what was read is not shown: the file may be a link to another one, whose digest would let a
    // reader of the message check a guess of its content.
    throw new CdmmError(`${path}: changed or damaged since it was written: its sha256 does not match ${CHECKSUMS_FILE}`);
  if (file.endsWith('.json')) checkJsonValues(bytes, path);
  return bytes;
}

/**
 * The files of a run folder for a reader that does not load the model (cdmm report, benchmark --resume): each one's
 * bytes, checked against SHA256SUMS (read once). A folder without SHA256SUMS is read only if its manifest is of the
 * first format, which had none.
 */
export function runFiles(dir: string): (file: string) => Buffer {
  const sums = readChecksums(dir);
  if (sums) return (file) => checkedBytes(dir, file, sums);
  let fmt: unknown;
  try {
    fmt = (JSON.parse(readJsonText(join(dir, 'manifest.json'))) as { format?: unknown })?.format;
  } catch {
    fmt = undefined;
  }
  if (fmt !== RUN_FORMAT_V1) throw new CdmmError(`${join(dir, CHECKSUMS_FILE)}: not found: a run folder lists the sha256 of each of its files there`);
  return (file) => (file.endsWith('.json') ? Buffer.from(readJsonText(join(dir, file)), 'utf8') : readBounded(join(dir, file), MAX_JSON_BYTES));
}

/** Reads and checks manifest.json of a run folder: its checksum, every field, and the versions it was written with. */
export function readManifest(dir: string): RunManifest {
  return readCheckedManifest(dir).manifest;
}

function readCheckedManifest(dir: string): { manifest: RunManifest; sums: Map<string, string> | null; warnings: string[] } {
  const path = join(dir, 'manifest.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CdmmError(`${dir}: run folder not found`);
  if (!existsSync(path)) throw new CdmmError(`${path}: not found (is ${dir} a cdmm run folder?)`);
  const sums = readChecksums(dir);
  const bytes = checkedBytes(dir, 'manifest.json', sums);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    // The parser's message quotes the text: not for a file that may be a link to something else.
    throw new CdmmError(`${path}: damaged manifest: not valid JSON${jsonPosition(e)}`);
  }
  const fmt = (raw as { format?: unknown } | null)?.format;
  if (!(RUN_FORMATS as readonly unknown[]).includes(fmt))
    throw new CdmmError(`${path}: format ${JSON.stringify(fmt)} is not supported (expected "${RUN_FORMAT}")`);
  const warnings: string[] = [];
  if (!sums && fmt !== RUN_FORMAT_V1) throw new CdmmError(`${join(dir, CHECKSUMS_FILE)}: not found: a ${String(fmt)} run folder lists the sha256 of each of its files there`);
  if (!sums) warnings.push(`${path}: format ${RUN_FORMAT_V1} has no ${CHECKSUMS_FILE}, so edits to the manifest cannot be detected; retrain to write ${RUN_FORMAT}`);
  if (fmt !== RUN_FORMAT) warnings.push(`${path}: format ${String(fmt)} holds no calibration: its risks are served uncalibrated (the model's own p_do); retrain the run to calibrate them`);
  const r = checkManifest(raw);
  if (!r.ok) throw new CdmmError(`${path}: damaged manifest: ${r.problem}`);
  // Before cdmm-model/3 a debiased model was the v1 method (its causal path read the mask, its dual branch shared
  // the encoder): those weights do not fit today's model. Plain models are unchanged.
  if (fmt !== RUN_FORMAT && r.manifest.config.debias !== 'none')
    throw new CdmmError(`${path}: format ${String(fmt)} holds a '${r.manifest.config.debias}' model of the v1 debiasing method, which this cdmm no longer builds; retrain the run`);
  const v = versionProblems(r.manifest, { cdmm: cdmmVersion(), libtorch: libtorchVersion() });
  if (v.error) throw new CdmmError(`${path}: ${v.error}`);
  warnings.push(...v.warnings.map((w) => `${path}: ${w}`));
  return { manifest: r.manifest as unknown as RunManifest, sums, warnings };
}

/**
 * Loads a run folder: checks manifest.json (format, fields), the weights' sha256 and that the weights fit the
 * model the manifest describes; returns the model in eval mode with its pattern dictionary.
 */
export function loadRun(dirIn: string): LoadedRun {
  const dir = resolve(dirIn);
  const { manifest, sums, warnings } = readCheckedManifest(dir);
  const wpath = join(dir, manifest.weights.file);
  if (!existsSync(wpath) || !readdirSync(dir).includes(manifest.weights.file)) throw new CdmmError(`${wpath}: weights file not found`);
  const bytes = readBounded(wpath, MAX_WEIGHTS_BYTES);
  const digest = sha256(bytes);
  if (digest !== manifest.weights.sha256)
    throw new CdmmError(`${wpath}: damaged weights: its sha256 does not match the manifest's`);
  if (sums && sums.get(manifest.weights.file) !== digest) throw new CdmmError(`${wpath}: sha256 does not match ${join(dir, CHECKSUMS_FILE)}`);
  let tensors: Map<string, Tensor>;
  try {
    // A plain Uint8Array copy: decodeSafetensors slices its input, and Buffer.slice would give views of a pooled buffer.
    tensors = decodeSafetensors(new Uint8Array(bytes), wpath).tensors;
  } catch (e) {
    throw new CdmmError((e as Error).message);
  }
  // Before the model is built: the manifest's model must not need more parameters than the weights file holds.
  const held = [...tensors.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const needed = minEncoderParameters(manifest.modalities, manifest.config.model);
  if (!(needed <= held)) {
    tensors.forEach((t) => t.dispose());
    throw new CdmmError(`${wpath}: the weights do not fit the model described in manifest.json: it needs at least ${needed.toExponential(2)} parameters, the file holds ${held.toLocaleString('en-US')} values`);
  }
  const dict: PatternDictionary = { masks: manifest.patterns.masks, prior: manifest.patterns.prior };
  let model: CdmmModel;
  try {
    model = createModel(manifest.modalities, dict, manifest.config.model);
  } catch (e) {
    tensors.forEach((t) => t.dispose());
    if (e instanceof CdmmError) throw new CdmmError(`${join(dir, 'manifest.json')}: ${e.message}`);
    throw new CdmmError(`${join(dir, 'manifest.json')}: cannot build the model it describes: ${(e as Error).message}`);
  }
  try {
    // Weights that hold NaN or Inf load and give NaN risks: refused here, with the tensor named.
    // libtorch's own isfinite, not a copy of every tensor into JavaScript.
    for (const [name, t] of tensors)
      if (tidy(() => t.isfinite().all().item()) !== 1) throw new CdmmError(`damaged weights: tensor ${JSON.stringify(name)} holds a non-finite value`);
    // Buffers the model derives from the manifest (the pattern prior of the back-door sum, its log) are stored in
    // the weights too: they must be the manifest's (an edited prior of 10s served risks of 14.8).
    const derived = new Map(model.namedBuffers().filter(([n]) => /(^|\.)(log_)?prior$/.test(n)).map(([n, t]) => [n, t.toFloat32Array()]));
    model.loadStateDict(tensors);
    for (const [name, t] of model.namedBuffers()) {
      const want = derived.get(name);
      if (!want) continue;
      const got = t.toFloat32Array();
      if (got.length !== want.length || got.some((x, i) => !(Math.abs(x - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])))))
        throw new CdmmError(`damaged weights: tensor ${JSON.stringify(name)} differs from the pattern prior in manifest.json`);
    }
  } catch (e) {
    if (e instanceof CdmmError && e.message.startsWith('damaged weights')) {
      model.dispose();
      throw new CdmmError(`${wpath}: ${e.message}`);
    }
    model.dispose();
    throw new CdmmError(`${wpath}: the weights do not fit the model described in manifest.json: ${(e as Error).message}`);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
  model.eval();
  return { dir, manifest, model, dict, calibration: manifest.calibration ?? { method: 'none' }, warnings };
}

/** " at position N" from a JSON.parse error, without the text it quotes. */
export function jsonPosition(e: unknown): string {
  const m = /position (\d+)/.exec((e as Error)?.message ?? '');
  return m ? ` (at byte ${m[1]})` : /end of JSON|Unexpected end/.test((e as Error)?.message ?? '') ? ' (it ends early)' : '';
}
