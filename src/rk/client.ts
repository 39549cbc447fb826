import { Agent } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { errorFromResponse, errorFromTransport, errorFromUnexpectedAnswer, RkError } from './errors.js';
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
   * Time allowed between sending a request and receiving the response headers.
   * @default 30_000
   */
  headersTimeoutMs?: number;
  /**
   * Time allowed between two chunks of the response body.
   * @default 30_000
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
    this.#agent = new Agent({
      connections: options.connections ?? 16,
      connect: { timeout: options.connectTimeoutMs ?? 10_000 },
      headersTimeout: options.headersTimeoutMs ?? 30_000,
      bodyTimeout: options.bodyTimeoutMs ?? 30_000,
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

    let body: Buffer;
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
      body = Buffer.from(json, 'utf8');
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
      body = multipart.body;
      contentType = multipart.contentType;
    }

    const headers: Record<string, string> = { 'content-type': contentType, [HEADER.deviceCode]: request.device };
    if (request.requestId !== undefined) headers[HEADER.requestId] = request.requestId;
    const envelope = await this.#call('POST', '/send', body, headers, options.signal);

    const { data } = envelope;
    if (typeof data.id !== 'string' || data.id === '') {
      throw errorFromUnexpectedAnswer(envelope.httpStatus, `a send answer without data.id: ${preview(JSON.stringify(data))}`, null);
    }
    const serverId = serverIdOf(envelope.meta);
    return {
      id: data.id,
      status: typeof data.status === 'string' ? data.status : 'queued',
      device: typeof data.device === 'string' ? data.device : request.device,
      ...(serverId === undefined ? {} : { serverId }),
    };
  }

  /** `GET /status/{uuid}`, mapped to camelCase. Statuses the tool does not know are kept verbatim. */
  async status(uuid: string, options: CallOptions = {}): Promise<MessageStatus> {
    const envelope = await this.#call('GET', `/status/${encodeURIComponent(uuid)}`, undefined, {}, options.signal);
    const { data } = envelope;
    if (typeof data.status !== 'string') {
      throw errorFromUnexpectedAnswer(envelope.httpStatus, `a status answer without data.status: ${preview(JSON.stringify(data))}`, null);
    }
    return {
      id: typeof data.id === 'string' ? data.id : uuid,
      status: data.status,
      recipient: stringOr(data.recipient, ''),
      deviceCode: stringOr(data.device_code, ''),
      createdAt: stringOr(data.created_at, null),
      deliveredAt: stringOr(data.delivered_at, null),
      failedAt: stringOr(data.failed_at, null),
      errorMessage: stringOr(data.error_message, null),
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
    body: Buffer | undefined,
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
      // Signed over the very Buffer passed as the body below (or nothing for GET).
      [HEADER.signature]: computeSignature(this.#apiKey, timestamp, body ?? '', this.#apiSecret),
      ...extraHeaders,
    };
    if (body !== undefined) headers['content-length'] = String(body.length);

    let statusCode: number;
    let responseHeaders: IncomingHttpHeaders;
    let text: string;
    try {
      const response = await this.#agent.request({
        origin: this.#origin,
        path: this.#basePath + path,
        method,
        headers,
        body: body ?? null,
        signal: signal ?? null,
      });
      statusCode = response.statusCode;
      responseHeaders = response.headers;
      text = await response.body.text();
    } catch (cause) {
      throw errorFromTransport(cause, { aborted: signal?.aborted === true });
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
      const code = typeof parsed.code === 'string' ? parsed.code : undefined;
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

function stringOr<T extends string | null>(value: unknown, fallback: T): string | T {
  return typeof value === 'string' ? value : fallback;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function serverIdOf(meta: unknown): string | undefined {
  return isObject(meta) && typeof meta.server_id === 'string' ? meta.server_id : undefined;
}

/** The API's message, with the first per-field validation errors when it lists them (`errors: {field: [..]}`). */
function apiMessage(body: JsonObject): string | undefined {
  const message = typeof body.message === 'string' ? body.message : undefined;
  if (!isObject(body.errors)) return message;
  const details = Object.entries(body.errors)
    .slice(0, 3)
    .map(([field, problems]) => `${field}: ${Array.isArray(problems) ? String(problems[0]) : String(problems)}`);
  if (details.length === 0) return message;
  return message ? `${message} (${details.join('; ')})` : details.join('; ');
}

/** A short description of an answer that was not the envelope, for the error message. */
function describeAnswer(text: string, parsed: JsonObject | undefined, headers: IncomingHttpHeaders): string {
  if (text.trim() === '') return 'an empty body';
  if (parsed) return `JSON without the documented fields: ${preview(text)}`;
  const type = firstHeader(headers['content-type']) ?? 'no content type';
  return `${type}, ${Buffer.byteLength(text)} bytes: ${preview(text)}`;
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 120)}...` : flat);
}
