import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT } from '../core/exit-codes.js';
import type { EmulatorFileConfig, EmulatorProject, FaultOptions, LifecycleOptions, RunningEmulator } from '../emulator/index.js';
import { errLine, outLine, type CliIo } from './io.js';

/**
 * What `rk-broadcast emulator` does, apart from its flag definitions. The emulator itself is loaded only when it
 * starts (`runEmulator`), so the command's definition can take `DEFAULT_PORT` from here at start-up.
 */

/** The emulator's own module, loaded when it starts. */
type EmulatorModule = typeof import('../emulator/index.js');

/** Flags of `rk-broadcast emulator`, after yargs parsed them. */
export interface EmulatorArgs {
  port?: number;
  host?: string;
  config?: string;
  latency?: string;
  failRate?: number;
  failRecipients?: string;
  serverErrorRate?: number;
  resetBeforeRate?: number;
  resetAfterRate?: number;
  hangRate?: number;
  seed?: number;
  quota?: number;
  ratePerMinute?: number;
  queuedToSentMs?: number;
  sentToDeliveredMs?: number;
  json?: boolean;
}

/** Where the emulator listens without --port or a config file. */
export const DEFAULT_PORT = 8787;

/** A flag or config problem, reported as bad input. */
class EmulatorFlagError extends Error {}

function parseLatency(text: string): [number, number] {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!match) throw new EmulatorFlagError(`--latency expects MIN-MAX in milliseconds (e.g. 300-1500), found "${text}".`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (min > max) throw new EmulatorFlagError(`--latency: MIN must not exceed MAX, found "${text}".`);
  return [min, max];
}

function readConfigFile(emu: EmulatorModule, path: string): EmulatorFileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EmulatorFlagError(`Cannot read the emulator config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new EmulatorFlagError(`The emulator config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return emu.parseEmulatorConfig(json, `emulator config ${path}`);
}

/** Merges the config file (if any) with the shortcut flags; flags win. Throws on anything invalid. */
function emulatorOptionsFromArgs(emu: EmulatorModule, args: EmulatorArgs, cwd: string): EmulatorFileConfig {
  for (const [flag, value] of Object.entries(args)) {
    if (typeof value === 'number' && Number.isNaN(value)) throw new EmulatorFlagError(`--${flag.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} expects a number.`);
  }
  const base: EmulatorFileConfig = args.config ? readConfigFile(emu, resolve(cwd, args.config)) : {};
  const faults: FaultOptions = { ...base.faults };
  if (args.latency !== undefined) faults.latencyMs = parseLatency(args.latency);
  if (args.seed !== undefined) faults.seed = args.seed;
  if (args.serverErrorRate !== undefined) faults.serverErrorRate = args.serverErrorRate;
  if (args.resetBeforeRate !== undefined) faults.resetBeforeRate = args.resetBeforeRate;
  if (args.resetAfterRate !== undefined) faults.resetAfterRate = args.resetAfterRate;
  if (args.hangRate !== undefined) faults.hangRate = args.hangRate;

  const lifecycle: LifecycleOptions = { ...base.lifecycle };
  if (args.failRate !== undefined) lifecycle.failRate = args.failRate;
  if (args.failRecipients !== undefined) {
    lifecycle.failRecipients = args.failRecipients
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== '');
  }
  if (args.queuedToSentMs !== undefined) lifecycle.queuedToSentMs = args.queuedToSentMs;
  if (args.sentToDeliveredMs !== undefined) lifecycle.sentToDeliveredMs = args.sentToDeliveredMs;

  const projects: EmulatorProject[] = (base.projects ?? [emu.DEMO_PROJECT]).map((p) => ({
    ...p,
    devices: [...p.devices],
    ...(args.quota === undefined ? {} : { monthlyQuota: args.quota }),
    ...(args.ratePerMinute === undefined ? {} : { ratePerMinute: args.ratePerMinute }),
  }));

  const merged = {
    ...base,
    host: args.host ?? base.host ?? '127.0.0.1',
    port: args.port ?? base.port ?? DEFAULT_PORT,
    projects,
    faults,
    lifecycle,
  };
  // Validate once more after the flags went in (rates within 0..1, integers, unique keys).
  return emu.parseEmulatorConfig(merged, 'emulator options (flags and config)');
}

function describeFaults(f: FaultOptions): string | null {
  const parts: string[] = [];
  if (f.latencyMs) parts.push(`latency ${f.latencyMs[0]}-${f.latencyMs[1]} ms`);
  if (f.serverErrorRate) parts.push(`503 ${f.serverErrorRate}`);
  if (f.resetBeforeRate) parts.push(`reset-before ${f.resetBeforeRate}`);
  if (f.resetAfterRate) parts.push(`reset-after ${f.resetAfterRate}`);
  if (f.hangRate) parts.push(`hang ${f.hangRate}`);
  if (parts.length === 0) return null;
  return `${parts.join(', ')} on ${(f.paths ?? ['send', 'status']).join('+')} (seed ${f.seed ?? 1})`;
}

/**
 * Runs the emulator until `stop` aborts, printing the banner (or one JSON line) first. Resolves to the exit code.
 * Exposed apart from the command so tests can stop it without sending the process a signal.
 */
export async function runEmulator(args: EmulatorArgs, io: CliIo, stop: AbortSignal): Promise<number> {
  const emu = await import('../emulator/index.js');
  let options: EmulatorFileConfig;
  try {
    options = emulatorOptionsFromArgs(emu, args, io.cwd);
  } catch (err) {
    if (err instanceof EmulatorFlagError || err instanceof emu.EmulatorConfigError) {
      errLine(io, `rk-broadcast emulator: ${err.message}`);
      return EXIT.invalidInput;
    }
    throw err;
  }

  let emulator: RunningEmulator;
  try {
    emulator = await emu.startEmulator(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${options.port} is already in use; pick another with --port` : e.message;
    errLine(io, `rk-broadcast emulator: cannot listen on ${options.host}:${options.port}: ${why}.`);
    return EXIT.invalidInput;
  }

  const projects = options.projects ?? [emu.DEMO_PROJECT];
  const origin = emulator.url.replace(/\/api\/v1$/, '');
  if (args.json) {
    outLine(
      io,
      JSON.stringify({
        event: 'listening',
        url: emulator.url,
        projects: projects.map((p) => ({ apiKey: p.apiKey, apiSecret: p.apiSecret, devices: p.devices })),
      }),
    );
  } else {
    // The secrets printed here are the emulator's own test fixtures, never real credentials.
    outLine(io, `RK Connect emulator listening on ${emulator.url}`);
    for (const p of projects) {
      outLine(
        io,
        `  project ${p.name ?? p.apiKey}: api key ${p.apiKey}, secret ${p.apiSecret}, device${p.devices.length > 1 ? 's' : ''} ${p.devices.join(', ')}` +
          ` (quota ${p.monthlyQuota ?? 3000}/month, ${p.ratePerMinute ?? 60}/min)`,
      );
    }
    const first = projects[0]!;
    outLine(io, 'Point rk-broadcast at it with:');
    outLine(io, `  RK_BASE_URL=${emulator.url} RK_API_KEY=${first.apiKey} RK_API_SECRET=${first.apiSecret}`);
    outLine(io, `Inspect: ${origin}/__emulator/messages  ${origin}/__emulator/stats`);
    const faults = describeFaults(options.faults ?? {});
    if (faults) outLine(io, `Faults: ${faults}`);
    outLine(io, 'Press Ctrl+C to stop.');
  }

  await new Promise<void>((resolveStop) => {
    if (stop.aborted) return resolveStop();
    stop.addEventListener('abort', () => resolveStop(), { once: true });
  });
  const stats = emulator.stats();
  await emulator.close();
  if (args.json) outLine(io, JSON.stringify({ event: 'stopped', stats }));
  else errLine(io, `Emulator stopped after ${stats.requests} API requests; ${stats.created} messages created.`);
  return EXIT.ok;
}
