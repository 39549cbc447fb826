import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { writeCampaign } from './helpers/campaign.js';
import { cliEnv, demoEnv, runCli, startCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
// Seeded, so a failing run can be replayed with the same kill moments.
import { mulberry32 } from '../src/emulator/prng.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when the child prints its first NDJSON event (or exits). */
function firstEvent(child: ReturnType<typeof startCli>): Promise<void> {
  return new Promise((resolve) => {
    child.stdout!.once('data', () => resolve());
    child.once('close', () => resolve());
  });
}

describe('crash safety (real child processes, SIGKILL)', () => {
  it.each([
    { name: 'clean network', seed: 11, faults: {} },
    { name: 'lost responses and 5xx', seed: 23, faults: { resetAfterRate: 0.05, serverErrorRate: 0.05 } },
  ])('SIGKILL at 12 random moments of a 500-message run, then finish: exactly one message each ($name)', async ({ seed, faults }) => {
    emulator = await startEmulator({
      port: 0,
      projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }],
      faults: { seed, latencyMs: [2, 25], paths: ['send'], ...faults },
    });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 480, invalid: 10, duplicates: 10, rate: 3000, extraYaml: 'max_attempts: 20' });
    const db = join(dir, 'state.db');
    const env = cliEnv({
      RK_BASE_URL: emulator.url,
      RK_API_KEY: DEMO_PROJECT.apiKey,
      RK_API_SECRET: DEMO_PROJECT.apiSecret,
      RK_REQUEST_TIMEOUT_MS: '2000',
      RK_RETRY_BASE_MS: '100',
    });
    const random = mulberry32(seed);
    const kills: { afterMs: number; messagesBefore: number }[] = [];
    for (let i = 0; i < 12; i++) {
      const child = startCli(['run', path, '--db', db, '--json', '--no-sweep'], { cwd: dir, env });
      // Every fourth kill is early (within 300 ms of the child's first event: planning, recovery); the others land
      // mid-send, after a random 1-40 more messages reached the emulator, whatever the machine's load.
      await firstEvent(child);
      const before = emulator.messages().length;
      let afterMs = 0;
      if (i % 4 === 0) {
        afterMs = Math.round(random() * 300);
        await sleep(afterMs);
      } else {
        const target = before + 1 + Math.floor(random() * 40);
        const started = Date.now();
        while (emulator.messages().length < target && child.exitCode === null && Date.now() - started < 20_000) await sleep(2);
        afterMs = Date.now() - started;
      }
      child.kill('SIGKILL');
      const r = await child.result;
      kills.push({ afterMs, messagesBefore: emulator.messages().length });
      // It may have finished before the kill on a late iteration; a finished run exits 0.
      expect(r.signal === 'SIGKILL' || r.code === 0, `exit ${r.code}: ${r.stderr}${r.stdout.slice(-2000)}`).toBe(true);
    }
    // The kills happened at different stages: some before anything was sent, most in the middle.
    expect(kills.filter((k) => k.messagesBefore > 0 && k.messagesBefore < sendable.length).length).toBeGreaterThanOrEqual(5);
    const final = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(final.code, final.stderr).toBe(0);

    const counts = new Map<string, number>();
    for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]); // none doubled
    expect([...counts.keys()].sort()).toEqual(sendable.map((s) => s.expected!).sort()); // none lost, nobody else
    const store = new SqliteStore(db);
    const c = await store.counts('test-campaign');
    await store.close();
    expect(c.byState.accepted).toBe(480);
    expect(c.byState.sending + c.byState.planned + c.byState.unknown).toBe(0);
    // Thirteen real processes, each starting Node and opening the database: ~30 s on a quiet 2-core machine.
  }, 180_000);

  it('SIGTERM stops cleanly: in-flight requests finish, exit 130, and the next run resumes', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }], faults: { latencyMs: [50, 100], paths: ['send'] } });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 300, rate: 3000 });
    const db = join(dir, 'state.db');
    const env = demoEnv(emulator.url);
    const child = startCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    // Stop once it is sending, whatever the machine's load.
    await new Promise<void>((resolve) => {
      let seen = '';
      const onData = (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('Sending 300 message(s)')) {
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('close', () => resolve());
    });
    await sleep(1500);
    child.kill('SIGTERM');
    const r = await child.result;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Resume with: rk-broadcast run');
    const store = new SqliteStore(db);
    const c = await store.counts('test-campaign');
    await store.close();
    // A clean stop leaves nothing in flight: every row is either accepted or still planned.
    expect(c.byState.sending).toBe(0);
    expect(c.byState.accepted).toBe(emulator.messages().length);
    expect(c.byState.accepted).toBeGreaterThan(0);
    expect(c.byState.planned).toBeGreaterThan(0);
    const resumed = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(resumed.code).toBe(0);
    expect(new Set(emulator.messages().map((m) => m.recipient)).size).toBe(sendable.length);
    expect(emulator.messages()).toHaveLength(sendable.length);
  });
});
