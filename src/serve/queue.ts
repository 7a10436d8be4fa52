// One worker in front of the model: the engine is synchronous and single-threaded, and a DuckDB build per
// request would multiply memory, so requests wait in a bounded queue and the worker takes whatever is waiting
// (up to a record budget) as one batch. Beyond the bound, submit() fails fast with QueueFullError (HTTP 503)
// instead of letting memory grow without limit.
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
}

export interface QueueOptions {
  /** Most records waiting or running at once; more → QueueFullError. */
  maxPendingRecords: number;
  /** Most records taken into one batch (a single larger request still runs, alone). */
  maxBatchRecords: number;
}

export class PredictQueue {
  private jobs: Job[] = [];
  private pendingRecords = 0;
  private running: Promise<void> | null = null;

  constructor(private readonly run: BatchRunner, private readonly opts: QueueOptions) {}

  /** Records waiting or being scored. */
  get pending(): number {
    return this.pendingRecords;
  }

  submit(records: PatientRecord[]): Promise<PatientPrediction[]> {
    if (this.pendingRecords + records.length > this.opts.maxPendingRecords) return Promise.reject(new QueueFullError(this.pendingRecords));
    this.pendingRecords += records.length;
    return new Promise((resolve, reject) => {
      this.jobs.push({ records, resolve, reject });
      this.running ??= this.work().finally(() => (this.running = null));
    });
  }

  /** Resolves once every submitted job is answered. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async work(): Promise<void> {
    while (this.jobs.length) {
      const batch: Job[] = [this.jobs.shift()!];
      let size = batch[0].records.length;
      while (this.jobs.length && size + this.jobs[0].records.length <= this.opts.maxBatchRecords) {
        const j = this.jobs.shift()!;
        size += j.records.length;
        batch.push(j);
      }
      let results: (PatientPrediction[] | Error)[];
      try {
        results = await this.run(batch.map((j) => j.records));
      } catch (e) {
        results = batch.map(() => (e instanceof Error ? e : new Error(String(e))));
      }
      this.pendingRecords -= size;
      batch.forEach((j, i) => {
        const r = results[i];
        if (r instanceof Error) j.reject(r);
        else j.resolve(r);
      });
    }
  }
}
