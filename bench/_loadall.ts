import { loadRun } from '../src/run/run-io.js';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
const dirs: string[] = [];
const walk = (d: string, depth: number) => { if (depth > 4 || !existsSync(d)) return; for (const f of readdirSync(d, { withFileTypes: true })) { if (!f.isDirectory()) continue; const p = join(d, f.name); if (existsSync(join(p, 'manifest.json')) && existsSync(join(p, 'model.safetensors'))) dirs.push(p); else walk(p, depth + 1); } };
for (const r of process.argv.slice(2)) walk(r, 0);
let ok = 0;
for (const d of dirs) { try { const r = loadRun(d); r.model.dispose(); ok++; } catch (e) { console.log('FAIL', d, String(e).slice(0, 200)); } }
console.log('loaded', ok, 'of', dirs.length);
