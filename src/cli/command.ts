import type { Argv } from 'yargs';
import type { CliIo } from './io.js';

/**
 * One CLI command. `command`, `describe` and `builder` are all `--help` needs, so a command module imports only
 * what they use (yargs' types, `../flags.js`, light constants); `run` loads the rest with `await import()` when the
 * command runs. `run` returns the process exit code (see `core/exit-codes.ts`) instead of exiting, so the launcher
 * decides when the process ends and every open handle gets closed first.
 */
export interface CliCommand<A = Record<string, unknown>> {
  /** yargs command string, e.g. `send` or `run <campaign>`. */
  command: string;
  describe: string;
  builder: (y: Argv) => Argv;
  run: (args: A, io: CliIo) => Promise<number>;
}

/** Identity helper that keeps the argument type of a command. */
export function defineCommand<A>(cmd: CliCommand<A>): CliCommand<A> {
  return cmd;
}
