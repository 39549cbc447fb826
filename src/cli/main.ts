import { EXIT } from '../core/exit-codes.js';
import { packageVersion } from '../core/version.js';
import type { CliIo } from './io.js';

/**
 * yargs lays out the whole help text of a command before running it (kept for a failure it would print with
 * help); `fail` above never prints help, and the layout costs ~50-100 ms of every command's start (a resume's way
 * to its first send). Through yargs' internal methods, so a yargs without them just keeps the cost.
 */
function skipHelpCache(parser: object): void {
  // Not in yargs' types: the internal methods object of the instance (checked at run time below).
  const internal = (parser as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = (): void => undefined;
}

/** Wrong flags or arguments, as yargs reports them. */
class UsageError extends Error {}

/**
 * Parses `argv`, runs one command and resolves to the exit code. Never calls `process.exit` itself, so open
 * handles (database, sockets) are closed by the commands before the process ends; only `io.exit`, which the
 * launcher gives, may end it early (on a second stop signal). Start-up loads yargs and the command definitions
 * only; a command loads what it needs when it runs, and `.env` is read then too.
 */
export async function main(argv: string[], io?: Partial<CliIo>): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    // What yargs would print, without loading it: yargs alone costs several bare node starts.
    (io?.stdout ?? process.stdout).write(packageVersion() + '\n');
    return EXIT.ok;
  }
  const [{ default: yargs }, { COMMANDS }] = await Promise.all([import('yargs'), import('./commands/index.js')]);
  const cwd = io?.cwd ?? process.cwd();
  const ioFor = async (): Promise<CliIo> => ({
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    env: io?.env ?? (await import('../config/env.js')).loadEnv(process.env, cwd),
    cwd,
    ...(io?.exit ? { exit: io.exit } : {}),
  });
  let exitCode: number = EXIT.ok;
  let parser = yargs(argv)
    .scriptName('rk-broadcast')
    .usage('$0 <command> [options]\n\nBroadcast WhatsApp campaigns through the RK Connect API.')
    .version(packageVersion())
    .alias('h', 'help')
    .strict()
    .demandCommand(1, 'Name a command; `rk-broadcast --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // Abort parsing: without a throw yargs would still run the command's handler.
      throw err ?? new UsageError(msg);
    });
  for (const cmd of COMMANDS) {
    parser = parser.command(cmd.command, cmd.describe, cmd.builder, async (args) => {
      exitCode = await cmd.run(args, await ioFor());
    });
  }
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    (io?.stderr ?? process.stderr).write(`rk-broadcast: ${error.message}\nRun with --help for usage.\n`);
    return EXIT.invalidInput;
  }
  return exitCode;
}
