// The cdmm version recorded in run manifests (from package.json).
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function cdmmVersion(): string {
  if (cached) return cached;
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cdmm' && pkg.version) return (cached = pkg.version);
    } catch {
      // try the next location (sources vs compiled output)
    }
  }
  return (cached = 'unknown');
}
