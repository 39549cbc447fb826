import { describe, expect, it } from 'vitest';
import { formatIdr } from '../src/render/helpers.js';
import { groupIdInteger } from '../src/render/grouping.js';

const intl = new Intl.NumberFormat('id-ID', { maximumFractionDigits: 0 });

describe('rupiah grouping without Intl', () => {
  it('writes every safe integer as Intl id-ID does', () => {
    const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 123_456, 1_000_000, 1_250_000, Number.MAX_SAFE_INTEGER];
    let x = 7;
    for (let i = 0; i < 5_000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      samples.push(Math.floor(x / 10 ** (i % 10)), x * (i % 5000));
    }
    for (const n of samples.filter(Number.isSafeInteger)) {
      expect({ n, s: groupIdInteger(n) }).toEqual({ n, s: intl.format(n) });
      expect({ n: -n, s: groupIdInteger(-n) ?? intl.format(-n) }).toEqual({ n: -n, s: intl.format(-n) });
    }
  });

  it('leaves fractions, -0 and unsafe integers to Intl, so idr stays the same', () => {
    expect(groupIdInteger(1.5)).toBeUndefined();
    expect(groupIdInteger(-0)).toBeUndefined();
    expect(groupIdInteger(2 ** 60)).toBeUndefined();
    for (const value of ['1250000', '-1250000', '0', '-0', '007', '+5', '1250000.5', '999999999999999999999']) {
      expect(formatIdr(value)).toBe('Rp ' + intl.format(Number(value)));
    }
  });
});
