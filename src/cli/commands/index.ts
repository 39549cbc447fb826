import type { CliCommand } from '../command.js';
import { emulatorCommand } from './emulator.js';
import { messageStatusCommand } from './message-status.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';
import { validateCommand } from './validate.js';

/** Every command the CLI offers, in the order `--help` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export const COMMANDS: CliCommand<any>[] = [validateCommand, runCommand, sendCommand, messageStatusCommand, emulatorCommand];
