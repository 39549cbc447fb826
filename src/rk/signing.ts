import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * RK Connect request signing, shared by the client and the emulator (the only code they share).
 *
 * `X-SIGNATURE` = hex HMAC-SHA256, keyed with the project secret, over `apiKey + timestamp + rawBody`,
 * where `rawBody` is exactly the bytes on the wire (the JSON text, the whole multipart body, or nothing for GET),
 * given whole or as the chunks that are sent one after the other.
 */
export function computeSignature(
  apiKey: string,
  timestamp: string,
  rawBody: Uint8Array | string | readonly Uint8Array[],
  apiSecret: string,
): string {
  const hmac = createHmac('sha256', apiSecret);
  hmac.update(apiKey + timestamp, 'utf8');
  if (typeof rawBody === 'string') hmac.update(rawBody, 'utf8');
  else if (rawBody instanceof Uint8Array) hmac.update(rawBody);
  // A body sent as several chunks (multipart head, the shared media bytes, tail): hashed in order, never joined.
  else for (const chunk of rawBody) hmac.update(chunk);
  return hmac.digest('hex');
}

/** Constant-time comparison of a presented signature against the expected one. */
export function signatureMatches(expectedHex: string, presented: string): boolean {
  const a = Buffer.from(expectedHex, 'utf8');
  const b = Buffer.from(presented.toLowerCase(), 'utf8');
  if (a.length !== b.length) {
    // Still spend the comparison so the length mismatch is not a faster path.
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Unix time in whole seconds, as the `X-TIMESTAMP` header wants it. */
export function unixSeconds(nowMs: number): string {
  return Math.floor(nowMs / 1000).toString();
}

/** Names of the headers the API uses, in one place. */
export const HEADER = {
  apiKey: 'x-api-key',
  timestamp: 'x-timestamp',
  signature: 'x-signature',
  deviceCode: 'x-device-code',
  requestId: 'x-request-id',
} as const;

/** The base URL of the real API. */
export const DEFAULT_BASE_URL = 'https://connect.rumahkomunitas.com/api/v1';
