// Anything quoted from a user's file in a message goes through here: a CSV can hold terminal escape sequences
// (ESC [ ... m, OSC titles), bidi overrides that reorder what the reader sees, or a 10 MB cell.

/** Default length of an excerpt, in characters (before the `…`). */
export const EXCERPT_CHARS = 80;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** True for characters that must not reach a terminal or log as they are. */
function unsafe(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) || // DEL and the C1 controls (0x9b is a one-byte CSI on some terminals)
    code === 0x061c ||
    (code >= 0x200b && code <= 0x200f) || // zero-width characters and LRM/RLM
    (code >= 0x2028 && code <= 0x202e) || // line/paragraph separators, bidi embeddings and overrides
    (code >= 0x2066 && code <= 0x2069) || // bidi isolates
    code === 0xfeff ||
    (code >= 0xd800 && code <= 0xdfff) // a lone surrogate (pairs are read as one code point below)
  );
}

function escapeChar(ch: string, code: number): string {
  return NAMED[ch] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/**
 * A piece of file content made safe to show: control, bidi and invisible characters written as escapes (`\x1b`,
 * `\t`, `\u202e`), and cut to `max` characters with `…`. Never throws.
 */
export function excerpt(text: string, max: number = EXCERPT_CHARS): string {
  let out = '';
  let shown = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const piece = unsafe(code) ? escapeChar(ch, code) : ch;
    const width = unsafe(code) ? piece.length : 1;
    if (shown + width > max) return out + '…';
    out += piece;
    shown += width;
  }
  return out;
}

/** `excerpt` in double quotes, the form error messages use: `"Budi \x1b[31m"`. */
export function quoted(text: string, max: number = EXCERPT_CHARS): string {
  return `"${excerpt(text, max)}"`;
}

/**
 * Column names for a message: each one an excerpt of at most 40 characters, at most `maxNames` of them, then
 * `… (N more)`.
 */
export function columnList(columns: readonly string[], maxNames = 20): string {
  const shown = columns.slice(0, maxNames).map((c) => excerpt(c, 40));
  const more = columns.length - shown.length;
  return shown.join(', ') + (more > 0 ? `, … (${more.toLocaleString('en-US')} more)` : '');
}
