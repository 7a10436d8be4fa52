// npm run bench:startup [-- --runs 15]: how long `cdmm --help` takes, from the compiled build (dist/, what a
// clone runs after setup) and from the sources through tsx (a checkout without a current build). One JSON line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(args.runs);

function timeHelp(env: Record<string, string>): number[] {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, ['bin/cdmm.js', '--help'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    ms.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`cdmm --help exited ${r.status}`);
  }
  return ms.sort((a, b) => a - b);
}
const median = (xs: number[]) => Math.round(xs[Math.floor(xs.length / 2)]);

const dist = existsSync('dist/cli/main.js');
const built = timeHelp({});
const source = timeHelp({ CDMM_FROM_SOURCE: '1' });
console.log(JSON.stringify({ bench: 'startup', runs, dist, help_ms_p50: median(built), help_ms_min: Math.round(built[0]),
  from_source_ms_p50: median(source), from_source_ms_min: Math.round(source[0]) }));
