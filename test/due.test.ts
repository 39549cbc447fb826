import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { cliEnv, runCli, startCli } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { tempDir } from './helpers/tmp.js';

const PROJECT_B = { name: 'b', apiKey: 'b_api_key', apiSecret: 'b_api_secret', devices: ['RK-DEMO'] };

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});


/** This file's campaigns: inline message, rate 600/min unless given. */
function writeScheduled(dir: string, c: { id: string; recipients: number; prefix: string; rate?: number; schedule?: string[]; extra?: string[] }): string[] {
  return writeInlineCampaign(dir, { ...c, rate: c.rate ?? 600 });
}

const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();
const STARTED = () => [`start_at: "${iso(-60_000)}"`, `end_at: "${iso(24 * 3_600_000)}"`, 'window: { timezone: UTC, from: "00:00", to: "24:00" }'];

function ndjson(stdout: string): { type: string; [key: string]: unknown }[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string });
}

function env(emu: RunningEmulator, extra: Record<string, string> = {}) {
  return cliEnv({
    RK_BASE_URL: emu.url,
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    B_KEY: PROJECT_B.apiKey,
    B_SECRET: PROJECT_B.apiSecret,
    ...extra,
  });
}

describe('rk-broadcast due (real child processes against the emulator)', () => {
  it(
    'two due processes on one folder and database: exactly one message per recipient, never over a project\'s rate',
    async () => {
      const RATE = 300; // per project per minute; the emulator enforces the same
      emulator = await startEmulator({
        port: 0,
        projects: [
          { ...DEMO_PROJECT, ratePerMinute: RATE, monthlyQuota: 100_000 },
          { ...PROJECT_B, ratePerMinute: RATE, monthlyQuota: 100_000 },
        ],
      });
      const dir = tempDir();
      // Project A: two campaigns, 340 messages together (more than one minute's worth, so the window check bites).
      const a1 = writeScheduled(dir, { id: 'a1', recipients: 170, prefix: '111', rate: RATE, schedule: STARTED() });
      const a2 = writeScheduled(dir, { id: 'a2', recipients: 170, prefix: '222', rate: RATE, schedule: STARTED() });
      // Project B runs side by side.
      const b1 = writeScheduled(dir, {
        id: 'b1',
        recipients: 40,
        prefix: '333',
        rate: RATE,
        schedule: STARTED(),
        extra: ['api_key_env: B_KEY', 'api_secret_env: B_SECRET'],
      });
      // Not due (starts tomorrow) and unscheduled: `due` sends neither.
      writeScheduled(dir, { id: 'later', recipients: 3, prefix: '444', schedule: [`start_at: "${iso(24 * 3_600_000)}"`] });
      writeScheduled(dir, { id: 'adhoc', recipients: 3, prefix: '555' });
      const db = join(dir, 'state.db');
      const args = ['due', '--dir', 'campaigns', '--db', db, '--json'];
      const [p1, p2] = [startCli(args, { cwd: dir, env: env(emulator) }), startCli(args, { cwd: dir, env: env(emulator) })];
      const [r1, r2] = await Promise.all([p1.result, p2.result]);
      // With --json, failures are NDJSON lines `{"ok":false,...}` on stdout.
      const failures = (r: { stdout: string }) => r.stdout.split('\n').filter((l) => l.includes('"ok":false'));
      expect({ code: r1.code, stderr: r1.stderr, failures: failures(r1) }).toEqual({ code: 0, stderr: '', failures: [] });
      expect({ code: r2.code, stderr: r2.stderr, failures: failures(r2) }).toEqual({ code: 0, stderr: '', failures: [] });

      // Exactly once per recipient, nothing for the campaigns that were not due.
      const counts = new Map<string, number>();
      for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
      expect([...counts.keys()].sort()).toEqual([...a1, ...a2, ...b1].sort());
      const stats = emulator.stats();
      // Busy enough that a second, uncoordinated sender would have pushed it over.
      expect(stats.maxSendsInAnyWindow[DEMO_PROJECT.apiKey]).toBeGreaterThan(RATE * 0.5);
      expect(stats.maxSendsInAnyWindow[DEMO_PROJECT.apiKey]).toBeLessThanOrEqual(RATE);
      expect(stats.maxSendsInAnyWindow[PROJECT_B.apiKey]).toBeLessThanOrEqual(RATE);
      expect(stats.rateLimited).toBe(0);

      // Each due campaign was run by one process and found locked by the other.
      const outcomes = [r1, r2].flatMap((r) => (ndjson(r.stdout).find((e) => e.type === 'due-finished')?.outcomes ?? []) as { campaign: string; status: string }[]);
      for (const id of ['a1', 'a2', 'b1']) {
        expect(outcomes.filter((o) => o.campaign === id).map((o) => o.status).sort()).toEqual(['locked', 'ran']);
      }
      for (const id of ['later', 'adhoc']) {
        expect(outcomes.filter((o) => o.campaign === id).map((o) => o.status)).toEqual(['not-due', 'not-due']);
      }
      // A third pass has nothing to do and says so.
      const again = await runCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('due: nothing to do');
      expect(emulator.messages()).toHaveLength(a1.length + a2.length + b1.length);
    },
    240_000,
  );

  it('skips a campaign whose run lock is live (exit 0, with a message) and takes over a stale one', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const numbers = writeScheduled(dir, { id: 'locked', recipients: 5, prefix: '666', rate: 6000, schedule: STARTED() });
    const db = join(dir, 'state.db');
    const store = new SqliteStore(db);
    await store.ensureCampaign({ id: 'locked', name: 'locked', projectId: 'x', sourcePath: join(dir, 'campaigns', 'locked.yaml'), now: Date.now() });
    // A live holder on another machine: fresh heartbeat.
    await store.acquireLease({ campaignId: 'locked', owner: 'other', pid: 4242, host: 'other-host' }, Date.now(), 60_000);

    const skipped = await runCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).toMatch(/\[locked\] skipped: another process is running it \(pid 4242 on other-host/);
    expect(emulator.messages()).toHaveLength(0);

    // The holder died: its last heartbeat is older than the stale limit, so the next pass takes over.
    await store.releaseLease('locked', 'other');
    await store.acquireLease({ campaignId: 'locked', owner: 'other', pid: 4242, host: 'other-host' }, Date.now() - 5 * 60_000, 60_000);
    await store.close();
    const taken = await runCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
    expect({ code: taken.code, stderr: taken.stderr }).toMatchObject({ code: 0 });
    expect(emulator.messages().map((m) => m.recipient).sort()).toEqual(numbers);
  }, 60_000);

  it('exits 0 with nothing to do, reports a broken campaign file without stopping the others, and expires what is past end_at', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    writeScheduled(dir, { id: 'tomorrow', recipients: 2, prefix: '777', schedule: [`start_at: "${iso(24 * 3_600_000)}"`] });
    const db = join(dir, 'state.db');
    const idle = await runCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
    expect(idle.code).toBe(0);
    expect(idle.stderr).toContain('due: nothing to do');

    // Past its end_at, never run: planned and expired at once, nothing sent; not an error for cron.
    writeScheduled(dir, { id: 'gone', recipients: 2, prefix: '888', schedule: [`start_at: "${iso(-7_200_000)}"`, `end_at: "${iso(-3_600_000)}"`] });
    writeFileSync(join(dir, 'campaigns', 'broken.yaml'), 'id: broken\ndevice: RK-DEMO\nrate_per_minute: fast\n');
    const r = await runCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
    expect(r.stderr).toMatch(/\[campaigns\/broken\.yaml\] \S*campaigns\/broken\.yaml: rate_per_minute: expected a whole number from 1 to 6000, found "fast"/);
    expect(r.stderr).toMatch(/\[gone\] end_at \(.*\) reached: 2 message\(s\) not sent are now expired/);
    expect(r.stderr).toContain('due: 0 run, 0 skipped (running elsewhere), 1 expired, 1 not due, 1 failed.');
    expect(r.code).toBe(2); // the broken file needs a person
    expect(emulator.messages()).toHaveLength(0);
    const store = new SqliteStore(db);
    expect((await store.counts('gone')).byState.expired).toBe(2);
    await store.close();
  }, 60_000);

  it('ends each campaign it sent with a status sweep, as run does: final statuses in the report without a separate sweep', async () => {
    emulator = await startEmulator({
      port: 0,
      projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }],
      lifecycle: { queuedToSentMs: 0, sentToDeliveredMs: 0, failRecipients: ['6289990000001'] },
    });
    const dir = tempDir();
    writeScheduled(dir, { id: 'swept', recipients: 3, prefix: '999', rate: 6000, schedule: STARTED() });
    const db = join(dir, 'state.db');
    const r = await runCli(['due', '--dir', 'campaigns', '--db', db, '--json'], { cwd: dir, env: env(emulator) });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    const events = ndjson(r.stdout);
    // The sweep's events come after the send's, tagged with the campaign like every event of a due pass.
    const types = events.filter((e) => e.campaign === 'swept').map((e) => e.type);
    expect(types).toContain('sweep-started');
    expect(types.indexOf('sweep-started')).toBeGreaterThan(types.lastIndexOf('send-progress'));
    expect(events.find((e) => e.type === 'run-finished')).toMatchObject({ campaign: 'swept', exitCode: 0, counts: { byApiStatus: { delivered: 2, failed: 1 } } });

    const report = await runCli(['report', 'swept', '--db', db, '--format', 'json'], { cwd: dir, env: env(emulator) });
    expect(report.code).toBe(0);
    const rows = (JSON.parse(report.stdout) as { rows: { status: string }[] }).rows;
    expect(rows.map((row) => row.status).sort()).toEqual(['delivered', 'delivered', 'failed']);
  }, 60_000);

  it('stops on SIGTERM like run: the messages in flight finish, exit 130, and the next pass resumes', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const numbers = writeScheduled(dir, { id: 'slow', recipients: 12, prefix: '321', rate: 60, schedule: STARTED() });
    const db = join(dir, 'state.db');
    const child = startCli(['due', '--dir', 'campaigns', '--db', db], { cwd: dir, env: env(emulator) });
    while (emulator.messages().length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGTERM');
    const stopped = await child.result;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('Received SIGTERM: finishing the messages in flight, then stopping.');
    expect(emulator.messages().length).toBeLessThan(numbers.length);
    const resumed = await runCli(['due', '--dir', 'campaigns', '--db', db, '--quiet'], { cwd: dir, env: env(emulator) });
    expect({ code: resumed.code, stderr: resumed.stderr }).toMatchObject({ code: 0 });
    expect(emulator.messages().map((m) => m.recipient).sort()).toEqual(numbers);
  }, 90_000);
});
