import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { safeCdmmLine } from '../util/shell.js';
import { benchmarkSections } from './benchmarkSections.js';
import { Charter } from './charter.js';
import { page, type PageInput } from './html.js';
import { loadInput } from './load.js';
import { runSections } from './runSections.js';

/** The version of this cdmm (the one writing the report), from package.json. */
function cdmmVersion(): string {
  // src/report → ../../package.json from the sources; dist/src/report → ../../../package.json from a build.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cdmm' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** Builds the page for a run folder or a benchmark folder (errors name the folder or the damaged file). */
export async function buildReport(inputDir: string): Promise<{ html: string; charts: number }> {
  const loaded = loadInput(inputDir);
  const charter = new Charter();
  const generated = new Date().toISOString();
  let input: PageInput;
  if (loaded.kind === 'run') {
    const { run } = loaded;
    const m = run.metrics;
    input = {
      title: `cdmm report: ${m.dataset}`,
      header: [
        ['dataset', m.dataset],
        ['configuration', `backbone ${m.backbone}, debias ${m.debias}, seed ${m.seed}`],
        ['run folder', resolve(run.dir)],
        ['trained', run.manifest.created ?? 'unknown'],
        ['trained with', `cdmm ${run.manifest.cdmm_version ?? 'unknown'}${run.manifest.libtorch_version ? `, libtorch ${run.manifest.libtorch_version}` : ''}`],
        ['report', `${generated} by cdmm ${cdmmVersion()}`],
      ],
      sections: await runSections(run, charter),
    };
  } else {
    const { bench } = loaded;
    const b = bench.benchmark;
    const versions = [...new Set(bench.runs.map((r) => r.manifest.cdmm_version ?? 'unknown'))];
    input = {
      title: `cdmm benchmark report: ${b.dataset}`,
      header: [
        ['dataset', b.dataset],
        ['configurations', `${b.results.length} (${[...new Set(b.results.map((r) => r.backbone))].join(', ')} × ${[...new Set(b.results.map((r) => r.debias))].join(', ')}), ${bench.runs.length} runs`],
        ['benchmark folder', resolve(bench.dir)],
        ['benchmark written', bench.created],
        ...(b.complete === false
          ? ([['status', `incomplete: ${b.runs.length} of ${b.planned?.length ?? '?'} runs finished${safeCdmmLine(b.resume_command, 'benchmark') ? `; to finish it: ${b.resume_command}` : ' (continue it with cdmm benchmark … --resume and the options it was started with)'}`]] as [string, string][])
          : []),
        ['trained with', `cdmm ${versions.join(', ')}`],
        ['report', `${generated} by cdmm ${cdmmVersion()}`],
      ],
      sections: await benchmarkSections(bench, charter),
    };
  }
  return { html: page(input), charts: charter.count };
}

/** Writes one self-contained HTML report (inline SVG charts, inline CSS, no scripts) for a run or benchmark folder. */
export async function writeReport(inputDir: string, outFile: string, write: (path: string, html: string) => void = writeFileAtomic): Promise<{ out: string; charts: number }> {
  const { html, charts } = await buildReport(inputDir);
  const out = resolve(outFile);
  write(out, html);
  return { out, charts };
}
