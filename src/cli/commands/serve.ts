// cdmm serve RUN [--port 8080] [--host 127.0.0.1] [--token T]: the prediction API over HTTP, with graceful
// shutdown on SIGINT/SIGTERM (stop accepting, finish what is in flight, exit 0).
import type { Command } from 'commander';
import { CdmmError } from '../../util/errors.js';
import { printable, say } from '../../util/say.js';

function intOption(flag: string, min: number, max: number) {
  return (v: string): number => {
    // Decimal digits only: Number('0x50') is 80, Number('') is 0.
    const x = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(x) || x < min || x > max) throw new CdmmError(`${flag} ${v}: expected an integer from ${min} to ${max}`);
    return x;
  };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve a run over HTTP: POST /v1/predict, GET /v1/model, GET /healthz')
    .argument('<run>', 'run folder (cdmm train --out)')
    .option('--port <n>', 'port', intOption('--port', 0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--token <token>', 'require "Authorization: Bearer <token>" on every route but GET /healthz (default: $CDMM_TOKEN, else none)')
    .option('--body-limit <bytes>', 'largest request body', intOption('--body-limit', 1024, 1 << 30), 1 << 20)
    .option('--max-records <n>', 'most records per request', intOption('--max-records', 1, 100_000), 1000)
    .option('--max-connections-per-address <n>', 'open connections one client address may hold; more are closed at once (raise it behind a reverse proxy, whose connections all come from one address)', intOption('--max-connections-per-address', 1, 1_000_000), 256)
    .option('--no-typical', "no typical values, so no counterfactuals for missing modalities (they come from the manifest, or from the training data for older runs)")
    .option('--quiet', 'no access log')
    .action(async (run: string, o: { port: number; host: string; token?: string; bodyLimit: number; maxRecords: number; maxConnectionsPerAddress: number; typical: boolean; quiet?: boolean }) => {
      const token = o.token ?? process.env.CDMM_TOKEN;
      if (token !== undefined && !token.trim()) throw new CdmmError(`${o.token !== undefined ? '--token' : 'CDMM_TOKEN'}: the token is empty; give a non-empty token, or none for an open server`);
      const [{ Predictor }, { buildServer }] = await Promise.all([import('../../serve/predictor.js'), import('../../serve/server.js')]);
      const predictor = await Predictor.load(run, { maxRecords: o.maxRecords, rebuildTypical: o.typical });
      for (const w of predictor.warnings) say('warning', `${w}`);
      const app = buildServer(predictor, { token, bodyLimit: o.bodyLimit, logger: !o.quiet, maxConnectionsPerAddress: o.maxConnectionsPerAddress });
      let address: string;
      try {
        address = await app.listen({ port: o.port, host: o.host });
      } catch (e) {
        predictor.dispose();
        const code = (e as NodeJS.ErrnoException).code;
        // A port in use or a host this machine does not have is the user's input, not a bug: one line, exit 2.
        if (code === 'EADDRINUSE') throw new CdmmError(`--port ${o.port}: already in use on ${o.host}; choose another --port or stop what listens there`);
        if (code === 'EACCES') throw new CdmmError(`--port ${o.port}: not allowed for this user${o.port < 1024 ? ' (ports below 1024 need privileges; choose one ≥ 1024)' : ''}`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CdmmError(`--host ${o.host}: not an address of this machine`);
        throw e;
      }
      // fastify names one address; for 0.0.0.0 or :: that is 127.0.0.1, so the wildcard is said too.
      const where = /^(0\.0\.0\.0|::)$/.test(o.host) ? `every address of this machine (${o.host}), port ${new URL(address).port}, e.g. ${address}` : address;
      process.stderr.write(`cdmm: serving ${printable(`${predictor.manifest.dataset} (${predictor.manifest.config.backbone}, debias ${predictor.manifest.config.debias}) on ${where}${token ? ' (token required)' : ''}`)}\n`);
      if (!token && !/^(127\.|::1$|localhost$)/.test(o.host))
        say('warning', `listening on ${o.host} without --token: anyone who can reach it can query the model`);
      if (predictor.typical.note) say('note', `no counterfactuals for missing modalities: ${predictor.typical.note}`);
      // Keep the command pending until a signal closes the server: then exit 0 through main().
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`cdmm: ${signal}: finishing requests in flight, then stopping\n`);
          // A client that never finishes its request does not hold the shutdown for longer than this.
          setTimeout(() => app.server.closeAllConnections(), 30_000).unref();
          app.close().then(() => {
            predictor.dispose();
            resolve();
          }, () => resolve());
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
