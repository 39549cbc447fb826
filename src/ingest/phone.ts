// The `max` metadata build on purpose: `min` only checks a number's length, so typos such as a wrong operator
// prefix pass as "valid" and cost a message from the monthly quota; `max` checks the digits against each
// country's numbering plan and can tell mobile from fixed-line numbers, which settles ambiguous inputs below.
// It costs ~65 kB more metadata and ~2.5 µs per number for `isValid()`, called once per reading: ~6-7.5 µs per
// number in all on the common path (measured over 100k generated rows on the 2-core dev machine).
import {
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
  type PhoneNumber,
} from 'libphonenumber-js/max';
import { quoted } from './excerpt.js';
import { fastMobile } from './phone-fast.js';

export type { CountryCode } from 'libphonenumber-js/max';

/** The result of normalising one number: the API's form, or a human reason why not. */
export type PhoneResult = { ok: true; phone: string } | { ok: false; reason: string };

export { isPhoneCountry } from './countries.js';

// What people put between digits in spreadsheets: spaces (incl. no-break), dashes, dots, brackets, slashes.
const ALLOWED = /^\+?[\d\s\u00a0\-.()/]+$/;
const NON_DIGITS = /\D/g;
const SCIENTIFIC = /^\d(?:[.,]\d+)?e\+?\d+$/i;
const MIN_DIGITS = 8;
const MAX_DIGITS = 15;

const LENGTH_PROBLEM: Record<string, string> = {
  TOO_SHORT: 'too short',
  TOO_LONG: 'too long',
  INVALID_LENGTH: 'wrong number of digits',
  INVALID_COUNTRY: 'unknown country code',
  NOT_A_NUMBER: 'not a number',
};

/**
 * Normalises a phone number as written in a CSV into the API's form: country code first, digits only, 8-15
 * digits (`6281234567890`).
 *
 * - `+62 812-3456-7890`: international, as written.
 * - `0812-3456-7890`: national for `defaultCountry` (the trunk prefix 0 says so); `0062...` is tried as the
 *   international prefix 00 when it is not a valid national number.
 * - `6281234567890`, `60123456789`, `6591234567`: international digits without the `+`.
 * - `81234567890` (a spreadsheet dropped the leading 0): when the international reading is invalid, or lands in
 *   another country, the national reading for `defaultCountry` is tried too. When both are valid numbers of
 *   different countries, the one that can be a mobile (WhatsApp) number wins (here the Indonesian mobile over a
 *   Japanese landline); when that does not decide, the row is rejected as ambiguous rather than messaging a
 *   stranger.
 *
 * Pure and fast (a few µs): it runs once per CSV row.
 */
export function normalisePhone(raw: string, defaultCountry: CountryCode): PhoneResult {
  const text = raw.trim();
  if (text === '') return { ok: false, reason: 'empty phone number' };
  if (!ALLOWED.test(text)) {
    if (SCIENTIFIC.test(text)) {
      return {
        ok: false,
        reason: `${quote(raw)} looks like a number a spreadsheet turned into scientific notation; format the phone column as text and export again`,
      };
    }
    return { ok: false, reason: `not a phone number: ${quote(raw)} (only digits, spaces, dashes, dots, brackets and a leading + are allowed)` };
  }
  const digits = text.replace(NON_DIGITS, '');
  if (digits === '') return { ok: false, reason: `not a phone number: ${quote(raw)}` };
  // The common shapes (a mobile of the default country) without libphonenumber's per-call cost; same answer.
  const fast = fastMobile(digits, text.startsWith('+'), defaultCountry);
  if (fast !== undefined) return { ok: true, phone: fast };
  return normaliseDigits(raw, text, digits, defaultCountry);
}

/**
 * `normalisePhone` without the shortcut: every number through libphonenumber. Exported so tests can check the
 * shortcut gives the same answers.
 */
export function normalisePhoneWithLibphonenumber(raw: string, defaultCountry: CountryCode): PhoneResult {
  const text = raw.trim();
  if (text === '' || !ALLOWED.test(text)) return normalisePhone(raw, defaultCountry);
  const digits = text.replace(NON_DIGITS, '');
  if (digits === '') return normalisePhone(raw, defaultCountry);
  return normaliseDigits(raw, text, digits, defaultCountry);
}

function normaliseDigits(raw: string, text: string, digits: string, defaultCountry: CountryCode): PhoneResult {

  if (text.startsWith('+')) {
    const international = parsePhoneNumberFromString('+' + digits);
    return international?.isValid() ? accept(international, raw) : { ok: false, reason: describeInvalid('+' + digits, undefined, raw) };
  }
  if (digits.startsWith('0')) {
    const national = parsePhoneNumberFromString(digits, defaultCountry);
    if (national?.isValid()) return accept(national, raw);
    if (digits.startsWith('00')) {
      const viaIdd = parsePhoneNumberFromString('+' + digits.slice(2));
      if (viaIdd?.isValid()) return accept(viaIdd, raw);
    }
    return { ok: false, reason: describeInvalid(digits, defaultCountry, raw) };
  }

  const international = parsePhoneNumberFromString('+' + digits);
  const internationalValid = international?.isValid() === true;
  if (internationalValid && international!.country === defaultCountry) return accept(international!, raw);

  const national = parsePhoneNumberFromString(digits, defaultCountry);
  const nationalValid = national !== undefined && national.number !== international?.number && national.isValid();
  if (internationalValid && !nationalValid) return accept(international!, raw);
  if (!internationalValid && nationalValid) return accept(national!, raw);
  if (!internationalValid) {
    return { ok: false, reason: describeInvalid(digits, defaultCountry, raw) };
  }
  // Both readings are valid numbers in different countries: prefer the one that can be on WhatsApp.
  const internationalMobile = canBeMobile(international!);
  const nationalMobile = canBeMobile(national!);
  if (internationalMobile && !nationalMobile) return accept(international!, raw);
  if (nationalMobile && !internationalMobile) return accept(national!, raw);
  return {
    ok: false,
    reason:
      `ambiguous phone number ${quote(raw)}: it could be ${international!.number} (${international!.country ?? 'international'}) ` +
      `or ${national!.number} (${defaultCountry}); write it with + and the country code, or with the leading 0`,
  };
}

/** `valid` has passed `isValid()` (checked once: it is the expensive part). */
function accept(valid: PhoneNumber, raw: string): PhoneResult {
  const phone = valid.number.slice(1);
  if (phone.length < MIN_DIGITS || phone.length > MAX_DIGITS) {
    return { ok: false, reason: `${quote(raw)} has ${phone.length} digits with the country code; the API accepts 8 to 15` };
  }
  return { ok: true, phone };
}

function canBeMobile(phone: PhoneNumber): boolean {
  const type = phone.getType();
  return type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
}

/** Only runs for invalid numbers, so it may afford a second look at why. */
function describeInvalid(input: string, country: CountryCode | undefined, raw: string): string {
  const problem = validatePhoneNumberLength(input, country);
  const detail = problem ? ` (${LENGTH_PROBLEM[problem] ?? problem.toLowerCase()})` : '';
  return country ? `not a valid ${country} phone number: ${quote(raw)}${detail}` : `not a valid phone number: ${quote(raw)}${detail}`;
}

function quote(raw: string): string {
  return quoted(raw, 40);
}
