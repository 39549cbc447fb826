import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, DEMO_PROJECT, type EmulatorOptions, type RunningEmulator } from '../src/emulator/index.js';
import { RkClient, type RkClientOptions } from '../src/rk/client.js';
import { RkError } from '../src/rk/errors.js';
import { loadMedia } from '../src/rk/media.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RECIPIENT = '6281234567890';
const media = (name: string) => fileURLToPath(new URL(`./fixtures/media/${name}`, import.meta.url));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function emulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emu = await startEmulator({ port: 0, ...options });
  cleanups.push(() => emu.close());
  return emu;
}

function client(emu: { url: string }, overrides: Partial<RkClientOptions> = {}): RkClient {
  const c = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emu.url, ...overrides });
  cleanups.push(() => c.close());
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<RkError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RkError);
  // No error, whatever its path, may carry the project secret (message, hint, cause or any field).
  expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(DEMO_PROJECT.apiSecret);
  return error as RkError;
}

describe('send', () => {
  it('sends a text message as signed JSON and gets a UUID the emulator holds', async () => {
    const emu = await emulator();
    const accepted = await client(emu).send({
      device: 'RK-DEMO',
      recipient: RECIPIENT,
      message: 'Halo Budi, promo 🎉 hari ini',
      payload: { campaign: 'c1', row: 7 },
      requestId: 'req-text-1',
    });
    expect(accepted.id).toMatch(UUID);
    expect(accepted).toMatchObject({ status: 'queued', device: 'RK-DEMO', serverId: 'emu-01' });
    const [stored, ...rest] = emu.messages();
    expect(rest).toHaveLength(0);
    expect(stored).toMatchObject({
      id: accepted.id,
      recipient: RECIPIENT,
      type: 'text',
      message: 'Halo Budi, promo 🎉 hari ini',
      payload: { campaign: 'c1', row: 7 },
      requestId: 'req-text-1',
      media: null,
    });
  });

  it('sends an image as a signed multipart body with caption, payload and file', async () => {
    const emu = await emulator();
    const photo = await loadMedia(media('photo.jpg'), 'image');
    const accepted = await client(emu).send({
      device: 'RK-DEMO',
      recipient: RECIPIENT,
      type: 'image',
      message: 'Promo today\nline two',
      media: photo,
      payload: { campaign: 'c2' },
    });
    expect(accepted.id).toMatch(UUID);
    expect(emu.messages()).toEqual([
      expect.objectContaining({
        id: accepted.id,
        type: 'image',
        message: 'Promo today\nline two',
        payload: { campaign: 'c2' },
        media: { filename: 'photo.jpg', contentType: 'image/jpeg', size: photo.data.length },
      }),
    ]);
  });

  it('sends a docx as a document without a caption', async () => {
    const emu = await emulator();
    const doc = await loadMedia(media('invoice.docx'), 'document');
    await client(emu).send({ device: 'RK-DEMO', recipient: RECIPIENT, type: 'document', media: doc });
    expect(emu.messages()[0]).toMatchObject({
      type: 'document',
      media: { filename: 'invoice.docx', contentType: doc.contentType, size: doc.data.length },
    });
  });

  it('an unregistered device is a device error (the device leaves the rotation), not a failure of the message', async () => {
    const emu = await emulator();
    const error = await rejection(client(emu).send({ device: 'RK-NOPE', recipient: RECIPIENT, message: 'x' }));
    expect([error.kind, error.httpStatus, error.code, error.permanent, error.retryable, error.dropsDevice]).toEqual([
      'device',
      422,
      'INVALID_DEVICE',
      false,
      false,
      true,
    ]);
    expect(emu.messages()).toHaveLength(0);
  });
});

describe('authentication', () => {
  it('a wrong secret is an auth error (INVALID_SIGNATURE) that stops the run, and never shows the secret', async () => {
    const emu = await emulator();
    const wrongSecret = 'wrong-secret-do-not-print';
    const c = client(emu, { apiSecret: wrongSecret });
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect([error.kind, error.httpStatus, error.code, error.stopsRun]).toEqual(['auth', 401, 'INVALID_SIGNATURE', true]);
    expect(error.hint).toMatch(/RK_API_SECRET/);
    for (const text of [error.message, error.hint, inspect(error, { depth: 10 }), inspect(c, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain(wrongSecret);
    }
    const statusError = await rejection(c.status(randomUUID()));
    expect(statusError.code).toBe('INVALID_SIGNATURE');
    expect(emu.messages()).toHaveLength(0);
  });

  it('a clock 10 minutes off is rejected as INVALID_SIGNATURE', async () => {
    const emu = await emulator();
    const error = await rejection(
      client(emu, { now: () => Date.now() - 10 * 60_000 }).send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }),
    );
    expect([error.kind, error.code]).toEqual(['auth', 'INVALID_SIGNATURE']);
    expect(error.hint).toMatch(/clock/);
  });

  it('an unknown key is an auth error', async () => {
    const emu = await emulator();
    const error = await rejection(client(emu, { apiKey: 'nobody' }).send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect(error.kind).toBe('auth');
    expect(error.stopsRun).toBe(true);
  });
});

describe('idempotency', () => {
  it('a replay with the same request id returns the same UUID and creates nothing', async () => {
    const emu = await emulator();
    const c = client(emu);
    const request = { device: 'RK-DEMO', recipient: RECIPIENT, message: 'once', requestId: 'camp-1:6281234567890' };
    const first = await c.send(request);
    const second = await c.send(request);
    expect(second.id).toBe(first.id);
    expect(emu.messages()).toHaveLength(1);
    expect(emu.messages()[0]!.replays).toBe(1);
  });

  it('after a reset that lost the answer, a resend with the same request id yields exactly one message', async () => {
    const emu = await emulator({ faults: { resetAfterRate: 1, paths: ['send'] } });
    const c = client(emu);
    const request = { device: 'RK-DEMO', recipient: RECIPIENT, message: 'exactly once', requestId: 'camp-1:reset' };
    const lost = await rejection(c.send(request));
    expect([lost.kind, lost.retryable, lost.mayHaveBeenProcessed]).toEqual(['network', true, true]);
    expect(emu.messages()).toHaveLength(1); // created, although the client never heard of it

    emu.setFaults({});
    const retry = await c.send(request);
    const messages = emu.messages();
    expect(messages).toHaveLength(1);
    expect(retry.id).toBe(messages[0]!.id);
    expect(messages[0]!.replays).toBe(1);
  });
});

describe('limits and server errors', () => {
  it('429 becomes rate_limited with the Retry-After it gave', async () => {
    const emu = await emulator({ projects: [{ ...DEMO_PROJECT, ratePerMinute: 2 }] });
    const c = client(emu);
    await c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: '1' });
    await c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: '2' });
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: '3' }));
    expect([error.kind, error.httpStatus, error.retryable, error.stopsRun]).toEqual(['rate_limited', 429, true, false]);
    expect(error.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(emu.messages()).toHaveLength(2);
  });

  it('an exhausted quota is a quota error (QUOTA_EXCEEDED) that stops the run', async () => {
    const emu = await emulator();
    emu.setQuota(DEMO_PROJECT.apiKey, 1);
    const c = client(emu);
    await c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'fits' });
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'over' }));
    expect([error.kind, error.httpStatus, error.code, error.stopsRun]).toEqual(['quota', 403, 'QUOTA_EXCEEDED', true]);
    expect(error.message).toContain('Monthly quota exceeded');
    expect(error.hint).toMatch(/quota/);
  });

  it('5xx is a retryable server error and nothing is created', async () => {
    const emu = await emulator({ faults: { serverErrorRate: 1 } });
    const error = await rejection(client(emu).send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect([error.kind, error.httpStatus, error.code, error.retryable]).toEqual(['server', 503, 'SERVER_ERROR', true]);
    expect(emu.messages()).toHaveLength(0);
  });

  it('a reset before processing is a retryable network error', async () => {
    const emu = await emulator({ faults: { resetBeforeRate: 1 } });
    const error = await rejection(client(emu).send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect([error.kind, error.retryable]).toEqual(['network', true]);
    expect(emu.messages()).toHaveLength(0);
  });
});

describe('status', () => {
  it('follows queued -> sent -> delivered, and failed with its error message, on an injected clock', async () => {
    let now = Date.UTC(2026, 2, 2, 5, 0, 0);
    const clock = () => now;
    const failing = '6285550000001';
    const emu = await emulator({ now: clock, lifecycle: { queuedToSentMs: 1000, sentToDeliveredMs: 2000, failRecipients: [failing] } });
    const c = client(emu, { now: clock });
    const ok = await c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'hi' });
    const bad = await c.send({ device: 'RK-DEMO', recipient: failing, message: 'hi' });

    const queued = await c.status(ok.id);
    expect(queued).toMatchObject({ id: ok.id, status: 'queued', recipient: RECIPIENT, deviceCode: 'RK-DEMO', deliveredAt: null });
    expect(queued.createdAt).toEqual(expect.any(String));

    now += 1000;
    expect((await c.status(ok.id)).status).toBe('sent');

    now += 2000;
    const delivered = await c.status(ok.id);
    expect(delivered.status).toBe('delivered');
    expect(delivered.deliveredAt).toEqual(expect.any(String));
    expect(delivered.failedAt).toBeNull();
    expect(delivered.errorMessage).toBeNull();

    const failed = await c.status(bad.id);
    expect(failed).toMatchObject({ status: 'failed', recipient: failing, deliveredAt: null, errorMessage: 'Recipient is not on WhatsApp' });
    expect(failed.failedAt).toEqual(expect.any(String));
  });

  it('an unknown or foreign UUID is not_found', async () => {
    const other = { apiKey: 'other_key', apiSecret: 'other_secret_123', devices: ['RK-OTHER'] };
    const emu = await emulator({ projects: [DEMO_PROJECT, other] });
    const foreign = await client(emu, { apiKey: other.apiKey, apiSecret: other.apiSecret }).send({
      device: 'RK-OTHER',
      recipient: RECIPIENT,
      message: 'theirs',
    });
    const c = client(emu);
    for (const uuid of [randomUUID(), foreign.id]) {
      const error = await rejection(c.status(uuid));
      expect([error.kind, error.httpStatus, error.permanent]).toEqual(['not_found', 404, true]);
    }
  });
});

describe('cancellation and timeouts', () => {
  it('an AbortSignal cancels a hanging request promptly', async () => {
    const emu = await emulator({ faults: { hangRate: 1 } });
    const c = client(emu, { headersTimeoutMs: 30_000 });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }, { signal: controller.signal }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect([error.kind, error.aborted, error.retryable]).toEqual(['network', true, true]);
    expect(error.message).toMatch(/cancelled/);
  });

  it('an already aborted signal sends nothing', async () => {
    const emu = await emulator();
    const error = await rejection(client(emu).status(randomUUID(), { signal: AbortSignal.abort() }));
    expect(error.aborted).toBe(true);
    expect(error.mayHaveBeenProcessed).toBe(false);
    expect(emu.stats().requests).toBe(0);
  });

  it('the headers timeout ends a request the API never answers', async () => {
    const emu = await emulator({ faults: { hangRate: 1 } });
    const c = client(emu, { headersTimeoutMs: 300 });
    const started = Date.now();
    const error = await rejection(c.status(randomUUID()));
    expect(Date.now() - started).toBeLessThan(3000);
    expect([error.kind, error.code, error.aborted, error.mayHaveBeenProcessed]).toEqual([
      'network',
      'UND_ERR_HEADERS_TIMEOUT',
      false,
      true,
    ]);
  });

  it('a refused connection is a network error that never reached the API', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await rejection(client({ url: `http://127.0.0.1:${port}/api/v1` }).status(randomUUID()));
    expect([error.kind, error.code, error.mayHaveBeenProcessed]).toEqual(['network', 'ECONNREFUSED', false]);
  });
});

/** A real HTTP server on loopback that answers like a misbehaving proxy (not a mock of the client's HTTP layer). */
async function proxyLike(answer: (path: string) => { status: number; type: string; body: string }): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = answer(req.url ?? '');
      res.writeHead(a.status, { 'content-type': a.type });
      res.end(a.body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`, connections: () => connections };
}

describe('answers that are not the envelope', () => {
  it('maps HTML pages and truncated JSON to clear errors with the HTTP status', async () => {
    const server = await proxyLike((path) =>
      path.includes('html502')
        ? { status: 502, type: 'text/html', body: '<html><body>Bad gateway</body></html>' }
        : path.includes('html404')
          ? { status: 404, type: 'text/html', body: '<html>Not here</html>' }
          : path.includes('truncated')
            ? { status: 200, type: 'application/json', body: '{"success":true,"data":{"id":' }
            : { status: 200, type: 'application/json', body: '{"success":true,"data":{"status":"queued"}}' },
    );
    const c = client(server);
    const gateway = await rejection(c.status('html502'));
    expect([gateway.kind, gateway.httpStatus, gateway.retryable]).toEqual(['server', 502, true]);
    expect(gateway.message).toContain('Bad gateway');

    const wrongUrl = await rejection(c.status('html404'));
    expect([wrongUrl.kind, wrongUrl.httpStatus]).toEqual(['network', 404]);
    expect(wrongUrl.message).toMatch(/text\/html/);
    expect(wrongUrl.hint).toMatch(/RK_BASE_URL/);

    const truncated = await rejection(c.status('truncated'));
    expect([truncated.kind, truncated.httpStatus]).toEqual(['network', 200]);

    const noId = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect(noId.message).toMatch(/without data\.id/);
  });

  it('reuses kept-alive connections for sequential requests', async () => {
    const server = await proxyLike(() => ({
      status: 200,
      type: 'application/json',
      body: '{"success":true,"data":{"id":"x","status":"sent"}}',
    }));
    const c = client(server);
    for (let i = 0; i < 10; i++) await c.status(`m${i}`);
    // undici's pool may open a second socket while the first is being released; never one per request.
    expect(server.connections()).toBeLessThanOrEqual(2);
  });
});

/** A loopback server answering with headers at once, then one byte every `everyMs` for ever. */
async function trickling(everyMs = 500): Promise<{ url: string }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
    const timer = setInterval(() => res.write(' '), everyMs);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1` };
}

describe('the whole-request deadline', () => {
  it('ends an answer that trickles one byte every 500 ms (which per-chunk timers never do) as a retryable timeout', async () => {
    const server = await trickling();
    const c = client(server, { requestTimeoutMs: 800 });
    const started = Date.now();
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x', requestId: 'r-1' }));
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(750);
    expect(took).toBeLessThan(2000);
    expect([error.kind, error.code, error.retryable, error.aborted, error.mayHaveBeenProcessed]).toEqual(['network', 'REQUEST_TIMEOUT', true, false, true]);
  });

  it('a caller abort during a trickled body is a cancellation, not a timeout', async () => {
    const server = await trickling();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = await rejection(client(server, { requestTimeoutMs: 10_000 }).status(randomUUID(), { signal: controller.signal }));
    expect([error.kind, error.aborted]).toEqual(['network', true]);
  });
});

describe('text from the API', () => {
  it('a 2xx whose id is not a UUID or short token is a retryable malformed answer that may have been processed', async () => {
    const ids = ['<b>x</b>', 'a\u0000b', 'y'.repeat(129), ''];
    const server = await proxyLike(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ success: true, data: { id: ids.shift(), status: 'queued' } }) }));
    const c = client(server);
    for (let i = 0; i < 3; i++) {
      const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
      expect([error.kind, error.code, error.retryable, error.mayHaveBeenProcessed]).toEqual(['network', 'MALFORMED_ANSWER', true, true]);
      expect(error.message).not.toMatch(/<b>|\u0000|yyyy/);
    }
  });

  it('an answer over 1 MB is not read and is a malformed answer', async () => {
    const server = await proxyLike(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ success: true, data: { id: 'A'.repeat(5 * 1024 * 1024) } }) }));
    const error = await rejection(client(server).send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect([error.code, error.retryable]).toEqual(['MALFORMED_ANSWER', true]);
    expect(error.message).toContain('larger than 1 MB');
  });

  it('error messages, codes and status fields arrive as bounded plain text', async () => {
    const nasty = 'No\x1b[2J\x07pe\r\n\x00!';
    const server = await proxyLike((path) =>
      path.includes('/status/')
        ? {
            status: 200,
            type: 'application/json',
            body: JSON.stringify({ success: true, data: { id: 'other', status: 'failed\x1b[2J', recipient: RECIPIENT, failed_at: '2026\x07', error_message: nasty + 'z'.repeat(5000) } }),
          }
        : { status: 422, type: 'application/json', body: JSON.stringify({ success: false, message: nasty, code: 'BAD\x1b[31mCODE' }) },
    );
    const c = client(server);
    const error = await rejection(c.send({ device: 'RK-DEMO', recipient: RECIPIENT, message: 'x' }));
    expect(error.message).toBe('RK Connect rejected the message (422 BADCODE): No pe !');
    expect(error.code).toBe('BADCODE');
    const uuid = randomUUID();
    const status = await c.status(uuid);
    expect(status).toMatchObject({ id: uuid, status: 'failed', failedAt: '2026' });
    expect(status.errorMessage!.startsWith('No pe !zzz')).toBe(true);
    expect(status.errorMessage!.length).toBeLessThanOrEqual(500);
  });
});
