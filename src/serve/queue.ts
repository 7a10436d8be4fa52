// One worker in front of the model: the engine is synchronous and single-threaded, so requests wait in a bounded
// queue and the worker takes whatever is waiting (up to a record budget) as one batch, after letting the event
// loop read what has arrived. Beyond the bound, submit() fails fast with QueueFullError (HTTP 503) instead of
// letting memory grow without limit. Small jobs go first (a 1-record request is not held behind thousands of
// records), a job whose client has gone is dropped before it runs, and the worker's rate in records per second
// is measured for admission (admission.ts). A job larger than `sliceRecords` runs a slice at a time, the event
// loop and the small jobs getting their turn between slices: on a model that scores each patient alone (M3Care,
// MUSE) a 1,000-record request is seconds of work, and other clients must not wait for all of it.
import type { PatientRecord } from '../data/transform.js';
import type { PatientPrediction } from './types.js';

export class QueueFullError extends Error {
  constructor(readonly pendingRecords: number) {
    super('the server is busy; retry later');
    this.name = 'QueueFullError';
  }
}

export type BatchRunner = (groups: PatientRecord[][]) => Promise<(PatientPrediction[] | Error)[]>;

interface Job {
  records: PatientRecord[];
  /** Records already scored (a sliced job), and their answers. */
  offset: number;
  done: PatientPrediction[];
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
  /** Most records of one job scored before the worker lets the event loop and the small jobs in (default: no limit). */
  sliceRecords?: number;
  /**
   * Or as time: a slice is what the measured rate scores in this many seconds, at least SLICE_MIN records. A
   * model that scores slowly (M3Care compares the patients of a call pairwise) is then cut finer than a fast one.
   */
  sliceSeconds?: number;
}

/**
 * The fewest records in a slice (sliceSeconds), and the slice before a rate is measured. A floor, because a call
 * has a fixed cost too: slices sized by a rate measured on tiny slices would shrink to one record and stay there.
 */
const SLICE_MIN = 32;

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

  /** Records scored per second (moving average over batches of a quarter of the batch budget, or full slices); null before. */
  get recordsPerSecond(): number | null {
    return this.rate;
  }

  /** Queues a job; `signal` aborted before the job runs drops it (JobAbandonedError). */
  submit(records: PatientRecord[], signal?: AbortSignal): Promise<PatientPrediction[]> {
    if (this.pendingRecords + records.length > this.opts.maxPendingRecords) return Promise.reject(new QueueFullError(this.pendingRecords));
    if (signal?.aborted) return Promise.reject(new JobAbandonedError());
    this.pendingRecords += records.length;
    return new Promise((resolve, reject) => {
      const job: Job = { records, offset: 0, done: [], resolve, reject, small: records.length <= (this.opts.smallRecords ?? 16), signal };
      this.jobs.push(job);
      signal?.addEventListener('abort', () => {
        const i = this.jobs.indexOf(job);
        if (i < 0) return; // running: its answer is simply not read
        this.jobs.splice(i, 1);
        this.pendingRecords -= records.length - job.offset;
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
  private take(slice: number): { jobs: Job[]; records: PatientRecord[][] } {
    const smallOnly = !this.lastSmallOnly || this.jobs.every((j) => j.small);
    const pick = smallOnly && this.jobs.some((j) => j.small) ? this.jobs.filter((j) => j.small) : this.jobs;
    const left = (j: Job) => j.records.length - j.offset;
    const batch: Job[] = [pick[0]];
    let size = Math.min(left(pick[0]), slice);
    for (const j of pick.slice(1)) {
      if (size + left(j) > Math.min(this.opts.maxBatchRecords, slice)) continue;
      size += left(j);
      batch.push(j);
    }
    this.lastSmallOnly = pick !== this.jobs && this.jobs.length > batch.length;
    this.jobs = this.jobs.filter((j) => !batch.includes(j));
    return { jobs: batch, records: batch.map((j) => j.records.slice(j.offset, j.offset + Math.min(left(j), slice))) };
  }

  private sliceSize(): number {
    const { sliceRecords, sliceSeconds } = this.opts;
    const byTime = sliceSeconds === undefined ? Infinity : Math.max(SLICE_MIN, this.rate === null ? 0 : Math.floor(this.rate * sliceSeconds));
    return Math.min(sliceRecords ?? Infinity, byTime);
  }

  private async work(): Promise<void> {
    for (;;) {
      // Scoring is synchronous: before each batch the event loop reads what has arrived meanwhile (requests that
      // then join this batch, small ones that go first) and writes the answers of the last one.
      await new Promise<void>((r) => setImmediate(r));
      if (!this.jobs.length) return;
      const slice = this.sliceSize();
      const { jobs: batch, records } = this.take(slice);
      const size = records.reduce((a, r) => a + r.length, 0);
      const t0 = performance.now();
      let results: (PatientPrediction[] | Error)[];
      try {
        results = await this.run(records);
      } catch (e) {
        results = batch.map(() => (e instanceof Error ? e : new Error(String(e))));
      }
      const seconds = (performance.now() - t0) / 1000;
      // The rate of batches of a quarter of the budget, or of full slices (SLICE_MIN at least: a fixed cost per
      // call then weighs as it will in the slices it sizes).
      if ((size * 4 >= this.opts.maxBatchRecords || (this.opts.sliceSeconds !== undefined && size >= SLICE_MIN)) && seconds > 0) this.rate = this.rate === null ? size / seconds : 0.7 * this.rate + 0.3 * (size / seconds);
      this.pendingRecords -= size;
      batch.forEach((j, i) => {
        const r = results[i];
        if (r instanceof Error) {
          this.pendingRecords -= j.records.length - j.offset - records[i].length; // the rest of a sliced job
          return j.reject(r);
        }
        j.offset += records[i].length;
        for (const p of r) j.done.push(p);
        if (j.offset === j.records.length) return j.resolve(j.done);
        if (j.signal?.aborted) { // the client left during this slice
          this.pendingRecords -= j.records.length - j.offset;
          return j.reject(new JobAbandonedError());
        }
        this.jobs.unshift(j); // its next slice keeps its place (small jobs still go first)
      });
    }
  }
}
