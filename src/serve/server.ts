// The HTTP API over a Predictor: POST /v1/predict, GET /v1/model, GET /healthz. With a Bearer token, every
// route but GET /healthz needs it (401, decided before the body is read); requests over capacity are refused
// (503) before their body is read too (admission.ts); input is validated against the fitted spec (400 with
// field paths), bodies are capped (413), model calls go through one bounded queue, and logs carry no patient
// data: method, route, status, latency and record count only. docs/SECURITY.md says what each check is for.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyError, type FastifyRequest } from 'fastify';
import { CdmmError } from '../util/errors.js';
import { repeatedKeyIssue } from '../util/json-keys.js';
import { printable } from '../util/say.js';
import { formatPath } from '../data/spec.js';
import type { Predictor } from './predictor.js';
import { InputError, keyBesideRecords } from './types.js';
import { Admission, defaultAdmission, type Ticket } from './admission.js';
import { JobAbandonedError, PredictQueue, QueueFullError } from './queue.js';
import type { InputIssue } from './types.js';

export interface ServerOptions {
  /** Bearer token required on every route but GET/HEAD /healthz; none = open. */
  token?: string;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Most records waiting or being scored across requests (default 4096); beyond → 503. */
  maxPendingRecords?: number;
  /** Most records scored in one pass through the data layer (default 512). */
  maxBatchRecords?: number;
  /** Large requests are refused (503) once the records admitted would take longer than this to score (default 2000 ms). */
  maxWaitMs?: number;
  /** Fastify logger: false (default), true (info to stdout), or pino options (level, stream). */
  logger?: boolean | { level?: string; stream?: NodeJS.WritableStream };
  /** How long a predict request's body may take to arrive (default requestTimeoutMs(bodyLimit)). */
  bodyTimeoutMs?: number;
  /** Open connections one client address may hold (default 256); more are closed at once. */
  maxConnectionsPerAddress?: number;
}

/**
 * Closes a new connection at once when its address already holds `max` open ones: one client opening thousands of
 * idle or header-trickling connections (no token needed for that) would otherwise take every socket the process has.
 */
function limitConnectionsPerAddress(server: import('node:http').Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: import('node:net').Socket) => {
    const addr = socket.remoteAddress ?? '';
    const n = open.get(addr) ?? 0;
    if (n >= max) {
      socket.destroy();
      return;
    }
    open.set(addr, n + 1);
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left > 0) open.set(addr, left);
      else open.delete(addr);
    });
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Records in a predict request, for the access log. */
    recordCount: number;
    /** Its share of the admission budget (POST /v1/predict only). */
    ticket: Ticket | null;
    /** Closes the connection when the body has not arrived in time (cleared when it has). */
    bodyTimer: NodeJS.Timeout | null;
  }
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time token check: compares fixed-length digests, so neither content nor length leaks through timing. */
function tokenChecker(token: string | undefined): (req: FastifyRequest) => boolean {
  if (token === undefined) return () => true;
  // An empty token (e.g. CDMM_TOKEN= left blank) would look like protection and be none.
  if (!token.trim()) throw new CdmmError('--token: the token is empty; give a non-empty token, or none for an open server');
  const want = digest(token);
  return (req) => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
    return timingSafeEqual(digest(m ? m[1] : ''), want) && !!m;
  };
}

/** The request body as a list of records and where it sits in the body, for error paths. */
function recordsOf(body: unknown): { list: unknown; prefix: (string | number)[]; single: boolean } | InputIssue {
  // A bare array of records reads like { "records": [...] } (paths then start at the index: [1].labs[0].value).
  if (Array.isArray(body)) return { list: body, prefix: [], single: false };
  if (body === null || typeof body !== 'object')
    return { path: '(root)', message: 'expected a patient record object, an array of them, or { "records": [...] }' };
  if (Object.hasOwn(body, 'records')) {
    // Another key is a mistake (a misplaced option, a record field) to name.
    const other = keyBesideRecords(body);
    if (other !== undefined) return { path: other, message: 'unknown field beside "records": the body is { "records": [...] } and nothing else' };
    return { list: (body as { records: unknown }).records, prefix: ['records'], single: false };
  }
  return { list: [body], prefix: [], single: true };
}

export function buildServer(predictor: Predictor, opts: ServerOptions = {}): FastifyInstance {
  const logger = opts.logger === undefined || opts.logger === false ? false
    : {
        level: opts.logger === true ? 'info' : (opts.logger.level ?? 'info'),
        ...(opts.logger !== true && opts.logger.stream ? { stream: opts.logger.stream } : {}),
        // Nothing of a request but its method and route, nothing of an error but its type.
        serializers: {
          req: (r: FastifyRequest) => ({ method: r.method, route: r.routeOptions?.url ?? null }),
          res: (r: { statusCode: number }) => ({ status: r.statusCode }),
          // An error's message and stack may quote input values: left out.
          err: (e: Error & { code?: string }) => ({ type: e.name, code: e.code, message: '(omitted)', stack: '(omitted)' }),
        },
      };
  const app = Fastify({
    logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Until the whole request is received: a client trickling its body holds its admission share no longer.
    // 10 s and 1 s more per MiB of --body-limit (the default 1 MiB body takes well under a second on a LAN).
    requestTimeout: requestTimeoutMs(opts.bodyLimit ?? DEFAULT_BODY_LIMIT),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  limitConnectionsPerAddress(app.server, opts.maxConnectionsPerAddress ?? 256);
  const queue = new PredictQueue((groups) => predictor.predictRecordGroups(groups), {
    maxPendingRecords: opts.maxPendingRecords ?? 4096,
    maxBatchRecords: opts.maxBatchRecords ?? 512,
    // About 50 ms of scoring at a time: a large request is cut into slices, other clients served between them.
    // Not where a request's records are transformed together (a lookup across them, or the SQL path).
    ...(predictor.sliceable ? { sliceSeconds: 0.05 } : {}),
  });
  const admission = new Admission(
    { ...defaultAdmission(opts.maxPendingRecords ?? 4096, predictor.maxRecords), ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}) },
    () => queue.recordsPerSecond,
  );
  const authorized = tokenChecker(opts.token);
  // JSON only: fastify would otherwise hand text/plain bodies to the route as strings.
  app.removeContentTypeParser('text/plain');
  // fastify's own JSON parser (prototype keys refused), then a key repeated in an object refused too: JSON.parse
  // would keep the last one silently (a record with two ids scored as the second).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    json(req, body as string, (err, value) => {
      if (err) return done(err, undefined);
      const issue = repeatedKeyIssue(body as string, formatPath);
      if (issue) return done(new InputError([issue]), undefined);
      done(null, value);
    });
  });

  app.decorateRequest('recordCount', 0);
  app.decorateRequest('ticket', null);
  app.decorateRequest('bodyTimer', null);
  // Node's own requestTimeout is checked only every 30 s (and fastify's took 70–90 s to answer in a measurement):
  // a request holding an admission share while its body trickles is cut at the time it is allowed, to the second.
  const bodyMs = opts.bodyTimeoutMs ?? requestTimeoutMs(opts.bodyLimit ?? DEFAULT_BODY_LIMIT);
  // Deny by default, decided on the route the router matched (not the raw URL, which may be percent-encoded,
  // absolute-form or dotted): only GET/HEAD of the exact /healthz route is open. Unknown routes get 401 too,
  // so that without the token nothing tells which routes exist.
  app.addHook('onRequest', async (req, reply) => {
    const open = req.routeOptions.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD');
    if (!open && !authorized(req)) {
      reply.header('www-authenticate', 'Bearer').code(401);
      return reply.send({ error: 'unauthorized: a valid Bearer token is required' });
    }
    if (req.routeOptions.url === '/v1/predict' && req.method === 'POST') {
      // A compressed body is not decompressed here: refused, rather than read otherwise than a proxy reads it.
      const enc = req.headers['content-encoding'];
      if (enc !== undefined && String(enc).trim().toLowerCase() !== 'identity')
        return reply.code(415).send({ error: `Content-Encoding ${JSON.stringify(String(enc).slice(0, 40))} is not supported: send the JSON body uncompressed` });
      // A transfer coding other than chunked (gzip, chunked) would be read as if the bytes were the JSON itself.
      const te = req.headers['transfer-encoding'];
      if (te !== undefined && String(te).split(',').some((c) => !['chunked', 'identity'].includes(c.trim().toLowerCase())))
        return reply.code(415).send({ error: `Transfer-Encoding ${JSON.stringify(String(te).slice(0, 40))} is not supported: send the JSON body uncompressed (chunked is fine)` });
      const length = req.headers['content-length'];
      const ticket = admission.admit(admission.estimate(length === undefined ? undefined : Number(length)), req.ip);
      if (!ticket) {
        const wait = Math.min(60, Math.max(1, Math.ceil(admission.drainSeconds())));
        return reply.code(503).header('retry-after', String(wait)).send({ error: 'the server is busy; retry later' });
      }
      req.ticket = ticket;
      const timer = setTimeout(() => req.raw.socket?.destroy(), bodyMs);
      timer.unref();
      req.bodyTimer = timer;
      // Released when the answer is sent or the connection drops, whichever comes first.
      reply.raw.once('close', () => {
        clearTimeout(timer);
        ticket.release();
      });
    }
  });
  // The body has arrived and parsed: from here its records are work, not a claim held open by a slow sender.
  app.addHook('preValidation', async (req) => {
    if (req.bodyTimer) clearTimeout(req.bodyTimer);
    req.ticket?.bodyArrived();
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, route: req.routeOptions?.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, records: req.recordCount }, 'request');
  });
  // Requests in flight finish before close resolves; their responses then close the connection, so that a
  // keep-alive client does not hold the shutdown open until its idle timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onClose', async () => {
    await queue.idle();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof QueueFullError) return reply.code(503).header('retry-after', '1').send({ error: err.message });
    if (err instanceof InputError) return reply.code(400).send({ error: 'invalid input', issues: err.issues.map(shown) });
    if (err instanceof CdmmError) return reply.code(400).send({ error: 'invalid input', issues: [{ path: 'records', message: err.message }] });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: clientMessage(err) });
    req.log.error({ err }, 'internal error');
    return reply.code(500).send({ error: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0].slice(0, 100)}` }));

  app.get('/healthz', async () => ({ status: 'ok', pending_records: queue.pending, admitted_records: admission.records }));
  app.get('/v1/model', async () => predictor.summary());
  app.post('/v1/predict', async (req, reply) => {
    const r = recordsOf(req.body);
    if ('message' in r) return reply.code(400).send({ error: 'invalid input', issues: [r] });
    if (Array.isArray(r.list)) req.recordCount = r.list.length;
    const v = predictor.validate(r.list, r.prefix);
    if (!v.ok) {
      // A single record's paths start at the record itself: `labs[2].value`, not `[0].labs[2].value`.
      const issues = r.single ? v.issues.map((i) => ({ ...i, path: i.path.replace(/^\[0\]\.?/, '') || '(root)' })) : v.issues;
      return reply.code(400).send({ error: 'invalid input', issues: issues.map(shown) });
    }
    req.ticket?.resize(v.records.length);
    // A client that has gone (e.g. timed out) need not be scored: its job leaves the queue.
    const gone = new AbortController();
    reply.raw.once('close', () => !reply.raw.writableFinished && gone.abort());
    try {
      return { predictions: await queue.submit(v.records, gone.signal) };
    } catch (e) {
      if (e instanceof JobAbandonedError) return reply.code(503).send({ error: 'the client closed the connection' });
      if (!(e instanceof InputError)) throw e;
      // The data layer's paths start at `records`: say them as this request wrote its records.
      const at = (p: string) => (r.single ? p.replace(/^records(\[0\])?\.?/, '') : r.prefix.length ? p : p.replace(/^records/, '')) || '(root)';
      return reply.code(400).send({ error: 'invalid input', issues: e.issues.map((i) => shown({ ...i, path: at(i.path) })) });
    }
  });
  return app;
}

/** An issue as sent: names from the request (keys, values) with control and bidi characters as \u escapes. */
function shown(i: InputIssue): InputIssue {
  return { ...i, path: printable(i.path), message: printable(i.message) };
}

/** Fastify's own 4xx messages (bad JSON, body too large, wrong content type) without internals. */
function clientMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'request body too large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type: send application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'empty JSON body';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    default:
      return err.message && err.message.length < 200 ? err.message : 'bad request';
  }
}

/** How long a request may take to arrive whole: 10 s, and 1 s more per MiB the body may hold. */
export function requestTimeoutMs(bodyLimit: number): number {
  return 10_000 + Math.ceil(bodyLimit / 2 ** 20) * 1000;
}
