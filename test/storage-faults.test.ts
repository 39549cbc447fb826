/**
 * Storage faults, end to end: the real CLI (child processes) on real files — damaged, foreign, locked, on a real
 * tiny tmpfs filled to the last byte. The full-disk tests need root (they mount a tmpfs) and are skipped, saying
 * so, when not root.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import {
  cliEnvFor,
  expectNoStackTrace,
  fillDisk,
  holdLock,
  messagesPerRecipient,
  rootOnly,
  sentCampaign,
  snapshot,
  stopChild,
  storageFixture,
  waitForStderr,
} from './helpers/storage.js';
import { tempDir } from './helpers/tmp.js';
import { MIGRATIONS } from '../src/store/schema.js';

const fx = storageFixture();

describe('a database that cannot be used: clear message, exit 11, no stack trace, file untouched', () => {
  it('status, list, report and run on a truncated file, a corrupt file, a directory and a file that is not a database', async () => {
    const dir = tempDir();
    const good = join(dir, 'good.db');
    await sentCampaign(dir, good, 300);
    const image = readFileSync(good);
    const truncated = join(dir, 'truncated.db');
    writeFileSync(truncated, image);
    truncateSync(truncated, Math.floor(image.length / 2));
    const corrupt = join(dir, 'corrupt.db');
    const damaged = Buffer.from(image);
    damaged.fill(0x5a, 4096, image.length - 4096);
    writeFileSync(corrupt, damaged);
    const directory = join(dir, 'adir');
    mkdirSync(directory);
    const notDb = join(dir, 'notes.txt');
    writeFileSync(notDb, 'phone,name\n6281234,Budi\n'.repeat(50));
    chmodSync(notDb, 0o644);
    const before = snapshot(notDb);

    const cases: [string, RegExp, string][] = [
      [truncated, /The state database .*truncated\.db is damaged/, 'CORRUPT'],
      [corrupt, /The state database .*corrupt\.db is damaged/, 'CORRUPT'],
      [directory, /adir is a directory, not the state database file/, 'IS_DIRECTORY'],
      [notDb, /notes\.txt is not an rk-broadcast state database .*It was not changed\./, 'NOT_A_DATABASE'],
    ];
    for (const [db, message, code] of cases) {
      const commands = [['list'], ['status', 'faults'], ['report', 'faults']];
      // Writing commands too, for the file that must stay untouched and for a damaged one.
      if (db === notDb || db === truncated) commands.push(['report', 'faults', '--out', join(dir, 'r.csv')], ['run', 'campaigns/faults.yaml', '--no-sweep']);
      for (const args of commands) {
        const r = await runCli([...args, '--db', db], { cwd: dir, env: cliEnvFor(undefined, { RK_BASE_URL: 'http://127.0.0.1:9/api/v1' }) });
        expect({ db, args, code: r.code }).toEqual({ db, args, code: 11 });
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toContain(`code: ${code}`);
        expect(r.stderr).toContain('hint: ');
        expectNoStackTrace(r);
      }
    }
    // Not one byte, not the mode, not the mtime of the file that is not a database; nothing created beside it.
    expect(snapshot(notDb)).toEqual(before);
    expect(readdirSync(dir).filter((f) => f.startsWith('notes.txt'))).toEqual(['notes.txt']);
    expect(existsSync(join(dir, 'r.csv'))).toBe(false);
  }, 300_000);

  it('a database from a newer version (and another program\'s SQLite file) is refused, not migrated', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    await sentCampaign(dir, db, 3);
    const raw = new Database(db);
    raw.pragma('user_version = 99');
    raw.close();
    const other = join(dir, 'other.db');
    const foreign = new Database(other);
    foreign.exec('CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES (\'keep me\')');
    foreign.close();
    const otherBefore = snapshot(other);
    for (const args of [['list'], ['status', 'faults'], ['report', 'faults'], ['run', 'campaigns/faults.yaml']]) {
      const newer = await runCli([...args, '--db', db], { cwd: dir, env: cliEnvFor(undefined) });
      expect(newer.code).toBe(11);
      expect(newer.stderr).toContain(`state.db was written by a newer rk-broadcast (schema 99; this version knows ${MIGRATIONS.length})`);
      expectNoStackTrace(newer);
      const foreignRun = await runCli([...args, '--db', other], { cwd: dir, env: cliEnvFor(undefined) });
      expect(foreignRun.code).toBe(11);
      expect(foreignRun.stderr).toMatch(/other\.db is not an rk-broadcast state database \(it is the SQLite database of another program\)/);
      expectNoStackTrace(foreignRun);
    }
    expect(new Database(db, { readonly: true }).pragma('user_version', { simple: true })).toBe(99);
    expect(snapshot(other)).toEqual(otherBefore);

    // Never written (a run stopped before its first write): readers see an empty database and leave it as it is.
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const emptyBefore = snapshot(empty);
    const list = await runCli(['list', '--db', empty], { cwd: dir, env: cliEnvFor(undefined) });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toContain('No campaigns in this database yet.');
    const status = await runCli(['status', 'faults', '--db', empty], { cwd: dir, env: cliEnvFor(undefined) });
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('No campaign "faults" in empty.db');
    expect(snapshot(empty)).toEqual(emptyBefore);
    expect(readdirSync(dir).filter((f) => f.startsWith('empty.db'))).toEqual(['empty.db']);
  }, 300_000);
});

describe('a database locked by another process past the busy timeout', () => {
  it('run exits 10 saying so, readers still read a write-locked database, and the run resumes once the lock is gone', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    const { file, numbers } = await sentCampaign(dir, db, 4, 'locked');
    const more = writeInlineCampaign(dir, { id: 'locked', recipients: 8, prefix: '555', rate: 6000 });
    const emu = await fx.emulator();
    const busyEnv = cliEnvFor(emu, { RK_DB_BUSY_TIMEOUT_MS: '300' });

    const writer = await holdLock(db, 'write');
    try {
      const r = await runCli(['run', file, '--db', db, '--no-sweep'], { cwd: dir, env: busyEnv });
      expect(r.code).toBe(10);
      expect(r.stderr).toMatch(/The state database .*state\.db is locked by another process \(waited 0\.3 s\)\./);
      expect(r.stderr).toContain('code: BUSY');
      expectNoStackTrace(r);
      // WAL: a writer does not stop readers.
      const list = await runCli(['list', '--db', db], { cwd: dir, env: busyEnv });
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('locked');
    } finally {
      await stopChild(writer);
    }

    const exclusive = await holdLock(db, 'exclusive');
    try {
      for (const args of [['list'], ['status', 'locked'], ['report', 'locked']]) {
        const r = await runCli([...args, '--db', db], { cwd: dir, env: busyEnv });
        expect({ args, code: r.code }).toEqual({ args, code: 10 });
        expect(r.stderr).toMatch(/is locked by another process/);
        expectNoStackTrace(r);
      }
    } finally {
      await stopChild(exclusive);
    }

    const resumed = await runCli(['run', file, '--db', db, '--no-sweep', '--replan'], { cwd: dir, env: busyEnv });
    expect(resumed.code, resumed.stderr).toBe(0);
    const counts = await messagesPerRecipient(emu);
    expect(more.filter((n) => !numbers.includes(n)).every((n) => counts.get(n) === 1)).toBe(true);
  }, 300_000);
});

rootOnly('storage-faults.test.ts')('a full disk (needs root: mounts a tmpfs; skipped when not root)', () => {
  it('disk full mid-send: exit 10, a clear message, no stack trace; after freeing space the run finishes, every recipient exactly once', async () => {
    const dir = tempDir();
    const mnt = fx.mountTmpfs('16m');
    const db = join(mnt, 'state.db');
    const emu = await fx.emulator([5, 30]);
    const numbers = writeInlineCampaign(dir, { id: 'full', recipients: 800, prefix: '777', rate: 6000 });

    const first = startCli(['run', 'campaigns/full.yaml', '--db', db, '--no-sweep', '--rate', '12000'], { cwd: dir, env: cliEnvFor(emu) });
    await waitForStderr(first, /Sending 800 message\(s\)/);
    const filler = fillDisk(mnt);
    const r = await first.result;
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain(`rk-broadcast run: The disk holding the state database ${db} is full: the last change could not be saved.`);
    expect(r.stderr).toContain(`hint: Free some space there (df -h ${mnt}), then run the same command again`);
    expect(r.stderr).toContain('code: FULL');
    expectNoStackTrace(r);
    const sentBefore = [...(await messagesPerRecipient(emu)).keys()].filter((n) => numbers.includes(n)).length;
    expect(sentBefore).toBeGreaterThan(0);
    expect(sentBefore).toBeLessThan(numbers.length);

    // Readers never print a stack trace, even on a full disk.
    const status = await runCli(['status', 'full', '--db', db], { cwd: dir, env: cliEnvFor(emu) });
    expectNoStackTrace(status);

    rmSync(filler);
    const second = await runCli(['run', 'campaigns/full.yaml', '--db', db, '--no-sweep'], { cwd: dir, env: cliEnvFor(emu) });
    expect(second.code, second.stderr).toBe(0);
    const counts = await messagesPerRecipient(emu);
    expect(numbers.filter((n) => counts.get(n) !== 1)).toEqual([]);
    expect([...counts.keys()].filter((n) => !numbers.includes(n))).toEqual([]);
  }, 300_000);

  it('--log-file on a full disk: warns once, stops logging, and the run finishes', async () => {
    const dir = tempDir();
    const mnt = fx.mountTmpfs('1m');
    writeFileSync(join(mnt, 'run.ndjson'), '');
    fillDisk(mnt);
    const emu = await fx.emulator();
    const numbers = writeInlineCampaign(dir, { id: 'logfull', recipients: 30, prefix: '778', rate: 6000 });
    const r = await runCli(['run', 'campaigns/logfull.yaml', '--db', join(dir, 'state.db'), '--no-sweep', '--log-file', join(mnt, 'run.ndjson')], {
      cwd: dir,
      env: cliEnvFor(emu),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/cannot write the log file .*run\.ndjson \(ENOSPC\); carrying on without it\./g)).toHaveLength(1);
    expectNoStackTrace(r);
    const counts = await messagesPerRecipient(emu);
    expect(numbers.every((n) => counts.get(n) === 1)).toBe(true);
  }, 300_000);
});

describe('disk use while sending', () => {
  it('the write-ahead log stays near 4 MB during a send (it grew to ~40 MB with the planning interval)', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    const emu = await fx.emulator();
    writeInlineCampaign(dir, { id: 'disk', recipients: 1500, prefix: '780', rate: 6000 });
    const child = startCli(['run', 'campaigns/disk.yaml', '--db', db, '--no-sweep', '--rate', '60000'], { cwd: dir, env: cliEnvFor(emu) });
    let sending = false;
    child.stderr!.on('data', (d: Buffer) => (sending ||= /Sending 1500 message/.test(d.toString())));
    let peakWhileSending = 0;
    const sampler = setInterval(() => {
      if (!sending) return;
      try {
        peakWhileSending = Math.max(peakWhileSending, statSync(`${db}-wal`).size);
      } catch {
        // not there yet / gone at close
      }
    }, 10);
    const r = await child.result;
    clearInterval(sampler);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.messages()).toHaveLength(1500);
    expect(peakWhileSending).toBeGreaterThan(0);
    expect(peakWhileSending).toBeLessThan(8 * 1024 * 1024);
  }, 300_000);
});
