import { safeText } from '../core/text.js';

/**
 * The one error taxonomy for RK Connect failures. Every HTTP answer or transport failure becomes exactly one
 * of these kinds in `errorFromResponse` / `errorFromTransport`; retry logic asks the error (`retryable`,
 * `stopsRun`, `retryAfterMs`), never the status code.
 */
export type RkErrorKind =
  | 'auth' // 401: bad key, missing or invalid signature. Fatal for a run.
  | 'quota' // 403 QUOTA_EXCEEDED (or suspended). Fatal for a run, resumable later.
  | 'rate_limited' // 429: wait Retry-After, then go on. Not a failure.
  | 'validation' // 400/422 and other 4xx: permanent for this message.
  | 'not_found' // 404: unknown or foreign UUID.
  | 'device' // the device cannot send (unknown, disconnected, restricted): it leaves the rotation (issue 12).
  | 'server' // 5xx: retryable with backoff.
  | 'network'; // reset, refused, timeout, aborted, unparseable answer: retryable.

/** Fields an RkError is built from. */
export interface RkErrorInit {
  kind: RkErrorKind;
  /** Human sentence: what went wrong. */
  message: string;
  /** What the user should do next. */
  hint: string;
  /** HTTP status, when there was an answer. */
  httpStatus?: number;
  /** The API's `code`, kept verbatim (also for codes this tool does not know). */
  code?: string;
  /** For `rate_limited`: how long the API asked us to wait. */
  retryAfterMs?: number;
  /** For `network`: the request was aborted by our own signal (not a fault of the API). */
  aborted?: boolean;
  /** For `network`: whether the request may have reached the server before failing (reset after send, timeout). */
  mayHaveBeenProcessed?: boolean;
  cause?: unknown;
}

/** A failure talking to RK Connect. */
export class RkError extends Error {
  readonly kind: RkErrorKind;
  readonly hint: string;
  readonly httpStatus: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly aborted: boolean;
  readonly mayHaveBeenProcessed: boolean;

  constructor(init: RkErrorInit) {
    // Messages and codes carry text from answers: bounded and control-free here too, whoever built them.
    super(safeText(init.message, 1000), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RkError';
    this.kind = init.kind;
    this.hint = init.hint;
    this.httpStatus = init.httpStatus;
    this.code = init.code === undefined ? undefined : safeText(init.code, 64) || undefined;
    this.retryAfterMs = init.retryAfterMs;
    this.aborted = init.aborted ?? false;
    this.mayHaveBeenProcessed = init.mayHaveBeenProcessed ?? false;
  }

  /** Worth trying the same request again later (with the same request id). */
  get retryable(): boolean {
    return this.kind === 'server' || this.kind === 'network' || this.kind === 'rate_limited';
  }

  /** No further request of this run can succeed: stop everything, keep state, let the user fix it and resume. */
  get stopsRun(): boolean {
    return this.kind === 'auth' || this.kind === 'quota';
  }

  /** The API refused this one message for good. */
  get permanent(): boolean {
    return this.kind === 'validation' || this.kind === 'not_found';
  }

  /** The device named in X-DEVICE-CODE cannot send: take it out of the rotation, send the message through another. */
  get dropsDevice(): boolean {
    return this.kind === 'device';
  }

  /** A short label for logs and reports: the API's code when it gave one, else `HTTP 503` or the kind. */
  get label(): string {
    return this.code ?? (this.httpStatus !== undefined ? `HTTP ${this.httpStatus}` : this.kind.toUpperCase());
  }
}

/** True for any RkError. */
export function isRkError(value: unknown): value is RkError {
  return value instanceof RkError;
}

const CODE_HINTS: Record<string, string> = {
  MISSING_SIGNATURE_HEADERS:
    'The request lacked X-API-KEY, X-TIMESTAMP or X-SIGNATURE. This is a bug in rk-broadcast if it happens; please report it.',
  INVALID_SIGNATURE:
    "Check RK_API_SECRET (it must be this project's api_secret) and the machine's clock (the API rejects timestamps more than 5 minutes off; run `date -u` and sync with NTP).",
  INVALID_API_KEY: 'Check RK_API_KEY: the API does not know this key.',
  QUOTA_EXCEEDED:
    "The project's monthly quota is used up (or the account is suspended). Nothing more can be sent this month; raise the quota with RK Connect, then run the same command again to resume.",
};

/** Device codes the API (and the emulator) answer when a device cannot send, with what to do about each. */
const DEVICE_CODE_HINTS: Record<string, string> = {
  INVALID_DEVICE: 'The device code is not registered in this project: check device/devices in the campaign file against RK Connect.',
  DEVICE_NOT_FOUND: 'RK Connect does not know this device (any more): check device/devices in the campaign file against RK Connect.',
  DEVICE_DISCONNECTED: 'The WhatsApp number of this device is disconnected: reconnect it (scan the QR code in RK Connect), then run again.',
  DEVICE_RESTRICTED: 'WhatsApp restricted or banned this number: stop sending through it, check it in RK Connect and WhatsApp.',
};

/**
 * Whether an error answer says the device cannot send: a known device code, or any code naming a device
 * (`DEVICE_…`, `…_DEVICE`), kept verbatim. Status alone never decides it, since 403 and 404 mean other things too.
 */
export function isDeviceErrorCode(code: string | undefined): boolean {
  return code !== undefined && (Object.hasOwn(DEVICE_CODE_HINTS, code) || /(^|_)DEVICE(_|$)/.test(code));
}

/** Parses `Retry-After` (delta-seconds or an HTTP date) into milliseconds from `nowMs`. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** What the API's error envelope says, as far as it says anything. */
export interface ErrorBody {
  message?: string;
  code?: string;
}

/**
 * Maps an HTTP answer that was not a success into an RkError. Known codes refine the hint; unknown codes are
 * kept verbatim and classified by HTTP status alone.
 */
export function errorFromResponse(
  httpStatus: number,
  body: ErrorBody | undefined,
  retryAfterHeader: string | null | undefined,
  nowMs: number = Date.now(),
): RkError {
  const code = body?.code;
  const apiMessage = body?.message;
  const said = apiMessage ? `: ${apiMessage}` : '';
  const codePart = code ? ` ${code}` : '';
  const base = { httpStatus, ...(code === undefined ? {} : { code }) };

  if (httpStatus === 401) {
    return new RkError({
      ...base,
      kind: 'auth',
      message: `RK Connect rejected the credentials (401${codePart})${said}`,
      hint: (code && CODE_HINTS[code]) ?? 'Check RK_API_KEY and RK_API_SECRET for this project, and the machine clock.',
    });
  }
  if (httpStatus !== 429 && httpStatus < 500 && isDeviceErrorCode(code)) {
    return new RkError({
      ...base,
      kind: 'device',
      message: `RK Connect cannot send through this device (${httpStatus}${codePart})${said}`,
      hint:
        (code && DEVICE_CODE_HINTS[code]) ??
        'The device cannot send for now: check it in RK Connect. Its recipients go through the campaign\'s other devices.',
    });
  }
  if (httpStatus === 403) {
    return new RkError({
      ...base,
      kind: 'quota',
      message: `RK Connect refused to send (403${codePart})${said}`,
      hint:
        (code && CODE_HINTS[code]) ??
        'The project may be out of quota or suspended. Check the project in RK Connect, then run the same command again to resume.',
    });
  }
  if (httpStatus === 429) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader, nowMs);
    return new RkError({
      ...base,
      kind: 'rate_limited',
      message: `RK Connect rate limit reached (429${codePart})${said}`,
      hint: 'rk-broadcast waits and retries by itself; lower rate_per_minute if this happens often.',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (httpStatus === 404) {
    return new RkError({
      ...base,
      kind: 'not_found',
      message: `RK Connect does not know this message (404${codePart})${said}`,
      hint: 'The UUID is unknown or belongs to another project: check RK_API_KEY and the UUID.',
    });
  }
  if (httpStatus === 408) {
    return new RkError({
      ...base,
      kind: 'network',
      mayHaveBeenProcessed: false,
      message: `RK Connect timed out reading the request (408${codePart})${said}`,
      hint: 'Temporary: rk-broadcast retries with the same request id.',
    });
  }
  if (httpStatus >= 400 && httpStatus < 500) {
    return new RkError({
      ...base,
      kind: 'validation',
      message: `RK Connect rejected the message (${httpStatus}${codePart})${said}`,
      hint: 'The API refused this message as invalid; fix the recipient, text or media named above. Other messages are not affected.',
    });
  }
  return new RkError({
    ...base,
    kind: 'server',
    mayHaveBeenProcessed: true,
    message: `RK Connect had a server error (${httpStatus}${codePart})${said}`,
    hint: 'Temporary on the API side: rk-broadcast retries with backoff and the same request id.',
  });
}

/** Maps a transport failure (reset, refused, timeout, abort, bad JSON) into a `network` RkError. */
export function errorFromTransport(cause: unknown, context: { aborted?: boolean; requestSent?: boolean } = {}): RkError {
  if (cause instanceof RkError) return cause;
  const err = cause as { code?: unknown; message?: string; name?: string } | undefined;
  // Only string codes (ECONNRESET, UND_ERR_*): a DOMException's legacy numeric `code` means nothing here.
  const code = typeof err?.code === 'string' ? err.code : err?.name;
  const aborted = context.aborted === true || err?.name === 'AbortError';
  const what = aborted
    ? 'the request was cancelled'
    : code === 'ECONNREFUSED'
      ? 'the connection was refused'
      : code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connecting timed out'
        : code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
          ? 'the API did not answer in time'
          : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
            ? 'the connection was closed before an answer'
            : `the request failed (${code ?? 'unknown error'})`;
  // Refused or connect timeouts never reached the API; anything later may have been processed.
  const neverReached = code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND';
  return new RkError({
    kind: 'network',
    aborted,
    mayHaveBeenProcessed: context.requestSent ?? !neverReached,
    message: `Could not reach RK Connect: ${what}${err?.message && !aborted ? ` (${err.message})` : ''}`,
    hint: aborted
      ? 'Cancelled on request; run the same command again to resume.'
      : 'Check the network and RK_BASE_URL. rk-broadcast retries with the same request id, so a resend cannot double a message.',
    ...(code === undefined ? {} : { code }),
    cause,
  });
}

/**
 * Maps an answer that is not the API's JSON envelope (an HTML error page, an empty or truncated body, a 2xx
 * without `data.id`). 5xx and 429 keep their usual kinds; anything else becomes a retryable `network` error
 * that carries the HTTP status, since a proxy or a wrong base URL, not the API, probably answered.
 */
export function errorFromUnexpectedAnswer(
  httpStatus: number,
  detail: string,
  retryAfterHeader: string | null | undefined,
  nowMs: number = Date.now(),
): RkError {
  if (httpStatus >= 500 || httpStatus === 429) {
    return errorFromResponse(httpStatus, { message: `unexpected answer: ${detail}` }, retryAfterHeader, nowMs);
  }
  return new RkError({
    kind: 'network',
    httpStatus,
    mayHaveBeenProcessed: true,
    message: `RK Connect answered HTTP ${httpStatus} with something other than its JSON envelope: ${detail}`,
    hint: 'Check that RK_BASE_URL points at the API (it ends in /api/v1), not at a web page or a proxy. rk-broadcast retries with the same request id, so a resend cannot double a message.',
  });
}

/**
 * The whole-request deadline passed (`RkClientOptions.requestTimeoutMs`): the API did not finish answering in time,
 * for instance a server that sends its answer one byte at a time. Retryable with the same request id; the request
 * may have been processed.
 */
export function errorFromTimeout(timeoutMs: number): RkError {
  return new RkError({
    kind: 'network',
    code: 'REQUEST_TIMEOUT',
    mayHaveBeenProcessed: true,
    message: `Could not reach RK Connect: the API did not finish answering within ${(timeoutMs / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} s`,
    hint: 'Temporary, or a slow network: rk-broadcast retries with the same request id, so a resend cannot double a message. RK_REQUEST_TIMEOUT_MS sets the time allowed.',
  });
}

/**
 * An answer that looks like the API's but cannot be trusted (a message id that is not a UUID or short token, an
 * answer far larger than any the API gives). Retryable `network` error that may have been processed, so the retry
 * carries the same request id and the API's idempotency returns the original message.
 */
export function errorFromMalformedAnswer(httpStatus: number, detail: string): RkError {
  return new RkError({
    kind: 'network',
    code: 'MALFORMED_ANSWER',
    httpStatus,
    mayHaveBeenProcessed: true,
    message: `RK Connect answered HTTP ${httpStatus} with a malformed answer: ${detail}`,
    hint: 'Nothing of it was stored. rk-broadcast retries with the same request id, so a resend cannot double a message; if it persists, check RK_BASE_URL and any proxy in between.',
  });
}
