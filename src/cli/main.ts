import { Command } from 'commander';
import { isCdmmError } from '../util/errors.js';
import { errnoWords } from '../util/outdir.js';
import { printable } from '../util/say.js';

// Each command lives in its own module under ./commands and exports register(program).
const commandModules = [
  './commands/inspect.js',
  './commands/simulate.js',
  './commands/train.js',
  './commands/evaluate.js',
  './commands/benchmark.js',
  './commands/predict.js',
  './commands/serve.js',
  './commands/report.js',
  './commands/demo.js',
];

export async function buildProgram(): Promise<Command> {
  const program = new Command('cdmm')
    .description('Causal Debiasing for Multimodal Medicine: risk models on multimodal data with missing modalities')
    .version('0.1.0')
    // Read in main() below (wherever it appears); declared here so that --help lists it.
    .option('--debug', 'on an error, also print the stack trace')
    // Set before the subcommands are added, which inherit them: parse errors throw (exit 2 below) with a hint.
    .exitOverride()
    // Commander's own parse errors as cdmm's: one line, prefixed, with where to look.
    .configureOutput({ writeErr: (t) => process.stderr.write(/^error: /.test(t) ? `cdmm: ${t.trimEnd().replace(/\s*\n\s*/g, ' ')} (see --help)\n` : t) });
  for (const m of commandModules) {
    let mod: { register?: (p: Command) => void };
    try {
      mod = await import(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(m.slice(11, -3))) continue;
      throw e;
    }
    mod.register?.(program);
  }
  return program;
}

/**
 * Errors that are the user's to fix although no cdmm check raised them: file system refusals (a read-only disk,
 * a full one), memory exhaustion, model construction limits. Each becomes one line; undefined = a bug.
 */
export function userMessage(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e);
  if (err?.code && err.syscall) return `${err.path ? `${err.path}: ` : ''}${err.syscall} failed: ${errnoWords(err)}`;
  if (/bad_alloc|can't allocate memory|out of memory|Array buffer allocation failed|Invalid typed array length/i.test(msg))
    return 'out of memory: the model or the data does not fit in this machine\'s memory (try a smaller --dim, --batch-size or dataset)';
  if (/^createModel: /.test(msg)) return msg.replace(/^createModel: /, 'model: ');
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  // --debug is global and may stand anywhere on the line; it is taken out before the commands parse theirs.
  const debug = argv.includes('--debug') || process.env.CDMM_DEBUG === '1';
  const args = argv.filter((a) => a !== '--debug');
  const program = await buildProgram();
  const stack = (e: unknown) => (debug && e instanceof Error && e.stack ? `${e.stack}\n` : '');
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (code?.startsWith('commander.')) return 2;
    if (isCdmmError(e)) {
      process.stderr.write(`cdmm: error: ${printable(e.message)}\n${stack(e)}`);
      return e.exitCode;
    }
    const user = userMessage(e);
    if (user !== undefined) {
      process.stderr.write(`cdmm: error: ${printable(user)}\n${stack(e)}`);
      return 1;
    }
    const first = String((e as Error)?.message ?? e).split('\n')[0];
    process.stderr.write(
      debug ? `cdmm: internal error: ${(e as Error)?.stack ?? String(e)}\n` : `cdmm: internal error: ${printable(first)} (a bug in cdmm: run again with --debug for the stack trace, and report it)\n`,
    );
    return 1;
  }
}
