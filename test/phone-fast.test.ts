import { getExampleNumber, type CountryCode } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../src/emulator/prng.js';
import { fastMobile } from '../src/ingest/phone-fast.js';
import { normalisePhone, normalisePhoneWithLibphonenumber } from '../src/ingest/phone.js';

// A deterministic generator, so a failure names a reproducible sample.
const rng = mulberry32;

/** Numbers near a real mobile of `country` in every shape people write: many valid, many just off. */
function samples(country: CountryCode, count: number, seed: number): string[] {
  const random = rng(seed);
  const digit = (): string => String(Math.floor(random() * 10));
  const example = getExampleNumber(country, examples)!;
  const code = example.countryCallingCode;
  const base = example.nationalNumber;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    // Keep 0-4 leading digits of the example, then random digits, to a length around the example's.
    const keep = Math.floor(random() * 5);
    const length = base.length - 2 + Math.floor(random() * 5);
    let national = base.slice(0, Math.min(keep, length));
    while (national.length < length) national += digit();
    switch (Math.floor(random() * 7)) {
      case 0: out.push(`+${code} ${national}`); break;
      case 1: out.push(`0${national}`); break;
      case 2: out.push(`${code}${national}`); break;
      case 3: out.push(`00${code}${national}`); break;
      case 4: out.push(national); break;
      case 5: out.push(`+${code}0${national}`); break;
      default: out.push(`${random() < 0.5 ? '+' : ''}${digit()}${digit()}${national}`);
    }
  }
  return out;
}

// PHONE_FAST_SAMPLES raises the sample size for a one-off, longer check (done with 200,000 per country).
const COUNT = Number(process.env.PHONE_FAST_SAMPLES ?? 10_000);

describe('phone normalisation shortcut', () => {
  // The campaign's countries and neighbours, plus countries the shortcut must stay out of (shared calling
  // codes, unusual national prefixes).
  const countries: CountryCode[] = ['ID', 'MY', 'SG', 'PH', 'TH', 'VN', 'IN', 'AU', 'US', 'GB', 'RU', 'BR', 'AR', 'MX', 'DE', 'JP'];

  it.each(countries)(`gives exactly libphonenumber's answer on ${COUNT.toLocaleString('en-US')} generated numbers for %s`, (country) => {
    let fast = 0;
    let valid = 0;
    for (const raw of samples(country, COUNT, country.charCodeAt(0) * 31 + country.charCodeAt(1))) {
      const reference = normalisePhoneWithLibphonenumber(raw, country);
      expect({ raw, result: normalisePhone(raw, country) }).toEqual({ raw, result: reference });
      const digits = raw.replace(/\D/g, '');
      const shortcut = fastMobile(digits, raw.startsWith('+'), country);
      if (shortcut !== undefined) {
        fast++;
        expect({ raw, phone: shortcut }).toEqual({ raw, phone: reference.ok ? reference.phone : reference.reason });
      }
      if (reference.ok) valid++;
    }
    if (['ID', 'MY', 'SG', 'PH', 'TH', 'VN', 'IN'].includes(country)) {
      // The shortcut must actually carry the common case, or it is dead weight.
      expect(fast).toBeGreaterThan(valid * 0.3);
    }
  }, 60_000 + COUNT);

  it('agrees with libphonenumber on numbers of countries that share a calling code with the default one', () => {
    const pairs: [CountryCode, CountryCode][] = [['GB', 'IM'], ['GB', 'JE'], ['GB', 'GG'], ['US', 'CA'], ['US', 'PR'], ['RU', 'KZ'], ['AU', 'CX']];
    for (const [home, other] of pairs) {
      const example = getExampleNumber(other, examples)!;
      for (const raw of [`+${example.countryCallingCode} ${example.nationalNumber}`, `${example.countryCallingCode}${example.nationalNumber}`, `0${example.nationalNumber}`]) {
        expect({ raw, home, result: normalisePhone(raw, home) }).toEqual({ raw, home, result: normalisePhoneWithLibphonenumber(raw, home) });
      }
    }
  });

  it('takes the common Indonesian shapes and leaves the rest to libphonenumber', () => {
    expect(fastMobile('6281234567890', true, 'ID')).toBe('6281234567890');
    expect(fastMobile('081234567890', false, 'ID')).toBe('6281234567890');
    expect(fastMobile('6281234567890', false, 'ID')).toBe('6281234567890');
    // A Jakarta landline, the IDD form, a number without any prefix, and another country: not the shortcut's.
    expect(fastMobile('0215551234', false, 'ID')).toBeUndefined();
    expect(fastMobile('006281234567890', false, 'ID')).toBeUndefined();
    expect(fastMobile('81234567890', false, 'ID')).toBeUndefined();
    expect(fastMobile('60123456789', true, 'ID')).toBeUndefined();
    // Shared calling code (+1): never.
    expect(fastMobile('12015550123', true, 'US')).toBeUndefined();
  });
});
