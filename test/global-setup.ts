// Removes the test run's temporary root (made by vitest.config.ts, which points TMPDIR at it before the test
// processes start) when the run ends, so test runs leave nothing in /tmp. CDMM_KEEP_TEST_TMP=1 keeps it.
import { rmSync } from 'node:fs';
import { basename } from 'node:path';

export default function setup(): () => void {
  const root = process.env.CDMM_TEST_TMP_ROOT;
  return () => {
    if (root && basename(root).startsWith('cdmm-tests-') && !process.env.CDMM_KEEP_TEST_TMP)
      rmSync(root, { recursive: true, force: true });
  };
}
