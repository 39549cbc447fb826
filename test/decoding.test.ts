import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countDataRows, detectDelimiter, IngestError, readRecipientRows, sniffCsv, type RecipientCsvOptions, type RecipientRow } from '../src/ingest/csv.js';
import { firstInvalidUtf8 } from '../src/ingest/encoding.js';
import { columnList, excerpt } from '../src/ingest/excerpt.js';
import { loadSuppression } from '../src/ingest/suppression.js';
import { tempDir } from './helpers/tmp.js';

async function rows(options: Omit<RecipientCsvOptions, 'phoneColumn'>): Promise<RecipientRow[]> {
  const out: RecipientRow[] = [];
  for await (const row of readRecipientRows({ phoneColumn: 'phone', ...options })) out.push(row);
  return out;
}

async function refusal(options: Omit<RecipientCsvOptions, 'phoneColumn'>): Promise<IngestError> {
  try {
    await rows(options);
  } catch (err) {
    expect(err).toBeInstanceOf(IngestError);
    return err as IngestError;
  }
  throw new Error('expected an IngestError');
}

const names = (r: RecipientRow[]): string[] => r.map((x) => (x.ok ? x.fields.nama! : `error: ${x.error}`));
const BOM16LE = Buffer.from([0xff, 0xfe]);
const BOM16BE = Buffer.from([0xfe, 0xff]);

/** Rows whose names hold 2-, 3- and 4-byte characters, enough of them to cross many 64 KiB read boundaries. */
function manyRows(): { text: string; count: number } {
  const lines = ['phone,nama'];
  let length = 0;
  let i = 0;
  while (length < 300_000) {
    const line = `0812${10_000_000 + i},Jösé ✓ 😀 ${i++}`;
    lines.push(line);
    length += line.length + 1;
  }
  return { text: lines.join('\n') + '\n', count: i };
}

describe('decoding while streaming: every encoding, across read boundaries', () => {
  it('UTF-8, UTF-16LE and UTF-16BE (with BOM) read the same rows, characters split across 64 KiB chunks intact', async () => {
    const dir = tempDir();
    const { text, count } = manyRows();
    const files = {
      'u8.csv': Buffer.from(text),
      'u8bom.csv': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]),
      'u16le.csv': Buffer.concat([BOM16LE, Buffer.from(text, 'utf16le')]),
      'u16be.csv': Buffer.concat([BOM16BE, Buffer.from(text, 'utf16le').swap16()]),
    };
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(join(dir, name), bytes);
      const read = await rows({ file: join(dir, name) });
      expect(read, name).toHaveLength(count);
      expect(read.every((r, i) => r.ok && r.fields.nama === `Jösé ✓ 😀 ${i}` && r.line === i + 2), name).toBe(true);
      expect(await countDataRows(join(dir, name)), name).toBe(count);
    }
  });

  it('a declared UTF-16LE file without BOM is read; undeclared, it is refused with the key to add', async () => {
    const dir = tempDir();
    const file = join(dir, 'nobom.csv');
    writeFileSync(file, Buffer.from('phone\tnama\n081234567890\tJosé\n', 'utf16le'));
    expect(names(await rows({ file, encoding: 'utf-16le' }))).toEqual(['José']);
    const e = await refusal({ file });
    expect(e.message).toBe('nobom.csv looks like UTF-16LE text without a byte-order mark');
    expect(e.hint).toContain('`encoding: utf-16le` under recipients:');
    const wrongOrder = await refusal({ file, encoding: 'utf-16be' });
    expect(wrongOrder.message).toBe('recipients.encoding is utf-16be but nobom.csv does not look like UTF-16BE text (it looks like UTF-16LE)');
  });

  it('a byte-order mark wins over a declared encoding', async () => {
    const dir = tempDir();
    const file = join(dir, 'bom.csv');
    writeFileSync(file, Buffer.concat([BOM16LE, Buffer.from('phone,nama\n081234567890,Müller\n', 'utf16le')]));
    expect(names(await rows({ file, encoding: 'windows-1252' }))).toEqual(['Müller']);
  });

  it('broken UTF-16 (a lone surrogate, an odd last byte) is refused with its line and column, never read as U+FFFD', async () => {
    const dir = tempDir();
    const lone = join(dir, 'lone.csv');
    writeFileSync(lone, Buffer.concat([BOM16LE, Buffer.from('phone,nama\n081234567890,ab', 'utf16le'), Buffer.from([0x3d, 0xd8]), Buffer.from('cd\n', 'utf16le')]));
    expect((await refusal({ file: lone })).message).toBe(
      'lone.csv: line 2, column 16: a broken UTF-16LE character (a lone surrogate, bytes 0x3D 0xD8), so the file is damaged or not UTF-16LE: "081234567890,ab\\x3d\\xd8cd"',
    );
    const odd = join(dir, 'odd.csv');
    writeFileSync(odd, Buffer.concat([BOM16LE, Buffer.from('phone,nama\n0812,a\n', 'utf16le'), Buffer.from([0x41])]));
    expect((await refusal({ file: odd })).message).toMatch(/^odd\.csv: line 3, column 1: the file ends in the middle of a UTF-16LE character \(an odd number of bytes\)/);
  });

  it('Windows-1252: the five undefined bytes are refused; Latin-1 is read as Windows-1252 (€ “ ” –, not C1 controls)', async () => {
    const dir = tempDir();
    const file = join(dir, 'w.csv');
    writeFileSync(file, Buffer.concat([Buffer.from('phone,nama\n081234567890,'), Buffer.from([0x80, 0x93, 0x94, 0x96]), Buffer.from('\n')]));
    expect(names(await rows({ file, encoding: 'windows-1252' }))).toEqual(['€“”–']);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, Buffer.concat([Buffer.from('phone,nama\n081234567890,Jos'), Buffer.from([0xe9, 0x81]), Buffer.from(' x\n')]));
    const e = await refusal({ file: bad, encoding: 'windows-1252' });
    expect(e.message).toBe('bad.csv: line 2, column 18: byte 0x81 is not a character in Windows-1252 (recipients.encoding is windows-1252): "081234567890,José\\x81 x"');
    expect(e.line).toBe(2);
  });

  it('invalid UTF-8 found only after many rows names that row; the first 64 KiB alone (the header) still reads', async () => {
    const dir = tempDir();
    const file = join(dir, 'late.csv');
    const filler = Array.from({ length: 5000 }, (_, i) => `0812${10_000_000 + i},Orang ${i}`).join('\r\n');
    writeFileSync(file, Buffer.concat([Buffer.from(`phone,nama\r\n${filler}\r\n081299999999,Rp 1.000 `), Buffer.from([0x96]), Buffer.from(' ok\r\n')]));
    const e = await refusal({ file });
    expect(e.message).toBe(
      'late.csv: line 5002, column 23: byte 0x96 is not valid UTF-8, so the file is not UTF-8 text: "081299999999,Rp 1.000 \\x96 ok" (read as Windows-1252: "081299999999,Rp 1.000 – ok")',
    );
    expect(e.line).toBe(5002);
  });

  it('the WHATWG UTF-8 rules: overlong forms, surrogates and truncated sequences are invalid', () => {
    expect(firstInvalidUtf8(Buffer.from('aé✓😀'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong NUL
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // a UTF-16 surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe2, 0x82]))).toBe(2); // truncated
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
  });

  it('suppression lists: invalid UTF-8 goes on as Windows-1252 (only ASCII is used), UTF-16 follows its BOM', async () => {
    const dir = tempDir();
    const legacy = join(dir, 'legacy.csv');
    writeFileSync(legacy, Buffer.concat([Buffer.from('phone;nama\n0812-3456-7890;Jos'), Buffer.from([0xe9, 0x81, 0x96]), Buffer.from('\n0813 2233 4455;x\n')]));
    const unicode = join(dir, 'unicode.csv');
    writeFileSync(unicode, Buffer.concat([BOM16BE, Buffer.from('phone\n+62 857 1234 5678\n', 'utf16le').swap16()]));
    const result = await loadSuppression([legacy, unicode], 'ID');
    expect([...result.numbers].sort()).toEqual(['6281234567890', '6281322334455', '6285712345678']);
  });
});

describe('delimiters and file kinds', () => {
  it('detects tab (Excel "Unicode text"), and keeps comma on ties', () => {
    expect(detectDelimiter('phone\tnama\tkota')).toBe('\t');
    expect(detectDelimiter('phone,nama\tkota')).toBe(',');
    expect(detectDelimiter('"a\tb",phone')).toBe(',');
  });

  it('sniffCsv names a FIFO and a character device without reading them', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    await expect(sniffCsv(fifo)).rejects.toThrow(`the CSV file ${fifo} is a FIFO (named pipe), not a regular file`);
    await expect(sniffCsv('/dev/zero')).rejects.toThrow('the CSV file /dev/zero is a character device, not a regular file');
    await expect(sniffCsv(dir)).rejects.toThrow(`the CSV file ${dir} is a directory, not a regular file`);
  });
});

describe('excerpt', () => {
  it('escapes control, bidi and invisible characters, and bounds the length', () => {
    expect(excerpt('Budi\x1b[31m\u202e\u200b\t\r\n\x7f\x9b ok')).toBe('Budi\\x1b[31m\\u202e\\u200b\\t\\r\\n\\x7f\\x9b ok');
    expect(excerpt('x'.repeat(100))).toBe('x'.repeat(80) + '…');
    expect(excerpt('😀'.repeat(5), 3)).toBe('😀😀😀…');
    expect(excerpt('ab\ud800c')).toBe('ab\\ud800c');
    expect(columnList(Array.from({ length: 25 }, (_, i) => `c${i}`))).toBe(
      'c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, … (5 more)',
    );
  });
});
