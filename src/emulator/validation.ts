import { createHash } from 'node:crypto';
import { Response } from 'undici';
import { MESSAGE_TYPES, type MessageType } from '../rk/types.js';
import { checkMedia } from './media.js';

/** An error answer the emulator sends: HTTP status plus the envelope's `code` and `message`. */
export interface ApiFailure {
  status: number;
  code: string;
  message: string;
}

/** A `POST /send` body that passed validation. */
export interface ValidSend {
  recipient: string;
  type: MessageType;
  message: string | null;
  payload: Record<string, unknown> | null;
  media: { filename: string; contentType: string; size: number } | null;
  /** SHA-256 of the uploaded file's bytes, or null. */
  mediaSha256: string | null;
}

/** Recipient in the API's form: country code and digits, 8-15 digits, no `+`, no leading 0. */
const RECIPIENT_PATTERN = /^[1-9][0-9]{7,14}$/;

/** A value taken from the body: JSON values, multipart text fields, or uploaded files. */
type FieldValue = unknown;

/** The minimal surface of an uploaded multipart file this module needs. */
interface UploadedFile {
  name: string;
  type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

function isUploadedFile(value: unknown): value is UploadedFile {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as UploadedFile).arrayBuffer === 'function' &&
    typeof (value as UploadedFile).name === 'string'
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mediaTypeOf(contentTypeHeader: string | undefined): string {
  return (contentTypeHeader ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Reads the body into a field map: multipart and urlencoded via the fetch `Response#formData()`, else JSON. */
async function readFields(raw: Buffer, contentTypeHeader: string | undefined): Promise<Map<string, FieldValue> | ApiFailure> {
  const mediaType = mediaTypeOf(contentTypeHeader);
  if (mediaType === 'multipart/form-data' || mediaType === 'application/x-www-form-urlencoded') {
    try {
      const form = await new Response(raw, { headers: { 'content-type': contentTypeHeader ?? '' } }).formData();
      const fields = new Map<string, FieldValue>();
      // First value wins, like a form field read once.
      for (const [name, value] of form) if (!fields.has(name)) fields.set(name, value);
      return fields;
    } catch {
      return { status: 400, code: 'INVALID_BODY', message: 'The request body is not valid ' + mediaType + '.' };
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { status: 400, code: 'INVALID_JSON', message: 'The request body is not valid JSON.' };
  }
  if (!isPlainObject(parsed)) {
    return { status: 400, code: 'INVALID_JSON', message: 'The request body must be a JSON object.' };
  }
  return new Map(Object.entries(parsed));
}

/**
 * Parses and validates a `POST /send` body exactly as the documentation describes the parameters. Returns the
 * normalised message or the 400/422 answer; every validation message names the field.
 */
export async function parseSendBody(raw: Buffer, contentTypeHeader: string | undefined): Promise<ValidSend | ApiFailure> {
  const fields = await readFields(raw, contentTypeHeader);
  if (!(fields instanceof Map)) return fields;
  const isForm = mediaTypeOf(contentTypeHeader) === 'multipart/form-data';
  const errors: string[] = [];

  const recipient = fields.get('recipient');
  if (recipient === undefined || recipient === null || recipient === '') {
    errors.push('The recipient field is required.');
  } else if (typeof recipient !== 'string' || !RECIPIENT_PATTERN.test(recipient)) {
    errors.push(
      'The recipient field must be 8-15 digits including the country code, without + or a leading 0 (e.g. 6281234567890).',
    );
  }

  const rawType = fields.get('type');
  let type: MessageType | undefined = 'text';
  if (rawType !== undefined && rawType !== null && rawType !== '') {
    if (typeof rawType === 'string' && (MESSAGE_TYPES as readonly string[]).includes(rawType)) {
      type = rawType as MessageType;
    } else {
      type = undefined;
      errors.push(`The selected type is invalid; allowed: ${MESSAGE_TYPES.join(', ')}.`);
    }
  }

  const rawMessage = fields.get('message');
  let message: string | null = null;
  const messageIsWrongType = rawMessage !== undefined && rawMessage !== null && typeof rawMessage !== 'string';
  if (messageIsWrongType) errors.push('The message field must be a string.');
  else if (typeof rawMessage === 'string' && rawMessage.trim() !== '') message = rawMessage;
  if (type === 'text' && message === null && !messageIsWrongType) {
    errors.push('The message field is required when type is text.');
  }

  const rawPayload = fields.get('payload');
  let payload: Record<string, unknown> | null = null;
  if (rawPayload !== undefined && rawPayload !== null && rawPayload !== '') {
    let candidate: unknown = rawPayload;
    if (isForm && typeof rawPayload === 'string') {
      try {
        candidate = JSON.parse(rawPayload);
      } catch {
        candidate = undefined;
      }
    }
    if (isPlainObject(candidate) && !isUploadedFile(candidate)) payload = candidate;
    else errors.push('The payload field must be an object (in multipart/form-data, a JSON object as a text field).');
  }

  let media: ValidSend['media'] = null;
  let mediaSha256: string | null = null;
  if (type !== undefined && type !== 'text') {
    const rawMedia = fields.get('media');
    if (!isForm) {
      errors.push(`The media field is required when type is ${type}; send multipart/form-data with a media file.`);
    } else if (!isUploadedFile(rawMedia)) {
      errors.push(`The media field is required when type is ${type} and must be a file.`);
    } else {
      const bytes = new Uint8Array(await rawMedia.arrayBuffer());
      const checked = await checkMedia(bytes, rawMedia.type);
      if (checked.ok) {
        media = { filename: rawMedia.name, contentType: checked.contentType, size: bytes.byteLength };
        mediaSha256 = createHash('sha256').update(bytes).digest('hex');
      }
      else errors.push(checked.reason);
    }
  }

  if (errors.length > 0) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''}: ${errors.slice(1).join(' ')})` : '';
    return { status: 422, code: 'VALIDATION_ERROR', message: errors[0]! + more };
  }
  return { recipient: recipient as string, type: type as MessageType, message, payload, media, mediaSha256 };
}
