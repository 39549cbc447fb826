import { Agent } from './undici-agent.js';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { formatSize } from '../core/size.js';
import { safeText } from '../core/text.js';
import { errorFromMalformedAnswer, errorFromResponse, errorFromTimeout, errorFromTransport, errorFromUnexpectedAnswer, RkError } from './errors.js';
import { buildMultipart, type MultipartField } from './multipart.js';
import { computeSignature, HEADER, unixSeconds } from './signing.js';
import type { CallOptions, MessageStatus, RkApi, SendAccepted, SendRequest } from './types.js';

/** How to reach one RK Connect project. */
export interface RkClientOptions {
  /** The project's API key (`X-API-KEY`). */
  apiKey: string;
  /** The project's API secret: only used to sign, never sent, printed or exposed as a property. */
  apiSecret: string;
  /** Base URL including the version path, e.g. `https://connect.rumahkomunitas.com/api/v1`. */
  baseUrl: string;
  /**
   * Time allowed to open a connection.
   * @default 10_000
   */
  connectTimeoutMs?: number;
  /**
   * Deadline for a whole request: from leaving until the last byte of the answer, whatever the server does meanwhile
   * (a server that trickles one byte at a time defeats the per-chunk timers below, not this). A request body gets
   * extra time to upload at 1 Mbit/s (`UPLOAD_FLOOR_BYTES_PER_MS`), so a large media file on a slow link is not cut
   * off. Expiry rejects with a retryable `network` RkError (code `REQUEST_TIMEOUT`).
   * @default 30_000
   */
  requestTimeoutMs?: number;
  /**
   * Time allowed between sending a request and receiving the response headers.
   * @default requestTimeoutMs
   */
  headersTimeoutMs?: number;
  /**
   * Time allowed between two chunks of the response body.
   * @default requestTimeoutMs
   */
  bodyTimeoutMs?: number;
  /**
   * The clock used for `X-TIMESTAMP` (and to read an HTTP-date `Retry-After`).
   * @default Date.now
   */
  now?: () => number;
  /**
   * Kept-alive connections per origin; more than the expected concurrency wastes nothing.
   * @default 16
   */
  connections?: number;
  /** @default 'rk-broadcast' */
  userAgent?: string;
}

/** The success envelope, as far as the client relies on it. */
interface SuccessEnvelope {
  httpStatus: number;
  data: Record<string, unknown>;
  meta?: unknown;
}

type JsonObject = Record<string, unknown>;

/** The upload speed a request's deadline allows for its body: 125 bytes per ms is 1 Mbit/s. */
export const UPLOAD_FLOOR_BYTES_PER_MS = 125;
/** Largest answer read: the API's answers are well under 1 KB; anything past this is not one of them. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/**
 * A well-formed message id. The API documents UUIDs; this accepts them and any other opaque token of letters,
 * digits and `._:-` up to 128 characters, starting with a letter or digit (so an id is safe in a URL path, a CSV
 * cell, a terminal and a file name). Anything else in a 2xx answer is a malformed answer, retried.
 */
export const MESSAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A request body as the chunks to send in order (one for JSON; head, media, tail for multipart). */
interface RequestBody {
  chunks: readonly Buffer[];
  length: number;
}

/**
 * The RK Connect HTTP client (undici, keep-alive). Every request is signed over exactly the bytes it sends; every
 * failure rejects with an `RkError` (see `errors.ts`).
 *
 * @example
 * const client = new RkClient({ apiKey, apiSecret, baseUrl });
 * const { id } = await client.send({ device: 'RK-XXXX', recipient: '6281234567890', message: 'Hi', requestId });
 * await client.close();
 */
export class RkClient implements RkApi {
  /** Base URL without a trailing slash. */
  readonly baseUrl: string;
  // Private fields (#) so neither util.inspect, JSON.stringify nor an error's `cause` can reveal the credentials.
  readonly #apiKey: string;
  readonly #apiSecret: string;
  readonly #now: () => number;
  readonly #userAgent: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #agent: Agent;
  readonly #requestTimeoutMs: number;

  constructor(options: RkClientOptions) {
    const url = new URL(options.baseUrl.replace(/\/+$/, ''));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`RkClient: baseUrl must be an http(s) URL, got protocol "${url.protocol}".`);
    }
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#apiSecret = options.apiSecret;
    this.#now = options.now ?? Date.now;
    this.#userAgent = options.userAgent ?? 'rk-broadcast';
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#agent = new Agent({
      connections: options.connections ?? 16,
      connect: { timeout: options.connectTimeoutMs ?? 10_000 },
      headersTimeout: options.headersTimeoutMs ?? this.#requestTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs ?? this.#requestTimeoutMs,
    });
  }

  /**
   * `POST /send`: text as JSON, media as multipart/form-data (fields `recipient`, `type`, `message`, `payload`,
   * then the `media` file). Resolves with the message UUID; a resend with the same `requestId` resolves with the
   * same UUID.
   */
  async send(request: SendRequest, options: CallOptions = {}): Promise<SendAccepted> {
    const type = request.type ?? 'text';
    assertHeaderValue('device code', request.device);
    if (request.requestId !== undefined) assertHeaderValue('request id', request.requestId);

    let body: RequestBody;
    let contentType: string;
    if (type === 'text') {
      if (request.media) {
        throw new RkError({
          kind: 'validation',
          message: `A text message cannot carry a media file (${request.media.filename}).`,
          hint: 'Use type image, document, video or audio for a message with a file.',
        });
      }
      // Key order as documented; undefined keys drop out.
      const json = JSON.stringify({ recipient: request.recipient, type, message: request.message, payload: request.payload });
      const bytes = Buffer.from(json, 'utf8');
      body = { chunks: [bytes], length: bytes.length };
      contentType = 'application/json';
    } else {
      const fields: MultipartField[] = [
        { name: 'recipient', value: request.recipient },
        { name: 'type', value: type },
      ];
      if (request.message !== undefined && request.message !== '') fields.push({ name: 'message', value: request.message });
      if (request.payload !== undefined) fields.push({ name: 'payload', value: JSON.stringify(request.payload) });
      // Without a file the API answers 422 "media required": its rule, reported as its validation error.
      const multipart = buildMultipart(
        fields,
        request.media && { name: 'media', filename: request.media.filename, contentType: request.media.contentType, data: request.media.data },
      );
      body = { chunks: multipart.chunks, length: multipart.length };
      contentType = multipart.contentType;
    }

    const headers: Record<string, string> = { 'content-type': contentType, [HEADER.deviceCode]: request.device };
    if (request.requestId !== undefined) headers[HEADER.requestId] = request.requestId;
    const envelope = await this.#call('POST', '/send', body, headers, options.signal);

    const { data } = envelope;
    if (typeof data.id !== 'string' || data.id === '') {
      throw errorFromUnexpectedAnswer(envelope.httpStatus, `a send answer without data.id: ${preview(JSON.stringify(data))}`, null);
    }
    if (!MESSAGE_ID.test(data.id)) {
      // Never stored: a 5 MB id, markup or NUL bytes would end up in the database, reports and terminals.
      throw errorFromMalformedAnswer(envelope.httpStatus, `a message id that is not a UUID or short token (${describeId(data.id)})`);
    }
    const serverId = serverIdOf(envelope.meta);
    const status = typeof data.status === 'string' ? safeText(data.status, 32) : '';
    const device = typeof data.device === 'string' ? safeText(data.device, 64) : '';
    return {
      id: data.id,
      status: status || 'queued',
      device: device || request.device,
      ...(serverId === undefined ? {} : { serverId }),
    };
  }

  /**
   * `GET /status/{uuid}`, mapped to camelCase. Statuses the tool does not know are kept (as bounded plain text, like
   * every string of the answer); `id` is the UUID asked about.
   */
  async status(uuid: string, options: CallOptions = {}): Promise<MessageStatus> {
    const envelope = await this.#call('GET', `/status/${encodeURIComponent(uuid)}`, undefined, {}, options.signal);
    const { data } = envelope;
    const status = typeof data.status === 'string' ? safeText(data.status, 32) : '';
    if (status === '') {
      throw errorFromUnexpectedAnswer(envelope.httpStatus, `a status answer without data.status: ${preview(JSON.stringify(data))}`, null);
    }
    return {
      id: uuid,
      status,
      recipient: textOr(data.recipient, 32, ''),
      deviceCode: textOr(data.device_code, 64, ''),
      createdAt: textOr(data.created_at, 64, null),
      deliveredAt: textOr(data.delivered_at, 64, null),
      failedAt: textOr(data.failed_at, 64, null),
      errorMessage: textOr(data.error_message, 500, null),
    };
  }

  /** Closes the kept-alive connections, after requests in flight have finished. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  /** Signs and sends one request; resolves with a success envelope or rejects with an RkError. */
  async #call(
    method: 'GET' | 'POST',
    path: string,
    body: RequestBody | undefined,
    extraHeaders: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<SuccessEnvelope> {
    if (signal?.aborted) throw errorFromTransport(signal.reason, { aborted: true, requestSent: false });

    const timestamp = unixSeconds(this.#now());
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
      [HEADER.apiKey]: this.#apiKey,
      [HEADER.timestamp]: timestamp,
      // Signed over the very chunks passed as the body below, in order (or nothing for GET).
      [HEADER.signature]: computeSignature(this.#apiKey, timestamp, body?.chunks ?? '', this.#apiSecret),
      ...extraHeaders,
    };
    if (body !== undefined) headers['content-length'] = String(body.length);

    // One deadline for the whole request, headers and body: undici's own timers restart at every chunk.
    const timeoutMs = this.#requestTimeoutMs + Math.ceil((body?.length ?? 0) / UPLOAD_FLOOR_BYTES_PER_MS);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('request deadline')), timeoutMs);
    const onCallerAbort = (): void => deadline.abort(signal?.reason);
    signal?.addEventListener('abort', onCallerAbort, { once: true });

    let statusCode: number;
    let responseHeaders: IncomingHttpHeaders;
    let text: string;
    try {
      const response = await this.#agent.request({
        origin: this.#origin,
        path: this.#basePath + path,
        method,
        headers,
        // One chunk goes as is; several as a stream of those same Buffers, in order (a stream never copies them).
        body: body === undefined ? null : body.chunks.length === 1 ? body.chunks[0]! : Readable.from(body.chunks, { objectMode: false }),
        signal: deadline.signal,
      });
      statusCode = response.statusCode;
      responseHeaders = response.headers;
      const read = await readAtMost(response.body, MAX_RESPONSE_BYTES);
      if (read === undefined) {
        throw errorFromMalformedAnswer(statusCode, `an answer larger than ${formatSize(MAX_RESPONSE_BYTES)} (not read further)`);
      }
      text = read;
    } catch (cause) {
      if (cause instanceof RkError) throw cause;
      if (signal?.aborted) throw errorFromTransport(cause, { aborted: true });
      if (deadline.signal.aborted) throw errorFromTimeout(timeoutMs);
      throw errorFromTransport(cause);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }

    const nowMs = this.#now();
    const retryAfter = firstHeader(responseHeaders['retry-after']);
    const parsed = parseJsonObject(text);

    if (statusCode >= 200 && statusCode < 300) {
      if (parsed && parsed.success === true && isObject(parsed.data)) {
        return { httpStatus: statusCode, data: parsed.data, meta: parsed.meta };
      }
      throw errorFromUnexpectedAnswer(statusCode, describeAnswer(text, parsed, responseHeaders), retryAfter, nowMs);
    }
    if (parsed && (parsed.success === false || typeof parsed.message === 'string' || typeof parsed.code === 'string')) {
      const code = typeof parsed.code === 'string' ? safeText(parsed.code, 64) || undefined : undefined;
      const message = apiMessage(parsed);
      throw errorFromResponse(
        statusCode,
        { ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) },
        retryAfter,
        nowMs,
      );
    }
    throw errorFromUnexpectedAnswer(statusCode, describeAnswer(text, parsed, responseHeaders), retryAfter, nowMs);
  }
}

/** Header values must be visible ASCII: anything else would be rejected by the HTTP stack as a transport error. */
function assertHeaderValue(what: string, value: string): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new RkError({
      kind: 'validation',
      message: `The ${what} must be 1 to 255 visible ASCII characters without spaces; found ${JSON.stringify(value)}.`,
      hint: `Fix the ${what}.`,
    });
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonObject(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A string of the answer as bounded plain text (see `safeText`), or the fallback when it is not a string. */
function textOr<T extends string | null>(value: unknown, maxLength: number, fallback: T): string | T {
  return typeof value === 'string' ? safeText(value, maxLength) : fallback;
}

/** Reads a response body as UTF-8, or undefined (and the rest discarded) once it passes `limit` bytes. */
async function readAtMost(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What is wrong with a rejected id, without repeating any of it (it may be megabytes, markup or control bytes). */
function describeId(id: string): string {
  const length = `${id.length.toLocaleString('en-US')} characters`;
  return id.length > 128 ? `${length}, more than 128` : `${length}, not only letters, digits and ._:-`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function serverIdOf(meta: unknown): string | undefined {
  return isObject(meta) && typeof meta.server_id === 'string' && MESSAGE_ID.test(meta.server_id) ? meta.server_id : undefined;
}

/**
 * The API's message, with the first per-field validation errors when it lists them (`errors: {field: [..]}`), as
 * bounded plain text: no escape sequence or control character of the answer reaches a terminal, log or report.
 */
function apiMessage(body: JsonObject): string | undefined {
  const message = typeof body.message === 'string' ? safeText(body.message, 300) || undefined : undefined;
  if (!isObject(body.errors)) return message;
  const details = Object.entries(body.errors)
    .slice(0, 3)
    .map(([field, problems]) => `${safeText(field, 40)}: ${safeText(Array.isArray(problems) ? String(problems[0]) : String(problems), 120)}`);
  if (details.length === 0) return message;
  return message ? `${message} (${details.join('; ')})` : details.join('; ');
}

/** A short description of an answer that was not the envelope, for the error message. */
function describeAnswer(text: string, parsed: JsonObject | undefined, headers: IncomingHttpHeaders): string {
  if (text.trim() === '') return 'an empty body';
  if (parsed) return `JSON without the documented fields: ${preview(text)}`;
  const type = safeText(firstHeader(headers['content-type']) ?? 'no content type', 80);
  return `${type}, ${Buffer.byteLength(text)} bytes: ${preview(text)}`;
}

/** A short, cleaned, quoted extract of an answer for an error message. */
function preview(text: string): string {
  return JSON.stringify(safeText(text, 120));
}
