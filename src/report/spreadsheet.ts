/**
 * Making CSV cells safe and faithful in spreadsheet programs (Excel, LibreOffice Calc, Google Sheets, Numbers).
 * The reasons and trade-offs are in docs/report-format.md.
 */

/**
 * First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection"), plus the full-width
 * forms Apple Numbers normalises into them (the same list csv-stringify's `escape_formulas` uses).
 */
const FORMULA_TRIGGERS = new Set(['=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']);

/** A plain negative number such as `-12` or `-3.5`: a spreadsheet computes nothing from it, so it stays as is. */
const NEGATIVE_NUMBER = /^-\d+(?:[.,]\d+)?$/;

/**
 * Neutralises a cell against formula injection (OWASP): a value starting with `=`, `+`, `-`, `@`, tab or CR (or
 * their full-width forms) gets a leading `'`, which spreadsheets take as "this is text". A plain negative number
 * is left alone. Every other value is returned unchanged.
 *
 * @example neutraliseFormula('=HYPERLINK("http://x","y")') // `'=HYPERLINK("http://x","y")`
 */
export function neutraliseFormula(value: string): string {
  if (value === '' || !FORMULA_TRIGGERS.has(value[0]!)) return value;
  if (NEGATIVE_NUMBER.test(value)) return value;
  return `'${value}`;
}

/** A phone number as people write it: digits with spaces, dashes, dots, brackets or slashes, maybe a leading +. */
const PHONE_LIKE = /^\+?[\d\s\u00a0\-.()/]+$/;

/**
 * True for digits a spreadsheet would damage if it read them as a number: a phone number in any spelling (it
 * drops a leading 0, turns `+62 812…` into a formula, or shows `6281234567890` as `6.28123E+12` and keeps only
 * 15 significant digits), or any all-digit value with a leading 0 or more than 11 digits (Excel's General format
 * switches to scientific notation from 12 digits). Short plain numbers (amounts, counts) stay numbers.
 */
export function needsTextProtection(value: string, isPhone: boolean): boolean {
  if (value === '') return false;
  if (isPhone) return PHONE_LIKE.test(value) && /\d/.test(value);
  return /^\d+$/.test(value) && ((value.length > 1 && value.startsWith('0')) || value.length > 11);
}

/**
 * Wraps digits in a one-value text formula, `="6281234567890"`, which Excel, LibreOffice Calc (with "Evaluate
 * formulas", the default), Google Sheets and Numbers all show as the text `6281234567890`. Only ever applied to
 * values `needsTextProtection` accepted (digits and separators), so nothing untrusted is ever evaluated.
 */
export function asSpreadsheetText(value: string): string {
  return `="${value.replaceAll('"', '""')}"`;
}

/** The cell as the CSV report writes it: number-protected when asked and needed, else formula-neutralised. */
export function spreadsheetCell(value: string | null, options: { isPhone: boolean; protectNumbers: boolean }): string {
  if (value === null) return '';
  if (options.protectNumbers && needsTextProtection(value, options.isPhone)) return asSpreadsheetText(value);
  return neutraliseFormula(value);
}
