import type { CliCommand } from '../command.js';
import { dueCommand } from './due.js';
import { emulatorCommand } from './emulator.js';
import { initCommand } from './init.js';
import { listCommand } from './list.js';
import { messageStatusCommand } from './message-status.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';
import { statusCommand } from './status.js';
import { sweepCommand } from './sweep.js';
import { validateCommand } from './validate.js';

/** Every command the CLI offers, in the order `--help` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export const COMMANDS: CliCommand<any>[] = [validateCommand, runCommand, dueCommand, listCommand, statusCommand, initCommand, sweepCommand, reportCommand, sendCommand, messageStatusCommand, emulatorCommand];
