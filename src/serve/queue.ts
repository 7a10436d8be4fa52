// One worker in front of the model: the engine is synchronous and single-threaded, and a DuckDB build per
// request would multiply memory, so requests wait in a bounded queue and the worker takes whatever is waiting
// (up to a record budget) as one batch. Beyond the bound, submit() fails fast with QueueFullError (HTTP 503)
// instead of letting memory grow without limit. Small jobs go first (a 1-record request is not held behind
// thousands of records), a job whose client has gone is dropped before it runs, and the worker's rate in
// records per second is measured for admission (admission.ts).
import type { PatientRecord } from '../data/transform.js';
import type { PatientPrediction } from './predictor.js';

export class QueueFullError extends Error {
  constructor(readonly pendingRecords: number) {
    super('the server is busy; retry later');
    this.name = 'QueueFullError';
  }
}

export type BatchRunner = (groups: PatientRecord[][]) => Promise<(PatientPrediction[] | Error)[]>;

interface Job {
  records: PatientRecord[];
  resolve: (p: PatientPrediction[]) => void;
  reject: (e: Error) => void;
  small: boolean;
  signal?: AbortSignal;
}

/** The client went away before its job ran. */
export class JobAbandonedError extends Error {
  constructor() {
    super('the client closed the connection before its request was scored');
    this.name = 'JobAbandonedError';
  }
}

export interface QueueOptions {
  /** Most records waiting or running at once; more → QueueFullError. */
  maxPendingRecords: number;
  /** Most records taken into one batch (a single larger request still runs, alone). */
  maxBatchRecords: number;
  /** Jobs of at most this many records go before larger ones (default 16). */
  smallRecords?: number;
}

export class PredictQueue {
  private jobs: Job[] = [];
  private pendingRecords = 0;
  private running: Promise<void> | null = null;
  private rate: number | null = null;
  /** The last batch was small jobs only while others waited. */
  private lastSmallOnly = false;

  constructor(private readonly run: BatchRunner, private readonly opts: QueueOptions) {}

  /** Records waiting or being scored. */
  get pending(): number {
    return this.pendingRecords;
  }

  /** Records scored per second (moving average over batches of at least a quarter of the batch budget); null before. */
  get recordsPerSecond(): number | null {
    return this.rate;
  }

  /** Queues a job; `signal` aborted before the job runs drops it (JobAbandonedError). */
  submit(records: PatientRecord[], signal?: AbortSignal): Promise<PatientPrediction[]> {
    if (this.pendingRecords + records.length > this.opts.maxPendingRecords) return Promise.reject(new QueueFullError(this.pendingRecords));
    if (signal?.aborted) return Promise.reject(new JobAbandonedError());
    this.pendingRecords += records.length;
    return new Promise((resolve, reject) => {
      const job: Job = { records, resolve, reject, small: records.length <= (this.opts.smallRecords ?? 16), signal };
      this.jobs.push(job);
      signal?.addEventListener('abort', () => {
        const i = this.jobs.indexOf(job);
        if (i < 0) return; // already running: its answer is simply not read
        this.jobs.splice(i, 1);
        this.pendingRecords -= records.length;
        reject(new JobAbandonedError());
      }, { once: true });
      this.running ??= this.work().finally(() => (this.running = null));
    });
  }

  /** Resolves once every submitted job is answered. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The next batch. Small jobs waiting → a batch of small jobs only (it scores in a fraction of a full batch's
   * time), but not twice in a row while large jobs wait, so that those are never starved. Otherwise the jobs in
   * arrival order, filled with any that fit, within the record budget.
   */
  private take(): Job[] {
    const smallOnly = !this.lastSmallOnly || this.jobs.every((j) => j.small);
    const pick = smallOnly && this.jobs.some((j) => j.small) ? this.jobs.filter((j) => j.small) : this.jobs;
    const batch: Job[] = [pick[0]];
    let size = pick[0].records.length;
    for (const j of pick.slice(1)) {
      if (size + j.records.length > this.opts.maxBatchRecords) continue;
      size += j.records.length;
      batch.push(j);
    }
    this.lastSmallOnly = pick !== this.jobs && this.jobs.length > batch.length;
    this.jobs = this.jobs.filter((j) => !batch.includes(j));
    return batch;
  }

  private async work(): Promise<void> {
    while (this.jobs.length) {
      const batch = this.take();
      const size = batch.reduce((a, j) => a + j.records.length, 0);
      const t0 = performance.now();
      let results: (PatientPrediction[] | Error)[];
      try {
        results = await this.run(batch.map((j) => j.records));
      } catch (e) {
        results = batch.map(() => (e instanceof Error ? e : new Error(String(e))));
      }
      const seconds = (performance.now() - t0) / 1000;
      if (size * 4 >= this.opts.maxBatchRecords && seconds > 0) this.rate = this.rate === null ? size / seconds : 0.7 * this.rate + 0.3 * (size / seconds);
      this.pendingRecords -= size;
      batch.forEach((j, i) => {
        const r = results[i];
        if (r instanceof Error) j.reject(r);
        else j.resolve(r);
      });
    }
  }
}
