/**
 * Read-only use of the state database, end to end: a real read-only bind mount and a real second user (nobody,
 * via setpriv). Needs root; skipped, saying so, when not root.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, runCli, type CliResult } from './helpers/cli.js';
import { cliEnvFor, expectNoStackTrace, rootOnly, sentCampaign, snapshot, stopChild, storageFixture } from './helpers/storage.js';
import { tempDir } from './helpers/tmp.js';

const fx = storageFixture();

rootOnly('storage-readonly.test.ts')('read-only use (needs root: read-only bind mount, another user; skipped when not root)', () => {
  it('status, list and report read a database on a read-only mount; run exits 10 there; nothing is changed', async () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    mkdirSync(data);
    const { numbers } = await sentCampaign(dir, join(data, 'state.db'), 5, 'ro');
    expect(readdirSync(data)).toEqual(['state.db']); // closed cleanly: no -wal, no -shm to lean on
    const before = snapshot(join(data, 'state.db'));
    const ro = fx.mountReadOnly(data);
    const db = join(ro, 'state.db');
    try {
      const list = await runCli(['list', '--db', db], { cwd: dir, env: cliEnvFor(undefined) });
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/^ro\s+done\s+5\s/m);
      const status = await runCli(['status', 'ro', '--db', db, '--json'], { cwd: dir, env: cliEnvFor(undefined) });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).counts.sent).toBe(5);
      const report = await runCli(['report', 'ro', '--db', db, '--raw-numbers'], { cwd: dir, env: cliEnvFor(undefined) });
      expect(report.code, report.stderr).toBe(0);
      for (const n of numbers) expect(report.stdout).toContain(n);
      const run = await runCli(['run', 'campaigns/ro.yaml', '--db', db, '--no-sweep'], { cwd: dir, env: cliEnvFor(undefined) });
      expect(run.code).toBe(10);
      expect(run.stderr).toContain(`Cannot write the state database ${db}: the file or its disk is read-only.`);
      expectNoStackTrace(run);
    } finally {
      fx.unmount(ro);
    }
    expect(snapshot(join(data, 'state.db'))).toEqual(before);
    expect(readdirSync(data)).toEqual(['state.db']);
  }, 300_000);

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
          env: cliEnvFor(undefined),
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
      await stopChild(holder);
    }
  }, 300_000);
});
