import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { stringifyReportRows } from '../src/report/csv-fast.js';

// The characters that matter to CSV quoting, and some that must not.
const ALPHABET = ['a', 'Z', '0', ' ', '\t', '\u00a0', '\u2028', '\ufeff', ',', ';', '"', '\r', '\n', "'", '=', '+', '-', '@', 'é', '😀', '\\'];

describe('report CSV writer', () => {
  it.each([',', ';'] as const)('writes what csv-stringify writes with the report options (delimiter %s)', (delimiter) => {
    let x = 12345;
    const random = (n: number): number => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x % n;
    };
    for (let batch = 0; batch < 200; batch++) {
      const rows: string[][] = [];
      for (let r = 0; r < 1 + random(20); r++) {
        const row: string[] = [];
        for (let c = 0; c < 1 + random(12); c++) {
          let cell = '';
          for (let k = random(4) === 0 ? 0 : random(10); k > 0; k--) cell += ALPHABET[random(ALPHABET.length)];
          row.push(cell);
        }
        rows.push(row);
      }
      expect(stringifyReportRows(rows, delimiter)).toBe(stringify(rows, { delimiter, record_delimiter: 'windows', quoted_match: /^\s|\s$/ }));
    }
  });
});
