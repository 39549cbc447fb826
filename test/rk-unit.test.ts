import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RkClient } from '../src/rk/client.js';
import { errorFromTransport, errorFromUnexpectedAnswer, RkError } from '../src/rk/errors.js';
import { loadMedia, MediaError } from '../src/rk/media.js';
import { buildMultipart } from '../src/rk/multipart.js';
import { computeSignature } from '../src/rk/signing.js';

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

  it('matches the known answer for an empty body (GET)', () => {
    expect(computeSignature('your_api_key', '1709308800', '', 'your_api_secret')).toBe(
      '979ae257b02161929cc3e924b15749a31a729e94c5cf11189ec9e110e7325abf',
    );
  });
});

describe('buildMultipart', () => {
  it('produces a body a standard parser reads back field by field, file included', async () => {
    const file = new Uint8Array([0xff, 0xd8, 0xff, 0x00, 0x0d, 0x0a, 0x2d, 0x2d]);
    const { body, contentType, boundary } = buildMultipart(
      [
        { name: 'recipient', value: '6281234567890' },
        { name: 'message', value: 'Promo hari ini 🎉\r\nline two' },
        { name: 'payload', value: '{"campaign":"x"}' },
      ],
      { name: 'media', filename: 'promo "final".jpg', contentType: 'image/jpeg', data: file },
    );
    expect(contentType).toBe(`multipart/form-data; boundary=${boundary}`);
    expect(body.subarray(-(boundary.length + 6)).toString()).toBe(`--${boundary}--\r\n`);

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
    const { body, contentType } = buildMultipart([
      { name: 'recipient', value: '1' },
      { name: 'type', value: 'image' },
    ]);
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
