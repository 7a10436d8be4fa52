import { SingleBar, Presets } from 'cli-progress';

/**
 * A progress bar on stderr (so --json output on stdout stays clean). Silent when stderr is not a TTY,
 * except for a line every `logEvery` steps so CI logs and pipes still show that work moves.
 */
export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { quiet?: boolean; format?: string } = {}): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        format: opts.format ?? `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {info}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (v, p) => bar.update(v, { info: p ? Object.entries(p).map(([k, x]) => `${k}=${x}`).join(' ') : '' }),
      stop: () => bar.stop(),
    };
  }
  const start = Date.now();
  let lastLog = 0;
  return {
    update(v, p) {
      const now = Date.now();
      if (now - lastLog < 2000 && v < total) return;
      lastLog = now;
      const el = (now - start) / 1000;
      const eta = v > 0 ? (el / v) * (total - v) : NaN;
      const info = p ? ' ' + Object.entries(p).map(([k, x]) => `${k}=${x}`).join(' ') : '';
      process.stderr.write(`${label} ${v}/${total} elapsed ${el.toFixed(0)}s ETA ${isFinite(eta) ? eta.toFixed(0) + 's' : '?'}${info}\n`);
    },
    stop() {},
  };
}
