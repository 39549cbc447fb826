import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { demoEnv, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const MB = 1024 * 1024;
/** Per test: several CLI processes each, on a machine that may be loaded. */
const TEST_MS = 150_000;
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/media/${name}`, import.meta.url));

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

function envFor(emu: RunningEmulator) {
  return demoEnv(emu.url, { RK_RETRY_BASE_MS: '50' });
}

/** A campaign of `recipients` numbers sending `media` as `type`, with extra YAML lines. */
function mediaCampaign(dir: string, type: string, media: string, recipients: number, extra: string[] = []): string {
  writeInlineCampaign(dir, { id: 'media', recipients, prefix: '17', rate: 6000, extra: [`type: ${type}`, `media: ${media}`, ...extra] });
  return join(dir, 'campaigns', 'media.yaml');
}

/** A real file of `format` (its own header bytes first, so content detection sees it) padded to `size` bytes. */
function bigFile(path: string, format: 'jpeg' | 'pdf', size: number): void {
  writeFileSync(path, format === 'pdf' ? readFileSync(fixture('invoice.pdf')) : readFileSync(fixture('photo.jpg')));
  truncateSync(path, size); // sparse: no disk or time spent on the padding
}

describe('media size limits (item 7)', () => {
  it('validate and run refuse a 200 MB document (default limit 100 MB) with exit 2, naming file, size and limit, before any request', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const path = mediaCampaign(dir, 'document', 'brochure.pdf', 6);
    const file = join(dir, 'campaigns', 'brochure.pdf');
    bigFile(file, 'pdf', 200 * MB);
    const env = envFor(emulator);
    for (const command of [['validate', path], ['run', path, '--db', join(dir, 's.db'), '--no-sweep']]) {
      const r = await runCli(command, { cwd: dir, env });
      expect(r.code, r.stderr + r.stdout).toBe(2);
      const said = r.stderr + r.stdout;
      expect(said).toContain(`${file} is 200 MB (209,715,200 bytes); the limit for type "document" is 100 MB (104,857,600 bytes, the default)`);
      expect(said).toContain('media_max_size');
    }
    expect(emulator.stats().requests).toBe(0);
  }, TEST_MS);

  it('an image over 5 MB is refused; media_max_size raises the limit, and the file then goes out signed and streamed', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const file = join(dir, 'campaigns', 'poster.jpg');
    const env = envFor(emulator);
    let path = mediaCampaign(dir, 'image', 'poster.jpg', 3);
    bigFile(file, 'jpeg', 6 * MB);
    const refused = await runCli(['validate', path], { cwd: dir, env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${file} is 6 MB (6,291,456 bytes); the limit for type "image" is 5 MB (5,242,880 bytes, the default)`);

    path = mediaCampaign(dir, 'image', 'poster.jpg', 3, ['media_max_size: 8MB']);
    expect((await runCli(['validate', path], { cwd: dir, env })).code).toBe(0);
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    // The emulator checks every signature over exactly the bytes it received, and holds the whole file each time.
    const messages = emulator.messages();
    expect(messages).toHaveLength(3);
    for (const m of messages) expect(m.media).toEqual({ filename: 'poster.jpg', contentType: 'image/jpeg', size: 6 * MB });
    expect(emulator.stats().authRejected).toBe(0);

    // Below the new limit is fine; above it is refused with the configured limit named.
    path = mediaCampaign(dir, 'image', 'poster.jpg', 3, ['media_max_size: 5.5 MB']);
    const over = await runCli(['validate', path], { cwd: dir, env });
    expect(over.code).toBe(2);
    expect(over.stderr).toContain('the limit for type "image" is 5.5 MB (5,767,168 bytes, media_max_size)');
  }, TEST_MS);

  it('a media_max_size that is not a size is a campaign error naming the key, what was expected and what was found', async () => {
    emulator = await startEmulator({ port: 0 });
    const dir = tempDir();
    const path = mediaCampaign(dir, 'document', 'invoice.pdf', 1, ['media_max_size: lots']);
    writeFileSync(join(dir, 'campaigns', 'invoice.pdf'), readFileSync(fixture('invoice.pdf')));
    const r = await runCli(['validate', path], { cwd: dir, env: envFor(emulator) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/media_max_size: expected a size from 1KB to 2GB such as 20MB or 500KB \(1 MB = 1,048,576 bytes\), found "lots" \(line \d+\)/);
  }, TEST_MS);
});
