import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HEADER } from '../rk/signing.js';
import { parseEmulatorConfig, parseRuntimeConfig, EmulatorConfigError } from './config-schema.js';
import { mulberry32 } from './prng.js';
import { EmulatorState, type RequestHeaders } from './state.js';
import {
  DEMO_PROJECT,
  EMULATOR_DEFAULTS,
  type EmulatorOptions,
  type FaultOptions,
  type FaultPath,
  type RunningEmulator,
} from './types.js';
import { parseSendBody, type ApiFailure } from './validation.js';

const API_PREFIX = '/api/v1';
const INSPECTION_PREFIX = '/__emulator/';
const STATUS_ROUTE = /^\/api\/v1\/status\/([^/]+)$/;

/** An answer ready to be written (or dropped, for a reset-after fault). */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

type Route = { kind: 'send' } | { kind: 'status'; id: string };

/** What the fault dice decided for one request. */
interface FaultDecision {
  latencyMs: number;
  hang: boolean;
  resetBefore: boolean;
  serverError: boolean;
  resetAfter: boolean;
}

/** Seeded fault dice. Every request on a faulted path draws the same number of values, so outcomes replay. */
class FaultDice {
  private random: () => number;

  constructor(private faults: FaultOptions) {
    this.random = mulberry32(faults.seed ?? EMULATOR_DEFAULTS.faultSeed);
  }

  get config(): FaultOptions {
    return this.faults;
  }

  applies(path: FaultPath): boolean {
    return (this.faults.paths ?? ['send', 'status']).includes(path);
  }

  roll(): FaultDecision {
    const [min, max] = this.faults.latencyMs ?? [0, 0];
    const latencyDraw = this.random();
    return {
      latencyMs: Math.round(min + (max - min) * latencyDraw),
      hang: this.random() < (this.faults.hangRate ?? 0),
      resetBefore: this.random() < (this.faults.resetBeforeRate ?? 0),
      serverError: this.random() < (this.faults.serverErrorRate ?? 0),
      resetAfter: this.random() < (this.faults.resetAfterRate ?? 0),
    };
  }
}

function success(data: unknown): unknown {
  return { success: true, data, meta: { server_id: EMULATOR_DEFAULTS.serverId } };
}

function failure(f: ApiFailure): Answer {
  return { status: f.status, body: { success: false, message: f.message, code: f.code } };
}

function isFailure(value: unknown): value is ApiFailure {
  return typeof value === 'object' && value !== null && 'code' in value && 'status' in value && 'message' in value;
}

function firstHeader(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function matchRoute(method: string | undefined, pathname: string): Route | null {
  if (method === 'POST' && pathname === `${API_PREFIX}/send`) return { kind: 'send' };
  const status = method === 'GET' ? STATUS_ROUTE.exec(pathname) : null;
  if (status) {
    try {
      return { kind: 'status', id: decodeURIComponent(status[1]!) };
    } catch {
      return null;
    }
  }
  return null;
}

/** Reads the whole body; `null` when it exceeds `limit` bytes (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > limit) return resolve(null);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function write(res: ServerResponse, answer: Answer, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text).toString(),
    ...answer.headers,
    ...extraHeaders,
  });
  res.end(text);
}

/** Resets the TCP connection (RST) so the client sees ECONNRESET, not a clean close. */
function resetConnection(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Starts the RK Connect emulator: a real HTTP server that follows the API documentation strictly (signing, rate
 * limit, validation, idempotency, quota, status lifecycle), with seeded fault injection and inspection endpoints.
 * Resolves once it listens.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const { now: injectedNow, ...fileLike } = options;
  const config = parseEmulatorConfig(fileLike);
  const now = injectedNow ?? Date.now;
  const faultSeed = config.faults?.seed ?? EMULATOR_DEFAULTS.faultSeed;
  const state = new EmulatorState({
    projects: config.projects ?? [DEMO_PROJECT],
    idempotencyWindowMs: config.idempotencyWindowMs ?? EMULATOR_DEFAULTS.idempotencyWindowMs,
    maxClockSkewSeconds: config.maxClockSkewSeconds ?? EMULATOR_DEFAULTS.maxClockSkewSeconds,
    lifecycle: config.lifecycle ?? {},
    // A stream apart from the fault dice, so changing faults never changes which messages fail.
    lifecycleSeed: (faultSeed ^ 0x5bd1e995) >>> 0,
    now,
  });
  if (config.deviceFaults) state.setDeviceFaults(config.deviceFaults);
  let dice = new FaultDice(config.faults ?? {});
  let closed = false;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function applyFaults(faults: FaultOptions): void {
    dice = new FaultDice(faults);
  }

  async function processApi(route: Route, req: IncomingMessage, raw: Buffer): Promise<Answer> {
    const headers = req.headers as RequestHeaders;
    const project = state.authenticate(headers, raw);
    if (isFailure(project)) return failure(project);

    if (route.kind === 'status') {
      const status = state.statusOf(project, route.id);
      return isFailure(status) ? failure(status) : { status: 200, body: success(status) };
    }

    const limited = state.admitSend(project);
    const rateHeaders = {
      'x-ratelimit-limit': String(project.ratePerMinute),
      'x-ratelimit-remaining': String(state.rateRemaining(project)),
    };
    if (limited) {
      return { ...failure(limited), headers: { ...rateHeaders, 'retry-after': String(limited.retryAfterSeconds) } };
    }
    const parsed = await parseSendBody(raw, req.headers['content-type']);
    if (isFailure(parsed)) {
      state.stats.validationRejected++;
      return { ...failure(parsed), headers: rateHeaders };
    }
    const created = state.createOrReplay(
      project,
      firstHeader(headers, HEADER.deviceCode),
      firstHeader(headers, HEADER.requestId),
      parsed,
    );
    if (isFailure(created)) {
      if (created.status === 422) state.stats.validationRejected++;
      return { ...failure(created), headers: rateHeaders };
    }
    return { status: 200, body: success(created), headers: rateHeaders };
  }

  async function handleInspection(req: IncomingMessage, res: ServerResponse, pathname: string, raw: Buffer): Promise<void> {
    if (req.method === 'GET' && pathname === '/__emulator/messages') {
      return write(res, { status: 200, body: { messages: state.listMessages() } });
    }
    if (req.method === 'GET' && pathname === '/__emulator/stats') {
      return write(res, { status: 200, body: state.snapshotStats() });
    }
    if (req.method === 'POST' && pathname === '/__emulator/config') {
      try {
        const change = parseRuntimeConfig(JSON.parse(raw.toString('utf8') || '{}'));
        if (change.quota) state.setQuota(change.quota.apiKey, change.quota.monthlyQuota);
        if (change.faults) applyFaults(change.faults);
        if (change.lifecycle) state.setLifecycle(change.lifecycle);
        if (change.deviceFaults) state.setDeviceFaults(change.deviceFaults);
        return write(res, { status: 200, body: { success: true } });
      } catch (err) {
        const message = err instanceof EmulatorConfigError || err instanceof Error ? err.message : String(err);
        return write(res, failure({ status: 400, code: 'INVALID_CONFIG', message }));
      }
    }
    return write(res, failure({ status: 404, code: 'NOT_FOUND', message: 'Not found.' }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://emulator.invalid').pathname;
    const inspection = pathname.startsWith(INSPECTION_PREFIX);
    if (!inspection) state.stats.requests++;
    const raw = await readBody(req, EMULATOR_DEFAULTS.maxBodyBytes);
    if (raw === null) {
      if (!inspection) state.stats.validationRejected++;
      const answer = failure({ status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than 20 MB.' });
      // The unread rest of the body makes the connection unusable.
      write(res, answer, { connection: 'close' });
      return;
    }
    if (inspection) return handleInspection(req, res, pathname, raw);

    const route = matchRoute(req.method, pathname);
    if (route === null) return write(res, failure({ status: 404, code: 'NOT_FOUND', message: 'Not found.' }));

    const decision = dice.applies(route.kind) ? dice.roll() : null;
    if (decision) {
      if (decision.latencyMs > 0) {
        state.stats.injected.latency++;
        await sleep(decision.latencyMs);
        if (closed) return;
      }
      if (decision.hang) {
        state.stats.injected.hang++;
        return; // Never answer; close() or the client's timeout ends the socket.
      }
      if (decision.resetBefore) {
        state.stats.injected.resetBefore++;
        return resetConnection(req.socket);
      }
      if (decision.serverError) {
        state.stats.injected.serverError++;
        return write(res, failure({ status: 503, code: 'SERVER_ERROR', message: 'Service temporarily unavailable.' }));
      }
    }
    const answer = await processApi(route, req, raw);
    if (decision?.resetAfter) {
      state.stats.injected.resetAfter++;
      return resetConnection(req.socket);
    }
    write(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const message = err instanceof Error ? err.message : String(err);
      write(res, failure({ status: 500, code: 'INTERNAL_ERROR', message: `Emulator error: ${message}` }));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? 0, config.host ?? EMULATOR_DEFAULTS.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostForUrl}:${address.port}${API_PREFIX}`;

  return {
    url,
    port: address.port,
    messages: () => state.listMessages(),
    stats: () => state.snapshotStats(),
    setQuota: (apiKey, monthlyQuota) => state.setQuota(apiKey, monthlyQuota),
    setFaults: (faults) => applyFaults(parseRuntimeConfig({ faults }).faults ?? {}),
    setLifecycle: (lifecycle) => state.setLifecycle(parseRuntimeConfig({ lifecycle }).lifecycle ?? {}),
    setDeviceFaults: (deviceFaults) => state.setDeviceFaults(parseRuntimeConfig({ deviceFaults }).deviceFaults ?? {}),
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
