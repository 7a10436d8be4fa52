// Which patients a run was fitted on (its training and validation splits: validation chose the epoch and fitted the
// calibration), kept in the run folder as salted hashes (fitted.json), so that `cdmm evaluate --spec` can tell an
// "external" cohort that holds them, whatever file it reads them from, without the run folder listing their ids.
// One hash a patient, of the id, the label, the modality mask and a digest of the patient's features: only someone
// who already holds a patient's record can find it there. (Format 1 also hashed the id alone, and the id with only
// the label and mask: ids are guessable, so a salt in clear gave away who was fitted and their outcome. It is still
// read, for run folders written before.)
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { mulberry32 } from '../data/rng.js';

export const FITTED_FILE = 'fitted.json';

const hashes = z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(50_000_000);
const salt = z.string().regex(/^[0-9a-f]{32}$/);
export const FittedSchema = z.union([
  z.object({
    version: z.literal(2),
    salt,
    /** sha256(salt, id, label, modality mask, feature digest), first 16 hex digits each, sorted. */
    rows: hashes,
  }).strict(),
  /** Format 1 (runs written before 2026-12-07): sha256(salt, id) and sha256(salt, id, label, mask). */
  z.object({ salt, ids: hashes, rows: hashes }).strict(),
]);
export type FittedIds = z.infer<typeof FittedSchema>;

/** A cohort's patients as the check reads them: ids, 0/1 labels, the N × K modality mask and the features. */
export interface PatientKeys {
  ids: readonly string[];
  labels: ArrayLike<number>;
  mask: ArrayLike<number>;
  K: number;
  /** Per modality, in the mask's order: its N × D features. */
  values: readonly Float32Array[];
}

const hash = (salt: string, ...parts: string[]) => {
  const h = createHash('sha256').update(salt);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex').slice(0, 16);
};

/**
 * Two fixed random projections of each observed modality's features, rounded to 1e-3: the same patient built
 * from another copy of its files gives the same digest (the builds agree to about 1e-7), and nothing about the
 * patient can be guessed from it.
 */
function featureDigest(p: PatientKeys): (i: number) => string {
  const N = p.ids.length;
  const weights = p.values.map((v, k) => {
    const D = N ? v.length / N : 0;
    const r = mulberry32(1000 + k);
    return Float32Array.from({ length: 2 * D }, () => r() * 2 - 1);
  });
  return (i) => {
    let s = '';
    p.values.forEach((v, k) => {
      if (!p.mask[i * p.K + k]) return;
      const w = weights[k];
      const D = w.length / 2;
      let a = 0, b = 0;
      for (let d = 0; d < D; d++) {
        const x = v[i * D + d];
        a += x * w[d];
        b += x * w[D + d];
      }
      s += `${k}:${Math.round(a * 1000)},${Math.round(b * 1000)};`;
    });
    return s;
  };
}

const maskOf = (p: Pick<PatientKeys, 'mask' | 'K'>, i: number) => {
  let m = '';
  for (let k = 0; k < p.K; k++) m += p.mask[i * p.K + k] ? '1' : '0';
  return m;
};
const labelOf = (p: Pick<PatientKeys, 'labels'>, i: number) => (p.labels[i] >= 0.5 ? '1' : '0');

export function fittedIds(p: PatientKeys): FittedIds {
  const s = randomBytes(16).toString('hex');
  const digest = featureDigest(p);
  return { version: 2, salt: s, rows: [...new Set(p.ids.map((id, i) => hash(s, id, labelOf(p, i), maskOf(p, i), digest(i))))].sort() };
}

/**
 * Of `p`'s patients: how many are fitted patients (format 2: by id, label, mask and features), or, for a format-1
 * file, how many have a fitted patient's id and how many also its label and mask.
 */
export function countFitted(f: FittedIds, p: PatientKeys): { ids: number; rows: number } {
  const rows = new Set(f.rows);
  let a = 0, b = 0;
  if ('version' in f) {
    const digest = featureDigest(p);
    for (let i = 0; i < p.ids.length; i++) if (rows.has(hash(f.salt, p.ids[i], labelOf(p, i), maskOf(p, i), digest(i)))) b++;
    return { ids: b, rows: b };
  }
  const ids = new Set(f.ids);
  for (let i = 0; i < p.ids.length; i++) {
    if (!ids.has(hash(f.salt, p.ids[i]))) continue;
    a++;
    if (rows.has(hash(f.salt, p.ids[i], labelOf(p, i), maskOf(p, i)))) b++;
  }
  return { ids: a, rows: b };
}
