/**
 * The real CLI against a real PostgreSQL server (`--db postgres://...`): run, status, list, report, validate and
 * sweep work as they do on SQLite, the password is never printed, and a server that cannot be reached is exit 10.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { cliEnv, demoEnv, runCli, startCli } from './helpers/cli.js';
import { writeCampaign } from './helpers/campaign.js';
import { skipPostgres, usePostgres } from './helpers/pg-test.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe.skipIf(skipPostgres())('the CLI on PostgreSQL', () => {
  const server = usePostgres();

  it('run, status, list, report and sweep work on a postgres:// URL, and the password is never printed', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 12, invalid: 2, duplicates: 1, suppressed: 1 });
    const url = server.freshUrl();
    const password = decodeURIComponent(new URL(url).password);
    expect(password.length).toBeGreaterThan(3);
    const env = demoEnv(emulator.url);
    const outputs: string[] = [];
    const cli = async (args: string[], withEnv: NodeJS.ProcessEnv = env) => {
      const r = await runCli(args, { cwd: dir, env: withEnv });
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    // Nothing written yet: reading commands say so instead of failing.
    const empty = await cli(['list', '--db', url]);
    expect({ code: empty.code, stderr: empty.stderr }).toMatchObject({ code: 0, stderr: expect.stringMatching(/No campaigns yet: postgres:\/\/rkb:\*\*\*@/) });
    const validate = await cli(['validate', path, '--db', url]);
    expect(validate.code).toBe(0);

    const run = await cli(['run', path, '--db', url]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(run.stdout + run.stderr).toMatch(/state in postgres:\/\/rkb:\*\*\*@127\.0\.0\.1:\d+\/postgres\?schema=rkt_/);
    expect(emulator.messages().map((m) => m.recipient).sort()).toEqual(sendable.map((r) => r.expected).sort());

    // The URL from the environment works the same.
    const status = await cli(['status', 'test-campaign', '--json'], { ...env, RK_BROADCAST_DB: url });
    expect(status.code).toBe(0);
    const overview = JSON.parse(status.stdout) as { counts: { byState: Record<string, number> } };
    expect(overview.counts.byState).toMatchObject({ accepted: 12, invalid: 2, duplicate: 1, suppressed: 1 });

    const list = await cli(['list', '--db', url, '--json']);
    expect((JSON.parse(list.stdout) as { campaigns: { id: string }[] }).campaigns.map((c) => c.id)).toEqual(['test-campaign']);

    const out = join(dir, 'report.csv');
    const report = await cli(['report', path, '--db', url, '--out', out]);
    expect(report.code).toBe(0);
    const csv = readFileSync(out, 'utf8');
    for (const r of sendable) expect(csv).toContain(r.expected!);
    // Every CSV row is in the report, read from PostgreSQL: 12 sent, 2 invalid, 1 duplicate, 1 suppressed, and the header.
    expect(csv.trim().split(/\r?\n/)).toHaveLength(17);

    const sweep = await cli(['sweep', path, '--db', url]);
    expect(sweep.code).toBe(0);

    // A second run has nothing left to send.
    const again = await cli(['run', path, '--db', url]);
    expect(again.code).toBe(0);
    expect(emulator.messages()).toHaveLength(12);

    // Nothing rk-broadcast printed holds the password, and neither does the database.
    for (const text of outputs) expect(text).not.toContain(password);
    const schema = new URL(url).searchParams.get('schema')!;
    const dump = await server.sql<{ t: string }>(
      `SELECT (SELECT string_agg(c::text, '|') FROM "${schema}".campaigns c) || (SELECT string_agg(m::text, '|') FROM "${schema}".messages m) AS t`,
    );
    expect(dump[0]!.t).not.toContain(password);
  }, 120_000);

  it('a server that cannot be reached is exit 10 with the redacted URL and no stack trace; a wrong password too', async () => {
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 2 });
    const env = cliEnv({ RK_BASE_URL: 'http://127.0.0.1:1', RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: DEMO_PROJECT.apiSecret });
    const port = new URL(server.url()).port;
    const down = server.freshUrl().replace(`:${port}/`, ':1/');
    const r = await runCli(['run', path, '--db', down], { cwd: dir, env });
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/Cannot reach the PostgreSQL state database postgres:\/\/rkb:\*\*\*@127\.0\.0\.1:1\/postgres/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain(decodeURIComponent(new URL(server.url()).password));

    const wrong = server.freshUrl().replace(/:[^:@/]+@/, ':N0t-The-Secret@');
    const denied = await runCli(['status', 'x', '--db', wrong], { cwd: dir, env });
    expect(denied.code).toBe(10);
    expect(denied.stderr).toMatch(/refused the login/);
    expect(denied.stderr).not.toContain('N0t-The-Secret');
  }, 60_000);
});

describe.skipIf(skipPostgres())('connection faults mid-run', () => {
  const server = usePostgres();

  it('every connection terminated twice while sending: the runner reconnects and carries on; each recipient exactly once', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }], faults: { latencyMs: [50, 150] } });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 60, rate: 1200 });
    const app = `rkt_fault_${process.pid}`;
    const url = `${server.freshUrl()}&application_name=${app}`;
    const env = demoEnv(emulator.url);
    const child = startCli(['run', path, '--db', url, '--no-sweep'], { cwd: dir, env });
    const terminated: number[] = [];
    for (const after of [10, 35]) {
      while (emulator.messages().length < after && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
      const killed = await server.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
      terminated.push(killed.length);
    }
    const r = await child.result;
    expect(terminated.every((n) => n > 0)).toBe(true);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/\n\s+at /) });
    const counts = new Map<string, number>();
    for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(sendable.map((s) => s.expected).sort());
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    const status = await runCli(['status', 'test-campaign', '--db', url, '--json'], { cwd: dir, env });
    expect((JSON.parse(status.stdout) as { counts: { byState: Record<string, number> } }).counts.byState).toMatchObject({ accepted: 60, sending: 0 });
  }, 90_000);
});

describe.skipIf(skipPostgres())('PostgreSQL restarted mid-run', () => {
  it('the runner reconnects once the server is back and finishes: each recipient exactly once, no stack trace', async () => {
    // A server of this test's own: restarting the shared one would cut off other test files.
    const own = await startPostgres();
    try {
      emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }], faults: { latencyMs: [50, 150] } });
      const dir = tempDir();
      const { path, sendable } = writeCampaign(dir, { valid: 60, rate: 1200 });
      const url = `${own.url}?schema=restart`;
      const env = demoEnv(emulator.url);
      const child = startCli(['run', path, '--db', url, '--no-sweep'], { cwd: dir, env });
      while (emulator.messages().length < 15 && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
      expect(child.exitCode).toBeNull();
      own.restart();
      const r = await child.result;
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/\n\s+at /) });
      const counts = new Map<string, number>();
      for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual(sendable.map((s) => s.expected).sort());
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    } finally {
      await own.stop();
    }
  }, 120_000);
});
