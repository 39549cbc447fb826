import { randomBytes } from 'node:crypto';

/** A plain text field of a multipart/form-data body. */
export interface MultipartField {
  name: string;
  value: string;
}

/** A file part of a multipart/form-data body. */
export interface MultipartFilePart {
  name: string;
  filename: string;
  contentType: string;
  data: Uint8Array;
}

/** A finished multipart/form-data body: the exact bytes to sign and send, and the header that describes them. */
export interface MultipartBody {
  /**
   * The body as the chunks to send one after the other: the part headers and fields, the file's own bytes (a view of
   * the caller's buffer, never a copy, so every request in flight shares one copy of a media file), and the closing
   * boundary. Sign and send exactly these, in order.
   */
  chunks: readonly Buffer[];
  /** Total bytes of `chunks`, for `content-length`. */
  length: number;
  /** `multipart/form-data; boundary=...` */
  contentType: string;
  boundary: string;
}

const CRLF = '\r\n';

/**
 * Builds a multipart/form-data body (RFC 7578) as a few chunks around the file's bytes, so the bytes that are signed
 * are exactly the bytes that are sent and the file is never copied. Fields come first in the given order, then the
 * file part, if any.
 *
 * The boundary is random; one that occurs anywhere in the content is never used (`boundaryFactory` is for tests).
 */
export function buildMultipart(
  fields: readonly MultipartField[],
  file?: MultipartFilePart,
  boundaryFactory: () => string = randomBoundary,
): MultipartBody {
  const contents: Buffer[] = fields.map((f) => Buffer.from(f.value, 'utf8'));
  if (file) contents.push(Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength));

  // Names and the filename end up in part headers, so they must not contain the boundary either.
  const searched = [...contents, ...fields.map((f) => Buffer.from(f.name, 'utf8'))];
  if (file) searched.push(Buffer.from(file.name + '\n' + file.filename, 'utf8'));
  let boundary = boundaryFactory();
  for (let tries = 0; searched.some((c) => c.includes(boundary)); tries++) {
    if (tries >= 10) throw new Error('Could not find a multipart boundary absent from the content.');
    boundary = boundaryFactory();
  }

  const head: Buffer[] = [];
  fields.forEach((field, i) => {
    head.push(
      Buffer.from(
        `--${boundary}${CRLF}Content-Disposition: form-data; name="${quoteParam(field.name)}"${CRLF}${CRLF}`,
        'utf8',
      ),
      contents[i]!,
      Buffer.from(CRLF, 'utf8'),
    );
  });
  const closing = Buffer.from(`--${boundary}--${CRLF}`, 'utf8');
  let chunks: Buffer[];
  if (file) {
    head.push(
      Buffer.from(
        `--${boundary}${CRLF}` +
          `Content-Disposition: form-data; name="${quoteParam(file.name)}"; filename="${quoteParam(file.filename)}"${CRLF}` +
          `Content-Type: ${headerSafe(file.contentType)}${CRLF}${CRLF}`,
        'utf8',
      ),
    );
    // Only the small head and tail are new buffers; the file part is the caller's bytes.
    chunks = [Buffer.concat(head), contents[contents.length - 1]!, Buffer.concat([Buffer.from(CRLF, 'utf8'), closing])];
  } else {
    chunks = [Buffer.concat([...head, closing])];
  }
  const length = chunks.reduce((n, c) => n + c.length, 0);
  return { chunks, length, contentType: `multipart/form-data; boundary=${boundary}`, boundary };
}

/** A boundary of 24 random bytes: 1 in 2^192 to collide with anything, and still checked against the content. */
function randomBoundary(): string {
  return `----rk-broadcast-${randomBytes(24).toString('hex')}`;
}

/** Escapes a name or filename for a quoted header parameter the way browsers do (WHATWG form encoding). */
function quoteParam(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

/** Header values must not contain line breaks (they would end the part's headers). */
function headerSafe(value: string): string {
  return value.replace(/[\r\n]/g, '');
}
