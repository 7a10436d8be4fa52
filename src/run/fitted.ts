// Which patients a run was fitted on (its training and validation splits: validation chose the epoch and fitted the
// calibration), kept in the run folder as salted hashes (fitted.json), so that `cdmm evaluate --spec` can tell an
// "external" cohort that holds them, whatever file it reads them from, without the run folder listing their ids.
// Two hashes a patient: of the id alone, and of the id with the label and the modality mask. Another source that
// numbers its patients the same way shares ids by chance, but then mostly not label and mask as well; the same
// patients share all three.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

export const FITTED_FILE = 'fitted.json';

const hashes = z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(50_000_000);
export const FittedSchema = z.object({
  salt: z.string().regex(/^[0-9a-f]{32}$/),
  /** sha256(salt, id), first 16 hex digits each, sorted. */
  ids: hashes,
  /** sha256(salt, id, label, modality mask), the same way. */
  rows: hashes,
}).strict();
export type FittedIds = z.infer<typeof FittedSchema>;

/** A cohort's patients as the check reads them: ids, 0/1 labels, and the N × K modality mask. */
export interface PatientKeys { ids: readonly string[]; labels: ArrayLike<number>; mask: ArrayLike<number>; K: number }

const hash = (salt: string, ...parts: string[]) => {
  const h = createHash('sha256').update(salt);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex').slice(0, 16);
};
const rowKey = (p: PatientKeys, i: number) => {
  let m = '';
  for (let k = 0; k < p.K; k++) m += p.mask[i * p.K + k] ? '1' : '0';
  return [p.ids[i], p.labels[i] >= 0.5 ? '1' : '0', m];
};

export function fittedIds(p: PatientKeys): FittedIds {
  const salt = randomBytes(16).toString('hex');
  const sorted = (xs: string[]) => [...new Set(xs)].sort();
  return {
    salt,
    ids: sorted(p.ids.map((id) => hash(salt, id))),
    rows: sorted(p.ids.map((_, i) => hash(salt, ...rowKey(p, i)))),
  };
}

/** Of `p`'s patients: how many have a fitted patient's id, and how many also its label and modality mask. */
export function countFitted(f: FittedIds, p: PatientKeys): { ids: number; rows: number } {
  const ids = new Set(f.ids), rows = new Set(f.rows);
  let a = 0, b = 0;
  for (let i = 0; i < p.ids.length; i++) {
    if (!ids.has(hash(f.salt, p.ids[i]))) continue;
    a++;
    if (rows.has(hash(f.salt, ...rowKey(p, i)))) b++;
  }
  return { ids: a, rows: b };
}
