import { CdmmError } from '../../util/errors.js';
import type { Command } from 'commander';
import { checkOutFile, isCdmmReport, writeOutFile } from '../../util/outdir.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('Write a self-contained HTML report (curves, calibration, missingness patterns, benchmark table, shift) for a run or benchmark folder')
    .argument('<dir>', 'run folder (from `cdmm train`) or benchmark folder (from `cdmm benchmark`)')
    .requiredOption('--out <file>', 'HTML file to write (an existing file only with --overwrite)')
    .option('--overwrite', 'replace --out when it is a report cdmm wrote')
    .option('--json', 'print {"out": path, "charts": n} on stdout')
    .action(async (dir: string, opts: { out: string; json?: boolean; overwrite?: boolean }) => {
      // An HTML page under a data file's name (rep.json) would be read as data by whatever opens it next.
      const ext = /\.(json|jsonl|csv|tsv|ya?ml|parquet|txt|gz)$/i.exec(opts.out);
      if (ext) throw new CdmmError(`--out ${opts.out}: a report is an HTML page; name it .html (not ${ext[0]})`);
      checkOutFile(opts.out, 'report', isCdmmReport, { overwrite: opts.overwrite });
      const { writeReport } = await import('../../report/index.js');
      const r = await writeReport(dir, opts.out, (path, html) => writeOutFile(path, html, 'report', isCdmmReport, { overwrite: opts.overwrite }));
      if (opts.json) process.stdout.write(JSON.stringify({ out: r.out, charts: r.charts }) + '\n');
      else process.stderr.write(`report written to ${r.out} (${r.charts} charts)\n`);
    });
}
