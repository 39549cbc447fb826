import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ReportRow } from '../src/store/types.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { cliEnv, startCli, type CliResult } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { runTuningFrom } from '../src/cli/context.js';

/** One request the hostile server received. */
interface Seen {
  method: string;
  path: string;
  requestId: string | undefined;
  recipient: string | undefined;
  /** 1-based attempt number for this request id (or status path). */
  attempt: number;
  at: number;
  /** When the client closed the connection (set later), or undefined. */
  closedAt?: number;
}

type Handler = (seen: Seen, req: IncomingMessage, res: ServerResponse) => void;

/**
 * A real HTTP server on loopback that behaves as a hostile or broken API would: the test decides every answer.
 * Not a mock of the client: the real CLI talks to it over TCP.
 */
async function hostileServer(handler: Handler): Promise<{ url: string; seen: Seen[]; setHandler: (h: Handler) => void; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const attempts = new Map<string, number>();
  let current = handler;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let recipient: string | undefined;
      try {
        recipient = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { recipient?: string }).recipient;
      } catch {
        recipient = undefined;
      }
      const requestId = req.headers['x-request-id'] as string | undefined;
      const key = `${req.method} ${requestId ?? req.url}`;
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      const entry: Seen = { method: req.method ?? '', path: req.url ?? '', requestId, recipient, attempt, at: Date.now() };
      seen.push(entry);
      res.on('close', () => (entry.closedAt = Date.now()));
      current(entry, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Closing every connection also ends every trickle (its timer stops when the response closes).
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  cleanups.push(close);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`, seen, setHandler: (h) => (current = h), close };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function accepted(res: ServerResponse, id: string = randomUUID(), status = 'queued'): void {
  json(res, 200, { success: true, data: { id, status, device: 'RK-DEMO' } });
}

/** Headers at once, then one byte of a never-ending body every 500 ms, until the client gives up. */
function trickle(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{');
  const timer = setInterval(() => {
    if (res.destroyed) clearInterval(timer);
    else res.write(' ');
  }, 500);
  res.on('close', () => clearInterval(timer));
}

function envFor(url: string, extra: Record<string, string> = {}) {
  return cliEnv({ RK_BASE_URL: url, RK_API_KEY: 'hostile_key', RK_API_SECRET: 'hostile_secret_value', RK_RETRY_BASE_MS: '50', ...extra });
}

/**
 * How long one CLI process may take before it is killed (and its exit code assertion fails). Far above what a run
 * needs, because the machine may be loaded; a run that waits for ever (the bugs these tests pin) still fails.
 */
const LIMIT_MS = 40_000;
/** Per test: several CLI processes each. */
const TEST_MS = 150_000;

/** Runs the real CLI; kills it (and fails the assertion on its code) if it outlives `limitMs`. */
async function runBounded(args: string[], cwd: string, env: NodeJS.ProcessEnv, limitMs: number): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const child = startCli(args, { cwd, env });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const result = await child.result;
  clearTimeout(killer);
  return { ...result, ms: Date.now() - started };
}

async function rowsOf(db: string, campaignId: string): Promise<ReportRow[]> {
  const store = new SqliteStore(db);
  const rows: ReportRow[] = [];
  for await (const r of store.reportRows(campaignId)) rows.push(r);
  await store.close();
  return rows;
}

describe('a response that never ends (item 2)', () => {
  it('RK_REQUEST_TIMEOUT_MS bounds the whole request: a trickled answer is abandoned in time and retried with the same request id', async () => {
    const server = await hostileServer((seen, _req, res) => {
      if (seen.attempt === 1) trickle(res);
      else accepted(res);
    });
    const dir = tempDir();
    const [number] = writeInlineCampaign(dir, { id: 'trickle', recipients: 1, prefix: '11', rate: 6000 });
    const db = join(dir, 's.db');
    const r = await runBounded(
      ['run', join(dir, 'campaigns', 'trickle.yaml'), '--db', db, '--no-sweep'],
      dir,
      envFor(server.url, { RK_REQUEST_TIMEOUT_MS: '1000' }),
      LIMIT_MS,
    );
    expect(r.code, r.stderr).toBe(0);
    const sends = server.seen.filter((s) => s.method === 'POST');
    expect(sends).toHaveLength(2);
    expect(sends[1]!.requestId).toBe(sends[0]!.requestId);
    expect(sends.map((s) => s.recipient)).toEqual([number, number]);
    // Abandoned at the deadline (1 s) although a byte came every 500 ms, then retried after the short backoff.
    const abandonedAfter = sends[0]!.closedAt! - sends[0]!.at;
    expect(abandonedAfter).toBeGreaterThanOrEqual(900);
    expect(abandonedAfter).toBeLessThan(5000); // slack for a loaded machine; without the deadline it is never
    expect(sends[1]!.at - sends[0]!.at).toBeLessThan(8000);
    const [row] = await rowsOf(db, 'trickle');
    expect([row!.state, row!.attempts]).toEqual(['accepted', 2]);
  }, TEST_MS);

  it('one SIGTERM ends a run promptly (exit 130) while answers trickle; the rows in flight stay sending and the next run resends them', async () => {
    const server = await hostileServer((_seen, _req, res) => trickle(res));
    const dir = tempDir();
    const numbers = writeInlineCampaign(dir, { id: 'sigterm', recipients: 4, prefix: '12', rate: 6000 });
    const db = join(dir, 's.db');
    const path = join(dir, 'campaigns', 'sigterm.yaml');
    // The request timeout is long (the default): only the stop may end these requests.
    const env = envFor(server.url, { RK_REQUEST_TIMEOUT_MS: '30000' });
    const child = startCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    const killer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
    while (server.seen.filter((s) => s.method === 'POST').length < numbers.length) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // every answer is trickling now
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const result = await child.result;
    const stoppedAfter = Date.now() - signalledAt;
    clearTimeout(killer);
    expect(result.code, result.stderr).toBe(130);
    // 2 s of drain, then teardown; slack for a loaded machine (without the fix it never exits).
    expect(stoppedAfter).toBeLessThan(8000);
    expect(result.stderr).toContain('Stopped by signal');
    const mid = await rowsOf(db, 'sigterm');
    expect(mid.map((x) => x.state)).toEqual(Array(numbers.length).fill('sending'));

    // The API behaves again: the next run recovers the rows in flight and resends them with the same request ids.
    const firstIds = new Map(server.seen.map((s) => [s.recipient, s.requestId]));
    server.setHandler((_seen, _req, res) => accepted(res));
    const again = await runBounded(['run', path, '--db', db, '--no-sweep'], dir, env, LIMIT_MS);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Recovered from an interrupted run: 4 message/);
    const resent = server.seen.filter((s) => s.attempt === 2);
    expect(resent).toHaveLength(numbers.length);
    for (const s of resent) expect(s.requestId).toBe(firstIds.get(s.recipient));
    expect((await rowsOf(db, 'sigterm')).every((x) => x.state === 'accepted')).toBe(true);
  }, TEST_MS);
});

describe('a very long Retry-After (item 8)', () => {
  const tooMany = (res: ServerResponse, seconds: string) =>
    json(res, 429, { success: false, message: 'Too many requests.', code: 'RATE_LIMITED' }, { 'retry-after': seconds });

  it('Retry-After: 86400 stops the run with exit 12 and a clear message, state kept; the next run completes', async () => {
    const server = await hostileServer((_seen, _req, res) => tooMany(res, '86400'));
    const dir = tempDir();
    const numbers = writeInlineCampaign(dir, { id: 'pause', recipients: 3, prefix: '13', rate: 6000 });
    const db = join(dir, 's.db');
    const path = join(dir, 'campaigns', 'pause.yaml');
    const r = await runBounded(['run', path, '--db', db, '--no-sweep'], dir, envFor(server.url), LIMIT_MS);
    expect(r.code, r.stderr).toBe(12);
    expect(r.stderr).toContain('asked to pause sending for 1d');
    expect(r.stderr).toContain('(5m, RK_MAX_RATE_LIMIT_PAUSE)');
    expect(r.stderr).toMatch(/Run the same command again after \d{4}-\d\d-\d\dT/);
    expect(r.stderr).toContain(`Then resume with: rk-broadcast run ${path} --db ${db}`);
    const mid = await rowsOf(db, 'pause');
    expect(mid.map((x) => [x.state, x.attempts])).toEqual(Array(numbers.length).fill(['planned', 0]));

    server.setHandler((_seen, _req, res) => accepted(res));
    const again = await runBounded(['run', path, '--db', db, '--no-sweep', '--json'], dir, envFor(server.url), LIMIT_MS);
    expect(again.code, again.stderr).toBe(0);
    expect((await rowsOf(db, 'pause')).every((x) => x.state === 'accepted')).toBe(true);
  }, TEST_MS);

  it('a pause within RK_MAX_RATE_LIMIT_PAUSE is taken and the run goes on; a longer one stops it (exit 12, NDJSON reason)', async () => {
    const server = await hostileServer((seen, _req, res) => (seen.attempt === 1 && seen.recipient?.endsWith('0') ? tooMany(res, '1') : accepted(res)));
    const dir = tempDir();
    writeInlineCampaign(dir, { id: 'short', recipients: 2, prefix: '14', rate: 6000 });
    const path = join(dir, 'campaigns', 'short.yaml');
    const ok = await runBounded(['run', path, '--db', join(dir, 'a.db'), '--no-sweep'], dir, envFor(server.url, { RK_MAX_RATE_LIMIT_PAUSE: '2s' }), LIMIT_MS);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('pausing 1s as asked');

    server.setHandler((_seen, _req, res) => tooMany(res, '3'));
    const stopped = await runBounded(['run', path, '--db', join(dir, 'b.db'), '--no-sweep', '--json'], dir, envFor(server.url, { RK_MAX_RATE_LIMIT_PAUSE: '2s' }), LIMIT_MS);
    expect(stopped.code, stopped.stderr).toBe(12);
    const finished = stopped.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string; exitCode?: number }).find((e) => e.type === 'run-finished');
    expect(finished).toMatchObject({ reason: 'rate_limit_pause', exitCode: 12 });
  }, TEST_MS);

  it('an RK_MAX_RATE_LIMIT_PAUSE that is not a duration is bad input (exit 2) before anything is sent', async () => {
    const server = await hostileServer((_seen, _req, res) => accepted(res));
    const dir = tempDir();
    writeInlineCampaign(dir, { id: 'badenv', recipients: 1, prefix: '15', rate: 6000 });
    const r = await runBounded(['run', join(dir, 'campaigns', 'badenv.yaml'), '--db', join(dir, 's.db'), '--no-sweep'], dir, envFor(server.url, { RK_MAX_RATE_LIMIT_PAUSE: 'forever' }), LIMIT_MS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RK_MAX_RATE_LIMIT_PAUSE: expected a duration from 0s to 7d, e.g. 5m or 2h, found "forever"');
    expect(server.seen).toHaveLength(0);
  }, TEST_MS);
});

describe('tuning variables are checked, not ignored', () => {
  it('a whole-number variable that is not one (RK_HEALTH_RATE, RK_DB_BUSY_TIMEOUT_MS) or an unknown RK_DB_DURABILITY is bad input (exit 2) naming it, before anything is sent', async () => {
    const server = await hostileServer((_seen, _req, res) => accepted(res));
    const dir = tempDir();
    writeInlineCampaign(dir, { id: 'badint', recipients: 1, prefix: '16', rate: 6000 });
    const run = (extra: Record<string, string>, args = ['run', join(dir, 'campaigns', 'badint.yaml'), '--db', join(dir, 's.db'), '--no-sweep']) =>
      runBounded(args, dir, envFor(server.url, extra), LIMIT_MS);
    const rate = await run({ RK_HEALTH_RATE: 'fast' });
    expect(rate.code).toBe(2);
    expect(rate.stderr).toContain('RK_HEALTH_RATE: expected a positive whole number, found "fast".');
    expect(rate.stderr).toContain('Fix or unset RK_HEALTH_RATE (unset: at most 120 status calls a minute).');
    const busy = await run({ RK_DB_BUSY_TIMEOUT_MS: '-5' }, ['status', join(dir, 'campaigns', 'badint.yaml'), '--db', join(dir, 's.db')]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('RK_DB_BUSY_TIMEOUT_MS: expected a positive whole number, found "-5".');
    const durability = await run({ RK_DB_DURABILITY: 'ful' });
    expect(durability.code).toBe(2);
    expect(durability.stderr).toContain('RK_DB_DURABILITY: expected normal or full, found "ful".');
    expect(server.seen).toHaveLength(0);
    // The same variables, valid, are taken.
    expect(runTuningFrom({ RK_HEALTH_RATE: '60', RK_HEALTH_CHECK_MS: '250', RK_SUPPRESSION_CHECK_MS: ' 900 ' })).toMatchObject({
      healthTuning: { ratePerMinute: 60, checkEveryMs: 250 },
      suppressionCheckMs: 900,
    });
    const ok = await run({ RK_HEALTH_RATE: '60', RK_DB_BUSY_TIMEOUT_MS: '2000', RK_DB_DURABILITY: 'full' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(server.seen).toHaveLength(1);
  }, TEST_MS);
});

describe('text from the API is not trusted as given (item 9)', () => {
  // Terminal escapes (clear screen, colour, window title), BEL, NUL, CR, a bidi override and a C1 CSI.
  const NASTY = 'Nope\x1b[2J\x1b[31m red\x1b]0;pwned\x07 \x07bell\x00nul\rcr \u202eevil\u202c \x9b2J end';
  const BAD_MARKERS = ['\x1b', '\x07', '\x00', '\x9b', '\u202e', '[2J', 'alert(1)', 'pwned', 'A'.repeat(1000)];

  function expectClean(what: string, text: string): void {
    for (const marker of BAD_MARKERS) expect(text.includes(marker), `${what} contains ${JSON.stringify(marker)}`).toBe(false);
    // CR only as part of a CSV line ending.
    expect(/\r(?!\n)/.test(text), `${what} contains a bare CR`).toBe(false);
  }

  it('error messages, codes, statuses and ids from a hostile API reach no terminal, log, database or report; a malformed id is retried with the same request id', async () => {
    const uuids = new Map<string, string>(); // recipient -> the good id finally given
    const statusBy = new Map<string, string>(); // id -> recipient
    const server = await hostileServer((seen, _req, res) => {
      if (seen.method === 'GET') {
        const id = decodeURIComponent(seen.path.split('/').pop() ?? '');
        const recipient = statusBy.get(id);
        if (recipient?.endsWith('2')) {
          json(res, 200, {
            success: true,
            data: { id, status: 'failed', recipient, device_code: 'RK-DEMO\x1b[2J', created_at: '2026-03-02T12:00:00+07:00', delivered_at: null, failed_at: '2026\x1b]0;pwned\x07-03-02', error_message: NASTY },
          });
        } else {
          json(res, 200, { success: true, data: { id, status: 'delivered\x07', recipient, delivered_at: '2026-03-02T12:00:05+07:00', failed_at: null, error_message: null } });
        }
        return;
      }
      const r = seen.recipient ?? '';
      const give = (id: string, status = 'queued') => {
        uuids.set(r, id);
        statusBy.set(id, r);
        accepted(res, id, status);
      };
      if (r.endsWith('0')) {
        // Refused for good, with a hostile message and code.
        json(res, 422, { success: false, message: NASTY, code: 'BAD\x1b[31m_RECIPIENT\x00', errors: { 'recipient\x1b[2J': [`must be valid\x07${NASTY}`] } });
      } else if (r.endsWith('1')) {
        // A 5xx with a hostile message, then ids no one should store, then a good one.
        if (seen.attempt === 1) json(res, 503, { success: false, message: NASTY, code: 'SERVER_ERROR' });
        else if (seen.attempt === 2) json(res, 200, { success: true, data: { id: 'A'.repeat(5 * 1024 * 1024), status: 'queued' } });
        else if (seen.attempt === 3) json(res, 200, { success: true, data: { id: '<script>alert(1)</script>\u0000', status: 'queued' } });
        else if (seen.attempt === 4) json(res, 200, { success: true, data: { id: `${randomUUID()}\x00\x1b[2J`, status: 'queued' } });
        else if (seen.attempt === 5) json(res, 200, { success: true, data: { id: 'x'.repeat(129), status: 'queued' } });
        else give(randomUUID(), 'queued\x1b[2J');
      } else {
        give(randomUUID());
      }
    });
    const dir = tempDir();
    const numbers = writeInlineCampaign(dir, { id: 'hostile', recipients: 3, prefix: '16', rate: 6000, extra: ['max_attempts: 10'] });
    const db = join(dir, 's.db');
    const log = join(dir, 'run.ndjson');
    const path = join(dir, 'campaigns', 'hostile.yaml');
    const env = envFor(server.url, { RK_REQUEST_TIMEOUT_MS: '5000' });
    const run = await runBounded(['run', path, '--db', db, '--verbose', '--log-file', log], dir, env, LIMIT_MS);
    expect(run.code, run.stderr).toBe(0);
    const runJson = await runBounded(['run', path, '--db', db, '--json', '--log-file', log], dir, env, LIMIT_MS);
    expect(runJson.code, runJson.stderr).toBe(0);
    const reportCsv = join(dir, 'report.csv');
    const reportJson = join(dir, 'report.json');
    const reportHtml = join(dir, 'report.html');
    for (const out of [reportCsv, reportJson, reportHtml]) {
      const rep = await runBounded(['report', path, '--db', db, '--out', out], dir, env, LIMIT_MS);
      expect(rep.code, rep.stderr).toBe(0);
      expectClean(`report ${out} stderr`, rep.stderr + rep.stdout);
    }

    // The malformed-id send was retried with one request id until a well-formed id came back.
    const retried = server.seen.filter((s) => s.method === 'POST' && s.recipient === numbers[1]);
    expect(retried.map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(retried.map((s) => s.requestId)).size).toBe(1);

    expectClean('run stdout', run.stdout);
    expectClean('run stderr', run.stderr);
    expectClean('--json stdout', runJson.stdout);
    expectClean('--log-file', readFileSync(log, 'utf8'));
    for (const file of [reportCsv, reportJson, reportHtml]) expectClean(file, readFileSync(file, 'utf8'));
    for (const file of [db, `${db}-wal`].filter(existsSync)) {
      const raw = readFileSync(file, 'latin1');
      for (const marker of ['\x1b[2J', '[2J', 'alert(1)', 'pwned', 'A'.repeat(1000), '\u00e2\u0080\u00ae' /* U+202E in UTF-8 */]) {
        expect(raw.includes(marker), `${file} contains ${JSON.stringify(marker)}`).toBe(false);
      }
    }
    // The API's words survive as plain text.
    expect(run.stderr).toContain('rejected by the API: BAD_RECIPIENT: RK Connect rejected the message (422 BAD_RECIPIENT): Nope red');
    const rows = await rowsOf(db, 'hostile');
    const control = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
    for (const row of rows) {
      for (const value of [row.apiStatus, row.uuid, row.errorCode, row.errorMessage, row.deliveredAt, row.failedAt]) {
        if (value !== null) expect(control.test(value), JSON.stringify(value)).toBe(false);
      }
    }
    expect(rows.map((x) => [x.state, x.apiStatus, x.uuid, x.errorCode])).toEqual([
      ['rejected', null, null, 'BAD_RECIPIENT'],
      ['accepted', 'delivered', uuids.get(numbers[1]!), null],
      ['accepted', 'failed', uuids.get(numbers[2]!), 'FAILED'],
    ]);
    expect(rows[0]!.errorMessage).toMatch(/^RK Connect rejected the message \(422 BAD_RECIPIENT\): Nope red bell nul cr evil end \(recipient: must be valid/);
    expect(rows[2]!.errorMessage).toBe('Nope red bell nul cr evil end');
    expect(rows[2]!.failedAt).toBe('2026-03-02');
  }, TEST_MS);
});
