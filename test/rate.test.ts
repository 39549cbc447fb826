import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { writeCampaign } from './helpers/campaign.js';
import { demoEnv, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('rate fidelity', () => {
  // The API's window is 60 s, so the test must run past one window to mean anything: 1,400 messages at 1,200/min
  // (about 70 s). The rate is scaled up, not the window, so the dynamics are those of the real API.
  it('keeps at least 95% of the rate with no 429 when the API limit equals the campaign rate (0.3-1.5 s latency)', async () => {
    const rate = 1200;
    emulator = await startEmulator({
      port: 0,
      projects: [{ ...DEMO_PROJECT, ratePerMinute: rate, monthlyQuota: 100_000 }],
      faults: { seed: 5, latencyMs: [300, 1500], paths: ['send'] },
    });
    const dir = tempDir();
    const { path, sendable } = writeCampaign(dir, { valid: 1400, rate });
    const env = demoEnv(emulator.url, { RK_MONTHLY_QUOTA: '100000' });
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    const stats = emulator.stats();
    expect(stats.rateLimited).toBe(0);
    expect(stats.maxSendsInAnyWindow[DEMO_PROJECT.apiKey]).toBeLessThanOrEqual(rate);
    const created = emulator.messages().map((m) => m.createdAt).sort((a, b) => a - b);
    expect(created).toHaveLength(sendable.length);
    const achievedPerMinute = ((created.length - 1) * 60_000) / (created.at(-1)! - created[0]!);
    expect(achievedPerMinute).toBeGreaterThanOrEqual(0.95 * rate);
  }, 180_000);
});
