import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCampaign } from '../src/config/campaign.js';
import { ManualClock } from '../src/core/clock.js';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { CampaignLockedError, runCampaign } from '../src/pipeline/run.js';
import { prepareCampaign } from '../src/plan/planner.js';
import { RkClient } from '../src/rk/client.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { main } from '../src/cli/main.js';
import { captureIo } from './helpers/capture.js';
import { cliEnv, demoEnv, runCli } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { tempDir } from './helpers/tmp.js';


let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});


/** This file's campaigns: inline message, rate 6000/min unless given. */
function writeScheduled(dir: string, c: { id: string; recipients: number; prefix: string; rate?: number; schedule?: string[]; extra?: string[] }): string[] {
  return writeInlineCampaign(dir, { ...c, rate: c.rate ?? 6000 });
}

const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();
const HOUR = 3_600_000;

function env(emu: RunningEmulator, extra: Record<string, string> = {}) {
  return demoEnv(emu.url, extra);
}

describe('rk-broadcast init', () => {
  it('scaffolds a commented campaign, template and sample CSV that validate, and refuses to overwrite', async () => {
    const dir = tempDir();
    const r = await runCli(['init', 'spring-promo'], { cwd: dir, env: cliEnv({}) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Created campaigns/spring-promo.yaml, templates/spring-promo.hbs, campaigns/spring-promo.csv.');
    const yaml = readFileSync(join(dir, 'campaigns', 'spring-promo.yaml'), 'utf8');
    expect(yaml).toMatch(/^# Campaign "spring-promo"/);
    expect(yaml).toContain('# schedule:');
    const validate = await runCli(['validate', 'campaigns/spring-promo.yaml'], { cwd: dir, env: cliEnv({}) });
    expect({ code: validate.code, out: validate.stdout }).toMatchObject({ code: 0 });
    expect(validate.stdout).toContain('sendable 3');
    expect(validate.stdout).toContain('Halo Budi Santoso!');

    // The commented schedule is valid once uncommented.
    const scheduled = yaml.replace(/^# ( *)(schedule:|start_at|end_at|max_lateness|window:|timezone:|days:|from:|to:)/gm, '$1$2').replace(/^#( {2,})/gm, '$1');
    writeFileSync(join(dir, 'campaigns', 'spring-promo.yaml'), scheduled);
    const campaign = await loadCampaign(join(dir, 'campaigns', 'spring-promo.yaml'));
    expect(campaign.schedule?.window).toMatchObject({ timezone: 'Asia/Jakarta', days: [1, 2, 3, 4, 5, 6], fromMinutes: 480, toMinutes: 1200 });
    expect(campaign.schedule?.maxLatenessMs).toBe(2 * HOUR);

    // A second init with the same name writes nothing.
    writeFileSync(join(dir, 'templates', 'spring-promo.hbs'), 'mine');
    const again = await runCli(['init', 'spring-promo'], { cwd: dir, env: cliEnv({}) });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('Refusing to overwrite campaigns/spring-promo.yaml, templates/spring-promo.hbs, campaigns/spring-promo.csv: nothing was written.');
    expect(readFileSync(join(dir, 'templates', 'spring-promo.hbs'), 'utf8')).toBe('mine');
    expect((await runCli(['init', 'Not OK'], { cwd: dir, env: cliEnv({}) })).code).toBe(2);
  }, 60_000);
});

describe('run with a schedule, list and status (child processes against the emulator)', () => {
  it('waits or exits 7, refuses late starts with 8, stops before the quota with 4, and list/status show each state', async () => {
    // The emulator's quota is far above the local one: only the local pre-flight can stop the run.
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000, monthlyQuota: 1_000 }] });
    const dir = tempDir();
    const db = join(dir, 'state.db');
    const cli = (args: string[], extra: Record<string, string> = {}) => runCli([...args, '--db', db], { cwd: dir, env: env(emulator!, extra) });

    // Not started: --no-wait exits 7 at once, having planned; nothing sent.
    writeScheduled(dir, {
      id: 'tomorrow',
      recipients: 4,
      prefix: '101',
      schedule: [`start_at: "${iso(24 * HOUR)}"`, 'window: { timezone: UTC, from: "00:00", to: "24:00" }'],
    });
    const notYet = await cli(['run', 'campaigns/tomorrow.yaml', '--no-wait']);
    expect(notYet.code).toBe(7);
    expect(notYet.stderr).toMatch(/Not due now: not started yet: start_at is .*; next chance to send: /);

    // Outside its window (one that is never open now): 7 too.
    const closedFrom = new Date(Date.now() + 2 * HOUR);
    const hh = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:00`;
    writeScheduled(dir, {
      id: 'closed',
      recipients: 2,
      prefix: '102',
      schedule: [`window: { timezone: UTC, from: "${hh(closedFrom)}", to: "${hh(new Date(closedFrom.getTime() + HOUR))}" }`],
    });
    const closed = await cli(['run', 'campaigns/closed.yaml', '--no-wait']);
    expect(closed.code).toBe(7);
    expect(closed.stderr).toContain('Not due now: outside the send window');

    // Late: due 5 hours ago, at most 2 hours late: 8, with the sentence, nothing sent.
    writeScheduled(dir, { id: 'late', recipients: 3, prefix: '103', schedule: [`start_at: "${iso(-5 * HOUR)}"`, 'max_lateness: 2h'] });
    const late = await cli(['run', 'campaigns/late.yaml']);
    expect(late.code).toBe(8);
    expect(late.stderr).toMatch(/Refusing to start: the campaign was due at .* and it is now .*, 5h late, more than max_lateness \(2h\), and nothing has been sent yet\./);

    // Quota: 10 a month, 6 already used by another campaign of the project; 8 more do not fit.
    const done = writeScheduled(dir, { id: 'done', recipients: 6, prefix: '104' });
    expect((await cli(['run', 'campaigns/done.yaml'], { RK_MONTHLY_QUOTA: '10' })).code).toBe(0);
    const big = writeScheduled(dir, { id: 'big', recipients: 8, prefix: '105' });
    const quota = await cli(['run', 'campaigns/big.yaml'], { RK_MONTHLY_QUOTA: '10' });
    expect(quota.code).toBe(4);
    // Said before sending, and a clear stop with the hint.
    expect(quota.stderr.indexOf('do NOT fit')).toBeGreaterThan(-1);
    expect(quota.stderr.indexOf('do NOT fit')).toBeLessThan(quota.stderr.indexOf('Sending 8 message(s)'));
    expect(quota.stderr).toMatch(/6 of 10 used; this campaign's 8 message\(s\) do NOT fit: it stops cleanly after 4 \(exit 4\)/);
    expect(quota.stderr).toContain('Stopped before going over the monthly quota: 10 messages in');
    expect(emulator.stats().quotaRejected).toBe(0);
    const sentBig = emulator.messages().filter((m) => big.includes(m.recipient));
    expect(sentBig).toHaveLength(4);
    expect(emulator.messages().filter((m) => done.includes(m.recipient))).toHaveLength(6);
    // Raised: the same command resumes and finishes.
    const resumed = await cli(['run', 'campaigns/big.yaml'], { RK_MONTHLY_QUOTA: '20' });
    expect(resumed.code).toBe(0);
    expect(emulator.messages().filter((m) => big.includes(m.recipient)).map((m) => m.recipient).sort()).toEqual(big);

    // A campaign stopped by quota again, for list.
    writeScheduled(dir, { id: 'starved', recipients: 2, prefix: '106' });
    expect((await cli(['run', 'campaigns/starved.yaml'], { RK_MONTHLY_QUOTA: '14' })).code).toBe(4);

    // Run locks: a live holder elsewhere (running) and a dead one (interrupted).
    writeScheduled(dir, { id: 'busy', recipients: 2, prefix: '107' });
    writeScheduled(dir, { id: 'crashed', recipients: 2, prefix: '108' });
    for (const id of ['busy', 'crashed']) expect((await cli(['run', `campaigns/${id}.yaml`, '--dry-run'])).code).toBe(0);
    const store = new SqliteStore(db);
    await store.acquireLease({ campaignId: 'busy', owner: 'o1', pid: 777, host: 'box-a' }, Date.now(), 60_000);
    await store.acquireLease({ campaignId: 'crashed', owner: 'o2', pid: 778, host: 'box-b' }, Date.now() - 10 * 60_000, 60_000);
    await store.close();

    const list = await cli(['list', '--json']);
    expect(list.code).toBe(0);
    const states = Object.fromEntries(
      (JSON.parse(list.stdout) as { campaigns: { id: string; state: string }[] }).campaigns.map((c) => [c.id, c.state]),
    );
    expect(states).toEqual({
      tomorrow: 'waiting',
      closed: 'paused-window',
      late: 'refused-late',
      done: 'done',
      big: 'done',
      starved: 'stopped-quota',
      busy: 'running',
      crashed: 'interrupted',
    });
    const human = await cli(['list']);
    expect(human.stdout).toMatch(/^CAMPAIGN +STATE +SENT +PENDING +FAILED +SKIPPED +EXPIRED +LAST ACTIVITY$/m);
    expect(human.stdout).toMatch(/^big +done +8 +0 +0 +0 +0 +\S/m);
    expect(human.stdout).toMatch(/^busy +running .*\n {2}pid 777 on box-a/m);

    // status: one campaign, with the ETA accounting for its schedule.
    const status = await cli(['status', 'tomorrow', '--json']);
    const overview = JSON.parse(status.stdout) as { state: string; counts: { pending: number }; etaAt: number; schedule: { startAt: number } };
    expect(overview).toMatchObject({ state: 'waiting', counts: { pending: 4 } });
    expect(overview.etaAt).toBeGreaterThanOrEqual(overview.schedule.startAt);
    const byFile = await cli(['status', 'campaigns/tomorrow.yaml']);
    expect(byFile.code).toBe(0);
    expect(byFile.stdout).toMatch(/state: +waiting: starts /);
    expect(byFile.stdout).toMatch(/ETA: +.* for 4 pending at 6000\/min, inside the window/);
    const unknown = await cli(['status', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No campaign "nope"');
  }, 120_000);
});

describe('run lock across stores on one database file', () => {
  it('respects a live lease and takes over a stale one', async () => {
    const clock = new ManualClock(Date.parse('2026-12-05T02:00:00Z'), true); // sleeps (send spacing) move it
    emulator = await startEmulator({ port: 0, now: () => clock.now(), projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const numbers = writeScheduled(dir, { id: 'shared', recipients: 3, prefix: '201' });
    const campaign = await loadCampaign(join(dir, 'campaigns', 'shared.yaml'));
    const prepared = await prepareCampaign(campaign);
    const db = join(dir, 'state.db');
    const holder = new SqliteStore(db);
    const contender = new SqliteStore(db);
    await holder.ensureCampaign({ id: 'shared', name: 'shared', projectId: 'p', sourcePath: campaign.sourcePath, now: clock.now() });
    // Another machine's process holds it and heartbeats.
    expect(await holder.acquireLease({ campaignId: 'shared', owner: 'them', pid: 31337, host: 'elsewhere' }, clock.now(), 60_000)).toEqual({ acquired: true });
    const api = new RkClient({ apiKey: DEMO_PROJECT.apiKey, apiSecret: DEMO_PROJECT.apiSecret, baseUrl: emulator.url, now: () => clock.now() });
    const run = () => runCampaign({ store: contender, api, clock, emit: () => undefined }, prepared, { projectId: 'p' });

    clock.advance(30_000);
    expect(await holder.heartbeat('shared', 'them', clock.now())).toBe(true);
    clock.advance(50_000); // 50 s after the last heartbeat: still live
    const refused = await run().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CampaignLockedError);
    expect((refused as Error).message).toMatch(/being run by another process \(pid 31337 on elsewhere/);
    expect(emulator.messages()).toHaveLength(0);

    clock.advance(20_000); // 70 s without a heartbeat: its owner is gone
    const result = await run();
    expect(result.send?.reason).toBe('done');
    expect(emulator.messages().map((m) => m.recipient).sort()).toEqual(numbers);
    // The old owner lost it for good: its heartbeat no longer holds anything, and the lock was released after the run.
    expect(await holder.heartbeat('shared', 'them', clock.now())).toBe(false);
    expect(await holder.getLease('shared')).toBeUndefined();
    await api.close();
    await holder.close();
    await contender.close();
  }, 60_000);
});

describe('list and status offer only the flags they use', () => {
  it('refuses --quiet and --log-file (which they used to accept and ignore), and --help does not list them', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    for (const argv of [
      ['list', '--quiet'],
      ['list', '--log-file', join(dir, 'list.ndjson')],
      ['status', 'x', '-q'],
      ['status', 'x', '--log-file', join(dir, 'status.ndjson')],
      ['status', 'x', '--verbose'],
    ]) {
      const t = captureIo({}, dir);
      expect(await main([...argv, '--db', db], t.io), argv.join(' ')).toBe(2);
      expect(t.err()).toMatch(/^rk-broadcast: Unknown arguments?: (quiet|q|log-file|verbose)\b/);
    }
    for (const command of ['list', 'status']) {
      const help = runCli([command, '--help'], { cwd: dir, env: cliEnv({}) });
      const { stdout } = await help;
      expect(stdout).toContain('--db');
      expect(stdout).toContain('--json');
      expect(stdout).not.toMatch(/--quiet|--log-file/);
    }
    // What they do offer still works: list --verbose, status --json.
    const list = captureIo({}, dir);
    expect(await main(['list', '--db', db, '--verbose'], list.io)).toBe(0);
    expect(list.err()).toContain('No campaigns yet');
  });
});
