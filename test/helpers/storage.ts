/**
 * Helpers for the storage-fault tests: real mounts (tmpfs, read-only bind mounts), a disk filled to the last
 * byte, lock holders in other processes, and checks that the CLI printed no stack trace.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { cliEnv, runCli, type CliResult } from './cli.js';
import { writeInlineCampaign } from './campaign.js';

/**
 * Per-test fixture: mounts it makes live in their own temporary folders (never inside a test's `tempDir`, whose
 * removal would race the unmount) and are undone, and their folders removed, after each test; the emulator it
 * started is closed after each test.
 */
export function storageFixture() {
  const mounts: string[] = [];
  let emulator: RunningEmulator | undefined;
  const undo = (dir: string): void => {
    // A test that timed out may have left it mounted, or may have unmounted it already.
    let mounted = true;
    try {
      execFileSync('mountpoint', ['-q', dir]);
    } catch {
      mounted = false;
    }
    if (mounted) {
      try {
        execFileSync('umount', [dir]);
      } catch {
        execFileSync('umount', ['-l', dir]);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  afterEach(async () => {
    await emulator?.close();
    emulator = undefined;
    for (const dir of mounts.splice(0).reverse()) undo(dir);
  });
  afterAll(() => {
    for (const dir of mounts.splice(0).reverse()) undo(dir);
  });
  const mountPoint = (kind: string): string => mkdtempSync(join(tmpdir(), `rkb-${kind}-`));
  return {
    /** A new tmpfs of `size` (e.g. `16m`); returns where it is mounted. */
    mountTmpfs(size: string): string {
      const dir = mountPoint('tmpfs');
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
      mounts.push(dir);
      return dir;
    },
    /** A read-only bind mount of `source`; returns where it is mounted. */
    mountReadOnly(source: string): string {
      const dir = mountPoint('ro');
      execFileSync('mount', ['--bind', source, dir]);
      mounts.push(dir);
      execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
      return dir;
    },
    /** Undoes a mount now (before the test ends). */
    unmount(dir: string): void {
      mounts.splice(mounts.indexOf(dir), 1);
      undo(dir);
    },
    /** An emulator with no rate or quota limit in the way (optionally with latency), closed after the test. */
    async emulator(latencyMs: [number, number] = [0, 0]): Promise<RunningEmulator> {
      await emulator?.close();
      emulator = await startEmulator({
        port: 0,
        projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000, monthlyQuota: 10_000_000 }],
        ...(latencyMs[1] > 0 ? { faults: { latencyMs } } : {}),
      });
      return emulator;
    },
  };
}

/** Whether this process may mount file systems and switch users. */
export const ROOT = process.getuid?.() === 0;

/** `describe` when root; otherwise skipped (`describe.skipIf`), saying on stderr which tests are skipped and why. */
export function rootOnly(file: string): (name: string, body: () => void) => void {
  if (!ROOT) console.warn(`${file}: not running as root: SKIPPING the tests that need root (tmpfs / read-only bind mounts / another user).`);
  return (name, body) => describe.skipIf(!ROOT)(name, body);
}

/** Fills the file system holding `dir` to the last byte; returns the filler file. */
export function fillDisk(dir: string): string {
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

export function cliEnvFor(emu: RunningEmulator | undefined, extra: Record<string, string> = {}) {
  return cliEnv({
    ...(emu ? { RK_BASE_URL: emu.url } : {}),
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    RK_MONTHLY_QUOTA: '10000000',
    ...extra,
  });
}

/** The emulator's messages per recipient, read over HTTP as any client would. */
export async function messagesPerRecipient(emu: RunningEmulator): Promise<Map<string, number>> {
  const body = (await (await fetch(new URL('/__emulator/messages', emu.url))).json()) as { messages: { recipient: string }[] };
  const counts = new Map<string, number>();
  for (const m of body.messages) counts.set(m.recipient, (counts.get(m.recipient) ?? 0) + 1);
  return counts;
}

/** No stack trace, no "this is a bug", in anything the CLI printed. */
export function expectNoStackTrace(r: CliResult): void {
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(/\n\s+at .+[:(]/);
  expect(all).not.toMatch(/This is a bug|Unexpected error|unexpected error/);
}

/** Resolves when the child's stderr matches `pattern`. */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
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
export async function sentCampaign(dir: string, db: string, n: number, id = 'faults'): Promise<{ file: string; numbers: string[] }> {
  const emu = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000, monthlyQuota: 10_000_000 }] });
  try {
    const numbers = writeInlineCampaign(dir, { id, recipients: n, prefix: '555', rate: 6000 });
    const file = join('campaigns', `${id}.yaml`);
    const r = await runCli(['run', file, '--db', db, '--no-sweep', '--rate', '60000'], { cwd: dir, env: cliEnvFor(emu) });
    expect(r.code, r.stderr).toBe(0);
    return { file, numbers };
  } finally {
    await emu.close();
  }
}

export function snapshot(path: string): { bytes: Buffer; mtimeMs: number; mode: number } {
  const s = statSync(path);
  return { bytes: readFileSync(path), mtimeMs: s.mtimeMs, mode: s.mode };
}

/** A child process holding a lock on `db` until killed: a write transaction, or exclusive locking mode. */
export async function holdLock(db: string, how: 'write' | 'exclusive'): Promise<ChildProcess> {
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

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((resolve) => child.on('close', resolve));
  child.kill('SIGKILL');
  await closed;
}
