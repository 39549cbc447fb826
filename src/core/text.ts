/**
 * Text that came from outside (the API, a hostile server) made safe to print, log, store and report: no terminal
 * escape sequences, no control characters, no invisible bidirectional overrides, no lone surrogates, and bounded.
 */

// CSI (`ESC [ ... final`, also the one-byte C1 form U+009B), OSC (`ESC ] ... BEL | ESC \`, also U+009D), then
// any other two-character escape. Removed whole, so `ESC[2J` leaves nothing behind, not a visible `[2J`.
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[\s\S]?/g;
// C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates (U+202A-U+202E, U+2066-U+2069), the line and
// paragraph separators and the BOM/zero-width no-break space: none of them is text a person should see in a report.
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const CONTROL_KEEPING_LINES = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Options of `safeText`. */
export interface SafeTextOptions {
  /** Keep `\n` (our own multi-line hints); every other control character still goes. @default false */
  keepNewlines?: boolean;
}

/**
 * The text with escape sequences removed, every other control character (tab, CR, LF, NUL, BEL, ...) turned into a
 * space, runs of white space collapsed, ends trimmed (with `keepNewlines`: only the control characters replaced), and cut to at most `maxLength` characters (ending in `…` when cut).
 * Never throws; a non-string gives ''.
 *
 * @example safeText('Bad\x1b[2J request\x07\r\n', 100) // 'Bad request'
 */
export function safeText(text: string, maxLength: number, options: SafeTextOptions = {}): string {
  if (typeof text !== 'string') return '';
  // Look at a bounded prefix only: a 5 MB string costs no more than a short one.
  let s = text.length > maxLength * 4 + 64 ? text.slice(0, maxLength * 4 + 64) : text;
  s = s.replace(LONE_SURROGATE, '\ufffd').replace(ESCAPE_SEQUENCE, '');
  if (options.keepNewlines) {
    // Our own multi-line text: keep its line breaks and indentation.
    s = s.replace(/\r\n?/g, '\n').replace(CONTROL_KEEPING_LINES, ' ');
  } else {
    s = s.replace(CONTROL, ' ').replace(/\s{2,}/g, ' ').trim();
  }
  if (s.length <= maxLength) return s;
  const cut = s.slice(0, Math.max(0, maxLength - 1));
  // Do not end on the first half of a surrogate pair.
  return (/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut) + '…';
}
