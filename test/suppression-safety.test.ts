import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { writeCampaign } from './helpers/campaign.js';
import { cliEnv, runCli, startCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function messagesPerRecipient(emu: RunningEmulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of emu.messages()) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
  return counts;
}

interface StoredRow {
  phone: string;
  state: string;
  error_code: string | null;
  error_message: string | null;
}

/** The rows of the state database as stored (opened read-only, as another process would). */
function storedRows(db: string): StoredRow[] {
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare<[], StoredRow>('SELECT phone, state, error_code, error_message FROM messages WHERE phone IS NOT NULL').all();
  } finally {
    conn.close();
  }
}

async function setup(valid: number, rate: number) {
  emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }] });
  const dir = tempDir();
  const campaign = writeCampaign(dir, { valid, rate });
  const env = cliEnv({
    RK_BASE_URL: emulator.url,
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    RK_REQUEST_TIMEOUT_MS: '60000',
  });
  return { dir, env, db: join(dir, 'state.db'), ...campaign, csvPath: join(dir, 'campaigns', 'recipients.csv'), optoutPath: join(dir, 'campaigns', 'optout.csv') };
}

/** Removes the CSV lines of the given normalised numbers (rows are written `0…`, `+62 …` or `62…`). */
function removeFromCsv(csvPath: string, rows: { phone: string; expected: string | null }[], numbers: Set<string>): void {
  const drop = new Set(rows.filter((r) => r.expected !== null && numbers.has(r.expected)).map((r) => r.phone));
  const lines = readFileSync(csvPath, 'utf8').split('\r\n');
  writeFileSync(csvPath, lines.filter((l) => !drop.has(l.split(',')[0]!)).join('\r\n'));
}

describe('the current plan decides, also after a crash (opt-outs, removed rows)', () => {
  it('a run killed with requests in flight, then some numbers opted out and others removed, and --replan: none of them is messaged', async () => {
    const c = await setup(40, 6000);
    // A first batch goes out normally.
    const first = await runCli(['run', c.path, '--db', c.db, '--limit', '8', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(first.code, first.stderr).toBe(0);
    // Then the API stops answering: requests stay in flight (not created), and the run is killed.
    emulator!.setFaults({ hangRate: 1, paths: ['send'] });
    const child = startCli(['run', c.path, '--db', c.db, '--json', '--no-sweep'], { cwd: c.dir, env: c.env });
    await until('requests in flight', () => emulator!.stats().injected.hang >= 6);
    child.kill('SIGKILL');
    await child.result;
    const inFlight = storedRows(c.db)
      .filter((r) => r.state === 'sending')
      .map((r) => r.phone);
    expect(inFlight.length).toBeGreaterThanOrEqual(6);

    // Half of them opt out; the other half are taken off the list. Then the user replans.
    const optedOut = new Set(inFlight.slice(0, Math.ceil(inFlight.length / 2)));
    const removed = new Set(inFlight.slice(Math.ceil(inFlight.length / 2)));
    appendFileSync(c.optoutPath, [...optedOut].join('\n') + '\n');
    removeFromCsv(c.csvPath, c.rows, removed);
    emulator!.setFaults({});
    const replan = await runCli(['run', c.path, '--db', c.db, '--replan', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(replan.code, replan.stderr + replan.stdout).toBe(0);

    const sent = messagesPerRecipient(emulator!);
    for (const phone of [...optedOut, ...removed]) expect(sent.get(phone) ?? 0, phone).toBe(0);
    for (const r of c.sendable) {
      if (optedOut.has(r.expected!) || removed.has(r.expected!)) continue;
      expect(sent.get(r.expected!), r.expected!).toBe(1);
    }
    const byPhone = new Map(storedRows(c.db).map((r) => [r.phone, r]));
    for (const phone of optedOut) {
      expect(byPhone.get(phone)).toMatchObject({ state: 'suppressed', error_code: 'SUPPRESSED' });
      expect(byPhone.get(phone)!.error_message).toContain('the API may already have created this message');
    }
    for (const phone of removed) {
      expect(byPhone.get(phone)).toMatchObject({ state: 'skipped', error_code: 'REMOVED_FROM_PLAN' });
      expect(byPhone.get(phone)!.error_message).toContain('the API may already have created this message');
    }
    // And no later flag brings them back.
    const again = await runCli(['run', c.path, '--db', c.db, '--resend-unknown', '--retry-failed', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(again.code, again.stderr).toBe(0);
    for (const phone of [...optedOut, ...removed]) expect(messagesPerRecipient(emulator!).get(phone) ?? 0).toBe(0);
  });

  it('a number removed by a replan and added back later is planned again, not lost', async () => {
    const c = await setup(10, 6000);
    expect((await runCli(['run', c.path, '--db', c.db, '--limit', '2', '--no-sweep'], { cwd: c.dir, env: c.env })).code).toBe(0);
    const original = readFileSync(c.csvPath, 'utf8');
    const last = c.sendable[c.sendable.length - 1]!.expected!;
    removeFromCsv(c.csvPath, c.rows, new Set([last]));
    expect((await runCli(['run', c.path, '--db', c.db, '--replan', '--limit', '2', '--no-sweep'], { cwd: c.dir, env: c.env })).code).toBe(0);
    writeFileSync(c.csvPath, original);
    const r = await runCli(['run', c.path, '--db', c.db, '--replan', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(r.code, r.stderr).toBe(0);
    const sent = messagesPerRecipient(emulator!);
    for (const row of c.sendable) expect(sent.get(row.expected!), row.expected!).toBe(1);
  });
});

describe('suppression lists changed on their own apply without --replan', () => {
  it('new opt-outs are honoured at the next run with no replan; releasing a suppressed number asks for --replan', async () => {
    const c = await setup(20, 6000);
    const first = await runCli(['run', c.path, '--db', c.db, '--limit', '5', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(first.code, first.stderr).toBe(0);
    const later = c.sendable.slice(15).map((r) => r.expected!);
    appendFileSync(c.optoutPath, later.join('\n') + '\n');
    const second = await runCli(['run', c.path, '--db', c.db, '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(second.code, second.stderr + second.stdout).toBe(0);
    expect(second.stdout + second.stderr).toContain('5 message(s) not yet sent are now suppressed');
    const sent = messagesPerRecipient(emulator!);
    for (const phone of later) expect(sent.get(phone) ?? 0).toBe(0);
    expect(emulator!.messages().length).toBe(15);
    const byPhone = new Map(storedRows(c.db).map((r) => [r.phone, r]));
    for (const phone of later) expect(byPhone.get(phone)).toMatchObject({ state: 'suppressed', error_code: 'SUPPRESSED' });

    // The applied lists are now the plan's: a plain run again changes nothing and says nothing about them.
    const third = await runCli(['run', c.path, '--db', c.db, '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(third.code).toBe(0);
    expect(third.stdout + third.stderr).not.toContain('Suppression lists changed');

    // Taking a number off the list would add a recipient: that is the user's decision, made with --replan.
    writeFileSync(c.optoutPath, ['phone', ...later.slice(1)].join('\n') + '\n');
    const released = await runCli(['run', c.path, '--db', c.db, '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(released.code).toBe(5);
    expect(released.stderr).toContain('--replan');
    expect(emulator!.messages().length).toBe(15);
    const replanned = await runCli(['run', c.path, '--db', c.db, '--replan', '--no-sweep'], { cwd: c.dir, env: c.env });
    expect(replanned.code, replanned.stderr).toBe(0);
    expect(messagesPerRecipient(emulator!).get(later[0]!)).toBe(1);
    expect(emulator!.messages().length).toBe(16);
  });

  it('a running campaign picks up an updated suppression list within its check interval', async () => {
    const c = await setup(30, 120); // one message every 500 ms: 15 s in all
    const env = { ...c.env, RK_SUPPRESSION_CHECK_MS: '200' };
    const child = startCli(['run', c.path, '--db', c.db, '--json', '--no-sweep'], { cwd: c.dir, env });
    await until('the first messages', () => emulator!.messages().length >= 3);
    const optedOut = c.sendable.slice(20).map((r) => r.expected!);
    appendFileSync(c.optoutPath, optedOut.join('\n') + '\n');
    const r = await child.result;
    expect(r.code, r.stderr).toBe(0);
    const event = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; when?: string; suppressed?: number })
      .find((e) => e.type === 'suppression-applied');
    expect(event).toMatchObject({ when: 'during-run', suppressed: 10 });
    const sent = messagesPerRecipient(emulator!);
    for (const phone of optedOut) expect(sent.get(phone) ?? 0, phone).toBe(0);
    expect(emulator!.messages().length).toBe(20);
  }, 40_000);
});
