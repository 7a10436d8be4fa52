// Editing a run folder as someone who knows the format would: change manifest.json and (unless told not to)
// recompute SHA256SUMS, so that the checks behind the checksum are what a test reaches.
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Copies run folder `from` to `to` (replacing it). */
export function copyRunFolder(from: string, to: string): string {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
  return to;
}

/** Rewrites SHA256SUMS from the files it lists. */
export function resum(dir: string): void {
  const path = join(dir, 'SHA256SUMS');
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(/\s+\*?/)[1]);
  writeFileSync(path, lines.map((f) => `${sha(readFileSync(join(dir, f)))}  ${f}\n`).join(''));
}

/** Applies `edit` to manifest.json (parsed); with `resum` (default) the checksum is made to match again. */
export function editManifest(dir: string, edit: (m: Record<string, any>) => void, o: { resum?: boolean } = {}): void {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8'));
  edit(m);
  writeFileSync(path, JSON.stringify(m, null, 1) + '\n');
  if (o.resum ?? true) resum(dir);
}
