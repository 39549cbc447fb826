import type { Argv } from 'yargs';
import { EXIT } from '../../core/exit-codes.js';
import type { RkClient } from '../../rk/client.js';
import type { MessageStatus } from '../../rk/types.js';
import { defineCommand } from '../command.js';
import { outLine } from '../io.js';

/** Arguments of `rk-broadcast message-status`, after yargs parsed them. */
interface MessageStatusArgs {
  uuid: string;
  json?: boolean;
}

/** The status as aligned `label: value` lines, `-` for what the API left empty. */
function formatStatus(status: MessageStatus): string[] {
  const rows: [string, string | null][] = [
    ['id', status.id],
    ['status', status.status],
    ['recipient', status.recipient || null],
    ['device', status.deviceCode || null],
    ['created at', status.createdAt],
    ['delivered at', status.deliveredAt],
    ['failed at', status.failedAt],
    ['error', status.errorMessage],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value ?? '-'}`);
}

/** `rk-broadcast message-status UUID`: one message's delivery state, as the API reports it. */
export const messageStatusCommand = defineCommand<MessageStatusArgs>({
  command: 'message-status <uuid>',
  describe: "Show one message's delivery status (queued, sent, delivered, read, failed)",
  builder: (y: Argv) =>
    y
      .positional('uuid', { type: 'string', demandOption: true, describe: 'Message UUID, as printed by `send` or listed in a report' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object on stdout instead of text' })
      .example('$0 message-status 550e8400-e29b-41d4-a716-446655440000', 'Check whether a test message arrived'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ resolveCredentials }, { RkClient }, { isRkError }, { describeFailure, printFailure }] = await Promise.all([
      import('../../config/env.js'),
      import('../../rk/client.js'),
      import('../../rk/errors.js'),
      import('../failure.js'),
    ]);
    const json = args.json === true;
    const uuid = String(args.uuid).trim();
    const secrets = [io.env.RK_API_SECRET?.trim() ?? ''];
    let client: RkClient | undefined;
    try {
      const credentials = resolveCredentials(io.env);
      client = new RkClient(credentials);
      const status = await client.status(uuid);
      if (json) outLine(io, JSON.stringify({ ok: true, ...status }));
      else for (const line of formatStatus(status)) outLine(io, line);
      return EXIT.ok;
    } catch (error) {
      const failure = describeFailure(error);
      if (isRkError(error) && error.kind === 'not_found') {
        failure.message = `No such message in this project: ${uuid} (RK Connect answered ${error.httpStatus ?? 404}).`;
      }
      printFailure(io, 'message-status', failure, { json, secrets, extra: { id: uuid } });
      return failure.exitCode;
    } finally {
      await client?.close();
    }
  },
});
