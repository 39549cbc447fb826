import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { runCli } from './helpers/cli.js';
import { emulatorEnv, hasStackTrace, runCliWithin, writeInputCampaign } from './helpers/inputs.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** Generous for a loaded 2-core machine; a CLI that reads /dev/zero or waits on a FIFO never finishes at all. */
const BOUND_MS = 30_000;

/**
 * Runs `validate` and then `run` on the campaign, each within BOUND_MS, and checks what every refusal must be:
 * exit 2, `expected` on stderr, no stack trace, nothing sent. Returns the two stderr texts.
 */
async function refusedByBoth(dir: string, path: string, expected: string, spawnAs?: { uid: number; gid: number }): Promise<string[]> {
  emulator ??= await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
  const outputs: string[] = [];
  for (const args of [['validate', path], ['run', path, '--db', join(dir, 's.db'), '--no-sweep']]) {
    const r = await runCliWithin(args, { cwd: dir, env: emulatorEnv(emulator), ...(spawnAs ? { spawnAs } : {}) }, BOUND_MS);
    expect(r.timedOut, `${args[0]} did not finish within ${BOUND_MS} ms`).toBe(false);
    expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
    expect(r.stderr).toContain(expected);
    expect(hasStackTrace(r.stderr + r.stdout), r.stderr).toBe(false);
    outputs.push(r.stderr);
  }
  expect(emulator.messages()).toHaveLength(0);
  return outputs;
}

describe('files that are not a CSV of recipients: named for what they are (exit 2, no stack trace, bounded time)', () => {
  it('a FIFO (named pipe) is called a FIFO, and is never opened for reading (which would wait for a writer)', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: { path: 'pipe.csv' } });
    execFileSync('mkfifo', [join(dir, 'campaigns', 'pipe.csv')]);
    await refusedByBoth(dir, path, `recipients.file: expected a regular file, found a FIFO (named pipe) at ${join(dir, 'campaigns', 'pipe.csv')} (line 4)`);
  });

  it('/dev/null and /dev/zero are called character devices, and /dev/zero is not read for ever', async () => {
    for (const device of ['/dev/null', '/dev/zero']) {
      const dir = tempDir();
      const path = writeInputCampaign(dir, { csv: { path: device } });
      await refusedByBoth(dir, path, `recipients.file: expected a regular file, found a character device at ${device} (line 4)`);
    }
  });

  it('a directory is still called a directory, and a suppression list gets the same words', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: 'phone,nama,note\n081234567890,Budi,a\n', extra: ['suppress: [pipe.csv, ../campaigns]'] });
    execFileSync('mkfifo', [join(dir, 'campaigns', 'pipe.csv')]);
    const [stderr] = await refusedByBoth(dir, path, `suppress[0]: expected a regular file, found a FIFO (named pipe) at ${join(dir, 'campaigns', 'pipe.csv')}`);
    expect(stderr).toContain(`suppress[1]: expected a regular file, found a directory at ${join(dir, 'campaigns')}`);
  });

  it('an unreadable CSV says permission denied (EACCES) and how to fix it, instead of an internal error', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: 'phone,nama,note\n081234567890,Budi,a\n' });
    const csv = join(dir, 'campaigns', 'recipients.csv');
    // Root reads any file, so as root the CLI runs as nobody, with the campaign readable and only the CSV not.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o777);
      chmodSync(join(dir, 'campaigns'), 0o755);
      chmodSync(path, 0o644);
      chmodSync(csv, 0o600);
    } else {
      chmodSync(csv, 0o000);
    }
    await refusedByBoth(dir, path, `recipients.file: cannot read ${csv}: permission denied (EACCES) (line 4)`, asRoot ? { uid: 65534, gid: 65534 } : undefined);
  });
});

describe('CSVs that break the parser\'s limits: each says what it is', () => {
  it('a header of 100,000 columns is "more than 1,000 columns", not an unclosed quote', async () => {
    const dir = tempDir();
    const header = ['phone', 'nama', 'note', ...Array.from({ length: 100_000 }, (_, i) => `kolom_${i}`)].join(',');
    const path = writeInputCampaign(dir, { csv: `${header}\n081234567890,Budi,a\n` });
    const outputs = await refusedByBoth(dir, path, 'recipients.csv: line 1: the header has more than 1,000 columns');
    for (const stderr of outputs) {
      expect(stderr).toContain('delete the columns the campaign does not use');
      expect(stderr).not.toMatch(/quote/i);
    }
  });

  it('a header of 5,000 short columns (under the size limit) is refused with its count', async () => {
    const dir = tempDir();
    const header = ['phone', 'nama', 'note', ...Array.from({ length: 4_997 }, (_, i) => `k${i}`)].join(',');
    const path = writeInputCampaign(dir, { csv: `${header}\n081234567890,Budi,a\n` });
    await refusedByBoth(dir, path, 'recipients.csv: line 1: the header has 5,000 columns; at most 1,000 are read');
  });

  it('a 10 MB unquoted field is a field too long, not an unclosed quote', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: `phone,nama,note\n081234567890,Budi,a\n081234567891,Siti,${'x'.repeat(10 * 1024 * 1024)}\n` });
    const outputs = await refusedByBoth(dir, path, 'recipients.csv: line 3: the field in column "note" is over 256 KiB long, on one line (the limit is 64 KiB)');
    for (const stderr of outputs) {
      expect(stderr).toContain('no cell holds a pasted document or encoded data');
      expect(stderr).not.toMatch(/quote/i);
      expect(stderr.length).toBeLessThan(1000);
    }
  });

  it('a quote that is never closed in a large file is still called that, with the column and the line where it opens', async () => {
    const dir = tempDir();
    const rest = Array.from({ length: 20_000 }, (_, i) => `08129${String(i).padStart(7, '0')},Orang ${i},ok`).join('\n');
    const path = writeInputCampaign(dir, { csv: `phone,nama,note\n081234567890,Budi,a\n081234567891,Siti,"kopi\n${rest}\n` });
    const outputs = await refusedByBoth(dir, path, 'recipients.csv: line 3: a quote (") opens the field in column "note" and is not closed within the next');
    for (const stderr of outputs) expect(stderr).toContain('a quote inside a quoted field is written as ""');
  });
});

describe('file content quoted in messages is bounded and has its control characters escaped', () => {
  const ESC_PHONE = '\x1b[31m0812\x1b]0;pwned\x07\u202e';

  it('an invalid row with terminal escape sequences is listed escaped by validate and does not stop the run', async () => {
    const dir = tempDir();
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const path = writeInputCampaign(dir, { csv: `phone,nama,note\n${ESC_PHONE},Budi,a\n081234567891,Siti,b\n` });
    const v = await runCli(['validate', path], { cwd: dir, env: emulatorEnv(emulator) });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('line 2 (\\x1b[31m0812\\x1b]0;pwned\\x07\\u202e): not a phone number: "\\x1b[31m0812\\x1b]0;pwned\\x07\\u202e"');
    expect(v.stdout + v.stderr).not.toMatch(/[\x1b\x07\u202e]/);
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: emulatorEnv(emulator) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/[\x1b\x07\u202e]/);
    expect(emulator.messages().map((m) => m.recipient)).toEqual(['6281234567891']);
  });

  it('a campaign whose only row is such a row: exit 2 from validate, nothing raw on the terminal', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: `phone,nama,note\n${ESC_PHONE},Budi,a\n` });
    const v = await runCli(['validate', path], { cwd: dir, env: { PATH: process.env.PATH } });
    expect(v.code).toBe(2);
    expect(v.stdout).toContain('Nothing can be sent');
    expect(v.stdout + v.stderr).not.toMatch(/[\x1b\x07\u202e]/);
  });

  it('a header with escape sequences (no phone column) is quoted escaped', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: '\x1b[2Jnama,no_hp\x1b]0;x\x07,note\nBudi,0812,a\n' });
    const outputs = await refusedByBoth(dir, path, 'recipients.phone_column is "phone" but the header of recipients.csv has: \\x1b[2Jnama, no_hp\\x1b]0;x\\x07, note');
    for (const stderr of outputs) expect(stderr).not.toMatch(/[\x1b\x07]/);
  });

  it('a bad byte on a 20 KB line with escape sequences: the excerpt is cut to a few dozen characters and escaped', async () => {
    const dir = tempDir();
    const line = Buffer.concat([Buffer.from(`081234567890,\x1b[31m${'y'.repeat(20_000)}`), Buffer.from([0xe9]), Buffer.from(`\x1b[0m${'z'.repeat(20_000)},a\n`)]);
    const path = writeInputCampaign(dir, { csv: Buffer.concat([Buffer.from('phone,nama,note\n'), line]) });
    const outputs = await refusedByBoth(dir, path, 'recipients.csv: line 2, column 20019: byte 0xE9 is not valid UTF-8');
    for (const stderr of outputs) {
      expect(stderr).not.toMatch(/[\x1b\x07]/);
      expect(stderr).toContain(`"…${'y'.repeat(40)}\\xe9\\x1b[0m${'z'.repeat(33)}…"`);
      expect(stderr.split('\n')[0]!.length).toBeLessThan(400);
    }
  });
});
