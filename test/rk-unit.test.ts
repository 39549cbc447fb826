import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RkClient } from '../src/rk/client.js';
import { errorFromTransport, errorFromUnexpectedAnswer, RkError } from '../src/rk/errors.js';
import { loadMedia, MediaError } from '../src/rk/media.js';
import { buildMultipart } from '../src/rk/multipart.js';
import { computeSignature } from '../src/rk/signing.js';
import { formatSize, parseSizeText } from '../src/core/size.js';
import { safeText } from '../src/core/text.js';
import { DEFAULT_MEDIA_MAX_BYTES } from '../src/rk/media.js';

const media = (name: string) => fileURLToPath(new URL(`./fixtures/media/${name}`, import.meta.url));

/** Parses a multipart body with the platform's own (undici) form-data parser: an independent check of our bytes. */
async function parseForm(body: Buffer, contentType: string): Promise<FormData> {
  return new Response(body, { headers: { 'content-type': contentType } }).formData();
}

describe('signing', () => {
  it('matches the provider documentation for a JSON body', () => {
    const body = '{"recipient":"6281234567890","type":"text","message":"Hello from RK Connect"}';
    expect(computeSignature('your_api_key', '1709308800', body, 'your_api_secret')).toBe(
      'a906aca53ba87e4eb96f5f601b5f27f7d30eb23ef21fe7654a54da36fe977065',
    );
    expect(computeSignature('your_api_key', '1709308800', Buffer.from(body, 'utf8'), 'your_api_secret')).toBe(
      'a906aca53ba87e4eb96f5f601b5f27f7d30eb23ef21fe7654a54da36fe977065',
    );
  });

  it('signs a body given as chunks exactly as the same bytes given whole', () => {
    const whole = Buffer.from('--b\r\nhead\r\n\r\nMEDIA BYTES\r\n--b--\r\n');
    const chunks = [whole.subarray(0, 15), whole.subarray(15, 26), whole.subarray(26)];
    expect(computeSignature('k', '1709308800', chunks, 's')).toBe(computeSignature('k', '1709308800', whole, 's'));
  });

  it('matches the known answer for an empty body (GET)', () => {
    expect(computeSignature('your_api_key', '1709308800', '', 'your_api_secret')).toBe(
      '979ae257b02161929cc3e924b15749a31a729e94c5cf11189ec9e110e7325abf',
    );
  });
});

describe('buildMultipart', () => {
  it('produces a body a standard parser reads back field by field, file included', async () => {
    const file = new Uint8Array([0xff, 0xd8, 0xff, 0x00, 0x0d, 0x0a, 0x2d, 0x2d]);
    const { chunks, length, contentType, boundary } = buildMultipart(
      [
        { name: 'recipient', value: '6281234567890' },
        { name: 'message', value: 'Promo hari ini 🎉\r\nline two' },
        { name: 'payload', value: '{"campaign":"x"}' },
      ],
      { name: 'media', filename: 'promo "final".jpg', contentType: 'image/jpeg', data: file },
    );
    expect(contentType).toBe(`multipart/form-data; boundary=${boundary}`);
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(length);
    expect(body.subarray(-(boundary.length + 6)).toString()).toBe(`--${boundary}--\r\n`);
    // The file part is the caller's bytes, not a copy: every request in flight shares one copy of a media file.
    expect(chunks.some((c) => c.buffer === file.buffer && c.byteOffset === file.byteOffset && c.length === file.length)).toBe(true);

    const form = await parseForm(body, contentType);
    expect(form.get('recipient')).toBe('6281234567890');
    expect(form.get('message')).toBe('Promo hari ini 🎉\r\nline two');
    expect(form.get('payload')).toBe('{"campaign":"x"}');
    const part = form.get('media') as File;
    expect(part.type).toBe('image/jpeg');
    expect(part.name).toBe('promo "final".jpg'); // sent as %22, decoded back by the parser
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(file);
  });

  it('never uses a boundary that occurs in the content', () => {
    const candidates = ['collide', 'collide', 'fresh'];
    const { boundary } = buildMultipart([{ name: 'message', value: 'this text contains collide on purpose' }], undefined, () =>
      candidates.shift()!,
    );
    expect(boundary).toBe('fresh');
  });

  it('keeps field order and omits the file part when there is none', async () => {
    const { chunks, contentType } = buildMultipart([
      { name: 'recipient', value: '1' },
      { name: 'type', value: 'image' },
    ]);
    const body = Buffer.concat(chunks);
    const text = body.toString();
    expect(text.indexOf('name="recipient"')).toBeLessThan(text.indexOf('name="type"'));
    const form = await parseForm(body, contentType);
    expect(form.has('media')).toBe(false);
  });
});

describe('loadMedia (by content, before any request)', () => {
  it('accepts each documented format for its own type, with the canonical content type', async () => {
    const cases = [
      ['photo.jpg', 'image', 'image/jpeg'],
      ['pixel.png', 'image', 'image/png'],
      ['pixel.webp', 'image', 'image/webp'],
      ['invoice.pdf', 'document', 'application/pdf'],
      ['invoice.docx', 'document', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
      ['legacy.doc', 'document', 'application/msword'],
      ['clip.mp4', 'video', 'video/mp4'],
      ['jingle.mp3', 'audio', 'audio/mpeg'],
      ['voice.ogg', 'audio', 'audio/ogg'],
    ] as const;
    for (const [name, type, contentType] of cases) {
      const file = await loadMedia(media(name), type);
      expect({ name, filename: file.filename, contentType: file.contentType }).toEqual({ name, filename: name, contentType });
      expect(file.data.length).toBeGreaterThan(0);
    }
  });

  it('rejects a GIF wearing a .jpg name, naming the file, what was found and what is accepted', async () => {
    const path = media('gif-named.jpg');
    const error = await loadMedia(path, 'image').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as MediaError).message).toBe(
      `${path} is a GIF image (image/gif); RK Connect accepts jpeg, png or webp for type "image".`,
    );
    expect((error as MediaError).hint).toMatch(/Convert it to jpeg, png or webp/);
  });

  it('rejects a pdf sent as image, and says which type would take it', async () => {
    const error = (await loadMedia(media('invoice.pdf'), 'image').catch((e: unknown) => e)) as MediaError;
    expect(error).toBeInstanceOf(MediaError);
    expect(error.message).toMatch(/is a PDF document \(application\/pdf\); RK Connect accepts jpeg, png or webp for type "image"/);
    expect(error.hint).toMatch(/type "document"/);
  });

  it('treats a compound file as doc only when it is named .doc', async () => {
    await expect(loadMedia(media('legacy.doc'), 'document')).resolves.toMatchObject({ contentType: 'application/msword' });
    await expect(loadMedia(media('spreadsheet.xls'), 'document')).rejects.toThrow(/compound file.*accepts pdf, doc or docx/);
  });

  it('rejects text, empty and missing files with the path in the message', async () => {
    await expect(loadMedia(media('notes.txt'), 'document')).rejects.toThrow(/notes\.txt is not a recognisable media file/);
    await expect(loadMedia(media('empty.png'), 'image')).rejects.toThrow(/empty\.png is empty/);
    await expect(loadMedia(media('nope.png'), 'image')).rejects.toThrow(/nope\.png: no such file/);
    await expect(loadMedia(media('voice.ogg'), 'video')).rejects.toThrow(/accepts mp4 for type "video"/);
  });

  it('gives a file whose extension disagrees with its content the right extension', async () => {
    const { mkdtemp, copyFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'rk-media-'));
    await copyFile(media('invoice.pdf'), join(dir, 'invoice'));
    const file = await loadMedia(join(dir, 'invoice'), 'document');
    expect(file.filename).toBe('invoice.pdf');
  });
});

describe('safeText (text from outside, made safe to print and store)', () => {
  it('removes escape sequences whole and turns every other control character into a space', () => {
    expect(safeText('Bad\x1b[2J\x1b[1;31mrequest\x1b[0m\x07\r\n', 100)).toBe('Badrequest');
    expect(safeText('title\x1b]0;pwned\x07 set', 100)).toBe('title set');
    expect(safeText('a\x00b\tc\rd\ne\x7ff\x9b2Jg\u0085h', 100)).toBe('a b c d e fg h');
    expect(safeText('left \u202eright\u202c \u2066iso\u2069', 100)).toBe('left right iso');
    expect(safeText('lone \ud800 surrogate', 100)).toBe('lone \ufffd surrogate');
    expect(safeText('Halo Budi 🎉, promo hari ini', 100)).toBe('Halo Budi 🎉, promo hari ini');
  });

  it('bounds the length (ending in …), also for a 5 MB string, without splitting a surrogate pair', () => {
    expect(safeText('x'.repeat(5 * 1024 * 1024), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(safeText('abcdefgh🎉🎉', 10)).toBe('abcdefgh…');
    expect(safeText('short', 10)).toBe('short');
  });

  it('with keepNewlines keeps line breaks and indentation (our own hints), nothing else', () => {
    expect(safeText('line one\r\n  KEY=value\x1b[2J\x07', 100, { keepNewlines: true })).toBe('line one\n  KEY=value ');
  });

  it('an RkError built from hostile text holds none of it', () => {
    const error = new RkError({ kind: 'server', message: `boom\x1b[2J${'y'.repeat(5000)}`, hint: 'h', code: 'CODE\x00\x1b[31m' });
    expect(error.message).not.toMatch(/[\x00-\x1f]/);
    expect(error.message.length).toBeLessThanOrEqual(1000);
    expect(error.code).toBe('CODE');
  });
});

describe('sizes', () => {
  it('parses KB, MB and GB as binary units, bare numbers as bytes, and refuses anything else', () => {
    expect(parseSizeText('20MB')).toBe(20 * 1024 * 1024);
    expect(parseSizeText(' 500 kb ')).toBe(500 * 1024);
    expect(parseSizeText('1.5GB')).toBe(1.5 * 1024 ** 3);
    expect(parseSizeText('1048576')).toBe(1048576);
    for (const bad of ['lots', '', '20 MiB', '-5MB', 'MB']) expect(parseSizeText(bad)).toBeUndefined();
    expect([formatSize(200 * 1024 * 1024), formatSize(5.5 * 1024 * 1024), formatSize(900)]).toEqual(['200 MB', '5.5 MB', '900 bytes']);
  });

  it('loadMedia refuses a file over its type default before reading it, and takes a limit of its own', async () => {
    expect(DEFAULT_MEDIA_MAX_BYTES).toEqual({ image: 5 * 1024 ** 2, video: 16 * 1024 ** 2, audio: 16 * 1024 ** 2, document: 100 * 1024 ** 2 });
    await expect(loadMedia(media('photo.jpg'), 'image', 100)).rejects.toThrow(
      /photo\.jpg is 141 bytes \(141 bytes\); the limit for type "image" is 100 bytes \(100 bytes, media_max_size\)/,
    );
    await expect(loadMedia(media('photo.jpg'), 'image', 141)).resolves.toMatchObject({ contentType: 'image/jpeg' });
  });
});

describe('errors', () => {
  it('an abort with a DOMException reason is a network error with a string code and aborted set', () => {
    const controller = new AbortController();
    controller.abort();
    const error = errorFromTransport(controller.signal.reason, { aborted: true });
    expect(error.kind).toBe('network');
    expect(error.aborted).toBe(true);
    expect(error.code).toBe('AbortError');
    expect(error.retryable).toBe(true);
  });

  it('an HTML page instead of the envelope is a network error carrying the HTTP status; a 502 page stays server', () => {
    const html = errorFromUnexpectedAnswer(404, 'text/html, 20 bytes: "<html>"', null);
    expect([html.kind, html.httpStatus]).toEqual(['network', 404]);
    expect(html.hint).toMatch(/RK_BASE_URL/);
    const gateway = errorFromUnexpectedAnswer(502, 'text/html', null);
    expect([gateway.kind, gateway.retryable]).toEqual(['server', true]);
  });
});

describe('RkClient without a network', () => {
  it('never shows the secret when inspected, stringified or spread', async () => {
    const secret = 'super-secret-value-1234';
    const client = new RkClient({ apiKey: 'k', apiSecret: secret, baseUrl: 'http://127.0.0.1:9/api/v1' });
    expect(inspect(client, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(JSON.stringify(client)).not.toContain(secret);
    expect(JSON.stringify({ ...client })).not.toContain(secret);
    await client.close();
  });

  it('refuses media on a text message and bad header values without sending anything', async () => {
    // Port 9 (discard) on loopback: if a request were made it would fail as `network`, not `validation`.
    const client = new RkClient({ apiKey: 'k', apiSecret: 's', baseUrl: 'http://127.0.0.1:9/api/v1' });
    const mediaFile = await loadMedia(media('photo.jpg'), 'image');
    await expect(client.send({ device: 'RK-1', recipient: '628', type: 'text', message: 'x', media: mediaFile })).rejects.toMatchObject({
      kind: 'validation',
    });
    await expect(client.send({ device: 'RK-1', recipient: '628', message: 'x', requestId: 'a\r\nb' })).rejects.toMatchObject({
      kind: 'validation',
    });
    const refused = await client.send({ device: 'RK-1', recipient: '628', message: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RkError);
    expect((refused as RkError).kind).toBe('network');
    await client.close();
  });
});
