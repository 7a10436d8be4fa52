// Cache of prepared datasets: one JSON (metadata, state, offsets) + one binary file (all arrays), keyed by a
// sha256 of the spec text, the seed, the files' sizes and modification times and a code version, and a MAC of
// both under the user's cache secret (an entry edited after it was written is rebuilt, not read).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { readBounded, readBoundedText } from '../util/files.js';
import type { PreparedDataset, SplitArrays, SplitName } from './types.js';

/** Largest cached build read back: what readFileSync read before the bounded reads (a larger one is rebuilt). */
const MAX_CACHE_BYTES = 2 ** 31 - 1;

/** Bump when the build's output changes for the same inputs. */
export const DATA_CODE_VERSION = 'cdmm-data/30';

export function cacheDir(specDir: string): string {
  return process.env.CDMM_CACHE_DIR ? resolve(process.env.CDMM_CACHE_DIR) : join(specDir, '.cdmm-cache');
}

/**
 * Why the spec folder's cache cannot be used, if it cannot: a `.cdmm-cache` that is a link (or not a folder)
 * would have cdmm read and write files wherever it points. CDMM_CACHE_DIR is the user's own choice and is trusted.
 */
export function cacheDirProblem(dir: string): string | undefined {
  if (process.env.CDMM_CACHE_DIR) return undefined;
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return undefined; // not there yet: created as a folder of its own
  }
  if (st.isSymbolicLink()) return `${dir} is a link, not a folder of its own: the dataset cache is not used`;
  if (!st.isDirectory()) return `${dir} is not a folder: the dataset cache is not used`;
  return undefined;
}

/**
 * This user's cache secret, mixed into every key: a spec folder that arrives with a `.cdmm-cache` (a shared drive,
 * an archive) cannot hold an entry under a key this machine would compute, so a planted build (labels or values
 * edited) is never read. Kept in the user's own cache folder (XDG_CACHE_HOME or ~/.cache, mode 0600); undefined when
 * it cannot be kept there, and then no cache is used.
 */
let secret: Buffer | null | undefined;
export function cacheSecret(): Buffer | undefined {
  if (secret !== undefined) return secret ?? undefined;
  try {
    const dir = join(process.env.XDG_CACHE_HOME ? resolve(process.env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'cdmm');
    const file = join(dir, 'cache-secret');
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Written whole and renamed into place: two processes starting together both end up reading the one that won.
      writeFileAtomic(file, randomBytes(32).toString('hex'));
      chmodSync(file, 0o600);
    }
    const text = readFileSync(file, 'utf8').trim();
    secret = /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : null;
  } catch {
    secret = null;
  }
  return secret ?? undefined;
}

/** Forgets the secret read in this process (tests switch XDG_CACHE_HOME to stand for another user or machine). */
export function forgetCacheSecret(): void {
  secret = undefined;
}

/** `files`: each spec table's files (a folder's every shard: a rewritten shard leaves the folder's own stat unchanged). */
export function cacheKey(specText: string, files: Record<string, string[]>, seed: number | undefined, key: Buffer): string {
  const h = createHash('sha256');
  h.update(key).update('\0').update(DATA_CODE_VERSION).update('\0').update(specText).update('\0').update(String(seed ?? ''));
  for (const [name, list] of Object.entries(files))
    for (const f of list) {
      const st = existsSync(f) ? statSync(f) : undefined;
      h.update(`\0${name}:${f}:${st?.size ?? -1}:${st?.mtimeMs ?? -1}`);
    }
  return h.digest('hex').slice(0, 32);
}

type ArrayRef = { offset: number; length: number; type: 'f32' | 'u8' };

export function saveCache(dir: string, key: string, ds: PreparedDataset, secret: Buffer): void {
  const buffers: Uint8Array[] = [];
  let offset = 0;
  const put = (a: Float32Array | Uint8Array): ArrayRef => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const ref: ArrayRef = { offset, length: a.length, type: a instanceof Float32Array ? 'f32' : 'u8' };
    buffers.push(bytes);
    offset += bytes.byteLength;
    const pad = (8 - (offset % 8)) % 8; // keep Float32Array views aligned
    if (pad) { buffers.push(new Uint8Array(pad)); offset += pad; }
    return ref;
  };
  const splits: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(ds.splits) as [SplitName, SplitArrays][]) {
    splits[name] = {
      ids: s.ids,
      labels: put(s.labels),
      mask: put(s.mask),
      values: Object.fromEntries(Object.entries(s.values).map(([k, v]) => [k, put(v)])),
      trueRisk: s.trueRisk ? put(s.trueRisk) : undefined,
      reference: s.reference ? put(s.reference) : undefined,
    };
  }
  const bin = new Uint8Array(offset);
  let o = 0;
  for (const b of buffers) { bin.set(b, o); o += b.byteLength; }
  const meta = { version: DATA_CODE_VERSION, name: ds.name, modalities: ds.modalities, state: ds.state, cohort: ds.cohort, splits, extra: (ds as { extra?: unknown }).extra, reference: ds.reference };
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  writeFileAtomic(join(dir, `${key}.bin`), bin);
  writeFileAtomic(join(dir, `${key}.json`), json);
  writeFileAtomic(join(dir, `${key}.mac`), entryMac(secret, key, json, bin));
}

/**
 * The entry's MAC: the key names the inputs, but whoever can write the cache folder could edit an entry the
 * user's own build wrote (labels flipped, the data files untouched); with the MAC such an entry is not read.
 */
function entryMac(secret: Buffer, key: string, json: Uint8Array, bin: Uint8Array): string {
  return createHmac('sha256', secret).update(`cdmm-cache\0${key}\0${json.byteLength}\0`).update(json).update(bin).digest('hex');
}

export function loadCache(dir: string, key: string, secret: Buffer): PreparedDataset | undefined {
  const jp = join(dir, `${key}.json`), bp = join(dir, `${key}.bin`), mp = join(dir, `${key}.mac`);
  if (!existsSync(jp) || !existsSync(bp) || !existsSync(mp)) return undefined;
  try {
    const json = readBounded(jp, MAX_CACHE_BYTES);
    const raw = readBounded(bp, MAX_CACHE_BYTES);
    const mac = Buffer.from(readBoundedText(mp).trim(), 'hex');
    const want = Buffer.from(entryMac(secret, key, json, raw), 'hex');
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    const meta = JSON.parse(json.toString('utf8'));
    if (meta.version !== DATA_CODE_VERSION) return undefined;
    const buf = new ArrayBuffer(raw.byteLength);
    new Uint8Array(buf).set(raw);
    const get = (r: ArrayRef) => (r.type === 'f32' ? new Float32Array(buf, r.offset, r.length) : new Uint8Array(buf, r.offset, r.length));
    const splits: Record<string, SplitArrays> = {};
    for (const [name, s] of Object.entries(meta.splits) as [string, any][]) {
      splits[name] = {
        ids: s.ids,
        labels: get(s.labels) as Float32Array,
        mask: get(s.mask) as Uint8Array,
        values: Object.fromEntries(Object.entries(s.values).map(([k, v]) => [k, get(v as ArrayRef) as Float32Array])),
        ...(s.trueRisk ? { trueRisk: get(s.trueRisk) as Float32Array } : {}),
        ...(s.reference ? { reference: get(s.reference) as Float32Array } : {}),
      };
    }
    return {
      name: meta.name, modalities: meta.modalities, state: meta.state, cohort: meta.cohort, splits: splits as PreparedDataset['splits'],
      ...(meta.extra ? { extra: meta.extra } : {}), ...(meta.reference ? { reference: meta.reference } : {}),
    };
  } catch {
    return undefined; // a damaged cache entry is rebuilt
  }
}
