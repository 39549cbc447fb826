import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers/tmp.js';

const STORE = new URL('../dist/store/sqlite.js', import.meta.url).href;

/** Opens (and so creates and migrates) the database at `path` in a child process; resolves to its exit and stderr. */
function openInChild(path: string): Promise<{ code: number | null; stderr: string }> {
  const code = `import { SqliteStore } from ${JSON.stringify(STORE)}; const s = new SqliteStore(process.argv[1]); await s.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stderr }));
  });
}

describe('a new state database opened by several processes at once (two `due` from cron)', () => {
  it('is migrated once: no process fails with "table ... already exists"', async () => {
    expect(fileURLToPath(STORE)).toMatch(/dist/);
    for (let round = 0; round < 8; round++) {
      const path = join(tempDir('rkb-open-'), 'state.db');
      const results = await Promise.all(Array.from({ length: 4 }, () => openInChild(path)));
      expect(results.filter((r) => r.code !== 0).map((r) => r.stderr.split('\n').filter((l) => /^\w*Error|kind|code|message/.test(l.trim())).slice(0, 6).join(' | '))).toEqual([]);
      const store = new SqliteStore(path);
      expect(await store.listCampaigns()).toEqual([]);
      await store.close();
    }
  }, 60_000);
});
