// "Typical values" of each modality: the mean feature vector over the training patients who have the modality
// observed, in the model's input space (standardised values, one-hot and multi-hot frequencies, observation
// flags). Used for the counterfactual "had this missing modality been observed at typical values".
// Sources, in order: the run manifest's `typical` (written at training time), else the training split rebuilt
// from the run's spec (the data layer's cache makes this cheap where training ran). Without either, the
// counterfactual for missing modalities is not computed (reported as null), rather than guessed.
import { existsSync, statSync } from 'node:fs';
import { prepareDataset } from '../data/build.js';
import type { ModalityInfo } from '../data/types.js';
import { observedMeans } from '../data/typical.js';

export { observedMeans };

export type TypicalSource = 'manifest' | 'training-data' | 'unavailable';

export interface Typical {
  values: Record<string, Float32Array> | null;
  source: TypicalSource;
  /** Why the values are unavailable, when they are. */
  note?: string;
  /** The same without details that may quote a file (shown to HTTP clients). */
  reason?: string;
}


/** JSON with object keys sorted: the manifest as parsed need not keep the order the data layer wrote. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]])) : x);
}

function fromManifest(raw: unknown, modalities: ModalityInfo[]): Record<string, Float32Array> | null {
  if (!raw || typeof raw !== 'object') return null;
  const out: Record<string, Float32Array> = {};
  for (const m of modalities) {
    const v = (raw as Record<string, unknown>)[m.name];
    const D = m.shape.reduce((a, b) => a * b, 1);
    if (!Array.isArray(v) || v.length !== D || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
    out[m.name] = Float32Array.from(v as number[]);
  }
  return out;
}

export async function loadTypical(
  manifest: { typical?: unknown; spec_path?: string; state?: unknown; config?: { split_seed?: number | null } },
  modalities: ModalityInfo[],
  opts: { rebuild?: boolean } = {},
): Promise<Typical> {
  if (opts.rebuild === false) return { values: null, source: 'unavailable', note: 'typical values are turned off (--no-typical)' };
  const m = fromManifest(manifest.typical, modalities);
  if (m) return { values: m, source: 'manifest' };
  const specPath = manifest.spec_path;
  if (!specPath || !existsSync(specPath))
    return { values: null, source: 'unavailable', note: `the manifest has no typical values and the training spec ${specPath ?? '(none)'} is not reachable` };
  // spec_path comes from the run folder (untrusted): only a spec file is read, and nothing is written beside it.
  if (!/\.ya?ml$/i.test(specPath) || !statSync(specPath).isFile())
    return { values: null, source: 'unavailable', note: `the manifest has no typical values and its spec_path ${specPath} is not a .yaml spec file` };
  try {
    // The same split as training (split_seed), and the same fitted state: otherwise these are not its patients.
    const ds = await prepareDataset(specPath, { quiet: true, cache: false, seed: manifest.config?.split_seed ?? undefined });
    const same = canonical(ds.state) === canonical(manifest.state) && canonical(ds.modalities) === canonical(modalities);
    if (!same) return { values: null, source: 'unavailable', note: `the data of ${specPath} no longer matches the run's features` };
    return { values: observedMeans(ds.splits.train, modalities), source: 'training-data' };
  } catch (e) {
    return { values: null, source: 'unavailable', note: `rebuilding the training data from ${specPath} failed: ${(e as Error).message}`, reason: 'rebuilding the training data failed (see the server log)' };
  }
}
