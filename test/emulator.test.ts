import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { emulatorCommand } from '../src/cli/commands/emulator.js';
import { runEmulator, type EmulatorArgs } from '../src/cli/emulator-run.js';
import type { CliIo } from '../src/cli/io.js';
import { ManualClock } from '../src/core/clock.js';
import { DEMO_PROJECT, startEmulator, type EmulatorOptions, type RunningEmulator } from '../src/emulator/index.js';
import { computeSignature, unixSeconds } from '../src/rk/signing.js';

// 2026-03-02T12:00:00+07:00, the documentation's example instant.
const START = Date.parse('2026-03-02T05:00:00Z');

const PNG_1X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);
const GIF_1X1 = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const running: RunningEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

async function start(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emulator = await startEmulator({ port: 0, ...options });
  running.push(emulator);
  return emulator;
}

interface CallInit {
  method?: 'GET' | 'POST';
  /** Path under the base URL, e.g. `/send`. */
  path: string;
  body?: Uint8Array | string;
  contentType?: string;
  apiKey?: string;
  apiSecret?: string;
  timestamp?: string;
  device?: string | null;
  requestId?: string;
  /** Headers to leave out (lower-case names). */
  omit?: string[];
  /** Sign these bytes instead of the body (to tamper). */
  signedBody?: Uint8Array | string;
  now?: () => number;
}

interface CallResult {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** One signed request over real HTTP with node's fetch. */
async function call(emulator: RunningEmulator, init: CallInit): Promise<CallResult> {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const apiKey = init.apiKey ?? DEMO_PROJECT.apiKey;
  const timestamp = init.timestamp ?? unixSeconds((init.now ?? Date.now)());
  const body = init.body ?? '';
  const signature = computeSignature(apiKey, timestamp, init.signedBody ?? body, init.apiSecret ?? DEMO_PROJECT.apiSecret);
  const headers: Record<string, string> = {
    'x-api-key': apiKey,
    'x-timestamp': timestamp,
    'x-signature': signature,
  };
  if (method === 'POST') headers['content-type'] = init.contentType ?? 'application/json';
  if (init.device !== null) headers['x-device-code'] = init.device ?? DEMO_PROJECT.devices[0]!;
  if (init.requestId !== undefined) headers['x-request-id'] = init.requestId;
  for (const name of init.omit ?? []) delete headers[name];
  const response = await fetch(emulator.url + init.path, {
    method,
    headers,
    ...(method === 'POST' ? { body } : {}),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

function textBody(recipient = '6281234567890', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ recipient, type: 'text', message: 'Hello from RK Connect', ...extra });
}

/** Builds a multipart body with fetch's own encoder, returning the exact bytes and content-type to sign and send. */
async function multipart(fields: Record<string, string>, file?: { bytes: Buffer; name: string; type: string }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('media', new Blob([file.bytes], { type: file.type }), file.name);
  const request = new Request('http://multipart.invalid/', { method: 'POST', body: form });
  return { body: new Uint8Array(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}

function dataOf(result: CallResult): Record<string, unknown> {
  expect(result.json.success, JSON.stringify(result.json)).toBe(true);
  return result.json.data as Record<string, unknown>;
}

describe('signing', () => {
  it('matches the documentation known answers and accepts the documented example request', async () => {
    const body = '{"recipient":"6281234567890","type":"text","message":"Hello from RK Connect"}';
    expect(computeSignature('your_api_key', '1709308800', body, 'your_api_secret')).toBe(
      'a906aca53ba87e4eb96f5f601b5f27f7d30eb23ef21fe7654a54da36fe977065',
    );
    expect(computeSignature('your_api_key', '1709308800', '', 'your_api_secret')).toBe(
      '979ae257b02161929cc3e924b15749a31a729e94c5cf11189ec9e110e7325abf',
    );

    const emulator = await start({
      now: () => 1709308800 * 1000,
      projects: [{ apiKey: 'your_api_key', apiSecret: 'your_api_secret', devices: ['RK-XXXX'] }],
    });
    const response = await fetch(`${emulator.url}/send`, {
      method: 'POST',
      headers: {
        'X-API-KEY': 'your_api_key',
        'X-DEVICE-CODE': 'RK-XXXX',
        'X-TIMESTAMP': '1709308800',
        'X-SIGNATURE': 'a906aca53ba87e4eb96f5f601b5f27f7d30eb23ef21fe7654a54da36fe977065',
        'Content-Type': 'application/json',
      },
      body,
    });
    const json = (await response.json()) as { success: boolean; data: { id: string; status: string; device: string }; meta: unknown };
    expect(response.status).toBe(200);
    expect(json.success).toBe(true);
    expect(json.data.status).toBe('queued');
    expect(json.data.device).toBe('RK-XXXX');
    expect(json.data.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(json.meta).toEqual({ server_id: 'emu-01' });
  });

  it('rejects missing headers, unknown keys, tampering, wrong secrets and stale or malformed timestamps', async () => {
    const clock = new ManualClock(START);
    const emulator = await start({ now: () => clock.now() });
    const now = () => clock.now();
    const expectAuth = async (init: Omit<CallInit, 'path'>, code: string) => {
      const result = await call(emulator, { path: '/send', body: textBody(), now, ...init });
      expect(result.status, code).toBe(401);
      expect(result.json).toMatchObject({ success: false, code });
    };
    for (const header of ['x-api-key', 'x-timestamp', 'x-signature']) {
      await expectAuth({ omit: [header] }, 'MISSING_SIGNATURE_HEADERS');
    }
    await expectAuth({ apiKey: 'nobody' }, 'INVALID_API_KEY');
    await expectAuth({ signedBody: textBody('6281234567891') }, 'INVALID_SIGNATURE');
    await expectAuth({ apiSecret: 'not_the_secret' }, 'INVALID_SIGNATURE');
    await expectAuth({ timestamp: unixSeconds(clock.now() - 301_000) }, 'INVALID_SIGNATURE');
    await expectAuth({ timestamp: unixSeconds(clock.now() + 301_000) }, 'INVALID_SIGNATURE');
    await expectAuth({ timestamp: `${unixSeconds(clock.now())}.5` }, 'INVALID_SIGNATURE');
    // A GET is signed over the empty body: signing anything else fails.
    const status = await call(emulator, { path: `/status/${randomUUID()}`, signedBody: 'x', now });
    expect(status.json.code).toBe('INVALID_SIGNATURE');

    // Within the allowed skew it passes, and nothing above created a message.
    const ok = await call(emulator, { path: '/send', body: textBody(), timestamp: unixSeconds(clock.now() - 299_000), now });
    expect(ok.status).toBe(200);
    expect(emulator.messages()).toHaveLength(1);
    expect(emulator.stats().authRejected).toBe(10);
  });
});

describe('validation', () => {
  it('answers 400/422 naming the field and creates nothing', async () => {
    const emulator = await start();
    const cases: { body: string; device?: string | null; status: number; code: string; mentions: string }[] = [
      { body: '{"recipient":', status: 400, code: 'INVALID_JSON', mentions: 'JSON' },
      { body: '[1,2]', status: 400, code: 'INVALID_JSON', mentions: 'object' },
      { body: JSON.stringify({ type: 'text', message: 'hi' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody('+6281234567890'), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody('081234567890'), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody('6281234'), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody('6281234567890123'), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody('62812abc67890'), status: 422, code: 'VALIDATION_ERROR', mentions: 'recipient' },
      { body: textBody(undefined, { type: 'sticker' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'type' },
      { body: JSON.stringify({ recipient: '6281234567890' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'message' },
      { body: textBody(undefined, { message: '   ' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'message' },
      { body: textBody(undefined, { payload: [1] }), status: 422, code: 'VALIDATION_ERROR', mentions: 'payload' },
      { body: textBody(undefined, { payload: 'x' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'payload' },
      { body: textBody(undefined, { type: 'image' }), status: 422, code: 'VALIDATION_ERROR', mentions: 'media' },
      { body: textBody(), device: 'RK-OTHER', status: 422, code: 'INVALID_DEVICE', mentions: 'X-DEVICE-CODE' },
      { body: textBody(), device: null, status: 422, code: 'INVALID_DEVICE', mentions: 'X-DEVICE-CODE' },
    ];
    for (const c of cases) {
      const result = await call(emulator, { path: '/send', body: c.body, ...(c.device === undefined ? {} : { device: c.device }) });
      expect(result.status, c.body).toBe(c.status);
      expect(result.json.success).toBe(false);
      expect(result.json.code, c.body).toBe(c.code);
      expect(String(result.json.message), c.body).toContain(c.mentions);
    }
    expect(emulator.messages()).toHaveLength(0);
    expect(emulator.stats().validationRejected).toBe(cases.length);

    // Several problems at once: the first is named and the rest are counted.
    const both = await call(emulator, { path: '/send', body: JSON.stringify({ recipient: '0', type: 'text' }) });
    expect(both.json.message).toMatch(/^The recipient field .*\(and 1 more error: The message field/);
  });

  it('accepts a multipart image checked by content, and rejects a GIF or a lying content-type', async () => {
    const emulator = await start();
    const png = await multipart(
      { recipient: '6281234567890', type: 'image', message: 'Promo today', payload: '{"campaign":"spring"}' },
      { bytes: PNG_1X1, name: 'promo.png', type: 'image/png' },
    );
    const accepted = await call(emulator, { path: '/send', body: png.body, contentType: png.contentType });
    const id = dataOf(accepted).id;
    const [stored] = emulator.messages();
    expect(stored).toMatchObject({
      id,
      type: 'image',
      message: 'Promo today',
      payload: { campaign: 'spring' },
      media: { filename: 'promo.png', contentType: 'image/png', size: PNG_1X1.length },
    });

    // Declared as octet-stream (curl's default for unknown files): the content decides.
    const undeclared = await multipart(
      { recipient: '6281234567890', type: 'image' },
      { bytes: PNG_1X1, name: 'x.bin', type: 'application/octet-stream' },
    );
    expect((await call(emulator, { path: '/send', body: undeclared.body, contentType: undeclared.contentType })).status).toBe(200);

    const gif = await multipart({ recipient: '6281234567890', type: 'image' }, { bytes: GIF_1X1, name: 'a.gif', type: 'image/gif' });
    const rejected = await call(emulator, { path: '/send', body: gif.body, contentType: gif.contentType });
    expect(rejected.status).toBe(422);
    expect(rejected.json).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(String(rejected.json.message)).toMatch(/media.*gif/);

    const lying = await multipart(
      { recipient: '6281234567890', type: 'document' },
      { bytes: PNG_1X1, name: 'a.pdf', type: 'application/pdf' },
    );
    const mismatch = await call(emulator, { path: '/send', body: lying.body, contentType: lying.contentType });
    expect(mismatch.status).toBe(422);
    expect(String(mismatch.json.message)).toContain('application/pdf');

    const noFile = await multipart({ recipient: '6281234567890', type: 'video' });
    const missing = await call(emulator, { path: '/send', body: noFile.body, contentType: noFile.contentType });
    expect(missing.status).toBe(422);
    expect(String(missing.json.message)).toContain('media');

    // Signed over different bytes than sent: the multipart body is verified byte for byte.
    const tampered = await call(emulator, { path: '/send', body: png.body, contentType: png.contentType, signedBody: undeclared.body });
    expect(tampered.json.code).toBe('INVALID_SIGNATURE');
    expect(emulator.messages()).toHaveLength(2);
  });
});

describe('idempotency', () => {
  it('returns the same UUID for a repeated X-REQUEST-ID within the window and creates one message', async () => {
    const clock = new ManualClock(START);
    const emulator = await start({ now: () => clock.now(), idempotencyWindowMs: 10_000 });
    const now = () => clock.now();
    const first = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'camp-1:6281234567890', now }));
    clock.advance(9_000);
    const second = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'camp-1:6281234567890', now }));
    expect(second).toEqual(first);
    expect(emulator.messages()).toHaveLength(1);
    expect(emulator.messages()[0]).toMatchObject({ id: first.id, requestId: 'camp-1:6281234567890', replays: 1 });

    const other = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'camp-1:6281234567891', now }));
    expect(other.id).not.toBe(first.id);

    clock.advance(1_001); // past the window, measured from creation
    const late = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'camp-1:6281234567890', now }));
    expect(late.id).not.toBe(first.id);
    expect(emulator.messages()).toHaveLength(3);
    expect(emulator.stats()).toMatchObject({ created: 3, replays: 1 });
  });

  it('reset-after creates the message but loses the answer; the resend gets the same UUID', async () => {
    const emulator = await start({ faults: { resetAfterRate: 1, paths: ['send'] } });
    await expect(call(emulator, { path: '/send', body: textBody(), requestId: 'lost-1' })).rejects.toThrow();
    expect(emulator.messages()).toHaveLength(1);
    expect(emulator.stats().injected.resetAfter).toBe(1);

    emulator.setFaults({});
    const resent = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'lost-1' }));
    expect(emulator.messages()).toHaveLength(1);
    expect(emulator.messages()[0]).toMatchObject({ id: resent.id, replays: 1 });
  });
});

describe('rate limit and quota', () => {
  it('answers 429 with Retry-After over the sliding window and frees up as time moves', async () => {
    const clock = new ManualClock(START);
    const project = { ...DEMO_PROJECT, ratePerMinute: 3 };
    const emulator = await start({ now: () => clock.now(), projects: [project] });
    const now = () => clock.now();
    const send = (n: number) => call(emulator, { path: '/send', body: textBody(`62812345678${10 + n}`), now });

    for (let i = 0; i < 3; i++) {
      expect((await send(i)).status).toBe(200);
      clock.advance(10_000);
    }
    // Sends at +0 s, +10 s, +20 s; now +30 s: the first slot frees at +60 s.
    const limited = await send(3);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ success: false, code: 'RATE_LIMITED' });
    expect(limited.headers.get('retry-after')).toBe('30');

    clock.advance(29_500);
    expect((await send(4)).headers.get('retry-after')).toBe('1'); // 0.5 s left: at least 1

    // Status calls are not rate limited.
    expect((await call(emulator, { path: `/status/${randomUUID()}`, now })).status).toBe(404);

    clock.advance(600); // +60.1 s: the first send left the window
    expect((await send(5)).status).toBe(200);
    expect((await send(6)).status).toBe(429);

    const stats = emulator.stats();
    expect(stats.rateLimited).toBe(3);
    expect(stats.sends).toBe(7);
    expect(stats.created).toBe(4);
    // Attempts at +10, +20, +30, +59.5, +60.1, +60.1 lie in one 60 s window: the client pushed past the limit
    // and it shows, although only 3 were admitted per window.
    expect(stats.maxSendsInAnyWindow[project.apiKey]).toBe(6);
  });

  it('answers the documented 403 once the monthly quota is used, still replays, and resets next month', async () => {
    const clock = new ManualClock(Date.parse('2026-03-31T16:00:00Z')); // 23:00 on 31 March in Jakarta
    const emulator = await start({ now: () => clock.now(), projects: [{ ...DEMO_PROJECT, monthlyQuota: 2 }] });
    const now = () => clock.now();
    const first = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'q-1', now }));
    dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'q-2', now }));

    const over = await fetch(`${emulator.url}/send`, {
      method: 'POST',
      headers: (() => {
        const ts = unixSeconds(clock.now());
        const body = textBody();
        return {
          'x-api-key': DEMO_PROJECT.apiKey,
          'x-timestamp': ts,
          'x-signature': computeSignature(DEMO_PROJECT.apiKey, ts, body, DEMO_PROJECT.apiSecret),
          'x-device-code': 'RK-DEMO',
          'content-type': 'application/json',
        };
      })(),
      body: textBody(),
    });
    expect(over.status).toBe(403);
    expect(await over.text()).toBe(
      JSON.stringify({ success: false, message: 'Monthly quota exceeded or account suspended.', code: 'QUOTA_EXCEEDED' }),
    );

    const replay = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'q-1', now }));
    expect(replay.id).toBe(first.id);

    clock.advance(60 * 60 * 1000); // 00:00 on 1 April in Jakarta: a new month
    expect((await call(emulator, { path: '/send', body: textBody(), requestId: 'q-3', now })).status).toBe(200);
    expect((await call(emulator, { path: '/send', body: textBody(), requestId: 'q-4', now })).status).toBe(200);
    expect((await call(emulator, { path: '/send', body: textBody(), requestId: 'q-5', now })).status).toBe(403);

    emulator.setQuota(DEMO_PROJECT.apiKey, 3);
    expect((await call(emulator, { path: '/send', body: textBody(), requestId: 'q-5', now })).status).toBe(200);
    expect(emulator.stats()).toMatchObject({ created: 5, quotaRejected: 2 });
  });
});

describe('status lifecycle', () => {
  it('moves queued -> sent -> delivered, or failed for chosen recipients, by the injected clock', async () => {
    const clock = new ManualClock(START);
    const emulator = await start({
      now: () => clock.now(),
      lifecycle: { queuedToSentMs: 1000, sentToDeliveredMs: 2000, failRecipients: ['+62 812 0000 0001'], failureMessage: 'Recipient is not on WhatsApp' },
    });
    const now = () => clock.now();
    const ok = dataOf(await call(emulator, { path: '/send', body: textBody('6281234567890'), now }));
    const bad = dataOf(await call(emulator, { path: '/send', body: textBody('6281200000001'), now }));
    const statusOf = async (id: unknown) => dataOf(await call(emulator, { path: `/status/${String(id)}`, now }));

    expect(await statusOf(ok.id)).toEqual({
      id: ok.id,
      status: 'queued',
      recipient: '6281234567890',
      device_code: 'RK-DEMO',
      created_at: '2026-03-02T12:00:00+07:00',
      delivered_at: null,
      failed_at: null,
      error_message: null,
    });
    clock.advance(1000);
    expect((await statusOf(ok.id)).status).toBe('sent');
    expect((await statusOf(bad.id)).status).toBe('sent');
    clock.advance(2000);
    expect(await statusOf(ok.id)).toMatchObject({ status: 'delivered', delivered_at: '2026-03-02T12:00:03+07:00', failed_at: null });
    expect(await statusOf(bad.id)).toMatchObject({
      status: 'failed',
      delivered_at: null,
      failed_at: '2026-03-02T12:00:03+07:00',
      error_message: 'Recipient is not on WhatsApp',
    });
  });

  it('fails a seeded share of messages, the same ones for the same seed', async () => {
    const failedRecipients = async (seed: number) => {
      const clock = new ManualClock(START);
      const emulator = await start({
        now: () => clock.now(),
        lifecycle: { failRate: 0.5, queuedToSentMs: 0, sentToDeliveredMs: 0 },
        faults: { seed },
      });
      const failed: string[] = [];
      for (let i = 0; i < 20; i++) {
        const recipient = `62812000000${10 + i}`;
        const { id } = dataOf(await call(emulator, { path: '/send', body: textBody(recipient), now: () => clock.now() }));
        const status = dataOf(await call(emulator, { path: `/status/${String(id)}`, now: () => clock.now() }));
        if (status.status === 'failed') failed.push(recipient);
      }
      return failed;
    };
    const a = await failedRecipients(7);
    expect(a.length).toBeGreaterThan(2);
    expect(a.length).toBeLessThan(18);
    expect(await failedRecipients(7)).toEqual(a);
  });

  it('answers 404 for unknown and foreign UUIDs and unknown routes', async () => {
    const other = { apiKey: 'other_key', apiSecret: 'other_secret', devices: ['RK-OTHER'] };
    const emulator = await start({ projects: [DEMO_PROJECT, other] });
    const mine = dataOf(await call(emulator, { path: '/send', body: textBody() }));

    const unknown = await call(emulator, { path: `/status/${randomUUID()}` });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ success: false, message: 'Message not found.', code: 'MESSAGE_NOT_FOUND' });

    const foreign = await call(emulator, { path: `/status/${String(mine.id)}`, apiKey: other.apiKey, apiSecret: other.apiSecret });
    expect(foreign.status).toBe(404);
    expect(foreign.json.code).toBe('MESSAGE_NOT_FOUND');
    expect((await call(emulator, { path: `/status/${String(mine.id)}` })).status).toBe(200);

    for (const path of ['/nope', '/send']) {
      const r = await call(emulator, { path, method: 'GET' });
      expect(r.status, path).toBe(404);
      expect(r.json).toMatchObject({ success: false, code: 'NOT_FOUND' });
    }
  });
});

describe('fault injection', () => {
  type Outcome = number | 'reset';
  const outcomes = async (seed: number): Promise<Outcome[]> => {
    const emulator = await start({
      faults: { seed, serverErrorRate: 0.3, resetBeforeRate: 0.2, resetAfterRate: 0.2, paths: ['status'] },
    });
    const seen: Outcome[] = [];
    for (let i = 0; i < 30; i++) {
      try {
        seen.push((await call(emulator, { path: `/status/${randomUUID()}` })).status);
      } catch {
        seen.push('reset');
      }
    }
    // Sends are not on the faulted paths.
    expect((await call(emulator, { path: '/send', body: textBody() })).status).toBe(200);
    return seen;
  };

  it('gives the same sequence of outcomes for the same seed', async () => {
    const first = await outcomes(42);
    expect(first).toContain(503);
    expect(first).toContain('reset');
    expect(first).toContain(404);
    expect(await outcomes(42)).toEqual(first);
    expect(await outcomes(43)).not.toEqual(first);
  });

  it('adds latency and answers 503 with the error envelope', async () => {
    const emulator = await start({ faults: { latencyMs: [80, 80], serverErrorRate: 1 } });
    const started = performance.now();
    const result = await call(emulator, { path: '/send', body: textBody() });
    expect(performance.now() - started).toBeGreaterThanOrEqual(70);
    expect(result.status).toBe(503);
    expect(result.json).toMatchObject({ success: false, code: 'SERVER_ERROR' });
    expect(emulator.messages()).toHaveLength(0);
    expect(emulator.stats().injected).toMatchObject({ latency: 1, serverError: 1 });
  });

  it('close() returns promptly while a hanging request is outstanding', async () => {
    const emulator = await startEmulator({ port: 0, faults: { hangRate: 1 } });
    const pending = call(emulator, { path: '/send', body: textBody() }).then(
      () => 'answered',
      () => 'failed',
    );
    while (emulator.stats().injected.hang === 0) await new Promise((r) => setTimeout(r, 5));
    expect(emulator.messages()).toHaveLength(0);
    const started = performance.now();
    await emulator.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('failed');
  });
});

describe('inspection endpoints and keep-alive', () => {
  it('lists messages and stats, and changes quota and faults at runtime', async () => {
    const emulator = await start();
    const origin = emulator.url.replace(/\/api\/v1$/, '');
    const sent = dataOf(await call(emulator, { path: '/send', body: textBody(), requestId: 'r-1' }));
    await call(emulator, { path: '/send', body: textBody(), requestId: 'r-1' });

    const listed = (await (await fetch(`${origin}/__emulator/messages`)).json()) as { messages: { id: string; replays: number }[] };
    expect(listed.messages).toEqual(emulator.messages());
    expect(listed.messages[0]).toMatchObject({ id: sent.id, replays: 1 });
    const stats = (await (await fetch(`${origin}/__emulator/stats`)).json()) as { requests: number; sends: number };
    expect(stats).toMatchObject({ requests: 2, sends: 2 });

    const change = await fetch(`${origin}/__emulator/config`, {
      method: 'POST',
      body: JSON.stringify({ quota: { apiKey: DEMO_PROJECT.apiKey, monthlyQuota: 1 }, faults: { serverErrorRate: 0 } }),
    });
    expect(change.status).toBe(200);
    expect((await call(emulator, { path: '/send', body: textBody() })).status).toBe(403);

    const invalid = await fetch(`${origin}/__emulator/config`, { method: 'POST', body: JSON.stringify({ faults: { hangRate: 2 } }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { message: string }).message).toContain('faults.hangRate');
  });

  it('keeps connections alive across requests', async () => {
    const emulator = await start();
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const ts = unixSeconds(Date.now());
        const status = await new Promise<number>((resolve, reject) => {
          const req = httpRequest(`${emulator.url}/status/${randomUUID()}`, {
            agent,
            headers: {
              'x-api-key': DEMO_PROJECT.apiKey,
              'x-timestamp': ts,
              'x-signature': computeSignature(DEMO_PROJECT.apiKey, ts, '', DEMO_PROJECT.apiSecret),
            },
          });
          req.on('response', (res) => {
            reused.push(req.reusedSocket);
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
        expect(status).toBe(404);
      }
    } finally {
      agent.destroy();
    }
    expect(reused).toEqual([false, true, true, true]);
  });
});

describe('CLI command', () => {
  function captureIo(): { io: CliIo; out: () => string; err: () => string } {
    let out = '';
    let err = '';
    const sink = (append: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          append(chunk.toString());
          done();
        },
      });
    return {
      io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd: process.cwd() },
      out: () => out,
      err: () => err,
    };
  }

  function parseArgs(argv: string[]): EmulatorArgs {
    return emulatorCommand.builder(yargs(argv)).parseSync() as unknown as EmulatorArgs;
  }

  it('prints one JSON line with the URL and demo credentials, serves, and stops on abort', async () => {
    const { io, out } = captureIo();
    const stop = new AbortController();
    const exit = runEmulator(parseArgs(['--port', '0', '--json', '--quota', '1', '--latency', '0-0']), io, stop.signal);
    while (!out().includes('\n')) await new Promise((r) => setTimeout(r, 5));
    const listening = JSON.parse(out().split('\n')[0]!) as { event: string; url: string; projects: { apiKey: string; apiSecret: string; devices: string[] }[] };
    expect(listening.event).toBe('listening');
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    expect(listening.projects).toEqual([{ apiKey: 'demo_api_key', apiSecret: 'demo_api_secret', devices: ['RK-DEMO'] }]);

    const handle = { url: listening.url } as RunningEmulator;
    expect((await call(handle, { path: '/send', body: textBody() })).status).toBe(200);
    expect((await call(handle, { path: '/send', body: textBody() })).status).toBe(403); // --quota 1

    stop.abort();
    expect(await exit).toBe(0);
    const stopped = JSON.parse(out().trim().split('\n').at(-1)!) as { event: string; stats: { created: number } };
    expect(stopped).toMatchObject({ event: 'stopped', stats: { created: 1 } });
  });

  it('prints the banner with env lines, and refuses bad flags with exit code 2', async () => {
    const human = captureIo();
    const stop = new AbortController();
    const exit = runEmulator(parseArgs(['--port', '0', '--fail-recipients', '6281,6282']), human.io, stop.signal);
    while (!human.out().includes('Ctrl+C')) await new Promise((r) => setTimeout(r, 5));
    expect(human.out()).toMatch(/RK_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/api\/v1 RK_API_KEY=demo_api_key RK_API_SECRET=demo_api_secret/);
    expect(human.out()).toContain('RK-DEMO');
    stop.abort();
    expect(await exit).toBe(0);

    const bad = captureIo();
    expect(await runEmulator(parseArgs(['--port', '0', '--fail-rate', '2']), bad.io, new AbortController().signal)).toBe(2);
    expect(bad.err()).toContain('lifecycle.failRate');
    const badLatency = captureIo();
    expect(await runEmulator(parseArgs(['--latency', 'soon']), badLatency.io, new AbortController().signal)).toBe(2);
    expect(badLatency.err()).toContain('--latency');
  });
});

describe('device faults (issue 12)', () => {
  it('a device answers 404/409/403 device codes from its afterMessages-th message on; a replay through another device returns the original', async () => {
    const { startEmulator: start, DEMO_PROJECT: demo } = await import('../src/emulator/index.js');
    const { RkClient } = await import('../src/rk/client.js');
    const emu = await start({
      port: 0,
      projects: [{ ...demo, devices: ['RK-A', 'RK-B', 'RK-C'] }],
      deviceFaults: { 'RK-A': { fault: 'not_found', afterMessages: 1 }, 'RK-B': { fault: 'disconnected' } },
    });
    try {
      const client = new RkClient({ apiKey: demo.apiKey, apiSecret: demo.apiSecret, baseUrl: emu.url });
      const first = await client.send({ device: 'RK-A', recipient: '6281234567890', message: 'x', requestId: 'rq-1' });
      const fail = async (device: string) =>
        client.send({ device, recipient: '6281234567891', message: 'x', requestId: 'rq-2' }).then(
          () => null,
          (e: { httpStatus?: number; code?: string; kind?: string }) => [e.httpStatus, e.code, e.kind],
        );
      expect(await fail('RK-A')).toEqual([404, 'DEVICE_NOT_FOUND', 'device']);
      expect(await fail('RK-B')).toEqual([409, 'DEVICE_DISCONNECTED', 'device']);
      emu.setDeviceFaults({ 'RK-C': { fault: 'restricted' } });
      expect(await fail('RK-C')).toEqual([403, 'DEVICE_RESTRICTED', 'device']);
      // Same request id through another (healthy) device: the message created through RK-A, not a second one.
      const replay = await client.send({ device: 'RK-B', recipient: '6281234567890', message: 'x', requestId: 'rq-1' });
      expect([replay.id, replay.device]).toEqual([first.id, 'RK-A']);
      expect(emu.messages()).toHaveLength(1);
      await client.close();
    } finally {
      await emu.close();
    }
  });
});
