#!/usr/bin/env node
// node scripts/results-table.mjs BENCHMARK_DIR — the markdown table of docs/RESULTS.md from a benchmark folder's
// benchmark.json: per backbone, plain vs debiased ('none' vs 'full') mean ± std over seeds, the paired Δ (same
// backbone and seed), test ECE of the debiased model, shift columns when the dataset has a shift split, and how many
// debiased runs had the dual branch's gate on. Then the references (oracle, in-distribution ceiling).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/results-table.mjs BENCHMARK_DIR\n');
  process.exit(2);
}
const b = JSON.parse(readFileSync(join(dir, 'benchmark.json'), 'utf8'));
const runs = b.per_run;
const mean = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
const std = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const ms = (xs) => (xs.length ? `${mean(xs).toFixed(3)} ± ${std(xs).toFixed(3)}` : '—');
const signed = (xs) => (xs.length ? `${mean(xs) >= 0 ? '+' : ''}${mean(xs).toFixed(3)} ± ${std(xs).toFixed(3)}` : '—');
const hasShift = runs.some((r) => r.shift && Number.isFinite(r.shift.auroc));
const backbones = [...new Set(runs.map((r) => r.backbone))];
const head = ['backbone', 'test AUROC plain', 'test AUROC debiased', 'Δ test', 'test ECE debiased'];
if (hasShift) head.push('shift AUROC plain', 'shift AUROC debiased', 'Δ shift');
head.push('gate on');
const lines = [`\`${dir.split('/').filter(Boolean).pop()}\` — ${b.dataset}, seeds [${b.seeds.join(', ')}], complete ${b.complete}`, `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
for (const bb of backbones) {
  const plain = new Map(runs.filter((r) => r.backbone === bb && r.debias === 'none').map((r) => [r.seed, r]));
  const full = runs.filter((r) => r.backbone === bb && r.debias === 'full');
  const paired = full.filter((r) => plain.has(r.seed));
  const cell = [bb, ms([...plain.values()].map((r) => r.test.auroc)), ms(full.map((r) => r.test.auroc)), signed(paired.map((r) => r.test.auroc - plain.get(r.seed).test.auroc)), ms(full.map((r) => r.test.ece))];
  if (hasShift) cell.push(ms([...plain.values()].map((r) => r.shift.auroc)), ms(full.map((r) => r.shift.auroc)), signed(paired.map((r) => r.shift.auroc - plain.get(r.seed).shift.auroc)));
  cell.push(`${full.filter((r) => r.gate).length}/${full.length}`);
  lines.push(`| ${cell.join(' | ')} |`);
}
const bo = b.bounds ?? {};
const f = (x) => (Number.isFinite(x) ? x.toFixed(3) : '—');
lines.push('', `References: oracle test ${f(bo.oracle?.test)}, shift ${f(bo.oracle?.shift)}; in-distribution ceiling (shift) ${f(bo.ceiling_shift)}.`);
process.stdout.write(lines.join('\n') + '\n');
