import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Every temp folder of a test run (the tests' and those of the cdmm processes they start) goes under one root,
// removed at the end by test/global-setup.ts.
if (!process.env.CDMM_TEST_TMP_ROOT) {
  process.env.CDMM_TEST_TMP_ROOT = mkdtempSync(join(tmpdir(), 'cdmm-tests-'));
  process.env.TMPDIR = process.env.CDMM_TEST_TMP_ROOT;
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The native addon holds process-global state (seed, thread count): run files in forks, one at a time per worker.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
