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
  /** The whole body, ready for `content-length` and signing. */
  body: Buffer;
  /** `multipart/form-data; boundary=...` */
  contentType: string;
  boundary: string;
}

const CRLF = '\r\n';

/**
 * Builds a multipart/form-data body (RFC 7578) into one Buffer, so the bytes that are signed are exactly the bytes
 * that are sent. Fields come first in the given order, then the file part, if any.
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

  const chunks: Buffer[] = [];
  fields.forEach((field, i) => {
    chunks.push(
      Buffer.from(
        `--${boundary}${CRLF}Content-Disposition: form-data; name="${quoteParam(field.name)}"${CRLF}${CRLF}`,
        'utf8',
      ),
      contents[i]!,
      Buffer.from(CRLF, 'utf8'),
    );
  });
  if (file) {
    chunks.push(
      Buffer.from(
        `--${boundary}${CRLF}` +
          `Content-Disposition: form-data; name="${quoteParam(file.name)}"; filename="${quoteParam(file.filename)}"${CRLF}` +
          `Content-Type: ${headerSafe(file.contentType)}${CRLF}${CRLF}`,
        'utf8',
      ),
      contents[contents.length - 1]!,
      Buffer.from(CRLF, 'utf8'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--${CRLF}`, 'utf8'));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}`, boundary };
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
