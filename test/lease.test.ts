/**
 * Leases across runners, with the real CLI: `RK_LEASE_TIMEOUT` sets when a silent runner's campaign is taken over,
 * and a runner frozen past it (SIGSTOP) sends nothing more once it wakes: it stops with exit 15, state kept. On
 * SQLite and on PostgreSQL.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { leaseTimingFrom } from '../src/cli/context.js';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { openStore } from '../src/store/factory.js';
import { demoEnv, runCli, startCli } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { skipPostgres, usePostgres } from './helpers/pg-test.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(20);
  }
}

function env(emu: RunningEmulator, extra: Record<string, string> = {}) {
  return demoEnv(emu.url, extra);
}

describe('RK_LEASE_TIMEOUT', () => {
  it('is a duration from 1s to 1h; heartbeats come at a sixth of it', () => {
    expect(leaseTimingFrom({})).toEqual({});
    expect(leaseTimingFrom({ RK_LEASE_TIMEOUT: '3s' })).toEqual({ leaseStaleMs: 3000, heartbeatMs: 500 });
    expect(leaseTimingFrom({ RK_LEASE_TIMEOUT: '2m' })).toEqual({ leaseStaleMs: 120_000, heartbeatMs: 20_000 });
    expect(() => leaseTimingFrom({ RK_LEASE_TIMEOUT: 'soon' })).toThrow(/RK_LEASE_TIMEOUT: expected a duration from 1s to 1h/);
    expect(() => leaseTimingFrom({ RK_LEASE_TIMEOUT: '500ms' })).toThrow(/RK_LEASE_TIMEOUT/);
  });
});

const stores: { name: string; skip: boolean }[] = [
  { name: 'SQLite', skip: false },
  { name: 'PostgreSQL', skip: skipPostgres() },
];

for (const { name, skip } of stores) {
  describe.skipIf(skip)(`leases across runners on ${name}`, () => {
    const server = name === 'PostgreSQL' ? usePostgres() : undefined;
    const dbFor = (dir: string) => (server ? server.freshUrl() : join(dir, 'state.db'));

    it('a lease silent for longer than RK_LEASE_TIMEOUT is taken over; a younger one is not', async () => {
      emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
      const dir = tempDir();
      const numbers = writeInlineCampaign(dir, { id: 'held', recipients: 4, prefix: '601', rate: 6000 });
      const db = dbFor(dir);
      /** Another machine's runner, silent for the last 5 s (set again before each run: a CLI start takes seconds here). */
      const silentFor5s = async () => {
        const store = await openStore(db);
        await store.ensureCampaign({ id: 'held', name: 'held', projectId: 'x', sourcePath: join(dir, 'campaigns', 'held.yaml'), now: Date.now() });
        await store.acquireLease({ campaignId: 'held', owner: 'other', pid: 4242, host: 'other-host' }, Date.now() - 5000, 60_000);
        await store.close();
      };
      const campaign = join('campaigns', 'held.yaml');
      await silentFor5s();
      const locked = await runCli(['run', campaign, '--db', db], { cwd: dir, env: env(emulator) });
      expect(locked.code).toBe(6);
      await silentFor5s();
      const longer = await runCli(['run', campaign, '--db', db], { cwd: dir, env: env(emulator, { RK_LEASE_TIMEOUT: '30s' }) });
      expect(longer.code).toBe(6);
      expect(emulator.messages()).toHaveLength(0);
      await silentFor5s();
      const taken = await runCli(['run', campaign, '--db', db], { cwd: dir, env: env(emulator, { RK_LEASE_TIMEOUT: '3s' }) });
      expect({ code: taken.code, stderr: taken.stderr }).toMatchObject({ code: 0 });
      expect(emulator.messages().map((m) => m.recipient).sort()).toEqual(numbers);
      const bad = await runCli(['run', campaign, '--db', db], { cwd: dir, env: env(emulator, { RK_LEASE_TIMEOUT: 'soon' }) });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/RK_LEASE_TIMEOUT/);
    }, 60_000);

    it('a runner frozen (SIGSTOP) past its lease is fenced: another takes over, and the woken one sends nothing more and exits 15', async () => {
      // 0.2-0.4 s per request, so a request is in flight when the runner is frozen.
      emulator = await startEmulator({
        port: 0,
        projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }],
        faults: { latencyMs: [200, 400] },
      });
      const dir = tempDir();
      const numbers = writeInlineCampaign(dir, { id: 'frozen', recipients: 40, prefix: '602', rate: 1200 });
      const db = dbFor(dir);
      const campaign = join('campaigns', 'frozen.yaml');
      const fast = env(emulator, { RK_LEASE_TIMEOUT: '2s' });
      const a = startCli(['run', campaign, '--db', db, '--no-sweep'], { cwd: dir, env: fast });
      await until(() => emulator!.messages().length >= 5, 30_000);
      a.kill('SIGSTOP');
      const sentByA = emulator.messages().length;
      try {
        await sleep(3000);
        const b = await runCli(['run', campaign, '--db', db, '--no-sweep'], { cwd: dir, env: fast });
        expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
        expect(emulator.messages().length).toBeGreaterThanOrEqual(sentByA);
      } finally {
        a.kill('SIGCONT');
      }
      const woken = await a.result;
      expect({ code: woken.code, stderr: woken.stderr }).toMatchObject({
        code: 15,
        stderr: expect.stringMatching(/lost the run lock of campaign frozen/),
      });
      expect(woken.stderr).not.toMatch(/\n\s+at /);
      // Every recipient exactly once (a request A had in flight was resent by B with the same request id).
      const counts = new Map<string, number>();
      for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual(numbers);
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
      const status = await runCli(['status', 'frozen', '--db', db, '--json'], { cwd: dir, env: fast });
      expect((JSON.parse(status.stdout) as { counts: { byState: Record<string, number> } }).counts.byState).toMatchObject({ accepted: 40, sending: 0 });
    }, 90_000);
  });
}
