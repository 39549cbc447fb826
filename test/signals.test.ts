import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { installStopSignals, type StopSignals } from '../src/cli/signals.js';
import { EXIT } from '../src/core/exit-codes.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The listener `install` added for `signal` (called directly: emitting the signal would reach vitest's own handlers). */
function added<T>(signal: NodeJS.Signals, install: () => T): { result: T; fire: () => void } {
  const before = new Set(process.listeners(signal));
  const result = install();
  const mine = process.listeners(signal).filter((l) => !before.has(l));
  expect(mine).toHaveLength(1);
  return { result, fire: () => (mine[0] as (s: NodeJS.Signals) => void)(signal) };
}

let installed: StopSignals | undefined;
afterEach(() => installed?.dispose());

describe('stop signals', () => {
  it('are handled in one place: no other module of src/ listens for SIGINT or SIGTERM', () => {
    const listeners = sourceFiles(SRC).filter((f) => /process\.(on|once|addListener|prependListener)\(\s*['"]SIG/.test(readFileSync(f, 'utf8')));
    expect(listeners.map((f) => relative(SRC, f))).toEqual(['cli/signals.ts']);
    // ... and run, sweep, due and emulator all install that handler.
    for (const command of ['run', 'sweep', 'due', 'emulator']) {
      expect(readFileSync(join(SRC, 'cli', 'commands', `${command}.ts`), 'utf8'), command).toMatch(/installStopSignals\(/);
    }
  });

  it('first signal: stop with a message; second: abort, then exit 130 through the launcher', () => {
    const said: string[] = [];
    const exits: number[] = [];
    const int = added('SIGINT', () => installStopSignals((t) => said.push(t), { stopping: 'finishing up.', abortingNow: 'Now.' }, (c) => exits.push(c)));
    installed = int.result;
    const { stop, abort } = int.result;
    int.fire();
    expect(stop.signal.aborted).toBe(true);
    expect(abort.signal.aborted).toBe(false);
    expect(said).toEqual(['\nReceived SIGINT: finishing up.']);
    expect(exits).toEqual([]);
    int.fire();
    expect(abort.signal.aborted).toBe(true);
    expect(said).toEqual(['\nReceived SIGINT: finishing up.', 'Now.']);
    expect(exits).toEqual([EXIT.interrupted]);
  });

  it('without the launcher (in-process), the second signal only aborts; dispose removes the handler', () => {
    const term = added('SIGTERM', () => installStopSignals(() => undefined));
    const { stop, abort, dispose } = term.result;
    term.fire();
    term.fire();
    expect([stop.signal.aborted, abort.signal.aborted]).toEqual([true, true]);
    const count = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    dispose();
    expect({ int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') }).toEqual({ int: count.int - 1, term: count.term - 1 });
  });
});
