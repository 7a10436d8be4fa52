#!/usr/bin/env node
// `cdmm`: runs the compiled JavaScript in dist/ (built from src/ by `npm ci` or `npm run build`; tsconfig.build.json).
// A checkout without a build, or whose sources changed after it, runs the TypeScript sources through tsx instead:
// slower to start (≈ 1.5 s), never stale. CDMM_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');

/** True when dist/ exists and no TypeScript file under src/ changed after it was written. */
function buildIsCurrent() {
  if (!existsSync(built)) return false;
  const builtAt = statSync(built).mtimeMs;
  const src = join(root, 'src');
  if (!existsSync(src)) return true; // an installed package: dist/ only
  // A source added, edited, renamed or checked out has a new time; a deleted one leaves an unused .js behind.
  for (const entry of readdirSync(src, { recursive: true }))
    if (entry.endsWith('.ts') && statSync(join(src, entry)).mtimeMs > builtAt) return false;
  return true;
}

const args = process.argv.slice(2);
if (args.includes('--debug')) process.setSourceMapsEnabled(true); // stack traces that point into src/*.ts
let main;
if (process.env.CDMM_FROM_SOURCE !== '1' && buildIsCurrent()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
// A reader that stops early (`| head`) closes the pipe: that is no crash of ours.
for (const s of [process.stdout, process.stderr]) s.on('error', (e) => { if (e.code !== 'EPIPE') throw e; });
const code = await main(args);
// Exit explicitly: open native handles (DuckDB, thread pools) must not keep a finished command alive. But first
// let stdout and stderr drain: a large output to a pipe is written in part later, and exit would cut it off.
const drained = (s) => new Promise((done) => (s.writableLength === 0 || s.destroyed ? done() : s.write('', () => done())));
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(code);
