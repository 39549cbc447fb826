import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ReportRow } from '../src/store/types.js';
import { writeCampaign } from './helpers/campaign.js';
import { cliEnv, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

function envFor(emu: RunningEmulator, extra: Record<string, string> = {}) {
  return cliEnv({
    RK_BASE_URL: emu.url,
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    RK_REQUEST_TIMEOUT_MS: '1500',
    RK_RETRY_BASE_MS: '50',
    ...extra,
  });
}

async function rowsOf(dbPath: string, campaignId: string): Promise<ReportRow[]> {
  const store = new SqliteStore(dbPath);
  const rows: ReportRow[] = [];
  for await (const r of store.reportRows(campaignId)) rows.push(r);
  await store.close();
  return rows;
}

/** Exactly one emulator message per sendable recipient, none for anyone else. */
function expectExactlyOnce(emu: RunningEmulator, expected: string[]) {
  const byRecipient = new Map<string, number>();
  for (const m of emu.messages()) byRecipient.set(m.recipient, (byRecipient.get(m.recipient) ?? 0) + 1);
  const doubled = [...byRecipient].filter(([, n]) => n > 1);
  expect(doubled).toEqual([]);
  expect([...byRecipient.keys()].sort()).toEqual([...expected].sort());
}

describe('rk-broadcast run (end to end against the emulator)', () => {
  it('sends a 200-row campaign exactly once per valid recipient, with the rendered text and payload', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path, sendable, rows } = writeCampaign(dir, { valid: 180, invalid: 8, duplicates: 7, suppressed: 5, rate: 6000 });
    expect(rows).toHaveLength(200);
    const db = join(dir, 'state.db');
    const r = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emulator) });
    expect(r.stderr).toContain('180 to send, 8 invalid, 7 duplicate, 5 suppressed');
    expect(r.code).toBe(0);
    expectExactlyOnce(emulator, sendable.map((s) => s.expected!));
    const first = emulator.messages().find((m) => m.recipient === sendable[0]!.expected)!;
    expect(first.message).toBe('Halo Pelanggan 0 dari Kota 0!');
    expect(first.payload).toEqual({ campaign: 'test-campaign', who: 'Pelanggan 0' });
    expect(first.requestId).toMatch(/^rkb-[0-9a-f]{40}$/);
    // The store agrees with the emulator, row by row.
    const stored = await rowsOf(db, 'test-campaign');
    const uuids = new Map(emulator.messages().map((m) => [m.recipient, m.id]));
    for (const row of stored.filter((x) => x.state === 'accepted')) expect(row.uuid).toBe(uuids.get(row.phone!));
    expect(stored.filter((x) => x.state === 'accepted')).toHaveLength(180);
    expect(stored.filter((x) => x.state === 'invalid')).toHaveLength(8);
    expect(stored.filter((x) => x.state === 'duplicate')).toHaveLength(7);
    expect(stored.filter((x) => x.state === 'suppressed')).toHaveLength(5);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    // A second run has nothing left to do and sends nothing.
    const again = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emulator) });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('Nothing left to send');
    expect(emulator.messages()).toHaveLength(180);
  });

  it('delivers exactly once through 5xx, resets before and after creation, and hangs', async () => {
    emulator = await startEmulator({
      port: 0,
      projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }],
      faults: { seed: 7, serverErrorRate: 0.1, resetBeforeRate: 0.08, resetAfterRate: 0.12, hangRate: 0.04, paths: ['send'] },
    });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 120, rate: 6000, extraYaml: 'max_attempts: 12' });
    const db = join(dir, 'state.db');
    const r = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emulator, { RK_REQUEST_TIMEOUT_MS: '400' }) });
    expect(r.code).toBe(0);
    const stats = emulator.stats();
    expect(stats.injected.resetAfter).toBeGreaterThan(0);
    expect(stats.injected.hang).toBeGreaterThan(0);
    expect(stats.replays).toBeGreaterThan(0); // lost responses were resent with the same request id
    expectExactlyOnce(emulator, sendable.map((s) => s.expected!));
    const stored = await rowsOf(db, 'test-campaign');
    expect(stored.every((x) => x.state === 'accepted')).toBe(true);
  });

  it('stops with exit 4 when the quota runs out, keeps state, and completes after the quota is raised', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000, monthlyQuota: 30 }] });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 50, rate: 6000 });
    const db = join(dir, 'state.db');
    // A local budget higher than the API's, so the API's 403 is what stops this run.
    const env = envFor(emulator, { RK_MONTHLY_QUOTA: '1000000' });
    const first = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(first.code).toBe(4);
    expect(first.stderr).toContain('QUOTA_EXCEEDED');
    expect(first.stderr).toMatch(/resume with: rk-broadcast run/i);
    expect(emulator.messages()).toHaveLength(30);
    const mid = await rowsOf(db, 'test-campaign');
    expect(mid.filter((x) => x.state === 'accepted')).toHaveLength(30);
    expect(mid.filter((x) => x.state === 'planned')).toHaveLength(20);
    emulator.setQuota(DEMO_PROJECT.apiKey, 1000);
    const second = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(second.code).toBe(0);
    expectExactlyOnce(emulator, sendable.map((s) => s.expected!));
  });

  it('stops with exit 3 on a wrong secret, sends nothing, and never prints the secret', async () => {
    emulator = await startEmulator({ port: 0 });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 5 });
    const secret = 'wrong_secret_value_123456';
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: envFor(emulator, { RK_API_SECRET: secret }) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('INVALID_SIGNATURE');
    expect(r.stderr + r.stdout).not.toContain(secret);
    expect(emulator.messages()).toHaveLength(0);
  });

  it('a device the project does not have (422 INVALID_DEVICE) leaves the rotation: with none left, exit 13 and every message kept', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 10, rate: 6000 });
    writeFileSync(path, (await import('node:fs')).readFileSync(path, 'utf8').replace('device: RK-DEMO', 'device: RK-OTHER'));
    const db = join(dir, 's.db');
    const r = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env: envFor(emulator) });
    expect(r.code).toBe(13);
    expect(r.stdout + r.stderr).toContain('No device is left to send through');
    const stored = await rowsOf(db, 'test-campaign');
    expect(stored.map((x) => x.state)).toEqual(Array(10).fill('planned'));
    // Fixed in the campaign file (a new device changes what is sent, so --replan): every message goes out once.
    writeFileSync(path, (await import('node:fs')).readFileSync(path, 'utf8').replace('device: RK-OTHER', 'device: RK-DEMO'));
    const again = await runCli(['run', path, '--db', db, '--no-sweep', '--replan'], { cwd: dir, env: envFor(emulator) });
    expect(again.code).toBe(0);
    expect(emulator.messages()).toHaveLength(10);
  });

  it('refuses to run when the CSV changed since the plan, and --replan sends only the new rows', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 10, rate: 6000 });
    const db = join(dir, 's.db');
    const env = envFor(emulator);
    expect((await runCli(['run', path, '--db', db, '--no-sweep', '--limit', '4'], { cwd: dir, env })).code).toBe(0);
    expect(emulator.messages()).toHaveLength(4);
    const csvPath = join(dir, 'campaigns', 'recipients.csv');
    const fs = await import('node:fs');
    const lines = fs.readFileSync(csvPath, 'utf8').trimEnd().split('\r\n');
    // Remove the last row (never sent) and add a new recipient.
    fs.writeFileSync(csvPath, [...lines.slice(0, -1), '081299998888,"Baru",Kota 1'].join('\r\n') + '\r\n');
    const refused = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('the recipient CSV');
    expect(refused.stderr).toContain('--replan');
    expect(emulator.messages()).toHaveLength(4);
    const replanned = await runCli(['run', path, '--db', db, '--no-sweep', '--replan'], { cwd: dir, env });
    expect(replanned.code).toBe(0);
    const recipients = emulator.messages().map((m) => m.recipient);
    expect(recipients).toHaveLength(10);
    expect(new Set(recipients).size).toBe(10);
    expect(recipients).toContain('6281299998888');
    const stored = await rowsOf(db, 'test-campaign');
    expect(stored.filter((x) => x.state === 'skipped')).toHaveLength(1);
  });

  it('--dry-run plans without sending and validate writes no state', async () => {
    emulator = await startEmulator({ port: 0 });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 6, invalid: 2 });
    const v = await runCli(['validate', path], { cwd: dir, env: envFor(emulator) });
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('sendable 6 · invalid 2 · duplicate 0 · suppressed 0');
    expect(v.stdout).toContain('Halo Pelanggan 0 dari Kota 0!');
    expect(v.stdout).toMatch(/line 8 \(080\): .*/);
    const fs = await import('node:fs');
    expect(fs.existsSync(join(dir, '.rk-broadcast'))).toBe(false);
    const d = await runCli(['run', path, '--dry-run', '--no-sweep', '--db', join(dir, 's.db')], { cwd: dir, env: envFor(emulator) });
    expect(d.code).toBe(0);
    expect(d.stderr).toContain('Dry run');
    expect(emulator.messages()).toHaveLength(0);
  });

  it('ends with a status sweep: --sweep-until-final leaves every message with its final status', async () => {
    emulator = await startEmulator({
      port: 0,
      projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }],
      lifecycle: { queuedToSentMs: 200, sentToDeliveredMs: 300, failRecipients: ['6281200000001'], failureMessage: 'Recipient is not on WhatsApp' },
    });
    const dir = tempDir();
    const { path } = writeCampaign(dir, { valid: 4, rate: 6000 });
    const db = join(dir, 's.db');
    const r = await runCli(['run', path, '--db', db, '--sweep-until-final', '--sweep-timeout', '30s'], { cwd: dir, env: envFor(emulator) });
    expect(r.code, r.stderr).toBe(0);
    const stored = await rowsOf(db, 'test-campaign');
    expect(stored.map((x) => [x.phone, x.apiStatus])).toEqual([
      ['6281200000000', 'delivered'],
      ['6281200000001', 'failed'],
      ['6281200000002', 'delivered'],
      ['6281200000003', 'delivered'],
    ]);
    expect(stored[1]!.errorMessage).toBe('Recipient is not on WhatsApp');
    expect(r.stderr).toMatch(/delivered 3 · failed 1/);
  });
});
