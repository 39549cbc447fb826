/**
 * Several runners, one team, end to end: real `due` children on one folder of five campaigns over two projects,
 * one PostgreSQL database, the bundled emulator with latency. One runner is SIGKILLed, one SIGSTOPped past its
 * lease and continued, and every connection is terminated once; every recipient still gets exactly one message,
 * no project is ever over its rate, and the reports come from PostgreSQL.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { PostgresStore } from '../src/store/postgres.js';
import { cliEnv, runCli, startCli } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { skipPostgres, usePostgres } from './helpers/pg-test.js';
import { tempDir } from './helpers/tmp.js';

const PROJECT_B = { name: 'b', apiKey: 'b_api_key', apiSecret: 'b_api_secret', devices: ['RK-DEMO'] };
const RATE = 600; // per project per minute, enforced by the emulator too (high, so the test stays fast)

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();
const STARTED = () => [`start_at: "${iso(-60_000)}"`, `end_at: "${iso(24 * 3_600_000)}"`, 'window: { timezone: UTC, from: "00:00", to: "24:00" }'];

describe.skipIf(skipPostgres())('three due runners sharing one PostgreSQL database', () => {
  const server = usePostgres();

  it(
    'SIGKILL, SIGSTOP past the lease and terminated connections: each recipient exactly once, never over a rate, reports from PostgreSQL',
    async () => {
      emulator = await startEmulator({
        port: 0,
        projects: [
          { ...DEMO_PROJECT, ratePerMinute: RATE, monthlyQuota: 100_000 },
          { ...PROJECT_B, ratePerMinute: RATE, monthlyQuota: 100_000 },
        ],
        faults: { latencyMs: [50, 300] },
      });
      const dir = tempDir();
      const b = ['api_key_env: B_KEY', 'api_secret_env: B_SECRET'];
      // Project A: 330 messages, more than half a minute's worth at its rate: three runners share its window and spacing.
      const numbers: Record<string, string[]> = {
        a1: writeInlineCampaign(dir, { id: 'a1', recipients: 110, prefix: '701', rate: RATE, schedule: STARTED() }),
        a2: writeInlineCampaign(dir, { id: 'a2', recipients: 110, prefix: '702', rate: RATE, schedule: STARTED() }),
        a3: writeInlineCampaign(dir, { id: 'a3', recipients: 110, prefix: '703', rate: RATE, schedule: STARTED() }),
        b1: writeInlineCampaign(dir, { id: 'b1', recipients: 40, prefix: '711', rate: RATE, schedule: STARTED(), extra: b }),
        b2: writeInlineCampaign(dir, { id: 'b2', recipients: 40, prefix: '712', rate: RATE, schedule: STARTED(), extra: b }),
      };
      const app = `rkt_multi_${process.pid}`;
      const url = `${server.freshUrl()}&application_name=${app}`;
      const env = cliEnv({
        RK_BASE_URL: emulator.url,
        RK_API_KEY: DEMO_PROJECT.apiKey,
        RK_API_SECRET: DEMO_PROJECT.apiSecret,
        B_KEY: PROJECT_B.apiKey,
        B_SECRET: PROJECT_B.apiSecret,
        RK_LEASE_TIMEOUT: '3s',
      });
      const due = () => startCli(['due', '--dir', 'campaigns', '--db', url, '--json'], { cwd: dir, env });

      // Campaigns spread over the runners: a placeholder lease (another machine's, live) keeps a campaign from the
      // runners started before it is lifted, so each runner starts with campaigns of its own.
      const seed = await PostgresStore.open(url);
      const hold = async (ids: string[]) => {
        for (const id of ids) {
          await seed.ensureCampaign({ id, name: id, projectId: 'seed', sourcePath: join(dir, 'campaigns', `${id}.yaml`), now: Date.now() });
          await seed.acquireLease({ campaignId: id, owner: 'placeholder', pid: 1, host: 'elsewhere' }, Date.now() + 600_000, 60_000);
        }
      };
      const lift = async (ids: string[]) => {
        for (const id of ids) await seed.releaseLease(id, 'placeholder');
      };
      const schema = new URL(url).searchParams.get('schema')!;
      const holders = async () => new Map((await server.sql<{ campaign_id: string; pid: number }>(`SELECT campaign_id, pid FROM "${schema}".leases`)).map((h) => [h.campaign_id, h.pid]));
      /** Waits until `pid` holds every one of `ids`, and a moment more (its other campaigns are tried at the same time). */
      const holding = async (pid: number | undefined, ids: string[]) => {
        for (let i = 0; i < 300; i++) {
          const held = await holders();
          if (ids.every((id) => held.get(id) === pid)) return sleep(500);
          await sleep(100);
        }
        throw new Error(`runner ${pid} never held ${ids.join(', ')}: ${JSON.stringify([...(await holders())])}`);
      };
      await hold(['a2', 'a3', 'b2']);
      const r1 = due();
      await holding(r1.pid, ['a1', 'b1']);
      await lift(['a2', 'b2']);
      const r2 = due();
      await holding(r2.pid, ['a2', 'b2']);
      await lift(['a3']);
      const r3 = due();
      await holding(r3.pid, ['a3']);

      while (emulator.messages().length < 80) await sleep(20);
      r1.kill('SIGKILL');
      r2.kill('SIGSTOP');
      const killed = await server.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
      expect(killed.length).toBeGreaterThan(0);
      try {
        // Past the lease timeout, the next runner (cron's next tick) takes over the dead and the frozen one's campaigns.
        await sleep(4000);
        const r4 = due();
        // The frozen runner wakes only once the new one holds its campaign (as after a long pause or a partition).
        await holding(r4.pid, ['a2']);
        r2.kill('SIGCONT');
        const [res1, res2, res3, res4] = await Promise.all([r1.result, r2.result, r3.result, r4.result]);
        expect(res1.signal).toBe('SIGKILL');
        expect({ code: res2.code, stderr: res2.stderr, outcomes: res2.stdout.split('\n').filter((l) => l.includes('due-finished')) }).toMatchObject({ code: 15 });
        expect(res2.stdout).toMatch(/lost the run lock of campaign (a2|b2)/);
        for (const r of [res2, res3, res4]) expect(r.stderr).not.toMatch(/\n\s+at /);
        expect({ code: res3.code, stderr: res3.stderr }).toMatchObject({ code: 0 });
        expect({ code: res4.code, stderr: res4.stderr }).toMatchObject({ code: 0 });
      } finally {
        r2.kill('SIGCONT');
        await seed.close();
      }
      // Whatever a stopped runner left is picked up by the next pass; then there is nothing left to do.
      let last = await runCli(['due', '--dir', 'campaigns', '--db', url], { cwd: dir, env });
      for (let i = 0; i < 3 && !last.stderr.includes('due: nothing to do'); i++) {
        expect(last.code).toBe(0);
        last = await runCli(['due', '--dir', 'campaigns', '--db', url], { cwd: dir, env });
      }
      expect(last.stderr).toContain('due: nothing to do');

      const counts = new Map<string, number>();
      for (const m of emulator.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
      expect([...counts.keys()].sort()).toEqual(Object.values(numbers).flat().sort());
      const stats = emulator.stats();
      expect(stats.maxSendsInAnyWindow[DEMO_PROJECT.apiKey]).toBeLessThanOrEqual(RATE);
      // Busy: without the shared window, three runners at the full rate each would have pushed it over.
      expect(stats.maxSendsInAnyWindow[DEMO_PROJECT.apiKey]).toBeGreaterThan(RATE * 0.25);
      expect(stats.maxSendsInAnyWindow[PROJECT_B.apiKey]).toBeLessThanOrEqual(RATE);
      expect(stats.rateLimited).toBe(0);

      for (const [id, list] of Object.entries(numbers)) {
        const report = await runCli(['report', join('campaigns', `${id}.yaml`), '--db', url, '--format', 'json'], { cwd: dir, env });
        expect(report.code).toBe(0);
        const head = JSON.parse(report.stdout) as { rows_total: number; accepted: number };
        expect({ id, rows: head.rows_total, accepted: head.accepted }).toEqual({ id, rows: list.length, accepted: list.length });
      }
    },
    150_000,
  );
});
