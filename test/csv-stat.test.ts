import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { csvFingerprint, hashFileWithStat } from '../src/plan/csv-stat.js';

const dir = mkdtempSync(join(tmpdir(), 'rkb-csv-stat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
// The clock of the recording run, late enough that the file's times are not "racy".
const later = (): number => Date.now() + 60_000;
// A modification time in whole seconds (2026-11-20), as an export would leave it.
const EXPORTED = 1_795_000_000;

describe('recipient CSV fingerprint on resume', () => {
  it('reuses the recorded hash while the file is untouched, without reading it', async () => {
    const file = join(dir, 'same.csv');
    writeFileSync(file, 'phone,name\n081234567890,Budi\n');
    const recorded = await csvFingerprint(file, null, later);
    expect(recorded.csv).toBe(sha(file));
    expect(recorded.csvStat).toBeDefined();
    // A wrong stored hash with the right stat comes back as is: proof the file was not hashed again.
    expect(await csvFingerprint(file, { csv: 'stored', csvStat: recorded.csvStat })).toEqual({ csv: 'stored', csvStat: recorded.csvStat });
  });

  it('detects an edit that keeps the size and puts the modification time back', async () => {
    const file = join(dir, 'edited.csv');
    writeFileSync(file, 'phone,name\n081234567890,Budi\n');
    utimesSync(file, EXPORTED, EXPORTED); // whole seconds, so the same mtime can be set again to the nanosecond
    const recorded = await csvFingerprint(file, null, later);
    await sleep(30); // past the kernel's timestamp tick
    writeFileSync(file, 'phone,name\n081234567899,Budi\n'); // same length
    utimesSync(file, EXPORTED, EXPORTED); // mtime exactly as it was; ctime cannot be put back
    expect(statSync(file, { bigint: true }).mtimeNs).toBe(BigInt(EXPORTED) * 1_000_000_000n);
    const now = await csvFingerprint(file, recorded, later);
    expect(now.csv).toBe(sha(file));
    expect(now.csv).not.toBe(recorded.csv);
  });

  it('detects a file replaced by another (an editor saving through a rename)', async () => {
    const file = join(dir, 'replaced.csv');
    writeFileSync(file, 'phone,name\n081234567890,Budi\n');
    utimesSync(file, EXPORTED, EXPORTED);
    const recorded = await csvFingerprint(file, null, later);
    writeFileSync(join(dir, 'tmp.csv'), 'phone,name\n081234567899,Budi\n');
    utimesSync(join(dir, 'tmp.csv'), EXPORTED, EXPORTED);
    renameSync(join(dir, 'tmp.csv'), file);
    expect((await csvFingerprint(file, recorded, later)).csv).not.toBe(recorded.csv);
  });

  it('records no stat for a file written moments ago (its times could still hide a write)', async () => {
    const file = join(dir, 'fresh.csv');
    writeFileSync(file, 'phone,name\n081234567890,Budi\n');
    const result = await hashFileWithStat(file); // the real clock: the file is younger than the racy margin
    expect(result.hash).toBe(sha(file));
    expect(result.stat).toBeUndefined();
    // And without a recorded stat the next run hashes in full.
    expect(await csvFingerprint(file, { csv: 'stored' })).toEqual({ csv: sha(file) });
  });
});
