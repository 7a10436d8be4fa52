import { Command } from 'commander';
import { isCdmmError } from '../util/errors.js';

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
    // Set before the subcommands are added, which inherit them: parse errors throw (exit 2 below) with a hint.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
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

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (code?.startsWith('commander.')) return 2;
    if (isCdmmError(e)) {
      process.stderr.write(`cdmm: error: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`cdmm: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

