import { randomUUID } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import type { Argv } from 'yargs';
import { EXIT } from '../../core/exit-codes.js';
import type { RkClient } from '../../rk/client.js';
import type { RkError } from '../../rk/errors.js';
import { MESSAGE_TYPES, type MessageType } from '../../rk/types.js';
import { defineCommand } from '../command.js';
import { InputError } from '../input-error.js';
import { errLine, outLine } from '../io.js';

/** Flags of `rk-broadcast send`, after yargs parsed them. */
interface SendArgs {
  device: string;
  to: string;
  message?: string;
  type?: MessageType;
  media?: string;
  payload?: string;
  requestId?: string;
  json?: boolean;
}

/** Keeps digits from what a person typed: spaces, dashes, parentheses and a leading + go; the API validates the rest. */
function simpleRecipient(input: string): string {
  return input.replace(/[\s\-()]/g, '').replace(/^\+/, '');
}

/** The checked, typed inputs of one send. */
interface SendInput {
  type: MessageType;
  recipient: string;
  message: string | undefined;
  payload: Record<string, unknown> | undefined;
  mediaPath: string | undefined;
  requestId: string;
}

function parseInput(args: SendArgs, cwd: string): SendInput {
  const recipient = simpleRecipient(args.to);
  if (recipient === '') {
    throw new InputError(`--to is empty after removing spaces and dashes: found "${args.to}".`, 'Give the number with its country code, e.g. --to 6281234567890.');
  }
  const type: MessageType = args.type ?? 'text';
  if (type === 'text' && args.media !== undefined) {
    throw new InputError('--media was given without --type.', 'Add --type image, document, video or audio to send a file.');
  }
  if (type !== 'text' && args.media === undefined) {
    throw new InputError(`--type ${type} needs a file: --media was not given.`, `Add --media FILE (the file to send as ${type}).`);
  }
  if (type === 'text' && (args.message === undefined || args.message === '')) {
    throw new InputError('--message is required for a text message.', 'Add --message "your text".');
  }
  let payload: Record<string, unknown> | undefined;
  if (args.payload !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args.payload);
    } catch (cause) {
      throw new InputError(`--payload is not valid JSON (${(cause as Error).message}).`, `Quote it for the shell, e.g. --payload '{"campaign":"launch"}'.`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InputError(`--payload must be a JSON object, found ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}.`, `e.g. --payload '{"campaign":"launch"}'.`);
    }
    payload = parsed as Record<string, unknown>;
  }
  const requestId = args.requestId ?? randomUUID();
  if (!/^[\x21-\x7e]{1,255}$/.test(requestId)) {
    throw new InputError(`--request-id must be 1 to 255 visible ASCII characters without spaces; found ${JSON.stringify(requestId)}.`, 'Leave it out to get a random one.');
  }
  const mediaPath = args.media === undefined ? undefined : isAbsolute(args.media) ? args.media : join(cwd, args.media);
  return { type, recipient, message: args.message === '' ? undefined : args.message, payload, mediaPath, requestId };
}

/** `rk-broadcast send`: one message, to check a device or a number before a campaign. */
export const sendCommand = defineCommand<SendArgs>({
  command: 'send',
  describe: 'Send one message (text or media) and print its UUID',
  builder: (y: Argv) =>
    y
      .option('device', { type: 'string', demandOption: true, describe: 'Device code registered in the project (X-DEVICE-CODE), e.g. RK-XXXX' })
      .option('to', { type: 'string', demandOption: true, describe: 'Recipient with country code, e.g. 6281234567890 (spaces, dashes and a leading + are removed)' })
      .option('message', { type: 'string', describe: 'The text (required for text), or the caption of a media message' })
      .option('type', { choices: MESSAGE_TYPES, describe: 'Message type; image, document, video and audio need --media (default: text)' })
      .option('media', { type: 'string', describe: 'File to send: jpeg/png/webp (image), pdf/doc/docx (document), mp4 (video), mp3/ogg (audio)' })
      .option('payload', { type: 'string', describe: 'JSON object stored with the message, e.g. \'{"campaign":"test"}\'' })
      .option('request-id', { type: 'string', describe: 'Idempotency key (X-REQUEST-ID); default: a random UUID, printed so a retry can reuse it' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object on stdout instead of text' })
      .example('$0 send --device RK-XXXX --to 6281234567890 --message "Test"', 'Check a device with a text message')
      .example('$0 send --device RK-XXXX --to 6281234567890 --type image --media promo.jpg --message "Promo"', 'Send an image with a caption'),
  run: async (args, io) => {
    // Loaded here, not at start-up: `--help` and `--version` need none of it.
    const [{ resolveCredentials }, { RkClient }, { isRkError }, { loadMedia }, { describeFailure, printFailure }] = await Promise.all([
      import('../../config/env.js'),
      import('../../rk/client.js'),
      import('../../rk/errors.js'),
      import('../../rk/media.js'),
      import('../failure.js'),
    ]);
    const json = args.json === true;
    // Taken before validation, so even a configuration error that quotes the environment is redacted.
    const secrets = [io.env.RK_API_SECRET?.trim() ?? ''];
    let requestId: string | undefined;
    let client: RkClient | undefined;
    try {
      const credentials = resolveCredentials(io.env);
      const input = parseInput(args, io.cwd);
      const media =
        input.mediaPath !== undefined && input.type !== 'text' ? await loadMedia(input.mediaPath, input.type) : undefined;
      client = new RkClient(credentials);
      requestId = input.requestId;
      const accepted = await client.send({
        device: args.device,
        recipient: input.recipient,
        type: input.type,
        ...(input.message === undefined ? {} : { message: input.message }),
        ...(media === undefined ? {} : { media }),
        ...(input.payload === undefined ? {} : { payload: input.payload }),
        requestId: input.requestId,
      });
      if (json) {
        outLine(io, JSON.stringify({ ok: true, ...accepted, recipient: input.recipient, requestId: input.requestId }));
      } else {
        outLine(io, accepted.id);
        errLine(io, `${accepted.status} on ${accepted.device} for ${input.recipient} (request id ${input.requestId}).`);
        errLine(io, `Follow it with: rk-broadcast message-status ${accepted.id}`);
      }
      return EXIT.ok;
    } catch (error) {
      const failure = describeFailure(error);
      // Only once a request may have left does the request id matter: reusing it cannot create a second message.
      const sent = requestId !== undefined && isRkError(error);
      printFailure(io, 'send', failure, {
        json,
        secrets,
        ...(sent ? { extra: { requestId } } : {}),
        ...(sent && (error as RkError).retryable
          ? { notes: [`request id: ${requestId} (retry with --request-id ${requestId}: the API returns the same message instead of a duplicate)`] }
          : sent
            ? { notes: [`request id: ${requestId}`] }
            : {}),
      });
      return failure.exitCode;
    } finally {
      await client?.close();
    }
  },
});
