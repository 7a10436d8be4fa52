// What `cdmm inspect` warns about (a modality missing for almost everyone, a missingness pattern that predicts
// the outcome) is printed by the commands that train too, on stderr, so that --json output stays clean.
import { summarize } from '../data/summary.js';
import type { PreparedDataset } from '../data/types.js';

export function datasetWarnings(ds: PreparedDataset): string[] {
  return summarize(ds).warnings;
}

export function printWarnings(ds: PreparedDataset, seen?: Set<string>): void {
  for (const w of datasetWarnings(ds)) {
    if (seen?.has(w)) continue;
    seen?.add(w);
    process.stderr.write(`cdmm: warning: ${ds.name}: ${w}\n`);
  }
}
