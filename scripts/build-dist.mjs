// Compiles src/ to dist/ (tsconfig.build.json), the JavaScript that bin/cdmm.js runs: the `prepare` step of
// `npm ci`/`npm install`. Without TypeScript (an install that omits devDependencies) it says so and leaves
// bin/cdmm.js to run the sources through tsx.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  console.error('cdmm: TypeScript is not installed, dist/ not built: `cdmm` will run the sources through tsx (slower start)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
