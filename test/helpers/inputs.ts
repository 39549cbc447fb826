import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_PROJECT, type RunningEmulator } from '../../src/emulator/index.js';
import { CLI, cliEnv, type CliResult } from './cli.js';

/** Environment for the CLI against `emu` with the demo project's credentials and short timeouts. */
export function emulatorEnv(emu: RunningEmulator, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cliEnv({
    RK_BASE_URL: emu.url,
    RK_API_KEY: DEMO_PROJECT.apiKey,
    RK_API_SECRET: DEMO_PROJECT.apiSecret,
    RK_REQUEST_TIMEOUT_MS: '1500',
    RK_RETRY_BASE_MS: '50',
    ...extra,
  });
}

/**
 * Writes `campaigns/c.yaml` (inline message `Halo {{nama}}: {{note}}`, rate 6000/min) whose recipients file is
 * `csv` (bytes written to `campaigns/recipients.csv`, or a path used as it is), with extra lines under
 * `recipients:` and at the top level. Returns the campaign's path.
 */
export function writeInputCampaign(
  dir: string,
  c: { csv: Buffer | string | { path: string }; recipients?: string[]; extra?: string[] },
): string {
  mkdirSync(join(dir, 'campaigns'), { recursive: true });
  let file = 'recipients.csv';
  if (typeof c.csv === 'object' && !Buffer.isBuffer(c.csv)) file = c.csv.path;
  else writeFileSync(join(dir, 'campaigns', file), c.csv);
  const yaml = [
    'id: inputs',
    'device: RK-DEMO',
    'recipients:',
    `  file: ${JSON.stringify(file)}`,
    ...(c.recipients ?? []).map((l) => `  ${l}`),
    'message: "Halo {{nama}}: {{note}}"',
    'rate_per_minute: 6000',
    ...(c.extra ?? []),
  ];
  const path = join(dir, 'campaigns', 'c.yaml');
  writeFileSync(path, yaml.join('\n') + '\n');
  return path;
}

/**
 * Runs the real CLI, killing it after `ms` (`timedOut` says so), optionally as another user (`spawnAs`, when the
 * tests run as root and need a file this user cannot read).
 */
export async function runCliWithin(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; spawnAs?: { uid: number; gid: number } },
  ms: number,
): Promise<CliResult & { timedOut: boolean; elapsedMs: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.spawnAs ?? {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, ms);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    return { code, signal, stdout, stderr, timedOut, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** True when the output shows a JavaScript stack trace (which a user-caused error must never print). */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(]\d+:\d+\)?$/m.test(text) || text.includes('Unexpected error');
}
