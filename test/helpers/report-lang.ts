import { reportTexts, type ReportTexts } from '../../src/report/index.js';

const HOLE = '\u0000';

/** Every fixed piece of text in a language's texts: plain strings, and the text around the values of functions. */
function fragments(texts: ReportTexts): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (value: unknown, key: string): void => {
    if (typeof value === 'string') out.set(key, value);
    else if (typeof value === 'function') {
      const filled = (value as (...args: string[]) => string)(HOLE, HOLE, HOLE, HOLE, HOLE, HOLE);
      filled.split(HOLE).forEach((part, i) => out.set(`${key}#${i}`, part));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, `${key}.${k}`);
    }
  };
  visit(texts, '');
  return out;
}

/**
 * The English texts that the Indonesian ones translate (every string of `reportTexts('en')` that differs from its
 * Indonesian counterpart), as words to look for: pieces of 3 or more letters, trimmed of punctuation.
 */
export function translatedEnglish(): string[] {
  const en = fragments(reportTexts('en'));
  const id = fragments(reportTexts('id'));
  const words = new Set<string>();
  for (const [key, text] of en) {
    if (key === '.locale' || key.startsWith('.units.') || id.get(key) === text) continue;
    const piece = text.replace(/^[\s(),.:·–-]+|[\s(),.:·–-]+$/g, '');
    if (/[a-z]{3}/i.test(piece)) words.add(piece);
  }
  return [...words];
}

/** Keys of the texts (and pieces of their functions) that read the same in English and Indonesian. */
export function untranslatedKeys(): string[] {
  const en = fragments(reportTexts('en'));
  const id = fragments(reportTexts('id'));
  return [...en].filter(([key, text]) => /[a-z]/i.test(text) && id.get(key) === text).map(([key]) => key);
}

/** The English texts from `translatedEnglish()` that occur in `text` as whole words (case-insensitive). */
export function englishLeftovers(text: string): string[] {
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return translatedEnglish().filter((phrase) => new RegExp(`(?<![\\p{L}_])${escape(phrase)}(?![\\p{L}_])`, 'iu').test(text));
}
