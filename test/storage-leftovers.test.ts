/**
 * What the tool leaves on disk: `report --out` temporary files after a kill, and the mode of an existing
 * `--log-file`. Real child processes, real signals.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import { runCli, startCli, type CliResult } from './helpers/cli.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { cliEnvFor, expectNoStackTrace, storageFixture } from './helpers/storage.js';
import { tempDir } from './helpers/tmp.js';

const fx = storageFixture();

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

    const decoys = ['.other.csv.1.abcdef01.tmp', 'notes.tmp'];
    const leftovers = () => temporaries(outDir).filter((f) => !decoys.includes(f));
    const killedMidWrite = async (signal: NodeJS.Signals): Promise<CliResult> => {
      const before = new Set(leftovers());
      const child = startCli(['report', 'big', '--db', db, '--out', out], { cwd: dir, env: cliEnvFor(undefined) });
      const started = () => leftovers().some((f) => !before.has(f));
      for (let i = 0; i < 2000 && !started(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(started(), 'the report never started writing').toBe(true);
      child.kill(signal);
      return child.result;
    };

    // Each killed report leaves its temporary file (named after its pid); the next report removes it.
    for (let k = 0; k < 2; k++) {
      const killed = await killedMidWrite('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      expect(leftovers()).toHaveLength(1);
      expect(leftovers()[0]).toMatch(/^\.report\.csv\.\d+\.[0-9a-f]{8}\.tmp$/);
    }
    expect(existsSync(out)).toBe(false);

    const next = await runCli(['report', 'big', '--db', db, '--out', out], { cwd: dir, env: cliEnvFor(undefined) });
    expect(next.code, next.stderr).toBe(0);
    expect(temporaries(outDir).sort()).toEqual(decoys);
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(60_001);

    const terminated = await killedMidWrite('SIGTERM');
    expect(terminated.code).toBe(130);
    expect(terminated.stderr).toContain('stopped by SIGTERM');
    expectNoStackTrace(terminated);
    expect(temporaries(outDir).sort()).toEqual(decoys);
    // The report written before is still whole.
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(60_001);
  }, 300_000);

  it('an existing --log-file with a loose mode is made 0600, and appended to', async () => {
    const dir = tempDir();
    const emu = await fx.emulator();
    writeInlineCampaign(dir, { id: 'logmode', recipients: 3, prefix: '779', rate: 6000 });
    const log = join(dir, 'run.ndjson');
    writeFileSync(log, '{"earlier":true}\n');
    chmodSync(log, 0o644);
    const r = await runCli(['run', 'campaigns/logmode.yaml', '--db', join(dir, 'state.db'), '--no-sweep', '--log-file', log], { cwd: dir, env: cliEnvFor(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(lines[0]).toBe('{"earlier":true}');
    expect(lines.some((l) => (JSON.parse(l) as { type?: string }).type === 'run-finished')).toBe(true);
  }, 300_000);
});
