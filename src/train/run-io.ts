// Run folders (docs/RUN-FORMAT.md): writing one atomically, and loading one back as a ready model with its
// checks (format, weights' sha256, weights matching the described model), each failure a CdmmError naming
// the file.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { decodeSafetensors, encodeSafetensors, libtorchVersion, type Tensor } from '../engine/index.js';
import { createModel, type CdmmModel } from '../models/index.js';
import type { ModelConfig, PatternDictionary } from '../models/types.js';
import type { ModalityInfo } from '../data/types.js';
import { writeDirAtomic } from '../util/atomic.js';
import { CdmmError } from '../util/errors.js';
import type { TrainOptions } from './options.js';
import { cdmmVersion } from './version.js';

export const RUN_FORMAT = 'cdmm-model/1';
export const WEIGHTS_FILE = 'model.safetensors';

export interface RunConfig {
  backbone: ModelConfig['backbone'];
  debias: ModelConfig['debias'];
  /** Model seed (initial weights, dropout, batch order). */
  seed: number;
  /** Seed of the patient split passed to prepareDataset; null = the spec's own. */
  split_seed: number | null;
  model: ModelConfig;
  train: TrainOptions;
  /** Resolved weight of a positive patient in the loss. */
  pos_weight: number;
  best_epoch: number;
  stopped_early: boolean;
}

export interface RunManifest {
  format: typeof RUN_FORMAT;
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
  weights: { file: string; sha256: string };
}

export interface LoadedRun {
  dir: string;
  manifest: RunManifest;
  /** The trained model, in eval mode. */
  model: CdmmModel;
  dict: PatternDictionary;
}

/** Everything of a run folder except the weights' checksum, which writeRun computes. */
export interface RunContents {
  manifest: Omit<RunManifest, 'weights' | 'format' | 'cdmm_version' | 'libtorch_version' | 'created'>;
  weights: Map<string, Tensor>;
  metrics: unknown;
  insights: unknown;
  predictions: unknown;
  history: unknown;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes a run folder atomically (a temporary sibling renamed into place); returns the manifest written. */
export async function writeRun(dir: string, c: RunContents): Promise<RunManifest> {
  const bytes = encodeSafetensors(c.weights, { format: RUN_FORMAT });
  const manifest: RunManifest = {
    format: RUN_FORMAT,
    cdmm_version: cdmmVersion(),
    libtorch_version: libtorchVersion(),
    created: new Date().toISOString(),
    ...c.manifest,
    weights: { file: WEIGHTS_FILE, sha256: sha256(bytes) },
  };
  await writeDirAtomic(dir, (tmp) => {
    chmodSync(tmp, 0o755); // mkdtemp makes it private; a run folder is shared like any other output
    writeFileSync(join(tmp, WEIGHTS_FILE), bytes);
    const json = (name: string, v: unknown) => writeFileSync(join(tmp, name), JSON.stringify(v, null, 1) + '\n');
    json('manifest.json', manifest);
    json('metrics.json', c.metrics);
    json('insights.json', c.insights);
    json('predictions.json', c.predictions);
    json('history.json', c.history);
  });
  return manifest;
}

const modalitySchema = z
  .object({
    name: z.string(),
    type: z.enum(['tabular', 'timeseries', 'codes', 'text', 'embedding']),
    shape: z.array(z.number().int().positive()),
    features: z.array(z.string()),
    variables: z.number().int().optional(),
  })
  .passthrough();

const manifestSchema = z
  .object({
    format: z.string(),
    cdmm_version: z.string(),
    libtorch_version: z.string(),
    created: z.string(),
    dataset: z.string(),
    spec: z.record(z.unknown()),
    spec_path: z.string(),
    config: z
      .object({
        backbone: z.string(),
        debias: z.string(),
        seed: z.number().int(),
        split_seed: z.number().int().nullable(),
        model: z.record(z.unknown()),
        train: z.record(z.unknown()),
        pos_weight: z.number(),
        best_epoch: z.number().int(),
        stopped_early: z.boolean(),
      })
      .passthrough(),
    modalities: z.array(modalitySchema).min(1),
    patterns: z.object({ masks: z.array(z.string().regex(/^[01]+$/)).min(1), prior: z.array(z.number().min(0)) }),
    state: z.unknown(),
    weights: z.object({ file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  })
  .passthrough();

/** Reads and checks manifest.json of a run folder. */
export function readManifest(dir: string): RunManifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CdmmError(`${dir}: run folder not found`);
  if (!existsSync(path)) throw new CdmmError(`${path}: not found (is ${dir} a cdmm run folder?)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CdmmError(`${path}: damaged manifest: not valid JSON (${(e as Error).message})`);
  }
  const fmt = (raw as { format?: unknown } | null)?.format;
  if (fmt !== RUN_FORMAT)
    throw new CdmmError(`${path}: format ${JSON.stringify(fmt)} is not supported (expected "${RUN_FORMAT}")`);
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const iss = r.error.issues[0];
    throw new CdmmError(`${path}: damaged manifest: ${iss.path.join('.') || '(root)'}: ${iss.message}`);
  }
  const m = r.data as unknown as RunManifest;
  const K = m.modalities.length;
  if (m.patterns.prior.length !== m.patterns.masks.length || m.patterns.masks.some((s) => s.length !== K))
    throw new CdmmError(`${path}: damaged manifest: patterns do not match the ${K} modalities`);
  if (m.weights.file.includes('/') || m.weights.file.includes('\\') || m.weights.file.startsWith('.'))
    throw new CdmmError(`${path}: weights.file must be a plain file name in the run folder, got ${JSON.stringify(m.weights.file)}`);
  return m;
}

/**
 * Loads a run folder: checks manifest.json (format, fields), the weights' sha256 and that the weights fit the
 * model the manifest describes; returns the model in eval mode with its pattern dictionary.
 */
export function loadRun(dirIn: string): LoadedRun {
  const dir = resolve(dirIn);
  const manifest = readManifest(dir);
  const wpath = join(dir, manifest.weights.file);
  if (!existsSync(wpath)) throw new CdmmError(`${wpath}: weights file not found`);
  const bytes = readFileSync(wpath);
  const digest = sha256(bytes);
  if (digest !== manifest.weights.sha256)
    throw new CdmmError(`${wpath}: damaged weights: sha256 ${digest.slice(0, 12)}… does not match the manifest's ${manifest.weights.sha256.slice(0, 12)}…`);
  let tensors: Map<string, Tensor>;
  try {
    // A plain Uint8Array copy: decodeSafetensors slices its input, and Buffer.slice would give views of a pooled buffer.
    tensors = decodeSafetensors(new Uint8Array(bytes), wpath).tensors;
  } catch (e) {
    throw new CdmmError((e as Error).message);
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
    model.loadStateDict(tensors);
  } catch (e) {
    model.dispose();
    throw new CdmmError(`${wpath}: the weights do not fit the model described in manifest.json: ${(e as Error).message}`);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
  model.eval();
  return { dir, manifest, model, dict };
}
