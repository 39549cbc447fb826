import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ReportRow } from '../src/store/types.js';
import { demoEnv, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

/** Per test: several CLI processes each, on a machine that may be loaded. */
const TEST_MS = 150_000;
const PDF = readFileSync(fileURLToPath(new URL('./fixtures/media/invoice.pdf', import.meta.url)));
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

function envFor(emu: RunningEmulator) {
  return demoEnv(emu.url, { RK_RETRY_BASE_MS: '50' });
}

/** A real PDF whose bytes differ per customer (the fixture, then a comment naming the customer). */
function invoice(customer: string): Buffer {
  return Buffer.concat([PDF, Buffer.from(`%customer ${customer}\n`)]);
}

const phoneOf = (i: number): string => `62812${String(3_000_000 + i).padStart(7, '0')}`;

/**
 * A document campaign of `rows` recipients, each with its own invoices/C<i>.pdf. C10 is missing, C20 is a text file
 * named .pdf, C30 is over the 2 KB media_max_size. Returns the campaign path and each sendable row's file bytes.
 */
function documentCampaign(dir: string, rows: number, extra: string[] = []): { path: string; files: Map<string, Buffer> } {
  mkdirSync(join(dir, 'invoices'), { recursive: true });
  const files = new Map<string, Buffer>();
  const csv = ['phone,customer_id,nama'];
  for (let i = 1; i <= rows; i++) {
    const id = `C${i}`;
    csv.push(`+${phoneOf(i)},${id},Pelanggan ${i}`);
    if (i === 10) continue; // missing
    if (i === 20) {
      writeFileSync(join(dir, 'invoices', `${id}.pdf`), 'this is not a PDF, only named like one\n');
      continue;
    }
    const bytes = i === 30 ? Buffer.concat([invoice(id), Buffer.alloc(3000, 0x20)]) : invoice(id);
    writeFileSync(join(dir, 'invoices', `${id}.pdf`), bytes);
    if (i !== 30) files.set(phoneOf(i), bytes);
  }
  writeFileSync(join(dir, 'r.csv'), csv.join('\n') + '\n');
  writeFileSync(
    join(dir, 'c.yaml'),
    [
      'id: invoices',
      'device: RK-DEMO',
      'recipients:',
      '  file: r.csv',
      'message: "Halo {{nama}}, tagihan Anda terlampir."',
      'type: document',
      'media: "invoices/{{customer_id}}.pdf"',
      'media_max_size: 2KB',
      'rate_per_minute: 6000',
      ...extra,
    ].join('\n') + '\n',
  );
  return { path: join(dir, 'c.yaml'), files };
}

async function reportRows(db: string, campaignId: string): Promise<ReportRow[]> {
  const store = new SqliteStore(db);
  try {
    const rows: ReportRow[] = [];
    for await (const r of store.reportRows(campaignId)) rows.push(r);
    return rows;
  } finally {
    await store.close();
  }
}

describe('per-recipient documents (issue 11)', () => {
  it('50 rows each with its own PDF: the missing, the text and the oversized file are invalid naming the file; each recipient gets its own bytes', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path, files } = documentCampaign(dir, 50);
    const env = envFor(emulator);
    const db = join(dir, 's.db');

    const validate = await runCli(['validate', path], { cwd: dir, env });
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain('sendable 47 · invalid 3');
    expect(validate.stdout).toContain('line 11: media file invoices/C10.pdf: no such file');
    expect(validate.stdout).toContain('attaches: invoices/C1.pdf');

    const r = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const rows = await reportRows(db, 'invoices');
    const invalid = rows.filter((row) => row.state === 'invalid');
    expect(invalid.map((row) => row.line)).toEqual([11, 21, 31]);
    expect(invalid[0]!.errorMessage).toBe('media file invoices/C10.pdf: no such file');
    expect(invalid[1]!.errorMessage).toMatch(/^media file invoices\/C20\.pdf is not a recognisable media file/);
    expect(invalid[2]!.errorMessage).toMatch(/^media file invoices\/C30\.pdf is 3\.\d KB \([\d,]+ bytes\); the limit for type "document" is 2 KB \(2,048 bytes, media_max_size\)$/);
    // Each sendable row records its own file and hash.
    const accepted = rows.filter((row) => row.state === 'accepted');
    expect(accepted).toHaveLength(47);
    for (const row of accepted) {
      expect(row.mediaFile).toBe(`invoices/${row.fields.customer_id}.pdf`);
      expect(row.mediaSha256).toBe(sha(files.get(row.phone!)!));
    }
    // The emulator received each recipient's own bytes, once.
    const messages = emulator.messages();
    expect(messages).toHaveLength(47);
    for (const m of messages) expect(m.mediaSha256, m.recipient).toBe(sha(files.get(m.recipient)!));
    expect(new Set(messages.map((m) => m.mediaSha256)).size).toBe(47);

    // Reports: media_file and media_sha256 columns (CSV, JSON), no variant column.
    const csv = await runCli(['report', path, '--db', db, '--format', 'csv'], { cwd: dir, env });
    expect(csv.code, csv.stderr).toBe(0);
    const [header, second] = csv.stdout.split('\r\n');
    expect(header!.split(',').slice(-2)).toEqual(['media_file', 'media_sha256']);
    expect(second!.split(',').slice(-2)).toEqual(['invoices/C1.pdf', sha(files.get(phoneOf(1))!)]);
    const json = await runCli(['report', path, '--db', db, '--format', 'json'], { cwd: dir, env });
    const jsonRows = (JSON.parse(json.stdout) as { rows: Record<string, unknown>[] }).rows;
    expect(jsonRows[0]).toMatchObject({ media_file: 'invoices/C1.pdf', media_sha256: sha(files.get(phoneOf(1))!) });
    expect(jsonRows[0]).not.toHaveProperty('variant');
  }, TEST_MS);

  it('a file changed after planning stops the run with exit 5 naming it; --replan sends the new bytes', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const dir = tempDir();
    const { path, files } = documentCampaign(dir, 12);
    const env = envFor(emulator);
    const db = join(dir, 's.db');
    const planned = await runCli(['run', path, '--db', db, '--dry-run', '--no-sweep'], { cwd: dir, env });
    expect(planned.code, planned.stderr + planned.stdout).toBe(0);
    expect(emulator.messages()).toHaveLength(0);

    // The fifth customer's invoice is exported again, with other bytes (same name, same size class, still a PDF).
    const changed = Buffer.concat([invoice('C5'), Buffer.from('%corrected\n')]);
    writeFileSync(join(dir, 'invoices', 'C5.pdf'), changed);
    const stopped = await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env });
    expect(stopped.code, stopped.stderr + stopped.stdout).toBe(5);
    expect(stopped.stderr).toContain('invoices/C5.pdf (line 6) changed after planning');
    expect(stopped.stderr).toContain('--replan');
    // Never sent with the old plan: nobody got the changed file's row, nobody got other bytes than planned.
    expect(emulator.messages().map((m) => m.recipient)).not.toContain(phoneOf(5));
    for (const m of emulator.messages()) expect(m.mediaSha256).toBe(sha(files.get(m.recipient)!));

    // A plain rerun stops again (still not the planned bytes); --replan accepts the change.
    expect((await runCli(['run', path, '--db', db, '--no-sweep'], { cwd: dir, env })).code).toBe(5);
    const replanned = await runCli(['run', path, '--db', db, '--replan', '--no-sweep'], { cwd: dir, env });
    expect(replanned.code, replanned.stderr + replanned.stdout).toBe(0);
    const messages = emulator.messages();
    const byRecipient = new Map(messages.map((m) => [m.recipient, m]));
    expect(messages).toHaveLength(11); // 12 rows, C10 missing, each sent once
    expect(byRecipient.size).toBe(11);
    expect(byRecipient.get(phoneOf(5))!.mediaSha256).toBe(sha(changed));
    const rows = await reportRows(db, 'invoices');
    expect(rows.find((row) => row.line === 6)!.mediaSha256).toBe(sha(changed));
  }, TEST_MS);

  it('refuses paths outside the campaign folder (.., absolute, symlink) unless media_outside_folder: true', async () => {
    emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    const root = tempDir();
    const dir = join(root, 'campaign');
    mkdirSync(join(dir, 'invoices'), { recursive: true });
    writeFileSync(join(root, 'outside.pdf'), invoice('X'));
    symlinkSync(join(root, 'outside.pdf'), join(dir, 'invoices', 'link.pdf'));
    writeFileSync(join(dir, 'invoices', 'inside.pdf'), invoice('I'));
    mkdirSync(join(dir, 'invoices', 'folder.pdf'));
    execFileSync('mkfifo', [join(dir, 'invoices', 'pipe.pdf')]);
    const csv = [
      'phone,file',
      `+${phoneOf(1)},invoices/inside.pdf`,
      `+${phoneOf(2)},../outside.pdf`,
      `+${phoneOf(3)},${join(root, 'outside.pdf')}`,
      `+${phoneOf(4)},invoices/link.pdf`,
      `+${phoneOf(5)},invoices/folder.pdf`,
      `+${phoneOf(6)},invoices/pipe.pdf`,
    ];
    writeFileSync(join(dir, 'r.csv'), csv.join('\n') + '\n');
    const yaml = (extra: string) =>
      `id: outside\ndevice: RK-DEMO\nrecipients:\n  file: r.csv\nmessage: "Tagihan"\ntype: document\nmedia: "{{file}}"\n${extra}`;
    writeFileSync(join(dir, 'c.yaml'), yaml(''));
    const env = envFor(emulator);
    const refused = await runCli(['validate', join(dir, 'c.yaml'), '--json'], { cwd: dir, env });
    const report = JSON.parse(refused.stdout) as { sendable: number; mediaInvalidSamples: { line: number; reason: string }[] };
    expect(report.sendable).toBe(1);
    expect(report.mediaInvalidSamples.map((s) => s.line)).toEqual([3, 4, 5, 6, 7]);
    for (const s of report.mediaInvalidSamples.slice(0, 3)) expect(s.reason).toContain('media_outside_folder: true');
    expect(report.mediaInvalidSamples[2]!.reason).toContain('is a link to');
    // Never opened: a directory or a FIFO (reading a FIFO would hang the plan).
    expect(report.mediaInvalidSamples[3]!.reason).toBe('media file invoices/folder.pdf is a directory, not a file');
    expect(report.mediaInvalidSamples[4]!.reason).toBe('media file invoices/pipe.pdf is a FIFO (named pipe), not a file');

    writeFileSync(join(dir, 'c.yaml'), yaml('media_outside_folder: true\n'));
    const allowed = await runCli(['validate', join(dir, 'c.yaml'), '--json'], { cwd: dir, env });
    expect((JSON.parse(allowed.stdout) as { sendable: number }).sendable).toBe(4); // the folder and the FIFO stay invalid

    // The key only goes with a per-row media path; the error names it.
    writeFileSync(join(dir, 'c.yaml'), yaml('media_outside_folder: true\n').replace('"{{file}}"', 'invoices/inside.pdf'));
    const misplaced = await runCli(['validate', join(dir, 'c.yaml')], { cwd: dir, env });
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('media_outside_folder: expected only with a per-recipient media path');
  }, TEST_MS);
});
