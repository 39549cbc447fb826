import type { Argv } from 'yargs';
import { defineCommand } from '../command.js';
import { DEFAULT_PORT, runEmulator, type EmulatorArgs } from '../emulator-run.js';
import { installStopSignals } from '../signals.js';

/** `rk-broadcast emulator`: the local RK Connect emulator, until SIGINT/SIGTERM. */
export const emulatorCommand = defineCommand<EmulatorArgs>({
  command: 'emulator',
  describe: 'Run a local RK Connect API emulator (strict signing, limits, lifecycle, seeded faults) for tests and demos',
  builder: (y: Argv) =>
    y
      .option('port', { type: 'number', describe: 'Port to listen on (0 = any free port)', defaultDescription: String(DEFAULT_PORT) })
      .option('host', { type: 'string', describe: 'Interface to listen on', defaultDescription: '127.0.0.1' })
      .option('config', { type: 'string', describe: 'JSON file with emulator options (projects, lifecycle, faults, ...); flags override it' })
      .option('latency', { type: 'string', describe: 'Added latency range in ms, e.g. 300-1500' })
      .option('fail-rate', { type: 'number', describe: 'Share (0..1) of messages that end failed' })
      .option('fail-recipients', { type: 'string', describe: 'Comma-separated recipients whose messages end failed' })
      .option('server-error-rate', { type: 'number', describe: 'Share (0..1) of requests answered 503' })
      .option('reset-before-rate', { type: 'number', describe: 'Share (0..1) of connections reset before processing' })
      .option('reset-after-rate', { type: 'number', describe: 'Share (0..1) of requests processed, then reset (answer lost)' })
      .option('hang-rate', { type: 'number', describe: 'Share (0..1) of requests never answered' })
      .option('seed', { type: 'number', describe: 'Seed for fault injection and failure picking', defaultDescription: '1' })
      .option('quota', { type: 'number', describe: 'Monthly quota of every project', defaultDescription: '3000' })
      .option('rate-per-minute', { type: 'number', describe: 'Rate limit of every project (sliding 60 s window)', defaultDescription: '60' })
      .option('queued-to-sent-ms', { type: 'number', describe: 'Lifecycle: queued -> sent delay', defaultDescription: '1000' })
      .option('sent-to-delivered-ms', { type: 'number', describe: 'Lifecycle: sent -> delivered/failed delay', defaultDescription: '2000' })
      .option('json', { type: 'boolean', describe: 'Print one JSON line on start-up instead of the banner' })
      .example('$0 emulator', 'Listen on 127.0.0.1:8787 with the demo project')
      .example('$0 emulator --latency 300-1500 --reset-after-rate 0.05 --seed 7', 'Realistic latency and lost answers'),
  run: async (args, io) => {
    // The first signal stops the emulator; a second one ends the process at once.
    const signals = installStopSignals(() => undefined, {}, io.exit);
    try {
      return await runEmulator(args, io, signals.stop.signal);
    } finally {
      signals.dispose();
    }
  },
});
