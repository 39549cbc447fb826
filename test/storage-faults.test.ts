/**
 * Storage faults, end to end: the real CLI (child processes) on real files, a real tiny tmpfs for a full disk,
 * real read-only bind mounts, a real second user, real lock holders. Tests that mount or switch users need root;
 * they are skipped, saying so, when not root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { CLI, cliEnv, runCli, startCli, type CliResult } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { tempDir } from './helpers/tmp.js';

const ROOT = process.getuid?.() === 0;
if (!ROOT) {
  console.warn('storage-faults: not running as root: SKIPPING the tests that mount a tmpfs or a read-only bind mount or run as another user.');
}
const rootOnly = ROOT ? describe : describe.skip;

/** Mount points to undo, newest first. */
const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts.reverse()) {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
  }
});

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  mounts.push(dir);
}

function mountReadOnly(source: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['--bind', source, dir]);
  mounts.push(dir);
  execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
}

function unmount(dir: string): void {
  execFileSync('umount', [dir]);
  mounts.splice(mounts.indexOf(dir), 1);
}

/** Fills the file system holding `dir` to the last byte; returns the filler file. */
function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 65_536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 7);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function emulatorFor(latencyMs: [number, number] = [0, 0]): Promise<RunningEmulator> {
  emulator = await startEmulator({
    port: 0,
    projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000, monthlyQuota: 10_000_000 }],
    ...(latencyMs[1] > 0 ? { faults: { latencyMs } } : {}),
  });
  return emulator;
}

function env(emu: RunningEmulator | undefined, extra: Record<string, string> = {}) {
  return cliEnv({
    ...(emu ? { RK_BASE_URL: emu.url } : {}),
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    RK_MONTHLY_QUOTA: '10000000',
    ...extra,
  });
}

/** The emulator's messages per recipient, read over HTTP as any client would. */
async function messagesPerRecipient(emu: RunningEmulator): Promise<Map<string, number>> {
  const body = (await (await fetch(new URL('/__emulator/messages', emu.url))).json()) as { messages: { recipient: string }[] };
  const counts = new Map<string, number>();
  for (const m of body.messages) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
  return counts;
}

/** No stack trace, no "this is a bug", in anything the CLI printed. */
function expectNoStackTrace(r: CliResult): void {
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(/\n\s+at .+[:(]/);
  expect(all).not.toMatch(/This is a bug|Unexpected error|unexpected error/);
}

/** Resolves when the child's stderr matches `pattern`. */
function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in: ${seen}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Runs a campaign of `n` recipients to the end into `db`; returns the campaign file and its numbers. */
async function sentCampaign(dir: string, db: string, n: number, id = 'faults'): Promise<{ file: string; numbers: string[] }> {
  const emu = await emulatorFor();
  const numbers = writeInlineCampaign(dir, { id, recipients: n, prefix: '555', rate: 6000 });
  const file = join('campaigns', `${id}.yaml`);
  const r = await runCli(['run', file, '--db', db, '--no-sweep', '--rate', '60000'], { cwd: dir, env: env(emu) });
  expect(r.code, r.stderr).toBe(0);
  await emu.close();
  emulator = undefined;
  return { file, numbers };
}

function snapshot(path: string): { bytes: Buffer; mtimeMs: number; mode: number } {
  const s = statSync(path);
  return { bytes: readFileSync(path), mtimeMs: s.mtimeMs, mode: s.mode };
}

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
      for (const args of [['list'], ['status', 'faults'], ['report', 'faults'], ['report', 'faults', '--out', join(dir, 'r.csv')], ['run', 'campaigns/faults.yaml', '--no-sweep']]) {
        const r = await runCli([...args, '--db', db], { cwd: dir, env: env(undefined, { RK_BASE_URL: 'http://127.0.0.1:9/api/v1' }) });
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
  }, 120_000);

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
      const newer = await runCli([...args, '--db', db], { cwd: dir, env: env(undefined) });
      expect(newer.code).toBe(11);
      expect(newer.stderr).toMatch(/state\.db was written by a newer rk-broadcast \(schema 99; this version knows 1\)/);
      expectNoStackTrace(newer);
      const foreignRun = await runCli([...args, '--db', other], { cwd: dir, env: env(undefined) });
      expect(foreignRun.code).toBe(11);
      expect(foreignRun.stderr).toMatch(/other\.db is not an rk-broadcast state database \(it is the SQLite database of another program\)/);
      expectNoStackTrace(foreignRun);
    }
    expect(new Database(db, { readonly: true }).pragma('user_version', { simple: true })).toBe(99);
    expect(snapshot(other)).toEqual(otherBefore);
  }, 60_000);
});

/** A child process holding a lock on `db` until killed: a write transaction, or exclusive locking mode. */
async function holdLock(db: string, how: 'write' | 'exclusive'): Promise<ChildProcess> {
  const script = `
    const Database = require(${JSON.stringify(join(process.cwd(), 'node_modules', 'better-sqlite3'))});
    const db = new Database(${JSON.stringify(db)});
    if (${JSON.stringify(how)} === 'exclusive') db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN IMMEDIATE');
    db.exec("UPDATE campaigns SET name = name");
    if (${JSON.stringify(how)} === 'exclusive') db.exec('COMMIT');
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((resolve) => child.on('close', resolve));
  child.kill('SIGKILL');
  await closed;
}

describe('a database locked by another process past the busy timeout', () => {
  it('run exits 10 saying so, readers still read a write-locked database, and the run resumes once the lock is gone', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    const { file, numbers } = await sentCampaign(dir, db, 4, 'locked');
    const more = writeInlineCampaign(dir, { id: 'locked', recipients: 8, prefix: '555', rate: 6000 });
    const emu = await emulatorFor();
    const busyEnv = env(emu, { RK_DB_BUSY_TIMEOUT_MS: '300' });

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
      await stop(writer);
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
      await stop(exclusive);
    }

    const resumed = await runCli(['run', file, '--db', db, '--no-sweep', '--replan'], { cwd: dir, env: busyEnv });
    expect(resumed.code, resumed.stderr).toBe(0);
    const counts = await messagesPerRecipient(emu);
    expect(more.filter((n) => !numbers.includes(n)).every((n) => counts.get(n) === 1)).toBe(true);
  }, 60_000);
});

rootOnly('a full disk (needs root: mounts a tmpfs; skipped when not root)', () => {
  it('disk full mid-send: exit 10, a clear message, no stack trace; after freeing space the run finishes, every recipient exactly once', async () => {
    const dir = tempDir();
    const mnt = join(dir, 'mnt');
    mountTmpfs(mnt, '16m');
    const db = join(mnt, 'state.db');
    const emu = await emulatorFor([5, 30]);
    const numbers = writeInlineCampaign(dir, { id: 'full', recipients: 800, prefix: '777', rate: 6000 });

    const first = startCli(['run', 'campaigns/full.yaml', '--db', db, '--no-sweep', '--rate', '12000'], { cwd: dir, env: env(emu) });
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
    const status = await runCli(['status', 'full', '--db', db], { cwd: dir, env: env(emu) });
    expectNoStackTrace(status);

    rmSync(filler);
    const second = await runCli(['run', 'campaigns/full.yaml', '--db', db, '--no-sweep'], { cwd: dir, env: env(emu) });
    expect(second.code, second.stderr).toBe(0);
    const counts = await messagesPerRecipient(emu);
    expect(numbers.filter((n) => counts.get(n) !== 1)).toEqual([]);
    expect([...counts.keys()].filter((n) => !numbers.includes(n))).toEqual([]);
  }, 120_000);

  it('--log-file on a full disk: warns once, stops logging, and the run finishes', async () => {
    const dir = tempDir();
    const mnt = join(dir, 'logs');
    mountTmpfs(mnt, '1m');
    writeFileSync(join(mnt, 'run.ndjson'), '');
    fillDisk(mnt);
    const emu = await emulatorFor();
    const numbers = writeInlineCampaign(dir, { id: 'logfull', recipients: 30, prefix: '778', rate: 6000 });
    const r = await runCli(['run', 'campaigns/logfull.yaml', '--db', join(dir, 'state.db'), '--no-sweep', '--log-file', join(mnt, 'run.ndjson')], {
      cwd: dir,
      env: env(emu),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/cannot write the log file .*run\.ndjson \(ENOSPC\); carrying on without it\./g)).toHaveLength(1);
    expectNoStackTrace(r);
    const counts = await messagesPerRecipient(emu);
    expect(numbers.every((n) => counts.get(n) === 1)).toBe(true);
  }, 60_000);
});

rootOnly('read-only use (needs root: read-only bind mount, another user; skipped when not root)', () => {
  it('status, list and report read a database on a read-only mount; run exits 10 there; nothing is changed', async () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    mkdirSync(data);
    const { numbers } = await sentCampaign(dir, join(data, 'state.db'), 5, 'ro');
    expect(readdirSync(data)).toEqual(['state.db']); // closed cleanly: no -wal, no -shm to lean on
    const before = snapshot(join(data, 'state.db'));
    const ro = join(dir, 'read-only-mount');
    mountReadOnly(data, ro);
    const db = join(ro, 'state.db');
    try {
      const list = await runCli(['list', '--db', db], { cwd: dir, env: env(undefined) });
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/^ro\s+done\s+5\s/m);
      const status = await runCli(['status', 'ro', '--db', db, '--json'], { cwd: dir, env: env(undefined) });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).counts.sent).toBe(5);
      const report = await runCli(['report', 'ro', '--db', db, '--raw-numbers'], { cwd: dir, env: env(undefined) });
      expect(report.code, report.stderr).toBe(0);
      for (const n of numbers) expect(report.stdout).toContain(n);
      const run = await runCli(['run', 'campaigns/ro.yaml', '--db', db, '--no-sweep'], { cwd: dir, env: env(undefined) });
      expect(run.code).toBe(10);
      expect(run.stderr).toContain(`Cannot write the state database ${db}: the file or its disk is read-only.`);
      expectNoStackTrace(run);
    } finally {
      unmount(ro);
    }
    expect(snapshot(join(data, 'state.db'))).toEqual(before);
    expect(readdirSync(data)).toEqual(['state.db']);
  }, 60_000);

  it('another user can read a 0644 database it cannot write, while its owner has it open too; its mode stays 0644', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o755 });
    const db = join(data, 'state.db');
    const { numbers } = await sentCampaign(dir, db, 5, 'shared');
    chmodSync(db, 0o644);
    const before = snapshot(db);
    const asNobody = (args: string[]) =>
      new Promise<CliResult>((resolve, reject) => {
        const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args, '--db', db], {
          cwd: dir,
          env: env(undefined),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
    const readAll = async () => {
      const list = await asNobody(['list']);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/^shared\s+done\s+5\s/m);
      const status = await asNobody(['status', 'shared']);
      expect(status.code, status.stderr).toBe(0);
      const report = await asNobody(['report', 'shared', '--raw-numbers']);
      expect(report.code, report.stderr).toBe(0);
      for (const n of numbers) expect(report.stdout).toContain(n);
      return list;
    };
    await readAll();
    const write = await asNobody(['run', 'campaigns/shared.yaml', '--no-sweep']);
    expect(write.code).toBe(10);
    expect(write.stderr).toContain(`No permission to write the state database ${db}`);
    expectNoStackTrace(write);
    expect(snapshot(db)).toEqual(before);
    expect(readdirSync(data)).toEqual(['state.db']);

    // The owner has it open with a change still in the write-ahead log (-wal, -shm beside it, 0644 like the file).
    const holder = spawn(
      process.execPath,
      ['-e', `const D = require(${JSON.stringify(join(process.cwd(), 'node_modules', 'better-sqlite3'))}); const db = new D(${JSON.stringify(db)}); db.pragma('wal_autocheckpoint = 0'); db.prepare("UPDATE campaigns SET name = 'Renamed while open'").run(); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
      expect(statSync(`${db}-wal`).size).toBeGreaterThan(0);
      const status = await asNobody(['status', 'shared', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).name).toBe('Renamed while open');
      await readAll();
    } finally {
      await stop(holder);
    }
  }, 60_000);
});

describe('report --out leftovers and --log-file modes', () => {
  /** A database with `rows` sent rows, written through the store (fast). */
  async function bigDatabase(db: string, rows: number): Promise<void> {
    const store = new SqliteStore(db);
    await store.ensureCampaign({ id: 'big', name: 'Big', projectId: 'p', sourcePath: '/nowhere.yaml', now: 1 });
    const generation = await store.beginPlan('big', 'fresh', 1);
    for (let start = 0; start < rows; start += 5000) {
      const batch = Array.from({ length: Math.min(5000, rows - start) }, (_, k) => {
        const i = start + k;
        const phone = `62811${String(i).padStart(8, '0')}`;
        return { line: i + 2, rawPhone: phone, phone, fields: { phone, nama: `Orang ${i}`, kota: 'Jakarta Selatan' }, state: 'planned' as const, text: `Halo Orang ${i}`, payload: null, requestId: `r-${i}`, reason: null };
      });
      await store.insertPlanBatch('big', generation, batch, 2);
    }
    await store.completePlan('big', generation, { csv: 'x', template: 'y', config: 'z', suppress: 'w', media: '' }, 3);
    await store.close();
  }

  const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  it('a report killed mid-write leaves its temporary file, the next report removes it (and nothing else); SIGTERM cleans up at once', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    await bigDatabase(db, 60_000);
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    writeFileSync(join(outDir, 'notes.tmp'), 'mine');
    writeFileSync(join(outDir, '.other.csv.1.abcdef01.tmp'), 'another report, not this one');
    const out = join(outDir, 'report.csv');

    const killedMidWrite = async (signal: NodeJS.Signals): Promise<CliResult & { pid: number }> => {
      const child = startCli(['report', 'big', '--db', db, '--out', out], { cwd: dir, env: env(undefined) });
      const mine = new RegExp(`^\\.report\\.csv\\.${child.pid}\\.[0-9a-f]{8}\\.tmp$`);
      for (let i = 0; i < 2000 && !temporaries(outDir).some((f) => mine.test(f)); i++) await new Promise((r) => setTimeout(r, 5));
      expect(temporaries(outDir).some((f) => mine.test(f)), 'the report never started writing').toBe(true);
      child.kill(signal);
      return { ...(await child.result), pid: child.pid! };
    };

    // Each killed report leaves its temporary file; each report removes those of reports killed before it.
    for (let k = 0; k < 2; k++) {
      const killed = await killedMidWrite('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      expect(temporaries(outDir).filter((f) => f.startsWith('.report.csv.'))).toEqual([expect.stringMatching(new RegExp(`^\\.report\\.csv\\.${killed.pid}\\.`))]);
    }
    expect(existsSync(out)).toBe(false);

    const next = await runCli(['report', 'big', '--db', db, '--out', out], { cwd: dir, env: env(undefined) });
    expect(next.code, next.stderr).toBe(0);
    expect(temporaries(outDir).sort()).toEqual(['.other.csv.1.abcdef01.tmp', 'notes.tmp']);
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(60_001);

    const terminated = await killedMidWrite('SIGTERM');
    expect(terminated.code).toBe(130);
    expect(terminated.stderr).toContain('stopped by SIGTERM');
    expectNoStackTrace(terminated);
    expect(temporaries(outDir).sort()).toEqual(['.other.csv.1.abcdef01.tmp', 'notes.tmp']);
    // The report written before is still whole.
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(60_001);
  }, 120_000);

  it('an existing --log-file with a loose mode is made 0600, and appended to', async () => {
    const dir = tempDir();
    const emu = await emulatorFor();
    writeInlineCampaign(dir, { id: 'logmode', recipients: 3, prefix: '779', rate: 6000 });
    const log = join(dir, 'run.ndjson');
    writeFileSync(log, '{"earlier":true}\n');
    chmodSync(log, 0o644);
    const r = await runCli(['run', 'campaigns/logmode.yaml', '--db', join(dir, 'state.db'), '--no-sweep', '--log-file', log], { cwd: dir, env: env(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(lines[0]).toBe('{"earlier":true}');
    expect(lines.some((l) => (JSON.parse(l) as { type?: string }).type === 'run-finished')).toBe(true);
  }, 60_000);
});

describe('disk use while sending', () => {
  it('the write-ahead log stays near 4 MB during a send (it grew to ~40 MB with the planning interval)', async () => {
    const dir = tempDir();
    const db = join(dir, 'state.db');
    const emu = await emulatorFor();
    writeInlineCampaign(dir, { id: 'disk', recipients: 1500, prefix: '780', rate: 6000 });
    const child = startCli(['run', 'campaigns/disk.yaml', '--db', db, '--no-sweep', '--rate', '60000'], { cwd: dir, env: env(emu) });
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
  }, 120_000);
});
