import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { runCli } from './helpers/cli.js';
import { emulatorEnv, hasStackTrace, writeInputCampaign } from './helpers/inputs.js';
import { tempDir } from './helpers/tmp.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function start(): Promise<RunningEmulator> {
  emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
  return emulator;
}

// Bytes written by hand, not by the decoder under test: Windows-1252 é = E9, ü = FC, – = 96, “ = 93, ” = 94,
// € = 80. The last four are where Windows-1252 differs from ISO-8859-1 (and where Node 20's TextDecoder is wrong).
const latin = (text: string): Buffer => Buffer.from(text, 'latin1');
const bytes = (...b: number[]): Buffer => Buffer.from(b);
const JOSE_ROW_1252 = Buffer.concat([latin('081234567890,Jos\xe9 M\xfcller,Rp 1.250.000 '), bytes(0x96), latin(' ok\r\n')]);
const SITI_ROW_1252 = Buffer.concat([latin('081234567891,Siti,'), bytes(0x93), latin('Promo'), bytes(0x94), latin(' 5'), bytes(0x80), latin('\r\n')]);
const EXPECTED = new Map([
  ['6281234567890', 'Halo José Müller: Rp 1.250.000 – ok'],
  ['6281234567891', 'Halo Siti: “Promo” 5€'],
]);

/** The Windows-1252 CSV, with `filler` plain rows before the two interesting ones (to push them past 64 KiB). */
function windows1252Csv(filler = 0): Buffer {
  const rows = Array.from({ length: filler }, (_, i) => `08129${String(i).padStart(7, '0')},Orang ${i},ok\r\n`).join('');
  return Buffer.concat([latin('phone,nama,note\r\n'), latin(rows), JOSE_ROW_1252, SITI_ROW_1252]);
}

/** Every message the emulator holds, by recipient; and none of them may hold U+FFFD. */
function sent(emu: RunningEmulator): Map<string, string> {
  const messages = emu.messages();
  expect(messages.filter((m) => (m.message ?? '').includes('\ufffd'))).toEqual([]);
  return new Map(messages.map((m) => [m.recipient, m.message ?? '']));
}

describe('recipient CSV encodings, end to end (validate, then run against the emulator)', () => {
  it('a Windows-1252 CSV with recipients.encoding: windows-1252 is sent as the right UTF-8 text', async () => {
    const emu = await start();
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: windows1252Csv(), recipients: ['encoding: windows-1252'] });
    const v = await runCli(['validate', path], { cwd: dir, env: emulatorEnv(emu) });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('Halo José Müller: Rp 1.250.000 – ok');
    expect(v.stdout).toContain('Halo Siti: “Promo” 5€');
    expect(v.stdout).not.toContain('\ufffd');
    const json = await runCli(['validate', path, '--json'], { cwd: dir, env: emulatorEnv(emu) });
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, encoding: 'windows-1252', encodingSource: 'declared', sendable: 2 });

    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: emulatorEnv(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect(sent(emu)).toEqual(EXPECTED);
  });

  it('the same file without the key is refused by validate and run (exit 2): file, line, column, an excerpt and the fix; nothing is sent', async () => {
    const emu = await start();
    const dir = tempDir();
    // 3,000 plain rows first: the bad bytes are past the first 64 KiB read, so `run` meets them in the plan worker.
    const path = writeInputCampaign(dir, { csv: windows1252Csv(3000) });
    const expected =
      'recipients.csv: line 3002, column 17: byte 0xE9 is not valid UTF-8, so the file is not UTF-8 text: ' +
      '"081234567890,Jos\\xe9 M\\xfcller,Rp 1.250.000 \\x96 ok" (read as Windows-1252: "081234567890,José Müller,Rp 1.250.000 – ok")';
    for (const args of [['validate', path], ['run', path, '--db', join(dir, 's.db'), '--no-sweep']]) {
      const r = await runCli(args, { cwd: dir, env: emulatorEnv(emu) });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(expected);
      expect(r.stderr).toContain('add `encoding: windows-1252` under recipients:');
      expect(r.stderr).toContain('"CSV UTF-8 (Comma delimited)"');
      expect(r.stdout).not.toContain('Looks good');
      expect(r.stderr + r.stdout).not.toContain('\ufffd');
      expect(hasStackTrace(r.stderr + r.stdout)).toBe(false);
    }
    expect(emu.messages()).toHaveLength(0);
  });

  it('Excel "Unicode text" (UTF-16LE with a byte-order mark, tab-delimited) is detected and sent as the right text', async () => {
    const emu = await start();
    const dir = tempDir();
    const text = 'phone\tnama\tnote\r\n081234567890\tJosé Müller\tRp 1.250.000 – ok\r\n081234567891\tSiti\t“Promo” 5€\r\n';
    const path = writeInputCampaign(dir, { csv: Buffer.concat([bytes(0xff, 0xfe), Buffer.from(text, 'utf16le')]) });
    const v = await runCli(['validate', path, '--json'], { cwd: dir, env: emulatorEnv(emu) });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const report = JSON.parse(v.stdout) as { previews: { text: string }[] };
    expect(report).toMatchObject({ encoding: 'utf-16le', encodingSource: 'bom', delimiter: '\t', delimiterDetected: true, columns: ['phone', 'nama', 'note'] });
    expect(report.previews.map((p) => p.text)).toEqual([...EXPECTED.values()]);

    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: emulatorEnv(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect(sent(emu)).toEqual(EXPECTED);
  });

  it('suppression lists saved by the same spreadsheet (Windows-1252 "CSV", UTF-16 "Unicode text") suppress their numbers', async () => {
    const emu = await start();
    const dir = tempDir();
    const csv = 'phone,nama,note\n081234567890,Budi,a\n081234567891,Siti,b\n081234567892,Dewi,c\n';
    const path = writeInputCampaign(dir, { csv, extra: ['suppress: [optout-1252.csv, optout-16.csv]'] });
    writeFileSync(join(dir, 'campaigns', 'optout-1252.csv'), Buffer.concat([latin('phone;nama\r\n0812-3456-7891;Jos\xe9 '), bytes(0x96), latin(' M\xfcller\r\n')]));
    const unicodeText = 'phone\tnama\r\n0812 3456 7892\tMüller\r\n';
    writeFileSync(join(dir, 'campaigns', 'optout-16.csv'), Buffer.concat([bytes(0xff, 0xfe), Buffer.from(unicodeText, 'utf16le')]));
    const v = await runCli(['validate', path], { cwd: dir, env: emulatorEnv(emu) });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('sendable 1 · invalid 0 · duplicate 0 · suppressed 2');
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: emulatorEnv(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect([...sent(emu).keys()]).toEqual(['6281234567890']);
  });

  it('a row whose text already holds U+FFFD (characters lost before the file was saved) is invalid and never sent', async () => {
    const emu = await start();
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: 'phone,nama,note\n081234567890,Jos\ufffd M\ufffdller,a\n081234567891,Siti,b\n' });
    const v = await runCli(['validate', path], { cwd: dir, env: emulatorEnv(emu) });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('sendable 1 · invalid 1');
    expect(v.stdout).toContain('line 2 (081234567890): column "nama" holds the replacement character');
    const r = await runCli(['run', path, '--db', join(dir, 's.db'), '--no-sweep'], { cwd: dir, env: emulatorEnv(emu) });
    expect(r.code, r.stderr).toBe(0);
    expect(sent(emu)).toEqual(new Map([['6281234567891', 'Halo Siti: b']]));
  });

  it('a wrong recipients.encoding is a schema error naming the key, what is expected and what was found', async () => {
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: 'phone,nama,note\n081234567890,Budi,a\n', recipients: ['encoding: cp850'] });
    const v = await runCli(['validate', path], { cwd: dir, env: { PATH: process.env.PATH } });
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(
      'recipients.encoding: expected utf-8, windows-1252 (also latin1, iso-8859-1, cp1252), utf-16le or utf-16be (or no encoding key: a byte-order mark, else UTF-8), found "cp850" (line 5)',
    );
  });

  it('declaring windows-1252 for a file that is really UTF-8 is refused, showing both readings, instead of sending "JosÃ©"', async () => {
    const emu = await start();
    const dir = tempDir();
    const path = writeInputCampaign(dir, { csv: 'phone,nama,note\n081234567890,José Müller,ok\n', recipients: ['encoding: windows-1252'] });
    for (const args of [['validate', path], ['run', path, '--db', join(dir, 's.db'), '--no-sweep']]) {
      const r = await runCli(args, { cwd: dir, env: emulatorEnv(emu) });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        'recipients.csv: line 2: recipients.encoding is windows-1252 but the file is UTF-8 text: the line reads "081234567890,José Müller,ok" as UTF-8 and "081234567890,JosÃ© MÃ¼ller,ok" as Windows-1252',
      );
      expect(r.stderr).toContain('Remove encoding: windows-1252');
    }
    expect(emu.messages()).toHaveLength(0);
  });
});

describe('template files are UTF-8 or refused', () => {
  it('a template saved as Windows-1252 is refused by validate with its line, not sent with replacement characters', async () => {
    const dir = tempDir();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'campaigns'), { recursive: true });
    writeFileSync(join(dir, 'campaigns', 'r.csv'), 'phone,nama\n081234567890,Budi\n');
    writeFileSync(join(dir, 'campaigns', 'msg.hbs'), Buffer.concat([latin('Halo {{nama}}!\n'), latin('Caf\xe9 buka '), bytes(0x96), latin(' 08.00\n')]));
    writeFileSync(
      join(dir, 'campaigns', 't.yaml'),
      ['id: tpl-1252', 'device: RK-DEMO', 'recipients: { file: r.csv }', 'template: msg.hbs'].join('\n') + '\n',
    );
    const r = await runCli(['validate', join(dir, 'campaigns', 't.yaml')], { cwd: dir, env: { PATH: process.env.PATH, NO_COLOR: '1', RK_API_KEY: 'k', RK_API_SECRET: 'secret-value' } });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('msg.hbs: line 2: the template is not UTF-8 text');
    expect(r.stderr).toContain('Save the template as UTF-8');
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
