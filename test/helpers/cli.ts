import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEMO_PROJECT } from '../../src/emulator/index.js';

/** The built CLI launcher (tests run after `npm run build`; `npm test` does that first). */
export const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

/** What a finished CLI process left behind. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for a CLI child talking to an emulator: only what the test gives, plus PATH. */
export function cliEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, NO_COLOR: '1', CI: 'true', ...extra };
}

/** `cliEnv` for a CLI child sending as the emulator's demo project to the emulator at `url`, plus `extra`. */
export function demoEnv(url: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cliEnv({ RK_BASE_URL: url, RK_API_KEY: DEMO_PROJECT.apiKey, RK_API_SECRET: DEMO_PROJECT.apiSecret, ...extra });
}

/** Starts the real CLI as a child process. */
export function startCli(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess & { result: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(child, { result });
}

/** Runs the real CLI to completion. */
export function runCli(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<CliResult> {
  return startCli(args, options).result;
}
