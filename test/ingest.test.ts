import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  countDataRows,
  detectDelimiter,
  IngestError,
  inspectRecipientCsv,
  readRecipientRows,
  type CsvHeader,
  type RecipientCsvOptions,
  type RecipientRow,
} from '../src/ingest/csv.js';
import { normalisePhone } from '../src/ingest/phone.js';
import { loadSuppression } from '../src/ingest/suppression.js';
import { compileMessageTemplate } from '../src/render/template.js';

const BAD = join(import.meta.dirname, 'fixtures', 'bad-input');
const bad = (name: string): string => join(BAD, name);
const tmp = mkdtempSync(join(tmpdir(), 'rk-ingest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function readAll(options: Omit<RecipientCsvOptions, 'phoneColumn'> & { phoneColumn?: string }): Promise<{ rows: RecipientRow[]; header: CsvHeader | undefined }> {
  const rows: RecipientRow[] = [];
  let header: CsvHeader | undefined;
  for await (const row of readRecipientRows({ phoneColumn: 'phone', ...options, onHeader: (h) => (header = h) })) rows.push(row);
  return { rows, header };
}

async function ingestError(options: Omit<RecipientCsvOptions, 'phoneColumn'> & { phoneColumn?: string }): Promise<IngestError> {
  try {
    await readAll(options);
  } catch (err) {
    expect(err).toBeInstanceOf(IngestError);
    return err as IngestError;
  }
  throw new Error('expected an IngestError');
}

function ok(row: RecipientRow | undefined) {
  if (!row?.ok) throw new Error(`expected a usable row, got ${JSON.stringify(row)}`);
  return row;
}

describe('normalisePhone', () => {
  it('turns the usual Indonesian spellings into the API form', () => {
    for (const raw of ['0812-3456-7890', '+62 812 3456 7890', '62812 3456 7890', '6281234567890', '(0812) 3456.7890', '0062 812 3456 7890', ' 0812 3456 7890 ']) {
      expect(normalisePhone(raw, 'ID'), raw).toEqual({ ok: true, phone: '6281234567890' });
    }
  });

  it('reads international digits without + as international (MY, SG), whatever the default country', () => {
    expect(normalisePhone('60123456789', 'ID')).toEqual({ ok: true, phone: '60123456789' });
    expect(normalisePhone('6591234567', 'ID')).toEqual({ ok: true, phone: '6591234567' });
    expect(normalisePhone('+60 12-345 6789', 'ID')).toEqual({ ok: true, phone: '60123456789' });
    expect(normalisePhone('012-345 6789', 'MY')).toEqual({ ok: true, phone: '60123456789' });
  });

  it('recovers a number whose leading 0 a spreadsheet dropped, preferring the mobile reading', () => {
    // +81 234567890 would be a Japanese landline; 0812 3456 7890 is an Indonesian mobile.
    expect(normalisePhone('81234567890', 'ID')).toEqual({ ok: true, phone: '6281234567890' });
  });

  it('refuses a number that is a valid mobile in two countries instead of guessing', () => {
    const r = normalisePhone('819012345678', 'ID');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe('ambiguous phone number "819012345678": it could be +819012345678 (JP) or +62819012345678 (ID); write it with + and the country code, or with the leading 0');
  });

  it('gives human reasons for what is not a number', () => {
    const reason = (raw: string): string => {
      const r = normalisePhone(raw, 'ID');
      if (r.ok) throw new Error(`expected ${raw} to be invalid`);
      return r.reason;
    };
    expect(reason('')).toBe('empty phone number');
    expect(reason('   ')).toBe('empty phone number');
    expect(reason('0812')).toBe('not a valid ID phone number: "0812" (too short)');
    expect(reason('0812-ABCD-7890')).toMatch(/^not a phone number: "0812-ABCD-7890"/);
    expect(reason('6.28123E+12')).toMatch(/scientific notation; format the phone column as text/);
    expect(reason('+99 123 456 789')).toMatch(/^not a valid phone number: "\+99 123 456 789"/);
    expect(reason('0812-3456-7890-1234')).toMatch(/^not a valid ID phone number: "0812-3456-7890-1234"/);
  });
});

describe('isPhoneCountry (from the metadata file, without the phone library)', () => {
  it('agrees with libphonenumber on every two-letter code and refuses what is not one', async () => {
    const { isSupportedCountry } = await import('libphonenumber-js/max');
    const { isPhoneCountry } = await import('../src/ingest/countries.js');
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    let known = 0;
    for (const a of letters) {
      for (const b of letters) {
        expect(isPhoneCountry(a + b), a + b).toBe(isSupportedCountry(a + b));
        if (isPhoneCountry(a + b)) known++;
      }
    }
    expect(known).toBeGreaterThan(200);
    for (const odd of ['', 'id', '001', 'IDN', '__proto__', 'constructor', 'hasOwnProperty']) expect(isPhoneCountry(odd), odd).toBe(false);
  });
});

describe('readRecipientRows', () => {
  it('reads the shipped demo CSV: 25 rows with their line numbers and a quoted comma', async () => {
    const { rows, header } = await readAll({ file: join(import.meta.dirname, '..', 'campaigns', 'demo.csv') });
    expect(header).toMatchObject({ delimiter: ',', delimiterDetected: true, phoneColumnIndex: 0, line: 1 });
    expect(header?.columns).toEqual(['phone', 'nama', 'panggilan', 'kota', 'customer_id', 'total', 'jatuh_tempo']);
    expect(rows).toHaveLength(25);
    expect(rows.every((r) => r.ok)).toBe(true);
    expect(rows.map((r) => r.line)).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
    expect(ok(rows[4]).fields.kota).toBe('Semarang, Jawa Tengah');
    expect(ok(rows[0]).rawPhone).toBe('0812-3456-7890');
    expect(await countDataRows(join(import.meta.dirname, '..', 'campaigns', 'demo.csv'))).toBe(25);
  });

  it('detects a semicolon delimiter from the header', async () => {
    expect(detectDelimiter('nama;phone;kota')).toBe(';');
    expect(detectDelimiter('"a;b",phone,kota')).toBe(',');
    const { rows, header } = await readAll({ file: bad('wrong-delimiter.csv') });
    expect(header).toMatchObject({ delimiter: ';', delimiterDetected: true, columns: ['nama', 'phone', 'kota'] });
    expect(ok(rows[1]).fields).toEqual({ nama: 'Siti', phone: '+62 813 2233 4455', kota: 'Jakarta' });
  });

  it('streams a large file row by row without reading it whole', async () => {
    const file = join(tmp, 'large.csv');
    const lines = ['phone,nama'];
    for (let i = 0; i < 20_000; i++) lines.push(`0812${String(10_000_000 + i)},Nama ${i}`);
    writeFileSync(file, lines.join('\n'));
    let count = 0;
    let last: RecipientRow | undefined;
    for await (const row of readRecipientRows({ file, phoneColumn: 'phone' })) {
      count++;
      last = row;
    }
    expect(count).toBe(20_000);
    expect(last?.line).toBe(20_001);
  });
});

describe('bad-input corpus: every case gives a clear per-file or per-row error, nothing crashes', () => {
  it('wrong delimiter: the header splits into one column, the error suggests the other delimiter', async () => {
    const e = await ingestError({ file: bad('wrong-delimiter.csv'), delimiter: ',' });
    expect(e.message).toBe('recipients.phone_column is "phone" but the header of wrong-delimiter.csv has: nama;phone;kota — set phone_column to one of them');
    expect(e.hint).toBe('recipients.delimiter is "," but the header looks separated by ";": set delimiter to ";" or remove it to detect it.');
    expect(e.line).toBe(1);
    expect(e.file).toBe(bad('wrong-delimiter.csv'));
  });

  it('a separator other than comma or semicolon: the hint says so', async () => {
    const file = join(tmp, 'pipes.csv');
    writeFileSync(file, 'nama|phone\nBudi|0812-3456-7890\n');
    const e = await ingestError({ file });
    expect(e.message).toBe('recipients.phone_column is "phone" but the header of pipes.csv has: nama|phone — set phone_column to one of them');
    expect(e.hint).toContain('the file seems to use another separator');
  });

  it('BOM: stripped, so the first column is "phone"', async () => {
    expect(readFileSync(bad('bom.csv'))[0]).toBe(0xef); // precondition: the fixture has its BOM
    const { rows, header } = await readAll({ file: bad('bom.csv') });
    expect(header?.columns).toEqual(['phone', 'nama']);
    expect(ok(rows[0]).rawPhone).toBe('0812-3456-7890');
  });

  it('unbalanced quotes: a file-level error naming the line where the broken row starts', async () => {
    const e = await ingestError({ file: bad('unbalanced-quotes.csv') });
    expect(e.line).toBe(4);
    expect(e.message).toBe(
      'unbalanced-quotes.csv: line 4: a quoted field opens in the row starting here and is never closed (the file ends inside quotes at line 5)',
    );
    expect(e.hint).toContain('""');
  });

  it('empty and blank lines are skipped and later rows keep their physical line numbers', async () => {
    const { rows } = await readAll({ file: bad('empty-lines.csv') });
    expect(rows.map((r) => [r.line, r.ok && r.fields.nama])).toEqual([
      [3, 'Budi'],
      [6, 'Siti'],
      [8, 'Dewi'],
    ]);
  });

  it('missing phone column: names the setting, the file and the columns it has', async () => {
    const e = await ingestError({ file: bad('missing-phone-column.csv') });
    expect(e.message).toBe('recipients.phone_column is "phone" but the header of missing-phone-column.csv has: nama, no_hp, kota — set phone_column to one of them');
    expect(e.column).toBe('phone');
    const ok2 = await readAll({ file: bad('missing-phone-column.csv'), phoneColumn: 'no_hp' });
    expect(ok(ok2.rows[0]).rawPhone).toBe('0812-3456-7890');
  });

  it('invalid numbers: each row keeps its line and gets a human reason', async () => {
    const { rows } = await readAll({ file: bad('invalid-numbers.csv') });
    const results = rows.map((r) => {
      const row = ok(r);
      const n = normalisePhone(row.rawPhone, 'ID');
      return [row.line, n.ok ? n.phone : n.reason];
    });
    expect(results[0]).toEqual([2, 'not a valid ID phone number: "0812" (too short)']);
    expect(results[1]).toEqual([3, 'empty phone number']);
    expect(results[2]![1]).toMatch(/^not a phone number: "0812-ABCD-7890"/);
    expect(results[3]![1]).toMatch(/scientific notation/);
    expect(results[4]![1]).toMatch(/^not a valid phone number: "\+99 123 456 789"/);
    expect(results[5]).toEqual([7, '6281234567890']);
  });

  it('missing template variable: the empty row is invalid naming the variable; a missing column is found up front', async () => {
    const { rows, header } = await readAll({ file: bad('missing-variable.csv') });
    const template = compileMessageTemplate('Halo {{nama}} dari {{kota}}', { name: 'promo.hbs', type: 'text' });
    expect(template.render(ok(rows[0]).fields)).toEqual({ ok: true, text: 'Halo Budi dari Bandung' });
    const second = template.render(ok(rows[1]).fields);
    expect(second).toEqual({ ok: false, reason: 'missing value for {{kota}}', variable: 'kota' });
    expect(rows[1]?.line).toBe(3);
    const other = compileMessageTemplate('Halo {{nama}}, {{total}}', { name: 'promo.hbs', type: 'text' });
    expect(other.missingColumns(header!.columns)).toEqual({ required: ['total'], optional: [] });
  });

  it('oversized field: a file-level error naming the line and the column', async () => {
    const e = await ingestError({ file: bad('oversized-field.csv'), maxFieldBytes: 1024 });
    expect(e.message).toBe('oversized-field.csv: line 3: the field in column "catatan" is 2,000 bytes, over the limit of 1 KiB');
    expect(e.line).toBe(3);
    expect(e.column).toBe('catatan');
    // The default limit (64 KiB) accepts it.
    expect((await readAll({ file: bad('oversized-field.csv') })).rows).toHaveLength(2);
  });

  it('duplicate header: names the column and both positions', async () => {
    const e = await ingestError({ file: bad('duplicate-header.csv') });
    expect(e.message).toBe('duplicate-header.csv: line 1: the header names column "nama" twice (columns 2 and 3)');
    expect(e.column).toBe('nama');
  });

  it('an empty header name is refused with its position', async () => {
    const e = await ingestError({ file: bad('empty-header-name.csv') });
    expect(e.message).toBe('empty-header-name.csv: line 1: column 2 of the header has no name');
  });

  it('CRLF: rows read without stray carriage returns, line numbers right', async () => {
    expect(readFileSync(bad('crlf.csv'), 'latin1')).toContain('\r\n'); // precondition: the fixture kept its CRLF
    const { rows } = await readAll({ file: bad('crlf.csv') });
    expect(rows.map((r) => [r.line, ok(r).fields.kota])).toEqual([
      [2, 'Bandung'],
      [4, 'Jakarta'],
    ]);
  });

  it('quoted newlines (LF and CRLF inside quotes): kept in the field, and the next rows keep their line numbers', async () => {
    const { rows } = await readAll({ file: bad('quoted-newlines.csv') });
    expect(rows.map((r) => r.line)).toEqual([2, 4, 7]);
    expect(ok(rows[0]).fields.alamat).toBe('Jl. Merdeka 5,\nBandung');
    expect(ok(rows[1]).fields.alamat).toBe('Baris 1\r\nBaris 2\r\nBaris 3');
    expect(ok(rows[2]).fields.nama).toBe('Dewi');
  });

  it('wrong field count: an error row with the line, counts and a hint; the file goes on', async () => {
    const { rows } = await readAll({ file: bad('wrong-field-count.csv') });
    expect(rows).toHaveLength(17);
    const [tooMany, tooFew] = rows.slice(-2);
    expect(tooMany).toEqual({
      ok: false,
      line: 17,
      error: 'expected 4 fields as in the header, found 6 — check the delimiter or quotes',
      fields: { phone: '0813-2233-4455', nama: 'Siti', kota: 'Jakarta', total: '1000' },
      rawPhone: '0813-2233-4455',
    });
    expect(tooFew).toMatchObject({ ok: false, line: 18, error: 'expected 4 fields as in the header, found 2 — check the delimiter or quotes' });
    expect(rows.slice(0, 15).every((r) => r.ok)).toBe(true);
  });

  it('empty file and a missing file are file-level errors; UTF-16 with a byte-order mark is read', async () => {
    expect((await ingestError({ file: bad('empty.csv') })).message).toBe('empty.csv is empty: expected a header row and at least one recipient');
    const utf16 = await readAll({ file: bad('utf16.csv') });
    expect(utf16.header).toMatchObject({ columns: ['phone'], encoding: 'utf-16le', encodingSource: 'bom' });
    expect(utf16.rows).toEqual([]);
    const missing = await ingestError({ file: bad('no-such-file.csv') });
    expect(missing.message).toBe(`CSV file not found: ${bad('no-such-file.csv')}`);
  });

  it('inspectRecipientCsv reads only the header', async () => {
    const header = await inspectRecipientCsv({ file: bad('wrong-field-count.csv'), phoneColumn: 'phone' });
    expect(header.columns).toEqual(['phone', 'nama', 'kota', 'total']);
    await expect(inspectRecipientCsv({ file: bad('missing-phone-column.csv'), phoneColumn: 'phone' })).rejects.toThrow(/set phone_column/);
  });

  it('inspectRecipientCsv reads a header longer than its small reads, and a quoted one over several lines', async () => {
    // The header-only read uses 4 KiB chunks: a header of ~12 KiB spans several of them.
    const columns = ['phone', ...Array.from({ length: 300 }, (_, i) => `kolom_panjang_nomor_${i}_${'x'.repeat(20)}`)];
    const wide = join(tmp, 'wide-header.csv');
    writeFileSync(wide, `${columns.join(',')}\n${['0812345678', ...columns.slice(1).map(() => 'v')].join(',')}\n`);
    expect((await inspectRecipientCsv({ file: wide, phoneColumn: 'phone' })).columns).toEqual(columns);
    const quoted = join(tmp, 'quoted-header.csv');
    writeFileSync(quoted, `phone,"catatan\n${'panjang '.repeat(1000)}"\n0812345678,x\n`);
    expect((await inspectRecipientCsv({ file: quoted, phoneColumn: 'phone' })).columns).toEqual(['phone', `catatan\n${'panjang '.repeat(1000)}`.trim()]);
  });

  it('the whole pipeline (read, normalise, render) survives every corpus file', async () => {
    const template = compileMessageTemplate('Halo {{default nama "Kak"}}', { name: 't.hbs', type: 'text' });
    const files = readdirCorpus();
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const name of files) {
      let outcome: string;
      try {
        let usable = 0;
        for await (const row of readRecipientRows({ file: bad(name), phoneColumn: 'phone', maxFieldBytes: 1024 })) {
          if (!row.ok) continue;
          if (normalisePhone(row.rawPhone, 'ID').ok && template.render(row.fields).ok) usable++;
        }
        outcome = `rows:${usable}`;
      } catch (err) {
        expect(err, name).toBeInstanceOf(IngestError);
        expect((err as IngestError).message, name).toContain(name);
        outcome = 'file error';
      }
      expect(outcome, name).toMatch(/^(rows:\d+|file error)$/);
    }
  });
});

describe('loadSuppression', () => {
  it('reads a phone column or a bare list, normalises, and counts invalid lines', async () => {
    const withHeader = join(tmp, 'optout.csv');
    writeFileSync(withHeader, 'nama;Phone\nBudi;0812-3456-7890\nX;12\nSiti;+62 813 2233 4455\n');
    const bare = join(tmp, 'bare.csv');
    writeFileSync(bare, '6285712345678\n\n0821 9876 5432\nbukan nomor\n');
    const empty = join(tmp, 'empty-optout.csv');
    writeFileSync(empty, '');
    const result = await loadSuppression([withHeader, bare, empty], 'ID');
    expect([...result.numbers].sort()).toEqual(['6281234567890', '6281322334455', '6282198765432', '6285712345678']);
    expect(result.invalidLines).toBe(2);
    expect(result.problems).toEqual([
      { file: withHeader, line: 3, reason: 'not a valid ID phone number: "12" (too short)' },
      { file: bare, line: 4, reason: expect.stringMatching(/^not a phone number: "bukan nomor"/) },
    ]);
  });

  it('the demo opt-out list holds the suppressed demo number', async () => {
    const result = await loadSuppression([join(import.meta.dirname, '..', 'campaigns', 'demo-optout.csv')], 'ID');
    expect(result.numbers.has('6281977665544')).toBe(true);
    expect(result.invalidLines).toBe(0);
  });

  it('a multi-column file without a phone column, or a missing file, is a file-level error', async () => {
    await expect(loadSuppression([bad('missing-phone-column.csv')], 'ID')).rejects.toThrow(
      'suppression list missing-phone-column.csv has no phone column; its header has: nama, no_hp, kota',
    );
    const accepted = await loadSuppression([bad('missing-phone-column.csv')], 'ID', { phoneColumns: ['no_hp'] });
    expect([...accepted.numbers]).toEqual(['6281234567890']);
    await expect(loadSuppression([join(tmp, 'nope.csv')], 'ID')).rejects.toThrow(/^suppression list not found: /);
  });
});

function readdirCorpus(): string[] {
  return readdirSync(BAD).filter((f) => f.endsWith('.csv'));
}
