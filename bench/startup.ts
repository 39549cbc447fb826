import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../../bin/rk-broadcast.js', import.meta.url));

/** Wall time of one process from spawn to exit, in milliseconds. */
function timeOnce(args: string[]): number {
  const start = process.hrtime.bigint();
  // The caller's environment, as a user's shell would give it (NODE_EXTRA_CA_CERTS, for one, slows every start).
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${String(r.status)}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Start-up: a bare `node -e 0` (the baseline) against `rk-broadcast --version`, `--help` and `run --help`, each the
 * median of `runs` runs after a warm-up, interleaved so that a busy moment of the machine hits all of them alike.
 * The target: at most 4x the bare node start.
 */
export async function benchStartup(runs = 21): Promise<BenchRow[]> {
  const cases: { name: string; args: string[] }[] = [
    { name: 'bare node (`node -e 0`)', args: ['-e', '0'] },
    { name: '`rk-broadcast --version`', args: [CLI, '--version'] },
    { name: '`rk-broadcast --help`', args: [CLI, '--help'] },
    { name: '`rk-broadcast run --help`', args: [CLI, 'run', '--help'] },
  ];
  for (const c of cases) timeOnce(c.args); // warm the file cache
  const times = cases.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) cases.forEach((c, j) => times[j]!.push(timeOnce(c.args)));
  const medians = times.map(median);
  const bare = medians[0]!;
  return cases.map((c, j) => ({
    name: `start-up: ${c.name}`,
    value: j === 0 ? `${medians[j]!.toFixed(0)} ms (baseline)` : `${medians[j]!.toFixed(0)} ms = **${(medians[j]! / bare).toFixed(1)}x** bare node`,
    ...(j === 0 ? {} : { target: '<= 4x' }),
    note: `median of ${runs} runs, wall time from spawn to exit`,
  }));
}
