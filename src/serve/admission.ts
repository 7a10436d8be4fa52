// Admission before the body is read: under overload, parsing and validating bodies that will be refused anyway
// is what starves the worker, and a 1-record request waiting behind thousands of records is what makes it time
// out. So each request is counted, from its Content-Length, as a number of records before its body is read
// (corrected once parsed), and admitted only while that fits:
// - every request, within `maxRecords` in all (parsing, waiting or being scored);
// - a large request, also within what the worker is expected to score in `maxWaitMs` at its measured rate, less
//   a reserve kept for small requests, which also go first in the queue (queue.ts).
// An idle server admits any request, so a large one is never refused forever. @fastify/under-pressure does not
// fit: it measures the process (event-loop delay spikes during every synchronous model call), not the queue, and
// cannot tell a 1-record request from a 1000-record one.

export interface AdmissionOptions {
  /** Most records admitted at once, across requests. */
  maxRecords: number;
  /** Most records in one request (a body cannot be counted as more). */
  maxRecordsPerRequest: number;
  /**
   * Bytes counted as one record until the body is parsed: about a small record (a body of tinier ones is
   * under-counted until parsed; the queue's own bound still holds then).
   */
  bytesPerRecord: number;
  /** Requests of at most this many records are small. */
  smallRecords: number;
  /** Records kept for small requests: large ones are refused before these are taken. */
  smallReserve: number;
  /** Large requests are refused once the records admitted would take longer than this to score. */
  maxWaitMs: number;
  /**
   * Most records one client (remote address) may hold in requests whose bodies have not arrived yet, while it holds
   * any: a client that opens many connections and trickles their bodies takes this share, not the whole server.
   * Its first such request is admitted whatever its size; once a body is parsed, its records count as work only.
   * Small requests are held to a number of pending requests instead, so that a client's own large upload in
   * flight does not hold back its 1-record requests.
   */
  maxRecordsPerClient: number;
  /** Most requests of one client whose bodies are still arriving, for small requests. */
  maxPendingPerClient: number;
}

export const defaultAdmission = (maxRecords: number, maxRecordsPerRequest: number): AdmissionOptions => ({
  maxRecords,
  maxRecordsPerRequest,
  bytesPerRecord: 512,
  smallRecords: 16,
  smallReserve: Math.min(256, Math.floor(maxRecords / 4)),
  maxWaitMs: 2000,
  // Half the capacity whatever --max-records is (a client's first request is admitted whatever its size anyway).
  maxRecordsPerClient: Math.floor(maxRecords / 2),
  maxPendingPerClient: 64,
});

/** One admitted request's share; `resize` once the body is parsed, `release` once answered (idempotent). */
export interface Ticket {
  readonly records: number;
  /** The body has arrived (parsed JSON): the records no longer count against the client's share. */
  bodyArrived(): void;
  resize(records: number): void;
  release(): void;
}

export class Admission {
  private admitted = 0;
  /** Records and requests held per client whose bodies are still arriving, for the clients holding any. */
  private readonly byClient = new Map<string, { records: number; requests: number; small: number }>();
  /** All records of requests whose bodies are still arriving. */
  private pendingRecords = 0;

  /** `rate`: the worker's measured records per second, or null before it has scored a full batch. */
  constructor(private readonly o: AdmissionOptions, private readonly rate: () => number | null) {}

  /** Records admitted and not yet answered. */
  get records(): number {
    return this.admitted;
  }

  /** Records a body of `contentLength` bytes is counted as (no length: chunked, counted as the most). */
  estimate(contentLength: number | undefined): number {
    if (contentLength === undefined || !Number.isFinite(contentLength)) return this.o.maxRecordsPerRequest;
    return Math.max(1, Math.min(this.o.maxRecordsPerRequest, Math.ceil(contentLength / this.o.bytesPerRecord)));
  }

  /** A ticket for a request counted as `records`, or null when it does not fit now. */
  admit(records: number, client = ''): Ticket | null {
    const mine = this.byClient.get(client);
    const small = records <= this.o.smallRecords;
    if (this.admitted > 0) {
      if (this.admitted + records > this.o.maxRecords) return null;
      if (!small && this.admitted + records > this.largeCapacity()) return null;
      if (mine && (small ? mine.requests >= this.o.maxPendingPerClient : mine.records + records > this.o.maxRecordsPerClient)) return null;
      // Bodies still arriving, of all clients together, leave the small-request reserve free: trickling connections
      // from several addresses cannot take it. Beyond that, each client may have one small request pending.
      if (this.pendingRecords + records > this.o.maxRecords - this.o.smallReserve && !(small && (mine?.small ?? 0) === 0)) return null;
    }
    const pending = (r: number, n: number) => {
      this.pendingRecords += r;
      const c = this.byClient.get(client) ?? { records: 0, requests: 0, small: 0 };
      c.records += r;
      c.requests += n;
      if (small) c.small += n;
      if (c.requests > 0) this.byClient.set(client, c);
      else this.byClient.delete(client);
    };
    let held = records;
    let open = true;
    let bodyPending = true;
    this.admitted += records;
    pending(records, 1);
    const bodyArrived = () => {
      if (bodyPending) pending(-held, -1);
      bodyPending = false;
    };
    return {
      get records() {
        return held;
      },
      bodyArrived,
      resize: (n: number) => {
        if (!open) return;
        bodyArrived();
        this.admitted += n - held;
        held = n;
      },
      release: () => {
        if (!open) return;
        bodyArrived();
        this.admitted -= held;
        open = false;
      },
    };
  }

  /** Records a client holds in requests whose bodies are still arriving (tests). */
  heldBy(client: string): number {
    return this.byClient.get(client)?.records ?? 0;
  }

  /** Seconds until the records admitted now are scored, at the measured rate (for Retry-After). */
  drainSeconds(): number {
    const r = this.rate();
    return r ? this.admitted / r : 1;
  }

  private largeCapacity(): number {
    const r = this.rate();
    const byTime = r === null ? Infinity : (r * this.o.maxWaitMs) / 1000;
    return Math.min(this.o.maxRecords - this.o.smallReserve, byTime);
  }
}
