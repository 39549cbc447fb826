import { ConfigError } from './env.js';

/** One problem in a configuration file: the key, what was expected and what was found, and where. */
export interface ConfigProblem {
  /** Key path as the user writes it: `recipients.phone_column`, `suppress[1]`, or `` for the whole file. */
  key: string;
  /** The sentence after the key, e.g. `expected a whole number from 1 to 6000, found "fast"`. */
  detail: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** True when the problem is a secret written into the file. */
  secret?: boolean;
}

/**
 * A configuration file with one or more problems. The message lists every problem, one per line, each naming
 * the file, the key path, what was expected and what was found. Still a ConfigError for callers.
 */
export class ConfigFileError extends ConfigError {
  constructor(
    /** The file as the user named it (e.g. `campaigns/x.yaml`). */
    displayFile: string,
    readonly problems: readonly ConfigProblem[],
    hint: string,
  ) {
    super(problems.map((p) => formatProblem(displayFile, p)).join('\n'), hint, displayFile);
    this.name = 'ConfigFileError';
  }
}

/** `campaigns/x.yaml: rate_per_minute: expected …, found "fast" (line 7)` */
export function formatProblem(displayFile: string, problem: ConfigProblem): string {
  const key = problem.key === '' ? '' : `${problem.key}: `;
  const line = problem.line === undefined ? '' : ` (line ${problem.line})`;
  return `${displayFile}: ${key}${problem.detail}${line}`;
}

/** Renders a key path: `['recipients', 'phone_column']` → `recipients.phone_column`, `['suppress', 1]` → `suppress[1]`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Describes a value as found in the file, briefly: `"fast"`, `12`, `a list`, `an object`, `nothing`. */
export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing (the key is missing)';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    if (value === '') return 'an empty text';
    const oneLine = value.length > 60 ? value.slice(0, 57) + '...' : value;
    return JSON.stringify(oneLine);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length === 0 ? 'an empty object' : `an object (with ${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''})`;
  }
  return typeof value;
}

/** Reads `path` inside a parsed document; undefined when any step is missing. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `input` was most likely meant to be, or undefined: same name in another spelling
 * (`ratePerMinute`, `Rate-Per-Minute`), or within a small edit distance (`rate_per_minut`).
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const canonical = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[-\s]/g, '_');
  const wanted = canonical(input);
  const same = candidates.find((c) => canonical(c) === wanted);
  if (same) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(wanted, canonical(c));
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(wanted.length / 4)));
  return bestDistance <= allowed ? best : undefined;
}
