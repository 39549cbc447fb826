import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'rk-broadcast.js');
const media = (name: string) => fileURLToPath(new URL(`./fixtures/media/${name}`, import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let cwd: string;
let emu: RunningEmulator;

/** Runs the real CLI as a child process (asynchronously: the emulator lives in this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      {
        cwd,
        env: {
          PATH: process.env.PATH ?? '',
          RK_BASE_URL: emu.url,
          RK_API_KEY: DEMO_PROJECT.apiKey,
          RK_API_SECRET: DEMO_PROJECT.apiSecret,
          ...env,
        },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  // dist/ is built once by test/global-setup.ts; rebuilding here would race with other files running the CLI.
  expect(existsSync(join(root, 'dist', 'cli', 'commands', 'send.js'))).toBe(true);
  cwd = await mkdtemp(join(tmpdir(), 'rk-cli-send-'));
});

afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

afterEach(async () => {
  await emu?.close();
});

async function freshEmulator(options: Parameters<typeof startEmulator>[0] = {}): Promise<RunningEmulator> {
  emu = await startEmulator({ port: 0, ...options });
  return emu;
}

describe('rk-broadcast send (child process against the emulator)', () => {
  it('sends a text message, prints a UUID the emulator holds, and the request id it used', async () => {
    await freshEmulator();
    const result = await cli(['send', '--device', 'RK-DEMO', '--to', '+62 812-3456-7890', '--message', 'Tes perangkat']);
    expect(result.code).toBe(0);
    const uuid = result.stdout.trim();
    expect(uuid).toMatch(UUID);
    const [message, ...others] = emu.messages();
    expect(others).toHaveLength(0);
    expect(message).toMatchObject({ id: uuid, recipient: '6281234567890', message: 'Tes perangkat', type: 'text' });
    expect(message!.requestId).toMatch(UUID);
    expect(result.stderr).toContain(`request id ${message!.requestId}`);
  });

  it('with --json prints one object; a repeated --request-id returns the same UUID', async () => {
    await freshEmulator();
    const args = ['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'hi', '--payload', '{"campaign":"smoke"}', '--request-id', 'smoke-1', '--json'];
    const first = await cli(args);
    const second = await cli(args);
    expect([first.code, second.code]).toEqual([0, 0]);
    const a = JSON.parse(first.stdout) as { ok: boolean; id: string; requestId: string; status: string };
    const b = JSON.parse(second.stdout) as { id: string };
    expect(a).toMatchObject({ ok: true, requestId: 'smoke-1', status: 'queued', device: 'RK-DEMO' });
    expect(b.id).toBe(a.id);
    expect(emu.messages()).toEqual([expect.objectContaining({ id: a.id, payload: { campaign: 'smoke' }, replays: 1 })]);
  });

  it('sends an image with a caption from --media', async () => {
    await freshEmulator();
    const result = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--type', 'image', '--media', media('pixel.png'), '--message', 'Promo']);
    expect(result.code).toBe(0);
    expect(emu.messages()[0]).toMatchObject({ id: result.stdout.trim(), type: 'image', message: 'Promo', media: { contentType: 'image/png', filename: 'pixel.png' } });
  });

  it('fails with exit 3, the code and the hint for a wrong secret, never printing the secret', async () => {
    await freshEmulator();
    const wrong = 'wrong-secret-7f3a9c';
    const human = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x'], { RK_API_SECRET: wrong });
    expect(human.code).toBe(3);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain('INVALID_SIGNATURE');
    expect(human.stderr).toMatch(/hint: Check RK_API_SECRET/);
    expect(human.stderr + human.stdout).not.toContain(wrong);

    const json = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x', '--json'], { RK_API_SECRET: wrong });
    expect(json.code).toBe(3);
    const out = JSON.parse(json.stdout) as { ok: boolean; error: { kind: string; code: string; message: string; hint: string } };
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ kind: 'auth', code: 'INVALID_SIGNATURE' });
    expect(out.error.hint).toMatch(/RK_API_SECRET/);
    expect(emu.messages()).toHaveLength(0);
  });

  it('maps quota to exit 4, a device the project does not have to 13, and a 5xx to 1 with the request id to retry with', async () => {
    await freshEmulator();
    emu.setQuota(DEMO_PROJECT.apiKey, 0);
    const quota = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x']);
    expect(quota.code).toBe(4);
    expect(quota.stderr).toContain('QUOTA_EXCEEDED');

    emu.setQuota(DEMO_PROJECT.apiKey, 100);
    const badDevice = await cli(['send', '--device', 'RK-NOT-MINE', '--to', '6281234567890', '--message', 'x']);
    expect(badDevice.code).toBe(13);
    expect(badDevice.stderr).toMatch(/code: INVALID_DEVICE/);

    emu.setFaults({ serverErrorRate: 1 });
    const server = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x', '--request-id', 'retry-me']);
    expect(server.code).toBe(1);
    expect(server.stderr).toContain('--request-id retry-me');
    expect(emu.messages()).toHaveLength(0);
  });

  it('rejects bad input with exit 2 before any request: a GIF named .jpg, bad JSON, a missing --media', async () => {
    await freshEmulator();
    const gif = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--type', 'image', '--media', media('gif-named.jpg')]);
    expect(gif.code).toBe(2);
    expect(gif.stderr).toContain('gif-named.jpg is a GIF image (image/gif); RK Connect accepts jpeg, png or webp for type "image".');

    const payload = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x', '--payload', '{nope']);
    expect(payload.code).toBe(2);
    expect(payload.stderr).toMatch(/--payload is not valid JSON/);

    const noMedia = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--type', 'video']);
    expect(noMedia.code).toBe(2);
    expect(noMedia.stderr).toMatch(/needs a file/);

    expect(emu.stats().requests).toBe(0);
  });

  it('exits 2 with the variable names when credentials are missing, and redacts the secret from config errors', async () => {
    await freshEmulator();
    const missing = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x'], { RK_API_SECRET: '' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/RK_API_SECRET/);

    const secret = 'leaky-secret-value-42';
    const leaky = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x'], {
      RK_API_SECRET: secret,
      RK_BASE_URL: `not a url ${secret}`,
    });
    expect(leaky.code).toBe(2);
    expect(leaky.stderr).toContain('[REDACTED]');
    expect(leaky.stderr).not.toContain(secret);
  });
});

describe('rk-broadcast message-status (child process against the emulator)', () => {
  it('prints the status of a sent message, and exits 1 with a clear hint for an unknown UUID', async () => {
    await freshEmulator({ lifecycle: { queuedToSentMs: 60_000 } });
    const sent = await cli(['send', '--device', 'RK-DEMO', '--to', '6281234567890', '--message', 'x']);
    const uuid = sent.stdout.trim();

    const human = await cli(['message-status', uuid]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^status:\s+queued$/m);
    expect(human.stdout).toMatch(/^recipient:\s+6281234567890$/m);
    expect(human.stdout).toMatch(/^device:\s+RK-DEMO$/m);

    const json = await cli(['message-status', uuid, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, id: uuid, status: 'queued', deviceCode: 'RK-DEMO', errorMessage: null });

    const unknown = await cli(['message-status', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No such message in this project');
    expect(unknown.stderr).toMatch(/code: MESSAGE_NOT_FOUND/);
  });
});
